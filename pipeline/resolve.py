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

from bisect import bisect_right
from operator import itemgetter

from .document import Doc
from .records import ENTITY_TABLES


def _rank(r: dict):
    return (-(r["end"] - r["start"]), -r.get("priority", 0), r["start"], r.get("rule_id", ""))


_SPAN = itemgetter("start", "end")
_START = itemgetter("start")


def _sweep(rows: list[dict], starts: list[int], ends: list[int]):
    """One pass over the rows in span order (a stable sort, as sorted(rows, key=_SPAN)): the rows
    inside a main block, still in span order; `joins`, the indexes in that list of the rows that
    overlap the run of rows before them (runs of transitively overlapping rows: rare, so only
    they are noted); and the rows outside every main block, in the order of `rows`.
    Spans ascend, so the main block that may hold a row only moves forward: a bisection per
    block reached, not per row."""
    spans = list(map(_SPAN, rows))
    moved = spans != sorted(spans)          # the extractors mostly give them sorted already
    if moved:
        order = sorted(range(len(rows)), key=spans.__getitem__)
        rows, spans = [rows[i] for i in order], [spans[i] for i in order]
    inside: list[dict] = []
    joins: list[int] = []
    outside: list[dict] = []
    add, n = inside.append, len(starts)
    nxt, lim = (starts[0] if starts else _NEVER), -_NEVER   # the next block's start; this one's end
    run_end = -_NEVER
    for r, (s, e) in zip(rows, spans):
        if s >= nxt:                        # into a later main block (or past the last)
            j = bisect_right(starts, s) - 1
            nxt, lim = (starts[j + 1] if j + 1 < n else _NEVER), ends[j]
        if e > lim:
            outside.append(r)
            continue
        if s < run_end:
            joins.append(len(inside))
            if e > run_end:
                run_end = e
        else:
            run_end = e
        add(r)
    if moved and len(outside) > 1:
        index = {id(r): i for r, i in zip(rows, order)}      # back to the order of the rows
        outside.sort(key=lambda r: index[id(r)])
    return inside, joins, outside


_NEVER = float("inf")


def _choose(run: list[dict], table: str, dropped: list[dict]) -> list[dict]:
    """The run's rows that no better-ranked kept row overlaps, in start order."""
    chosen: list[dict] = []
    for r in sorted(run, key=_rank):
        s, e = r["start"], r["end"]
        for c in chosen:
            if c["start"] < e and s < c["end"]:
                dropped.append({**r, "table": table, "why": f"overlap lost to {c.get('rule_id')} {c['text']!r}"})
                break
        else:
            chosen.append(r)
    return sorted(chosen, key=_START)


def resolve(doc: Doc) -> None:
    spans = doc.main_spans()
    starts, ends = [s for s, _ in spans], [e for _, e in spans]
    dropped = doc.dropped
    for table in ENTITY_TABLES:
        kept, joins, outside = _sweep(doc.rows.get(table, []), starts, ends)
        for r in outside:
            dropped.append({**r, "table": table, "why": "outside a main block"})
        if joins:
            kept = _resolve_runs(kept, joins, table, dropped)
        for r in kept:
            r.pop("priority", None)
        doc.rows[table] = kept


def _resolve_runs(rows: list[dict], joins: list[int], table: str, dropped: list[dict]) -> list[dict]:
    """rows with each run of overlapping ones (row k joins row k - 1's run, k in `joins`,
    ascending) replaced by its chosen rows."""
    out, prev, k = [], 0, 0
    while k < len(joins):
        a, b = joins[k] - 1, joins[k] + 1
        while k + 1 < len(joins) and joins[k + 1] == b:
            b, k = b + 1, k + 1
        out += rows[prev:a]
        out += _choose(rows[a:b], table, dropped)
        prev, k = b, k + 1
    return out + rows[prev:]
