"""Resolve overlapping candidates within each entity table by one total order.

Order: longer span, then higher rule priority, then earlier start, then rule id. The same
candidates therefore always give the same rows (DESIGN.md: deterministic golden files).
Mentions outside main blocks are dropped here too: entity tables hold main-block mentions only.
Every dropped candidate is kept on doc.dropped with the reason, for `pipeline explain --near`.

A candidate is kept when no better-ranked kept candidate overlaps it; that depends only on the
candidates it overlaps, transitively, so the choice is made cluster by cluster (runs of
overlapping spans), which keeps long documents linear.
"""
from __future__ import annotations

from operator import itemgetter

from .document import Doc
from .records import ENTITY_TABLES


def _rank(r: dict):
    return (-(r["end"] - r["start"]), -r.get("priority", 0), r["start"], r.get("rule_id", ""))


_SPAN = itemgetter("start", "end")


def _clusters(cands: list[dict]):
    """Runs of transitively overlapping candidates, in text order."""
    cands = sorted(cands, key=_SPAN)
    run, run_end = [], -1
    for r in cands:
        if run and r["start"] >= run_end:
            yield run
            run, run_end = [], -1
        run.append(r)
        run_end = max(run_end, r["end"])
    if run:
        yield run


def resolve(doc: Doc) -> None:
    in_main = doc.main_test()
    for table in ENTITY_TABLES:
        inside = []
        for r in doc.rows.get(table, []):
            if in_main(r["start"], r["end"]):
                inside.append(r)
            else:
                doc.dropped.append({**r, "table": table, "why": "outside a main block"})
        kept: list[dict] = []
        for run in _clusters(inside):
            if len(run) == 1:
                kept.append(run[0])
                continue
            chosen: list[dict] = []
            for r in sorted(run, key=_rank):
                rival = next((c for c in chosen if c["start"] < r["end"] and r["start"] < c["end"]), None)
                if rival is None:
                    chosen.append(r)
                else:
                    doc.dropped.append({**r, "table": table,
                                        "why": f"overlap lost to {rival.get('rule_id')} {rival['text']!r}"})
            kept.extend(sorted(chosen, key=lambda r: r["start"]))
        for r in kept:
            r.pop("priority", None)
        doc.rows[table] = kept
