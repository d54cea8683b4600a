"""`pipeline explain FILE`: one document in the terminal, each mention coloured by type, with
its rule and normalised value; `--near` adds the candidates that were dropped, and why."""
from __future__ import annotations

from pathlib import Path

from .ingest import read_document
from .review import TYPES, VALUE_FIELDS

COLOURS = {"q": "\033[43;30m", "d": "\033[46;30m", "o": "\033[42;30m", "t": "\033[45;30m"}
DIM, RESET = "\033[2m", "\033[0m"


def explain(engine, path: Path, near: bool = False, colour: bool = True) -> str:
    doc = engine.run_stages(read_document(path))
    text = doc.text
    spans = []
    for table, letter in TYPES.items():
        for r in doc.rows.get(table, []):
            if r.get("start") is not None:
                spans.append((r["start"], r["end"], letter))
    spans.sort()
    out, pos = [], 0
    main = doc.main_spans()

    def plain(a, z):
        seg = text[a:z]
        if colour and not any(s <= a and z <= e for s, e in main):
            return DIM + seg + RESET
        return seg

    for s, e, letter in spans:
        if s < pos:            # overlaps a mention of another type already shown
            continue
        out.append(plain(pos, s))
        out.append(f"{COLOURS[letter]}{text[s:e]}{RESET}" if colour else f"[{text[s:e]}]{letter}")
        pos = e
    out.append(plain(pos, len(text)))
    lines = ["".join(out), "", f"document {doc.doc_id}: published {doc.published} ({doc.published_source}), "
             f"encoding {doc.encoding}, {len(doc.blocks)} blocks"]
    for b in doc.blocks:
        if b.label != "main":
            lines.append(f"  block {b.index} [{b.start},{b.end}) {b.label}: {b.reason}")
    for table in TYPES:
        rows = doc.rows.get(table, [])
        lines.append(f"{table} ({len(rows)}):")
        for r in rows:
            vals = ", ".join(f"{f}={r.get(f)}" for f in VALUE_FIELDS[table] if r.get(f) is not None)
            label = r.get("text") or r.get("speaker_label")
            lines.append(f"  [{r.get('start')},{r.get('end')}) {label!r:24s} {r.get('rule_id')}: {vals}")
    if near:
        lines.append(f"dropped candidates ({len(doc.dropped)}):")
        for r in sorted(doc.dropped, key=lambda r: (r.get("start", 0), r.get("end", 0))):
            lines.append(f"  [{r.get('start')},{r.get('end')}) {r.get('text')!r:24s} {r.get('table', '')} "
                         f"{r.get('rule_id')}: {r.get('why')}")
    return "\n".join(lines)
