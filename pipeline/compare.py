"""Compare two sets of tables (output folders or golden JSON-lines folders), row by row.

A row is identified by its key (entity tables: doc_id + span; turns: doc_id + turn_index;
blocks: doc_id + block_index); a key present on one side only is added or removed, a key on
both sides with other values is changed. Used by `pipeline diff` and `pipeline review --against`.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq

KEYS = {
    "documents": ("doc_id",),
    "blocks": ("doc_id", "block_index"),
    "quantities": ("doc_id", "start", "end"),
    "dates": ("doc_id", "start", "end"),
    "organisations": ("doc_id", "start", "end"),
    "turns": ("doc_id", "turn_index"),
}
COMPARED = tuple(KEYS)          # tokens are compared by the goldens, not here (too many to list)
IGNORED = {"path"}              # machine-specific


def load_rows(folder: Path, table: str) -> list[dict] | None:
    """Rows of `table` from DIR/<table>.parquet, DIR/<table>/ (dataset) or DIR/<table>.jsonl."""
    folder = Path(folder)
    for p in (folder / f"{table}.parquet", folder / table):
        if p.exists():
            return [_plain(r) for r in pq.read_table(p).to_pylist()]
    p = folder / f"{table}.jsonl"
    if p.exists():
        with open(p, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    return None


def _plain(r: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in r.items()}


def key_of(table: str, r: dict) -> tuple:
    return tuple(r.get(k) for k in KEYS[table])


def compare_table(table: str, old: list[dict], new: list[dict]) -> dict[str, list]:
    om = {key_of(table, r): r for r in old}
    nm = {key_of(table, r): r for r in new}
    added = [nm[k] for k in nm.keys() - om.keys()]
    removed = [om[k] for k in om.keys() - nm.keys()]
    changed = []
    for k in om.keys() & nm.keys():
        a, b = om[k], nm[k]
        fields = sorted(f for f in set(a) | set(b) if f not in IGNORED and not _same(a.get(f), b.get(f)))
        if fields:
            changed.append((a, b, fields))
    order = lambda r: key_of(table, r)
    return {"added": sorted(added, key=order), "removed": sorted(removed, key=order),
            "changed": sorted(changed, key=lambda t: order(t[1]))}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b


def compare_dirs(old_dir: Path, new_dir: Path) -> dict[str, dict]:
    out = {}
    for t in COMPARED:
        old, new = load_rows(old_dir, t), load_rows(new_dir, t)
        if old is None or new is None:
            continue
        out[t] = compare_table(t, old, new)
    return out


def summary(diff: dict[str, dict], examples: int = 5) -> str:
    """Per table and rule: how many rows were added, removed, changed; a few of each."""
    lines = []
    for t, d in diff.items():
        n = {k: len(v) for k, v in d.items()}
        if not any(n.values()):
            lines.append(f"{t:14s} unchanged")
            continue
        lines.append(f"{t:14s} +{n['added']} -{n['removed']} ~{n['changed']}")
        per_rule = defaultdict(Counter)
        for r in d["added"]:
            per_rule[r.get("rule_id") or "-"]["+"] += 1
        for r in d["removed"]:
            per_rule[r.get("rule_id") or "-"]["-"] += 1
        for a, b, _ in d["changed"]:
            per_rule[b.get("rule_id") or a.get("rule_id") or "-"]["~"] += 1
        for rule, c in sorted(per_rule.items()):
            lines.append(f"{'':16s}{rule:28s} +{c['+']} -{c['-']} ~{c['~']}")
        for r in d["added"][:examples]:
            lines.append(f"{'':16s}+ {_brief(t, r)}")
        for r in d["removed"][:examples]:
            lines.append(f"{'':16s}- {_brief(t, r)}")
        for a, b, fields in d["changed"][:examples]:
            lines.append(f"{'':16s}~ {_brief(t, b)}: " + ", ".join(f"{f} {a.get(f)!r} -> {b.get(f)!r}" for f in fields))
    return "\n".join(lines)


def _brief(table: str, r: dict) -> str:
    where = f"{r.get('doc_id')}@{r.get('start', r.get('turn_index', r.get('block_index')))}"
    what = r.get("text") or r.get("speaker_label") or r.get("label") or ""
    return f"{where} {what!r}"
