"""Strict loading of rules/*.yaml: the shared helpers every stage's rule compiler uses.

YAML is read with a loader that keeps dates and yes/no as strings (the traps DESIGN.md lists),
records the line of every mapping, and turns every problem into a RuleError that names the
file, the rule id and the line. Patterns are compiled with the `regex` module and run under a
time limit, so a catastrophic pattern fails one document with a clear message instead of hanging:
either a whole-document watchdog (see `watchdog`) or, where none can be set, a timeout on every
pattern call.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterable

import regex
import yaml

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class RuleError(Exception):
    def __init__(self, file: str | Path, message: str, rule: str | None = None, line: int | None = None):
        self.file, self.rule, self.line, self.message = str(file), rule, line, message
        where = self.file + (f":{line}" if line else "")
        super().__init__(f"{where}: {'rule ' + rule + ': ' if rule else ''}{message}")


class RuleTimeout(Exception):
    """A rule's pattern ran past its time limit on one document."""


# --- time limits --------------------------------------------------------------------------------
# Passing `timeout=` to a `regex` call costs microseconds per call and per match (more than most
# matches themselves: 0.8 -> 4-6 us for a short match here). So a batch run puts each document
# under one alarm instead (SIGALRM; both `regex` and stdlib `re` check for signals while they
# backtrack) and patterns run without a timeout. When the alarm fires, the engine runs the
# document again with a timeout on every call, which names the runaway rule (or, for a document
# that was merely slow, finishes it). Where no alarm can be set (not the main thread, as in a
# Dask worker; no SIGALRM), every call carries its timeout as before.
_watched = False             # a watchdog is armed for the document being processed


class DocumentTimeout(BaseException):
    """The watchdog's alarm: a BaseException, so no `except Exception` in a stage swallows it."""


def document_budget(n_chars: int) -> float:
    """Seconds a document of n_chars characters (or a batch of that many, run together) may take
    before it is re-run with per-call timeouts: far above any honest run (about 1 s per million
    characters here), small beside a runaway pattern."""
    return 10.0 + n_chars / 50_000


def _alarm(signum, frame):
    if _watched:
        raise DocumentTimeout()


@contextlib.contextmanager
def watchdog(seconds: float):
    """Arm the alarm for one document; yields whether it could be armed."""
    global _watched
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    _watched = True                     # before the timer: an alarm must never find it unset
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _watched = False
        signal.signal(signal.SIGALRM, previous)


# --- YAML with lines and no surprises ----------------------------------------------------------
class LDict(dict):
    line: int = 0


class LList(list):
    line: int = 0


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?$")


