"""Segmentation with jieba: the tokens table and word boundaries for the other stages.

We own a `jieba.Tokenizer` instance with its cache file inside the project's cache folder
(jieba's default cache in the shared temp folder causes permission clashes), HMM off (with HMM
on jieba invents words such as 营收达). Numbers and dates are found on characters, not tokens.
The lexicon words of rules/ (organisation names, units) are added once when the tokenizer is
built, never per document, so the tokens of a document do not depend on which documents a
worker saw before it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import native
from .document import Doc, Tokens, code_points

PROJECT_CACHE = Path(__file__).resolve().parent.parent / ".cache"


def cache_dir() -> Path:
    d = Path(os.environ.get("PIPELINE_CACHE_DIR", PROJECT_CACHE))
    d.mkdir(parents=True, exist_ok=True)
    return d


class Segmenter:
    """jieba 0.42.1, HMM off: the reference segmenter."""

    name = "jieba"

    def __init__(self, words: list[str] = ()):
        import logging

        import jieba
        jieba.setLogLevel(logging.WARNING)
        self.version = jieba.__version__
        self.tk = jieba.Tokenizer()
        self.tk.tmp_dir = str(cache_dir())
        self.tk.cache_file = "jieba.cache"
        self.tk.initialize()
        # Only words the dictionary lacks: re-adding a known word bumps its frequency, which
        # moves other cuts and is handled differently by jieba-rs.
        self.words = sorted(w for w in set(words) if not self.tk.FREQ.get(w))
        for w in self.words:
            self.tk.add_word(w)          # frequency from jieba's suggest_freq(w, tune=False)

    def settings(self) -> dict:
        return {"backend": self.name, "version": self.version, "hmm": False, "added_words": len(self.words)}

    def cut(self, text: str) -> list[str]:
        return list(self.tk.cut(text, HMM=False))

    def tokens(self, text: str) -> Tokens:
        """Non-blank tokens of `text`. jieba's words cover the text exactly, so offsets are the
        cumulative lengths; a whitespace token is one blank character (or CRLF). Long texts are
        cut in pieces at line breaks (jieba never joins across one), so the list of word
        strings never holds more than one piece."""
        starts, ends = [], []
        for a, z in _pieces(text):
            words = self.cut(text[a:z])
            if not words:
                continue
            lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            e = np.cumsum(lens) + a
            starts.append(e - lens)
            ends.append(e)
        if not starts:
            return Tokens()
        starts, ends = np.concatenate(starts), np.concatenate(ends)
        keep = ~_blank_at(text, starts)
        return Tokens(starts[keep], ends[keep])

    def spans(self, text: str, offset: int = 0) -> list[tuple[int, int]]:
        return [(offset + s, offset + e) for s, e in self.tokens(text)]


class FastSegmenter(Segmenter):
    """rjieba (jieba-rs, same dictionary), HMM off: about 10x faster.

    Used only because tests/test_segment.py proves its tokens identical to the reference's on
    the seeds and 500 corpus documents, with the run-time words added the same way.
    """

    name = "rjieba"

    def __init__(self, words: list[str] = ()):
        from importlib.metadata import version

        import rjieba
        self.version = version("rjieba")
        self.tk = rjieba.Jieba()
        self.words = sorted(w for w in set(words) if not self.tk.has_word(w))
        for w in self.words:
            # same frequency jieba's add_word(w) would give (its suggest_freq(w, tune=False))
            self.tk.add_word(w, max(1, self.tk.suggest_freq(w)), None)

    def cut(self, text: str) -> list[str]:
        return self.tk.cut(text, hmm=False)


class CSegmenter(Segmenter):
    """pipeline._cjieba: jieba's own algorithm and dict.txt in C, returning offsets only (no
    Python string per token, which was most of rjieba's time here).

    Used only because tests/test_segment.py proves its tokens identical to the reference's on
    the seeds and 500 corpus documents, with the run-time words added the same way.
    """

    name = "cjieba"

    def __init__(self, words: list[str] = ()):
        from importlib.metadata import version
        from importlib.util import find_spec

        from . import __version__
        dict_txt = Path(find_spec("jieba").origin).parent / "dict.txt"     # jieba's DEFAULT_DICT
        self.version = f"{__version__} (jieba {version('jieba')} dict.txt)"
        self.tk = native.cjieba.Trie()
        self.tk.load_dict(dict_txt.read_bytes())
        self.words = sorted(w for w in set(words) if not self.tk.freq(w))
        for w in self.words:
            self.tk.add_word(w, self._suggest_freq(w))

    def _suggest_freq(self, word: str) -> int:
        """jieba's suggest_freq(word, tune=False), the frequency its add_word(word) gives."""
        total = self.tk.total
        freq = 1
        for seg in self.cut(word):
            f = self.tk.freq(seg)
            freq *= (1 if f is None else f) / float(total)       # FREQ.get(seg, 1)
        f = self.tk.freq(word)
        return max(int(freq * total) + 1, 1 if f is None else f)

    def cut(self, text: str) -> list[str]:
        starts, ends = self.tk.spans(text, True)
        return [text[a:z] for a, z in zip(memoryview(starts).cast("q"), memoryview(ends).cast("q"))]

    def tokens(self, text: str) -> Tokens:
        """Non-blank tokens of `text`, straight from C (no pieces needed: no strings are made)."""
        starts, ends = self.tk.spans(text)
        return Tokens(np.frombuffer(starts, dtype=np.int64), np.frombuffer(ends, dtype=np.int64))


