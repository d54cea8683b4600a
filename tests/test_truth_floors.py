"""The seeds against the hand-made truth (tests/truth, copied from ../shared/truth, never
regenerated). Floors only go up; a floor is lowered only with the reason in the commit message.

These floors are what the seeds reach; they guard against regressions, not against overfitting:
the corpus tests and the rule examples are what keep the rules general."""
from __future__ import annotations

import pytest

from conftest import TRUTH
from pipeline import score

F = "field_accuracy_on_exact"
T = "field_accuracy_on_matched"
# name -> (path into score.compute()'s result, floor)
FLOORS = {
    "quantities exact F1": (("quantities", "exact", 2), 1.0),
    "quantities value": (("quantities", F, "value"), 1.0),
    "quantities unit": (("quantities", F, "unit"), 1.0),
    "quantities dimension": (("quantities", F, "dimension"), 1.0),
    "quantities approx": (("quantities", F, "approx"), 1.0),
    "dates exact F1": (("dates", "exact", 2), 1.0),
    "dates value_start": (("dates", F, "value_start"), 1.0),
    "dates value_end": (("dates", F, "value_end"), 1.0),
    "dates grain": (("dates", F, "grain"), 1.0),
    "dates qualifier": (("dates", F, "qualifier"), 1.0),
    "organisations exact F1": (("organisations", "exact", 2), 1.0),
    "organisations name": (("organisations", F, "name"), 1.0),
    "organisations kind": (("organisations", F, "kind"), 1.0),
    "turns F1 (text IoU>=0.9)": (("turns", "text_iou90", 2), 1.0),
    "turns speaker": (("turns", T, "speaker"), 1.0),
    "turns role": (("turns", T, "speaker_role"), 1.0),
    "turns org": (("turns", T, "speaker_org"), 1.0),
    "turns kind": (("turns", T, "kind"), 1.0),
    "blocks char accuracy": (("blocks", "char_accuracy"), 1.0),
    "published accuracy": (("documents", "published_accuracy"), 1.0),
}


@pytest.fixture(scope="module")
def scores(seeds_out):
    return score.compute(seeds_out, TRUTH)


@pytest.mark.parametrize("name", FLOORS)
def test_floor(scores, name):
    path, floor = FLOORS[name]
    v = scores
    for k in path:
        v = v[k]
    assert v is not None and v >= floor, f"{name} fell to {v} (floor {floor})"


def test_scorer_matches_the_shared_one(seeds_out):
    """`pipeline score` is a copy of ../shared/tools/score.py: same figures."""
    import importlib.util
    from conftest import SHARED
    shared = SHARED / "tools" / "score.py"
    if not shared.exists():
        pytest.skip("../shared/tools/score.py is not present beside the project")
    spec = importlib.util.spec_from_file_location("shared_score", shared)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import contextlib
    import io
    import json
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        mod.main(["--outputs", str(seeds_out), "--truth", str(TRUTH), "--json"])
    assert json.loads(buf.getvalue()) == json.loads(json.dumps(score.compute(seeds_out, TRUTH), default=str))
