"""Resolve overlapping candidates within each entity table by one total order.

Order: longer span, then higher rule priority, then earlier start, then rule id. The same
candidates therefore always give the same rows (DESIGN.md: deterministic golden files).
Mentions outside main blocks are dropped here too: entity tables hold main-block mentions only.
Every dropped candidate is kept on doc.dropped with the reason, for `pipeline explain --near`.
"""
from __future__ import annotations

import bisect

from .document import Doc
from .records import ENTITY_TABLES


def _rank(r: dict):
    return (-(r["end"] - r["start"]), -r.get("priority", 0), r["start"], r.get("rule_id", ""))


def resolve(doc: Doc) -> None:
    for table in ENTITY_TABLES:
        cands = doc.rows.get(table, [])
        kept: list[dict] = []
        starts: list[int] = []       # kept spans never overlap, so sorted starts find neighbours
        for r in sorted(cands, key=_rank):
            if not doc.in_main(r["start"], r["end"]):
                doc.dropped.append({**r, "table": table, "why": "outside a main block"})
                continue
            i = bisect.bisect_left(starts, r["start"])
            rival = None
            if i < len(kept) and kept[i]["start"] < r["end"]:
                rival = kept[i]
            elif i > 0 and kept[i - 1]["end"] > r["start"]:
                rival = kept[i - 1]
            if rival is not None:
                doc.dropped.append({**r, "table": table,
                                    "why": f"overlap lost to {rival.get('rule_id')} {rival['text']!r}"})
                continue
            starts.insert(i, r["start"])
            kept.insert(i, r)
        for r in kept:
            r.pop("priority", None)
        doc.rows[table] = kept
