"""Quantities: a number with what it counts or measures (first version: Arabic numbers)."""
from __future__ import annotations

from .document import Doc
from .rules import LDict, Pattern, Where, alternation, check_examples, check_keys, expect

MAGNITUDE = {"万": 1e4, "亿": 1e8, "万亿": 1e12}


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "units", "rules"), optional=("notes",))
    units = {}
    for dim, words in data["units"].items():
        for u in words:
            units[u] = dim
    rules = []
    for r in data["rules"]:
        rw = w.at(r, r.get("id"))
        check_keys(r, rw, required=("id", "pattern"), optional=("examples", "counter", "priority", "note"))
        check_examples(r, rw, ("value", "value_max", "unit", "dimension", "approx"))
        pat = r["pattern"].replace("{UNIT}", alternation(units))
        rules.append((r["id"], Pattern(pat, rw), r.get("priority", 0)))
    return {"units": units, "rules": rules}


def extract(doc: Doc, rules: dict) -> None:
    text = doc.folded
    for rid, pat, prio in rules["rules"]:
        for m in pat.finditer(text):
            num, mag, unit = m.group("num"), m.group("mag") or "", m.group("unit")
            value = float(num.replace(",", "")) * MAGNITUDE.get(mag, 1)
            doc.add("quantities", {"start": m.start(), "end": m.end(), "text": doc.text[m.start():m.end()],
                                   "value": value, "value_max": None, "unit": unit,
                                   "dimension": rules["units"][unit], "approx": "eq",
                                   "rule_id": rid, "priority": prio})
