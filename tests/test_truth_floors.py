"""The seeds against the hand-made truth (tests/truth, copied from ../shared/truth, never
regenerated). Floors only go up; a floor is lowered only with the reason in the commit message."""
from __future__ import annotations

import pytest

from conftest import TRUTH
from pipeline import score

# table -> (metric path, floor)
FLOORS = {
    "quantities exact F1": (("quantities", "exact", 2), 0.80),
    "dates exact F1": (("dates", "exact", 2), 0.20),
    "organisations exact F1": (("organisations", "exact", 2), 0.25),
    "turns F1": (("turns", "text_iou90", 2), 0.50),
    "blocks char accuracy": (("blocks", "char_accuracy"), 0.98),
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
    assert v >= floor, f"{name} fell to {v} (floor {floor})"
