"""The one object every stage reads and fills in: a document, its blocks, tokens and rows."""
from __future__ import annotations

import array
import bisect
import datetime as dt
import sys
from dataclasses import dataclass, field

import numpy as np

from .native import cjieba

# Full-width ASCII (U+FF01..U+FF5E: ０-９, Ａ-Ｚ, and the full-width punctuation Chinese text uses,
# ，：；（）！？％), the ideographic space and the no-break space fold one-to-one to ASCII, so the folded copy has
# the same length and every offset found on it holds in the original text (NFKC would change
# lengths). Patterns therefore match `,` `:` `(` `%` for both widths. 。、“” are not full-width
# ASCII and stay as they are.
FOLD_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0xA0: 0x20}


_UCS4 = "w" if sys.version_info >= (3, 13) else "u"     # 'u' is deprecated from 3.13


def code_points(text: str) -> np.ndarray:
    """The text's code points as a uint32 array (array('u') is 4-byte wchar_t on Linux: a plain
    widening copy, about twice as fast as encoding UTF-32 or numpy's own str array; 'w', UCS-4
    everywhere, from Python 3.13)."""
    a = array.array(_UCS4, text)
    if a.itemsize == 4:
        return np.frombuffer(a, np.uint32)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)   # pragma: no cover


_fold_c = cjieba.fold if cjieba is not None else None     # the same mapping in C
_hits_c = cjieba.lut_hits if cjieba is not None else None


def lut_hits(text: str, lut: np.ndarray, lo: int = 0, hi: int | None = None):
    """The characters of text[lo:hi] that `lut` (a uint8 table over code points; one past its
    end reads its last entry, which should be 0) marks: (positions in text, int64; their
    entries; the entry of the character after each, 0 at hi), as numpy arrays. In C when
    pipeline._cjieba is built (one pass); else a code point copy, a take and a nonzero.
    tests/test_ingest.py checks the two agree."""
    hi = len(text) if hi is None else min(hi, len(text))
    lo = max(0, min(lo, hi))
    if _hits_c is not None:
        at, vals, nxt = _hits_c(text, lut, lo, hi)
        return np.frombuffer(at, np.int64), np.frombuffer(vals, np.uint8), np.frombuffer(nxt, np.uint8)
    return _lut_hits_numpy(text, lut, lo, hi)


def _lut_hits_numpy(text: str, lut: np.ndarray, lo: int, hi: int):
    marks = lut.take(code_points(text[lo:hi]), mode="clip")
    at = np.flatnonzero(marks)
    nxt = marks.take(at + 1, mode="clip")
    if len(at) and at[-1] == len(marks) - 1:
        nxt[-1] = 0                                     # the last character has no right neighbour
    return at + lo, marks[at], nxt


def fold_width(text: str) -> str:
    """str.translate(FOLD_TABLE), fast: in C when pipeline._cjieba is built, else vectorised with
    numpy (about ten times faster than translate on long documents). tests/test_ingest.py checks
    all three agree on every code point."""
    if _fold_c is not None:
        return _fold_c(text)
    return _fold_numpy(text)


def _fold_numpy(text: str) -> str:
    if len(text) < 256:
        return text.translate(FOLD_TABLE)
    cps = code_points(text).copy()
    wide = (cps >= 0xFF01) & (cps <= 0xFF5E)
    cps[wide] -= 0xFEE0
    cps[(cps == 0x3000) | (cps == 0xA0)] = 0x20           # ideographic and no-break spaces
    return cps.tobytes().decode("utf-32-le", "surrogatepass")


class Tokens:
    """Token spans as two int64 arrays (a document can have millions of tokens).

    Behaves like a read-only list of (start, end) tuples; `index_at(pos)` finds the token
    holding a position by binary search.
    """

    __slots__ = ("starts", "ends")

    def __init__(self, starts=None, ends=None):
        self.starts = np.asarray(starts if starts is not None else [], dtype=np.int64)
        self.ends = np.asarray(ends if ends is not None else [], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return int(self.starts[i]), int(self.ends[i])

    def __iter__(self):
        return zip(self.starts.tolist(), self.ends.tolist())

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def index_at(self, pos: int) -> int | None:
        i = int(np.searchsorted(self.starts, pos, side="right")) - 1
        return i if i >= 0 and self.ends[i] > pos else None


@dataclass
class Block:
    index: int
    start: int
    end: int
    label: str = "main"
    reason: str = ""


@dataclass
class Doc:
    doc_id: str
    text: str                       # exactly as decoded; every offset points here
    path: str = ""
    encoding: str = "utf-8"
    sha256: str = ""
    folded: str = ""                # fold_width(text): same length, for matching
    blocks: list[Block] = field(default_factory=list)
    tokens: Tokens = field(default_factory=Tokens)
    title: str | None = None
    published: dt.date | None = None
    published_source: str | None = None
    reference_fixed: bool = False   # the user set `published`; do not look for one
    rows: dict[str, list[dict]] = field(default_factory=dict)
    # candidates dropped on the way (overlap lost, exclusion), for `pipeline explain --near`
    dropped: list[dict] = field(default_factory=list)
    _main: list[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        if not self.folded:
            self.folded = fold_width(self.text)

    def fresh_copy(self) -> "Doc":
        """The document as ingested (before any stage ran), to run the stages again."""
        return Doc(self.doc_id, self.text, self.path, self.encoding, self.sha256, self.folded,
                   title=self.title, published=self.published, published_source=self.published_source,
                   reference_fixed=self.reference_fixed)

    # --- main-block geometry -------------------------------------------------------------
    def main_spans(self) -> list[tuple[int, int]]:
        if self._main is None:
            self._main = [(b.start, b.end) for b in self.blocks if b.label == "main"]
        return self._main

    def in_main(self, start: int, end: int) -> bool:
        """True when [start, end) lies inside one main block."""
        return self.main_test()(start, end)

    def main_test(self):
        """in_main as a function with the block edges bound: for testing many spans."""
        spans = self.main_spans()
        starts, ends = [s for s, _ in spans], [e for _, e in spans]

        def inside(start: int, end: int, _at=bisect.bisect_right) -> bool:
            i = _at(starts, start) - 1
            return i >= 0 and end <= ends[i]
        return inside

    def invalidate(self) -> None:
        self._main = None

    def add(self, table: str, row: dict) -> None:
        row.setdefault("doc_id", self.doc_id)
        self.rows.setdefault(table, []).append(row)
