"""Every example and counter-example in rules/ runs through the whole pipeline (Duckling/Semgrep
style), with the same code as `pipeline rules check`. A known gap is marked `xfail: reason` in the
YAML and runs as a strict xfail."""
from __future__ import annotations

import pytest

from pipeline.rulecheck import check_example, iter_examples

CASES = iter_examples()


def _id(ex):
    return f"{ex.rule_id}:{ex.kind}:{ex.data.get('match') or ex.data['text'][:12]}"


@pytest.mark.parametrize("ex", CASES, ids=[_id(c) for c in CASES])
def test_rule_example(engine, ex):
    problem = check_example(engine, ex)
    if ex.data.get("xfail"):
        if problem:
            pytest.xfail(ex.data["xfail"])
        pytest.fail(f"known gap now passes (remove its xfail): {ex.data['xfail']}")
    assert problem is None, f"{ex.file}:{ex.line} {problem}"


def test_every_extractor_has_examples():
    tables = {c.table for c in CASES}
    assert {"quantities", "dates", "organisations", "turns", "blocks"} <= tables
