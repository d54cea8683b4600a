"""Regression goldens: canonical JSON lines per table, regenerated only on request.

Goldens say what changed, not what is right (that is tests/truth). One row a line, sorted by
the table's key, `ensure_ascii=False`, so a rule change reads as a `git diff`.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
from pathlib import Path

import pyarrow.parquet as pq

from .records import TABLES, sort_rows

GOLDEN_TABLES = TABLES       # every table, tokens included (a segmenter change must show)


def _canon(v):
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def canonical_lines(table: str, rows: list[dict]) -> list[str]:
    rows = sort_rows(table, rows)
    out = []
    for r in rows:
        r = {k: _canon(v) for k, v in r.items()}
        if table == "documents":
            r.pop("path", None)           # machine-specific
        out.append(json.dumps(r, ensure_ascii=False, sort_keys=False))
    return out


def read_table_rows(out_dir: Path, table: str) -> list[dict]:
    return pq.read_table(Path(out_dir) / f"{table}.parquet").to_pylist()


def write_goldens(out_dir: Path, golden_dir: Path) -> None:
    golden_dir.mkdir(parents=True, exist_ok=True)
    for t in GOLDEN_TABLES:
        lines = canonical_lines(t, read_table_rows(out_dir, t))
        (golden_dir / f"{t}.jsonl").write_text("".join(l + "\n" for l in lines), encoding="utf-8")


def diff_goldens(out_dir: Path, golden_dir: Path, max_lines: int = 40) -> dict[str, str]:
    """Per table, a capped unified diff (golden -> now); empty dict when nothing changed."""
    diffs = {}
    for t in GOLDEN_TABLES:
        gp = golden_dir / f"{t}.jsonl"
        old = gp.read_text(encoding="utf-8").splitlines() if gp.exists() else []
        new = canonical_lines(t, read_table_rows(out_dir, t))
        if old != new:
            d = list(difflib.unified_diff(old, new, f"golden/{t}.jsonl", f"now/{t}", n=0, lineterm=""))
            n_del = sum(1 for l in d if l.startswith("-") and not l.startswith("---"))
            n_add = sum(1 for l in d if l.startswith("+") and not l.startswith("+++"))
            shown = d[:max_lines]
            more = f"\n... {len(d) - max_lines} more diff lines" if len(d) > max_lines else ""
            diffs[t] = f"{t}: {n_del} rows removed, {n_add} rows added\n" + "\n".join(shown) + more
    return diffs
