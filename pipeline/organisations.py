"""Organisations: named bodies (first version: gazetteer names only)."""
from __future__ import annotations

from .document import Doc
from .rules import LDict, Pattern, Where, alternation, check_examples, check_keys


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "gazetteer"), optional=("notes",))
    names = {}
    for e in data["gazetteer"]:
        ew = w.at(e, e.get("name"))
        check_keys(e, ew, required=("name", "kind"), optional=("aliases", "examples", "counter"))
        check_examples(e, ew, ("name", "kind"))
        names[e["name"]] = (e["name"], e["kind"])
        for a in e.get("aliases") or []:
            names[a] = (e["name"], e["kind"])
    return {"names": names, "pattern": Pattern(alternation(names), Where(path, "org.gazetteer"))}


def lexicon_words(rules: dict) -> list[str]:
    return list(rules["names"])


def extract(doc: Doc, rules: dict) -> None:
    for m in rules["pattern"].finditer(doc.folded):
        name, kind = rules["names"][m.group()]
        doc.add("organisations", {"start": m.start(), "end": m.end(), "text": doc.text[m.start():m.end()],
                                  "name": name, "kind": kind, "rule_id": "org.gazetteer"})
