"""Dates: calendar expressions resolved to ISO ranges (first version: month-day and years)."""
from __future__ import annotations

import calendar
import datetime as dt

from .document import Doc
from .rules import LDict, Pattern, Where, check_examples, check_keys


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "rules"), optional=("notes",))
    rules = []
    for r in data["rules"]:
        rw = w.at(r, r.get("id"))
        check_keys(r, rw, required=("id", "pattern"), optional=("examples", "counter", "priority", "note"))
        check_examples(r, rw, ("value_start", "value_end", "grain", "relative", "qualifier"))
        rules.append((r["id"], Pattern(r["pattern"], rw), r.get("priority", 0)))
    return {"rules": rules}


def find_reference(doc: Doc, rules: dict) -> None:
    """documents.published: first month-day in the first lines, year from the same lines."""
    if doc.reference_fixed:
        return
    import regex
    head = doc.folded[:300]
    m = regex.search(r"(\d{1,2})月(\d{1,2})日", head)
    y = regex.search(r"(20\d\d)", head)
    if m and y:
        try:
            doc.published = dt.date(int(y.group(1)), int(m.group(1)), int(m.group(2)))
            doc.published_source = f"first lines: {m.group(0)}, year {y.group(1)}"
        except ValueError:
            pass


def extract(doc: Doc, rules: dict) -> None:
    ref = doc.published
    for rid, pat, prio in rules["rules"]:
        for m in pat.finditer(doc.folded):
            g = m.groupdict()
            start = end = None
            relative = False
            if g.get("year") and not g.get("month"):
                y = int(g["year"])
                start, end, grain = dt.date(y, 1, 1), dt.date(y, 12, 31), "year"
            elif g.get("month") and g.get("day"):
                relative = not g.get("year")
                y = int(g["year"]) if g.get("year") else (ref.year if ref else None)
                grain = "day"
                if y:
                    try:
                        start = end = dt.date(y, int(g["month"]), int(g["day"]))
                    except ValueError:
                        continue
            else:
                continue
            doc.add("dates", {"start": m.start(), "end": m.end(), "text": doc.text[m.start():m.end()],
                              "value_start": start, "value_end": end, "grain": grain,
                              "relative": relative, "qualifier": None, "rule_id": rid, "priority": prio})
