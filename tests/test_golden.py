"""Regression goldens: the seeds' tables must equal tests/golden/*.jsonl. When a rule change
moves them, this fails with a capped, readable diff per table; `pipeline golden --update`
rewrites them and `git diff tests/golden` is the review. Goldens say what changed, not what is
right (that is tests/truth)."""
from __future__ import annotations

from conftest import GOLDEN
from pipeline.golden import GOLDEN_TABLES, canonical_lines, diff_goldens


def test_goldens_unchanged(seeds_out):
    diffs = diff_goldens(seeds_out, GOLDEN)
    assert not diffs, ("output changed against tests/golden (run `pipeline golden --update` and review "
                       "`git diff tests/golden` if the change is intended):\n\n" + "\n\n".join(diffs.values()))


def test_goldens_are_canonical():
    import json
    for t in GOLDEN_TABLES:
        lines = (GOLDEN / f"{t}.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(l) for l in lines]
        assert canonical_lines(t, rows) == lines, f"{t}.jsonl is not in canonical form"