def _convert(node: yaml.Node, file: str) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = LDict()
        out.line = line
        for k, v in node.value:
            key = _convert(k, file)
            if not isinstance(key, str):
                raise RuleError(file, f"mapping key {key!r} is not a string", line=k.start_mark.line + 1)
            if key in out:
                raise RuleError(file, f"duplicate key {key!r}", line=k.start_mark.line + 1)
            out[key] = _convert(v, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        out_l = LList(_convert(v, file) for v in node.value)
        out_l.line = line
        return out_l
    value = node.value
    if node.style is not None and node.style != "":      # quoted or block scalar: always a string
        return value
    if value in ("", "~", "null", "Null", "NULL"):
        return None
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value           # 2024-03-01, no, yes, off: strings, as written


# libyaml's parser when PyYAML has it: the same nodes and lines, about ten times faster
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError(path, f"cannot read: {e}") from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise RuleError(path, f"YAML syntax error: {problem}",
                        line=mark.line + 1 if mark else None) from None
    if node is None:
        raise RuleError(path, "the file is empty")
    return _convert(node, str(path))


# --- validation helpers -----------------------------------------------------------------------
class Where:
    """Where a value came from, for error messages: file, rule id, line."""

    def __init__(self, file: str | Path, rule: str | None = None, line: int | None = None):
        self.file, self.rule, self.line = str(file), rule, line

    def at(self, obj: Any = None, rule: str | None = None) -> "Where":
        return Where(self.file, rule or self.rule, getattr(obj, "line", None) or self.line)

    def error(self, message: str) -> RuleError:
        return RuleError(self.file, message, self.rule, self.line)


def check_keys(d: Any, where: Where, required: Iterable[str] = (), optional: Iterable[str] = ()) -> LDict:
    if not isinstance(d, dict):
        raise where.error(f"expected a mapping, got {type(d).__name__}")
    required, optional = set(required), set(optional)
    unknown = set(d) - required - optional
    if unknown:
        raise where.error(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(required | optional)}")
    missing = required - set(d)
    if missing:
        raise where.error(f"missing key(s) {sorted(missing)}")
    return d


def expect(value: Any, types: type | tuple[type, ...], where: Where, what: str) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise where.error(f"{what} must be {_names(types)}, got a boolean {value!r}")
    if not isinstance(value, types):
        raise where.error(f"{what} must be {_names(types)}, got {type(value).__name__} {value!r}")
    return value


def expect_str_list(value: Any, where: Where, what: str) -> list[str]:
    expect(value, list, where, what)
    for v in value:
        expect(v, str, where, f"each item of {what}")
    return list(value)


def expect_enum(value: Any, allowed: Iterable[str], where: Where, what: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise where.error(f"{what} {value!r} is not one of {list(allowed)}")
    return value


def _names(types: type | tuple[type, ...]) -> str:
    ts = types if isinstance(types, tuple) else (types,)
    return " or ".join({"str": "a string", "int": "an integer", "float": "a number", "list": "a list",
                        "dict": "a mapping", "bool": "true/false"}.get(t.__name__, t.__name__) for t in ts)


# --- patterns ---------------------------------------------------------------------------------
class Pattern:
    """A compiled rule pattern that always runs under a time limit and knows its rule id.

    Hot loops may call the compiled pattern directly to skip a Python call per match, but only
    as `pat.hot("match", text)` (or "search", "finditer" ...) gives it, and with `TimeoutError`
    turned into `pat.timeout_error()`, so a catastrophic rule still fails its document with the
    rule named.
    """

    __slots__ = ("rule_id", "source", "rx", "std")

    def __init__(self, source: str, where: Where, flags: int = 0, stdlib: bool = False):
        """`stdlib`: also compile a stdlib `re` twin, used under a watchdog (see `hot`). For the
        few hot patterns where `re` is measured faster: it tests a character class by a table,
        `regex` member by member (the quantities trigger scan: about half of that stage)."""
        self.rule_id, self.source = where.rule, source
        try:
            self.rx = regex.compile(source, flags | regex.VERSION0)
        except regex.error as e:
            raise where.error(f"pattern does not compile: {e}") from None
        self.std = stdlib_twin(source, flags) if stdlib else None

    def hot(self, method: str, text: str):
        """The compiled pattern's `method` ('match', 'finditer' ...) as a hot loop should call it
        on `text`: under a watchdog untimed, from the stdlib twin where there is one; else the
        `regex` method with the per-call timeout (turn its TimeoutError into timeout_error())."""
        if _watched:
            return getattr(self.std if self.std is not None else self.rx, method)
        return functools.partial(getattr(self.rx, method), timeout=self.budget(text))

    @staticmethod
    def budget(text: str) -> float:
        # generous for honest patterns (linear in the text), fatal for catastrophic ones
        return 2.0 + len(text) / 250_000

    def timeout_error(self) -> RuleTimeout:
        return RuleTimeout(f"rule {self.rule_id}: pattern timed out on this document "
                           f"(catastrophic backtracking?): {self.source[:80]}")

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None):
        endpos = len(text) if endpos is None else endpos
        if _watched:
            yield from self.rx.finditer(text, pos, endpos)
            return
        try:
            yield from self.rx.finditer(text, pos, endpos, timeout=self.budget(text))
        except TimeoutError:
            raise self.timeout_error() from None

    def match(self, text: str, pos: int = 0, endpos: int | None = None):
        return self._call(self.rx.match, text, pos, endpos)

    def search(self, text: str, pos: int = 0, endpos: int | None = None):
        return self._call(self.rx.search, text, pos, endpos)

    def _call(self, method, text: str, pos: int, endpos: int | None):
        if _watched:
            return method(text, pos, len(text) if endpos is None else endpos)
        try:
            return method(text, pos, len(text) if endpos is None else endpos, timeout=self.budget(text))
        except TimeoutError:
            raise self.timeout_error() from None

    @property
    def groupindex(self) -> dict:
        return self.rx.groupindex


# Flags both modules read alike; not re.I: the two case foldings differ
_SHARED_FLAGS = re.M | re.S | re.X


def stdlib_twin(source: str, flags: int) -> re.Pattern | None:
    """The same pattern for stdlib `re`, or None where the two modules could read it otherwise.
    \\d \\s \\w \\p{..} (and \\D \\S \\W \\P{..}) are written out as the code points `regex`
    matches with them (`regex_class`): the modules' Unicode tables differ; \\b and \\B as
    look-arounds on that \\w. Refused: \\N \\X, POSIX and nested classes, set operations,
    inline flags other than m s x, `{` that is not a counted repeat (fuzzy matching to
    `regex`, a literal to `re`), flags `re` lacks, and what `re` does not compile (look-behind
    of varying width ...)."""
    if flags & ~_SHARED_FLAGS:
        return None
    spelled = _spell_out(source, verbose=bool(flags & re.X))
    if spelled is None:
        return None
    try:
        return re.compile(spelled, flags)
    except re.error:
        return None


_REPEAT = re.compile(r"\{\d*(?:,\d*)?\}")
_INLINE_FLAGS = re.compile(r"\(\?([a-zA-Z-]+)[:)]")


def _spell_out(source: str, verbose: bool = False) -> str | None:
    """`source` with its table escapes written out for `re` (see stdlib_twin), None if refused."""
    out: list[str] = []
    i, n, in_class = 0, len(source), False
    while i < n:
        c = source[i]
        if c == "\\":
            esc, i = _escape_at(source, i)
            if esc is None:
                return None
            if esc[1] in "dDsSwWpP":
                body = regex_class(esc)
                if not body or in_class and (source[i - len(esc) - 1] == "-" or
                                             source[i:i + 1] == "-" and source[i + 1:i + 2] != "]"):
                    return None                                 # `[a-\d]`, `[\d-z]`: a range to `re`
                out.append(body if in_class else f"[{body}]")
            elif esc[1] in "bB" and not in_class:               # in a class: a backspace to both
                out.append(_boundary(esc[1] == "b"))
            else:
                out.append(esc)
            continue
        if in_class:
            if c == "[" or source[i:i + 2] in ("&&", "--", "||", "~~"):   # nested set, set operation
                return None
            in_class = c != "]"
        elif c == "[":
            in_class = True
            j = i + 1 + (source[i + 1:i + 2] == "^")
            if source[j:j + 1] == "]":                       # `[]...]`: a literal first `]`
                out.append(source[i:j + 1])
                i = j + 1
                continue
        elif c == "{" and not _REPEAT.match(source, i):
            return None
        elif c == "(" and source[i + 1:i + 2] == "?":
            if source[i + 2:i + 3] == "#":                    # a comment: no escape is read there
                return None
            m = _INLINE_FLAGS.match(source, i)
            if m and set(m.group(1)) - set("msx-"):
                return None
            verbose = verbose or bool(m and "x" in m.group(1).split("-")[0])
        elif c == "#" and verbose:                            # a comment runs to the line end
            j = source.find("\n", i)
            j = n if j < 0 else j
            if any(x in source[i:j] for x in "\\[]"):       # not sure it is one: refuse
                return None
            out.append(source[i:j])
            i = j
            continue
        out.append(c)
        i += 1
    return None if in_class else "".join(out)


def _escape_at(source: str, i: int) -> tuple[str | None, int]:
    """The escape at source[i] (a backslash) and the index after it; None when refused."""
    e = source[i + 1:i + 2]
    if not e or e in "NX":
        return None, i
    if e in "pP":
        if source[i + 2:i + 3] == "{":
            j = source.find("}", i + 2)
            return (None, i) if j < 0 else (source[i:j + 1], j + 1)
        return source[i:i + 3], i + 3                           # \pL
    return source[i:i + 2], i + 2


@functools.cache
def regex_class(escape: str) -> str:
    """The code points `regex` matches with `escape` (`\\s`, `\\P{Han}` ...), as the body of a
    stdlib class (ranges): computed from `regex` itself on every code point, once a process."""
    return "".join(rf"\U{m.start():08x}-\U{m.end() - 1:08x}"
                   for m in regex.finditer(f"[{escape}]+", every_char(), flags=regex.VERSION0))


@functools.cache
def _boundary(word: bool) -> str:
    """\\b (word) or \\B for `re`, on `regex`'s \\w: in version 0 a boundary is where a \\w
    character meets a non-\\w one (or a text edge)."""
    w = "[" + regex_class(r"\w") + "]"
    if word:
        return f"(?:(?<={w})(?!{w})|(?<!{w})(?={w}))"
    return f"(?:(?<={w})(?={w})|(?<!{w})(?!{w}))"


@functools.cache
def every_char() -> str:
    """Every code point in order, surrogates too (decoded: 4x faster than joining chr())."""
    import numpy as np
    return np.arange(sys.maxunicode + 1, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")


def trie_regex(words) -> str:
    """A regex alternation of literal words shaped as a prefix tree (`副(?:局长|主任)|…`): one
    branch per first character, so either engine tries few alternatives per position (about 3x
    faster than a flat alternation). It matches as `alternation(words)` does, longest word
    first: the words that match at one place are prefixes of one another, and the tree tries
    the longer continuation before stopping."""
    trie: dict = {}
    for w in set(words):
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node) -> str:
        alts, optional = [], "" in node
        for ch in sorted(k for k in node if k):
            alts.append(regex.escape(ch) + emit(node[ch]))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and not optional else "(?:" + "|".join(alts) + ")"
        return body + "?" if optional else body      # greedy: the longest word first

    return emit(trie) or "(?!)"


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first (so 平方公里 beats 公里)."""
    ws = sorted(set(words), key=lambda w: (-len(w), w))
    return "(?:" + "|".join(regex.escape(w) for w in ws) + ")" if ws else "(?!)"


# --- examples: every rule carries them; tests run them through the whole pipeline ------------
EXAMPLE_KEYS = ("text", "match", "ref", "xfail", "note")


def check_examples(rule: dict, where: Where, fields: Iterable[str]) -> None:
    """Validate a rule's `examples` and `counter` lists (shape only; tests run them)."""
    fields = set(fields)
    for key in ("examples", "counter"):
        items = rule.get(key)
        if items is None:
            continue
        expect(items, list, where, key)
        for ex in items:
            w = where.at(ex)
            check_keys(ex, w, required=("text",), optional=set(EXAMPLE_KEYS) | (fields if key == "examples" else set()))
            expect(ex["text"], str, w, "example text")
            if "match" in ex:
                expect(ex["match"], str, w, "match")
                if ex["match"] not in ex["text"]:
                    raise w.error(f"match {ex['match']!r} is not in the example text {ex['text']!r}")
            elif key == "examples":
                raise w.error("an example needs `match`: the span the rule must produce")


# --- the rules folder -------------------------------------------------------------------------
def rule_files(rules_dir: Path) -> list[Path]:
    if not rules_dir.is_dir():
        raise RuleError(rules_dir, "rules folder not found")
    return sorted(p for p in rules_dir.glob("*.yaml"))


def fingerprint(rules_dir: Path) -> str:
    h = hashlib.sha256()
    for p in rule_files(rules_dir):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]
