"""Every example and counter-example in rules/ runs through the whole pipeline (Duckling/Semgrep
style). A known gap is marked `xfail: reason` in the YAML and runs as a strict xfail."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import rule_examples

CASES = rule_examples()


def _ids(case):
    table, rid, kind, ex = case
    return f"{rid}:{kind}:{ex.get('match') or ex['text'][:12]}"


def _same(want, got) -> bool:
    if isinstance(got, (dt.date, dt.datetime)):
        got = got.isoformat()
    if isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(got, (int, float)):
        return abs(float(want) - float(got)) <= 1e-6 * max(1.0, abs(float(want)))
    return want == got


def check(engine, table, kind, ex):
    ref = dt.date.fromisoformat(ex["ref"]) if ex.get("ref") else None
    result = engine.process_text(ex["text"], "example", ref)
    text = ex["text"]
    rows = result[table]
    span_text = lambda r: r.get("text") if r.get("text") is not None else text[r["start"]:r["end"]]
    if kind == "examples":
        hits = [r for r in rows if span_text(r) == ex["match"]]
        assert hits, f"no {table} row for {ex['match']!r} in {text!r}; got {[span_text(r) for r in rows]}"
        fields = {k: v for k, v in ex.items() if k not in ("text", "match", "ref", "xfail", "note")}
        bad = {k: (v, hits[0].get(k)) for k, v in fields.items() if not _same(v, hits[0].get(k))}
        assert not bad, f"{ex['match']!r}: field (want, got) {bad}"
    else:
        if ex.get("match"):
            hits = [r for r in rows if span_text(r) == ex["match"]]
            assert not hits, f"counter-example: {ex['match']!r} must not be a {table} row in {text!r}"
        else:
            assert not rows, f"counter-example: no {table} row expected in {text!r}; got {[span_text(r) for r in rows]}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_rule_example(engine, case):
    table, rid, kind, ex = case
    if ex.get("xfail"):
        try:
            check(engine, table, kind, ex)
        except AssertionError:
            pytest.xfail(ex["xfail"])
        pytest.fail(f"known gap now passes (remove its xfail): {ex['xfail']}")
    check(engine, table, kind, ex)


def test_every_rule_file_has_examples():
    tables = {c[0] for c in CASES}
    assert {"quantities", "dates", "organisations", "turns"} <= tables