class SegmenterError(ValueError):
    """A segmenter that does not exist or is not installed here."""


BACKENDS = {"jieba": Segmenter, "rjieba": FastSegmenter, "cjieba": CSegmenter}


def _available(name: str) -> bool:
    """Whether a backend can be used here: cjieba when setup.py built it, the others when their
    package is installed."""
    if name == "cjieba":
        return native.cjieba is not None
    from importlib.util import find_spec
    return find_spec(name) is not None


def make_segmenter(words: list[str] = (), backend: str = "auto") -> Segmenter:
    """`auto`: the C cut when it was built, else rjieba when installed, else jieba. All give
    identical tokens (tested)."""
    if backend == "auto":
        backend = next(b for b in ("cjieba", "rjieba", "jieba") if _available(b))
    if backend not in BACKENDS:
        raise SegmenterError(f"unknown segmenter {backend!r}; choose from {sorted(BACKENDS)} or auto")
    if not _available(backend):
        why = "was not built (no C compiler at install time)" if backend == "cjieba" else "is not installed"
        raise SegmenterError(f"segmenter {backend!r} {why}; use auto, or one of "
                             f"{sorted(b for b in BACKENDS if _available(b))}")
    return BACKENDS[backend](words)


PIECE = 1 << 20


def _pieces(text: str):
    """(start, end) pieces of about PIECE characters, each ending after a line break."""
    a, n = 0, len(text)
    while a < n:
        z = text.find("\n", a + PIECE) + 1 if n - a > PIECE else n
        if z <= 0:                              # one huge line: cut after a blank or punctuation
            z = n
            for sep in (" ", "\u3000", "。", "，", ","):
                k = text.find(sep, a + PIECE)
                if k != -1:
                    z = k + 1
                    break
        yield a, z
        a = z


def _blank_at(text: str, positions: np.ndarray) -> np.ndarray:
    """Whether the character at each position is blank (str.isspace), by a lookup table."""
    cps = code_points(text)[positions]
    return _BLANK[np.minimum(cps, len(_BLANK) - 1)]


# str.isspace of every code point up to U+3000, the last blank one; the final slot stands for
# every higher code point and is False
_BLANK = np.array([chr(c).isspace() for c in range(0x3001)] + [False], dtype=bool)


def segment(doc: Doc, seg: Segmenter) -> None:
    """Tokens of the whole (folded) text, blanks dropped. jieba never joins across a line break
    or other non-word character, and blocks end at such characters, so no token crosses a
    block boundary and this equals segmenting block by block."""
    doc.tokens = seg.tokens(doc.folded)
