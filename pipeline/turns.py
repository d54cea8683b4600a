"""Speaker turns (first version: `name:` labels at line start)."""
from __future__ import annotations

from .document import Doc
from .rules import LDict, Pattern, Where, check_keys


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "label"), optional=("notes",))
    r = data["label"]
    return {"label": Pattern(r["pattern"], w.at(r, r["id"]))}


def extract(doc: Doc, rules: dict, org_rules: dict) -> None:
    labels = [m for m in rules["label"].finditer(doc.folded) if doc.in_main(m.start(), m.end())]
    for i, m in enumerate(labels):
        b = doc.block_at(m.start())
        text_end = labels[i + 1].start() - 1 if i + 1 < len(labels) else b.end
        text_end = len(doc.text[:text_end].rstrip())
        label = m.group("label")
        doc.add("turns", {"turn_index": i, "start": m.start("label"), "end": m.end("label"),
                          "speaker": None if "记者" in label else label, "speaker_label": label,
                          "speaker_role": None, "speaker_org": None,
                          "kind": "question" if "记者" in label or label == "问" else "answer",
                          "cue": m.group("cue"), "text_start": m.end(), "text_end": text_end,
                          "rule_id": "turn.label"})
