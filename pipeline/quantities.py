"""Quantities: a number with what it counts or measures (SPEC "Quantities").

rules/quantities.yaml holds everything a rule author edits: the unit lexicon (unit -> dimension),
the patterns that find spans, the exclusions that drop what only looks like a quantity
(ordinals, years, names, idioms), and the approximation qualifiers. This module compiles them
and turns matches into rows; pipeline/numerals.py gives the values.

Speed: numbers are everywhere in news text, and a pass of the `regex` module costs ~1 µs per
digit-like character, so one pass per rule ran at 0.2 M chars/s. Instead, ONE trigger pattern
(parts.TRIGGER: where a quantity can start) is scanned over each main block, as a pattern that
opens with the class of its first characters (_scanner); at each trigger every rule is tried
anchored, in priority order, with one call to an alternation of all rules (a range or list
that is then excluded falls back to the rules after it). In that alternation each rule is
preceded by a guard derived from its own pattern (_guard: qty.range needs a range sign right
after the number and unit characters), which fails the rare structures in one step; the trigger
gets one too (_end_guard: what it asserts at the end of its number, tested first). Every
pattern runs under rules.Pattern's time limit (the trigger and the alternation through their
stdlib `re` twins under a batch run's watchdog); at load each pattern is also run on adversarial
strings and one that backtracks badly is refused with its file and rule. Per candidate, the
exclusions that can apply are looked up by unit and number class (_plans), not re-tested, and
those with one plain condition are tested together (Plan); one that drops every candidate
after some text (第) is tested at the trigger, before the rules are matched there.
Where the time goes (callgrind, 100 corpus documents, 2026-12-06): the trigger scan about a
third, the alternation an eighth, building and checking rows the rest.
"""
from __future__ import annotations

import re
import sys
import time
import warnings
from dataclasses import dataclass

import regex

from . import numerals
from .document import Doc
from .records import APPROX, DIMENSIONS
from .rules import (LDict, Pattern, Where, check_examples, check_keys, expect,
                    expect_enum, expect_str_list)

FIELDS = ("value", "value_max", "unit", "dimension", "approx")
NUMBER_KINDS = ("year", "one", "bare_magnitude", "leading_zero", "chinese", "arabic")
BARE_MAGNITUDES = frozenset("百千万亿")
MAGNITUDE_CHARS = "万亿"
CN_DIGITS = frozenset("零〇一二两三四五六七八九")
WINDOW = 24             # characters of left context an exclusion's `before` may look at
RANGE_NOT_AFTER = "从由"  # 从5个到10个 is a change, not a range


@dataclass(frozen=True)
class Unit:
    surface: str
    unit: str            # canonical unit (个百分点 -> 百分点)
    dimension: str
    arabic_only: bool
    not_before: tuple[str, ...] = ()      # continuations that make it another word (家庭, 期间)


@dataclass
class Rule:
    id: str
    pat: Pattern         # the rule compiled with `regex`: matched (under its time limit) at scanner hits
    rx: re.Pattern       # the same pattern in stdlib `re`: the load-time probe and group names
    priority: int
    unit: str | None     # a unit fixed by the rule (百分之五十 -> %)
    slots: tuple = ()    # group numbers in `pat` of num, unit, tail, num2, list (None: absent)


class Context:
    """A `before`/`after` condition of an exclusion. Most are one literal (第) or one character
    class ([这那每]); those are tested with str methods, which is ~10x cheaper than a regex call
    (this runs for every candidate). Anything else runs as a regex."""

    _CLASS = re.compile(r"\[([^\]\\^-]+)\]")

    def __init__(self, source: str, side: str, w: Where):
        Pattern(source, w)                                  # validate, with the rule in errors
        self.literal = source if re.escape(source) == source else None
        cls = self._CLASS.fullmatch(source)
        self.chars = frozenset(cls.group(1)) if cls else None
        # the strings of which one must end (before) or start (after) at pos, when it is that plain
        self.strings = (self.literal,) if self.literal is not None else \
            tuple(sorted(self.chars)) if self.chars is not None else None
        self.side = side
        self.rx = None
        if self.literal is None and self.chars is None:
            src = "(?:" + source + r")\Z" if side == "before" else source
            try:
                self.rx = re.compile(src)
            except re.error:
                self.rx = Pattern(src, w).rx                   # \p{Han}, variable lookbehind

    def holds(self, text: str, pos: int) -> bool:
        """before: the text ending at pos matches; after: the text starting at pos matches."""
        if self.side == "before":
            if self.literal is not None:
                return text.endswith(self.literal, 0, pos)
            if self.chars is not None:
                return pos > 0 and text[pos - 1] in self.chars
            return self.rx.search(text, max(0, pos - WINDOW), pos) is not None
        if self.literal is not None:
            return text.startswith(self.literal, pos)
        if self.chars is not None:
            return pos < len(text) and text[pos] in self.chars
        return self.rx.match(text, pos) is not None


class Words:
    """The words of an exclusion (idioms, names made of numerals), for one question: does one
    of them occur overlapping a span?"""

    def __init__(self, words: list[str]):
        self.words = tuple(words)
        # character -> (offset j, the words that hold it at offset j) for each such offset: the
        # words of one offset are tested by one str.startswith
        by_char: dict[str, dict[int, list[str]]] = {}
        for word in words:
            for j, ch in enumerate(word):
                by_char.setdefault(ch, {}).setdefault(j, []).append(word)
        self.by_char = {ch: tuple((j, tuple(ws)) for j, ws in sorted(by_j.items()))
                        for ch, by_j in by_char.items()}
        self.starting = {ch: tuple(w for w in words if w[0] == ch) for ch in {w[0] for w in words}}

    def overlap(self, text: str, start: int, end: int) -> bool:
        """Such an occurrence either covers the span's first character or begins inside the
        span, so only those alignments are tried (the second only at characters that begin a
        word)."""
        for j, words in self.by_char.get(text[start], ()):
            if j <= start and text.startswith(words, start - j):
                return True
        starting = self.starting
        if starting.keys().isdisjoint(text[start + 1:end]):
            return False
        for p in range(start + 1, end):
            words = starting.get(text[p])
            if words is not None and text.startswith(words, p):
                return True
        return False


@dataclass
class Exclusion:
    id: str
    units: frozenset | None
    dimensions: frozenset | None
    number: str | None
    before: Context | None
    after: Context | None
    span: re.Pattern | None
    words: Words | None


# --- compiling rules/quantities.yaml -------------------------------------------------------------
def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "parts", "units", "approx", "rules", "exclusions"),
               optional=("notes", "unit_trial_order"))
    units = _compile_units(data["units"], w.at(data["units"], "units"))
    parts = {k: expect(v, str, w.at(data["parts"], "parts"), f"part {k}") for k, v in data["parts"].items()}
    trial = expect(data.get("unit_trial_order", ""), str, w.at(data, "unit_trial_order"), "unit_trial_order")
    parts["UNIT"] = _unit_alternation(units.values(), trial)
    parts["UNITFIRST"] = "[" + "".join(sorted({re.escape(u[0]) for u in units})) + "]"
    rules = [_compile_rule(r, w, parts, units) for r in expect(data["rules"], list, w, "rules")]
    rules.sort(key=lambda r: -r.priority)           # stable: YAML order among equals
    exclusions = [_compile_exclusion(x, w, units) for x in expect(data["exclusions"], list, w, "exclusions")]
    trigger = _compile_rule({"id": "trigger", "pattern": parts["TRIGGER"], "examples": []},
                            w.at(data["parts"], "parts.TRIGGER"), parts, units, need_num=False, stdlib=True)
    _probe([trigger] + rules, w)
    alternation_rx, slots = _alternation(rules, w.at(data["rules"], "rules (alternation)"))
    return {"units": units, "unit_rx": re.compile(parts["UNIT"]), "rules": rules,
            "trigger": _scanner(trigger, w.at(data["parts"], "parts.TRIGGER")),
            "alternation": alternation_rx, "slots": slots,
            "falls_back": [any(r.priority < rule.priority for r in rules[i + 1:]) for i, rule in enumerate(rules)],
            "rule_of_group": {alternation_rx.groupindex[f"_r{i}"]: i for i in range(len(rules))},
            "exclusions": exclusions,
            "exclusion_plans": _plans([x for x in exclusions if not _everywhere(x)], units),
            "not_after": tuple(s for x in exclusions if _everywhere(x) for s in x.before.strings),
            "approx": _compile_approx(data["approx"], w.at(data["approx"], "approx"))}


# What the first number of a candidate is, as one of five classes; the number kinds of
# exclusions (NUMBER_KINDS) hold or not for a whole class, except `year` (tested per candidate).
K_ARABIC, K_LEADING_ZERO, K_ONE, K_BARE, K_CHINESE = range(5)
_KINDS_OF_CLASS = {K_ARABIC: {"arabic"}, K_LEADING_ZERO: {"arabic", "leading_zero"},
                   K_ONE: {"chinese", "one"}, K_BARE: {"chinese", "bare_magnitude"},
                   K_CHINESE: {"chinese"}}
assert set().union(*_KINDS_OF_CLASS.values()) == set(NUMBER_KINDS) - {"year"}, "a number kind without a class"


class Plan:
    """The exclusions that can apply to candidates of one unit and number class, with the unit,
    dimension and number-kind conditions settled at load. Only whether one holds matters, not
    which, so those left with one plain condition are merged: one str call (or one word
    table) tests them all."""

    __slots__ = ("always", "year", "before", "after", "words", "rest")

    def __init__(self, exclusions: list[Exclusion], shared: dict | None = None):
        """`shared`: word tuple -> Words, so plans with the same words share one table (most of
        the hundreds of plans have the same words: built once each, they were a fifth of the
        rules' load time)."""
        self.always = self.year = False      # one holds for every candidate / every year-like number
        before, after, words, self.rest = [], [], [], []
        for x in exclusions:
            conds = [c for c in (x.number == "year", x.span, x.after, x.before, x.words) if c]
            if not conds:
                self.always = True
            elif len(conds) > 1:
                self.rest.append(x)
            elif x.number == "year":
                self.year = True
            elif x.words is not None:
                words += x.words.words
            elif x.before is not None and x.before.strings is not None:
                before += x.before.strings
            elif x.after is not None and x.after.strings is not None:
                after += x.after.strings
            else:
                self.rest.append(x)             # a span, or a context that is a regex
        # the text before the span ends with one of `before`, or the text after it starts with
        # one of `after`
        self.before, self.after = tuple(before), tuple(after)
        self.words = None
        if words:
            shared = {} if shared is None else shared
            self.words = shared.get(tuple(words))
            if self.words is None:
                self.words = shared[tuple(words)] = Words(words)


def _everywhere(x: Exclusion) -> bool:
    """An exclusion whose one condition is plain text before the span (qty.not.ordinal: 第)
    drops every candidate at a trigger, whatever its rule, unit or number: extract tests it
    once per trigger, before the rules are matched there."""
    return (x.before is not None and x.before.strings is not None and x.number is None
            and not (x.units or x.dimensions or x.after or x.span or x.words))


def _plans(exclusions: list[Exclusion], units: dict[str, Unit]) -> dict:
    """unit as written (None: no unit) -> number class -> its Plan: the unit, dimension and
    number-kind conditions are settled here once, not for every candidate."""
    out, shared = {}, {}
    for surface in (None, *units):
        unit = units.get(surface)
        canon, dim = (unit.unit, unit.dimension) if unit else (None, "count")
        out[surface] = tuple(Plan([x for x in exclusions
                                   if (x.units is None or canon in x.units)
                                   and (x.dimensions is None or dim in x.dimensions)
                                   and x.number in (None, "year", *_KINDS_OF_CLASS[k])], shared)
                             for k in range(len(_KINDS_OF_CLASS)))
    return out


_CLASS_OF: dict[str, int] = {}    # number -> its class: the same numbers recur (一, 2025, 10)
_CLASS_CACHE = 8192


def _number_class(first: str) -> int:
    if not _ARABIC_DIGITS.isdisjoint(first):
        return K_LEADING_ZERO if len(first) > 1 and first[0] == "0" and first[1].isdigit() else K_ARABIC
    if first == "一":
        return K_ONE
    return K_BARE if set(first) <= BARE_MAGNITUDES else K_CHINESE


_SLOT_NAMES = ("num", "unit", "tail", "num2", "list")


def _slots(groupindex) -> tuple:
    return tuple(groupindex.get(name) for name in _SLOT_NAMES)


_GROUP = re.compile(r"\(\?P<(\w+)>")
# strings that make a badly nested pattern backtrack; each is tried at growing lengths, so an
# exponential pattern is caught at ~20 characters (before it can hang) and a quadratic one later
_PROBE_UNITS = ("1", "1,", "一", "1、", "1万", "1.1", "数十", "十")
_PROBE_LENGTHS = (8, 10, 12, 14, 16, 18, 20, 64, 400, 2000)
PROBE_SECONDS = 0.1


def _alternation(rules: list[Rule], w: Where) -> tuple[Pattern, list[tuple]]:
    """All rules as one alternation (groups renamed <name>_<i>) matched anchored at a trigger:
    the first rule that matches wins, in priority order; each rule is preceded by its guard (a
    necessary condition, below). slots[i] holds rule i's group numbers in the alternation (see
    _slots). Like every rule pattern it runs under a time limit (the load-time probe below is
    an early warning, not the guard). The trigger scan and this match are the stage's hot calls:
    both have a stdlib `re` twin (Pattern `stdlib`), faster here."""
    alts = [f"(?P<_r{i}>" + _guard(r.rx.pattern)
            + _GROUP.sub(lambda g: f"(?P<{g.group(1)}_{i}>", r.rx.pattern) + ")"
            for i, r in enumerate(rules)]
    pat = Pattern("|".join(alts), w, stdlib=True)
    slots = [_slots({name: pat.groupindex[f"{name}_{i}"] for name in r.rx.groupindex})
             for i, r in enumerate(rules)]
    return pat, slots


# --- a cheap necessary condition for a rule, derived from its pattern ------------------------
# A rule like qty.range (NUM UNIT? SEP NUM ...) fails at most triggers, and its backtracking
# through every shorter number and unit costs ~10 µs each time. Its match always has a SEP
# character right after a prefix made only of number and unit characters, and SEP is none of
# them, so the SEP sits at the first character outside that alphabet. `(?=[alphabet]*[SEP])`
# tests this in one linear step and changes nothing the rule matches. Derived from the parsed
# pattern, so it follows any edit of the rules; a pattern it cannot reason about gets no guard.
_P, _C, _compiler = re._parser, re._constants, re._compiler
_ZERO_WIDTH = (_C.AT, _C.ASSERT, _C.ASSERT_NOT)
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT)
_MAX_RANGE = 4096          # a wider character range is not worth spelling out: no guard


def _guard(source: str) -> str:
    parsed = _parse(source)
    if parsed is None:
        return ""
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    walk = _Walk()
    try:
        needed = walk.needed_char(list(parsed))
    except _Unknown:
        return ""
    if needed is None or not walk.variable:
        return ""                # a fixed prefix (百分之) is checked by the rule as fast
    return f"(?=[{_class(walk.skipped)}]*[{_class(needed)}])"


TRIGGER_GROUP = "_trigger"


def _scanner(trigger: Rule, w: Where) -> Pattern:
    """The trigger scan as one pattern that opens with a character class: `re` then skips to
    the next character a trigger can start with in a tight loop, where a pattern that opens with
    a lookahead (TRIGGER: (?=[0-9零...])...) is tried at every position of the text. At such a
    character the trigger itself is matched, inside a one-character lookbehind (so from that
    character), and its span kept in group TRIGGER_GROUP. The scan finds every position where
    the trigger matches; extract skips those inside the previous trigger, as a scan of the
    trigger itself does. A trigger that can match the empty string cannot be scanned so."""
    parsed = _parse(trigger.rx.pattern)
    if parsed is not None and parsed.getwidth()[0] == 0:
        raise w.error("the trigger must match at least one character")
    cls = _first_chars(trigger.rx.pattern) or "[\\x00-\\U0010ffff]"
    guarded = _after_assertions(trigger.rx.pattern, _end_guard(trigger.rx.pattern))
    return Pattern(f"{cls}(?<=(?=(?P<{TRIGGER_GROUP}>{guarded})){cls})", w, stdlib=True)


# --- a cheap necessary condition for the trigger: what it tests at the end of its number ------
# The trigger reads a number and only then asserts what ends it: a unit, SEP or 、 after it
# ((?=...)), 万/亿 at its end ((?<=[万亿])). Where that fails (一步, 两国, 数据, 11月: most of
# the places the scan tries) `re` gives back the number character by character and asserts
# again at each length: ~5,000 instructions. For such an assertion, with A the characters
# consumed before it and F the characters it needs (lookahead: at the end of the run;
# lookbehind: its last character, the run's last one), the run is made of A and its end (or
# last character) is in F, so the first character that is not in A-F is in F. That holds as
# well with A and F the unions over all the ways through the pattern (a trailing alternation
# and an alternation of assertions are unfolded; a way of literals adds its first character to
# F), so one possessive `[A-F]*+[F]` tests them all. A way the walk cannot read: no guard.
_MAX_WAYS = 16
_POSSESSIVE = "+" if sys.version_info >= (3, 11) else ""     # `re` has *+ from 3.11 (1% faster)


def _end_guard(source: str) -> str:
    parsed = _parse(source)
    if parsed is None or parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    alphabet: set[str] = set()
    need: set[str] = set()
    try:
        for items in _ways(list(parsed)):
            found = _way_need(items, parsed.state)
            if found is None:
                return ""
            alphabet |= found[0]
            need |= found[1]
    except _Unknown:
        return ""
    run = alphabet - need
    return "(?=" + (f"[{_class(run)}]*{_POSSESSIVE}" if run else "") + f"[{_class(need)}])"


def _after_assertions(source: str, guard: str) -> str:
    """`source` with `guard` inserted after its leading assertions (TRIGGER's START, cheap and
    failing at most characters of a number), or before it when they cannot be cut off exactly:
    where the two halves parse as the pattern's items before and after that point."""
    parsed = _parse(source)
    items = list(parsed) if parsed is not None else []
    n = next((i for i, (op, _) in enumerate(items) if op not in (_C.ASSERT, _C.ASSERT_NOT)), len(items))
    if guard and 0 < n < len(items):
        def code(part):
            return _compiler._code(_P.SubPattern(parsed.state, part), 0)
        want_head, want_tail = code(items[:n]), code(items[n:])
        for k in range(1, len(source)):
            head = _parse(source[:k]) if source[k - 1] == ")" else None
            if head is None:
                continue
            if len(head) > n:
                break
            tail = _parse(source[k:])
            if tail is not None and code(list(head)) == want_head and code(list(tail)) == want_tail:
                return source[:k] + guard + source[k:]
    return guard + source


def _ways(items: list) -> list[list]:
    """The item lists of each way through `items`, a trailing alternation or an alternation of
    zero-width items unfolded."""
    for n, (op, av) in enumerate(items):
        if op is _C.BRANCH and (n == len(items) - 1 or all(b.getwidth() == (0, 0) for b in av[1])):
            ways = [items[:n] + way for b in av[1] for way in _ways(list(b) + items[n + 1:])]
            if len(ways) > _MAX_WAYS:
                raise _Unknown
            return ways
    return [items]


def _way_need(items: list, state) -> tuple[set[str], set[str]] | None:
    """(A, F) of one way: the characters consumed before its first assertion on what was read,
    and the characters that assertion needs; else, for a way that opens with a character (百分之):
    nothing, and that character."""
    alphabet: set[str] = set()
    min_width, variable, first = 0, False, None
    for op, av in items:
        if op is _C.ASSERT and alphabet:
            if av[0] == 1 and av[1].getwidth()[0] >= 1:
                need = _first_set(list(av[1]))
            elif av[0] == -1 and min_width >= 1:
                need = _last_set(list(av[1]))
            else:
                need = None
            if need is not None:
                return alphabet, need
            continue
        if op in _ZERO_WIDTH:
            continue
        chars = _char_set(op, av)
        if chars is not None and variable:
            return alphabet, chars          # a character that must follow the run
        if chars is not None and not alphabet:
            first = chars
        lo, hi = _P.SubPattern(state, [(op, av)]).getwidth()
        alphabet |= _alphabet([(op, av)])
        min_width, variable = min_width + lo, variable or lo != hi
    return (set(), first) if first is not None else None


def _first_set(items: list) -> set[str] | None:
    """The characters a match of `items` can start with, or None."""
    for op, av in items:
        if op is _C.ASSERT and av[0] == 1 and av[1].getwidth()[0] >= 1:
            found = _first_set(list(av[1]))
            if found is not None:
                return found
            continue
        if op in _ZERO_WIDTH:
            continue
        chars = _char_set(op, av)
        if chars is not None:
            return chars
        if op is _C.BRANCH and all(b.getwidth()[0] >= 1 for b in av[1]):
            sets = [_first_set(list(b)) for b in av[1]]
            return None if None in sets else set().union(*sets)
        if op is _C.SUBPATTERN and av[3].getwidth()[0] >= 1:
            return _first_set(list(av[3]))
        if op in _REPEATS and av[0] >= 1:
            return _first_set(list(av[2]))
        return None
    return None


def _last_set(items: list) -> set[str] | None:
    """The characters the last character of a (fixed-width) match of `items` is one of, or None."""
    for op, av in reversed(items):
        if op not in _ZERO_WIDTH:
            return _char_set(op, av)
    return None


def _first_chars(source: str) -> str | None:
    """A class of the characters a match of `source` can start with, when its leading items
    say so (TRIGGER begins with (?=[0-9零...])), else None."""
    parsed = _parse(source)
    if parsed is None or parsed.state.flags & re.IGNORECASE:
        return None
    try:
        for op, av in parsed:
            chars = _char_set(op, av)
            if chars is None and op is _C.ASSERT and av[0] == 1 and len(av[1]):
                chars = _char_set(*av[1][0])           # a lookahead that opens with a class
            if chars is not None:
                return f"[{_class(chars)}]"
            if op not in _ZERO_WIDTH:
                return None
    except _Unknown:
        return None
    return None


def _parse(source: str):
    """The stdlib parse of a rule pattern, or None when `re` might read it otherwise than the
    regex module does (a warning such as "possible nested set" for [[:alpha:]])."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return _P.parse(source)
        except (re.error, Warning):
            return None


def _class(chars) -> str:
    return "".join(re.escape(c) for c in sorted(chars))


class _Unknown(Exception):
    """An item whose characters cannot be listed (., \\d, [^x], a back-reference)."""


class _Walk:
    """Walks a parsed pattern's mandatory items in order. `skipped` is every character the
    items walked over can consume; `variable` is set once one of them may match a varying
    number of characters (only then is the guard worth its cost)."""

    def __init__(self):
        self.skipped: set[str] = set()
        self.variable = False

    def needed_char(self, items: list) -> set[str] | None:
        """The characters of the first mandatory one-character item that comes after a
        variable-length prefix and is none of the prefix's characters, or None."""
        for op, av in items:
            chars = _char_set(op, av)
            if chars is not None and chars.isdisjoint(self.skipped):
                if self.variable:
                    return chars
                self.skipped |= chars           # a fixed character: walk on
                continue
            if op is _C.SUBPATTERN and not (av[1] or av[2]):
                found = self.needed_char(list(av[3]))
            elif op in _REPEATS and av[0] >= 1:
                found = self.needed_char(list(av[2]))     # the first repetition is mandatory
                if found is None:
                    self.variable |= av[0] != av[1]
                    self.skipped |= _alphabet(av[2])
            else:
                more = _alphabet([(op, av)])
                if more:
                    self.variable = True
                    self.skipped |= more
                continue
            if found is not None:
                return found
        return None


def _char_set(op, av) -> set[str] | None:
    """The characters of a one-character item (a literal or a positive class), else None."""
    if op is _C.LITERAL:
        return {chr(av)}
    if op is _C.IN:
        return _alphabet([(op, av)])
    return None


def _alphabet(items) -> set[str]:
    """Every character the items can consume (zero-width assertions consume none)."""
    out: set[str] = set()
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue
        if op is _C.LITERAL:
            out.add(chr(av))
        elif op is _C.IN:
            for cop, cav in av:
                if cop is _C.LITERAL:
                    out.add(chr(cav))
                elif cop is _C.RANGE and cav[1] - cav[0] <= _MAX_RANGE:
                    out.update(map(chr, range(cav[0], cav[1] + 1)))
                else:
                    raise _Unknown             # NEGATE, CATEGORY, a huge range
        elif op is _C.SUBPATTERN and not (av[1] or av[2]):
            out |= _alphabet(av[3])
        elif op in _REPEATS:
            out |= _alphabet(av[2])
        elif op is _C.BRANCH:
            for branch in av[1]:
                out |= _alphabet(branch)
        elif op is _C.ATOMIC_GROUP:
            out |= _alphabet(av)
        else:
            raise _Unknown
    return out


def _probe(rules: list[Rule], w: Where) -> None:
    """`re` has no timeout: refuse at load a pattern whose time explodes on adversarial input.
    Time is this process's CPU time, and a slow probe is tried once more, so a busy machine
    (several workers starting at once) does not refuse a good pattern; a catastrophic one is
    slow every time."""
    for r in rules:
        for unit in _PROBE_UNITS:
            for n in _PROBE_LENGTHS:
                probe = unit * n + "x"
                if _probe_seconds(r.rx, probe) > PROBE_SECONDS and _probe_seconds(r.rx, probe) > PROBE_SECONDS:
                    raise w.at(None, r.id).error(
                        f"the pattern backtracks catastrophically on {unit!r} * {n}")


def _probe_seconds(rx: re.Pattern, probe: str) -> float:
    t0 = time.process_time()
    for _ in rx.finditer(probe):
        pass
    return time.process_time() - t0


def _compile_units(data, w: Where) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for dim, entries in expect(data, dict, w, "units").items():
        expect_enum(dim, DIMENSIONS, w, "dimension")
        for e in expect(entries, list, w, f"units.{dim}"):
            if isinstance(e, str):
                e = {"u": e}
            ew = w.at(e)
            check_keys(e, ew, required=("u",), optional=("as", "arabic_only", "not_before"))
            u = expect(e["u"], str, ew, "unit")
            if u in units:
                raise ew.error(f"unit {u!r} is listed twice")
            guards = tuple(expect_str_list(e["not_before"], ew, "not_before")) if e.get("not_before") else ()
            units[u] = Unit(u, expect(e.get("as", u), str, ew, "as"), dim,
                            bool(e.get("arabic_only", False)), guards)
    return units


def _unit_alternation(units, trial: str = "") -> str:
    """The lexicon as a regex trie (个(?:百分点|多月|月|...)|家|...): one branch per first
    character, longest continuation first, so a unit is matched in a few steps. A unit followed
    by a guard continuation (家庭, 期间, 人口) is not a unit, and a Latin unit must not run on
    into more letters (3GPP). Branches start with distinct characters, so their order changes
    no match; the regex module tries them one by one, so the characters of `trial` (the
    common units) come first."""
    def guard(u: Unit) -> str:
        g = "(?!" + "|".join(re.escape(x) for x in u.not_before) + ")" if u.not_before else ""
        if u.surface[-1].isascii() and u.surface[-1].isalpha():
            g += "(?![A-Za-z0-9])"
        return g

    def rank(branch) -> tuple:
        ch = branch[0]
        return (trial.index(ch) if ch in trial else len(trial), ch)

    def trie(items: list[tuple[str, str]]) -> str:
        branches: dict[str, list[tuple[str, str]]] = {}
        ends = []
        for rest, g in items:
            if rest:
                branches.setdefault(rest[0], []).append((rest[1:], g))
            else:
                ends.append(g)
        alts = [re.escape(ch) + trie(sub) for ch, sub in sorted(branches.items(), key=rank)] + ends
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    units = list(units)
    # the regex module tries the branches of an alternation one by one, even inside a pattern
    # (it only indexes the first characters at the start of a search): without this lookahead
    # a number followed by a non-unit (一些, 2025年的) walked ~120 branches, ~2 µs each time.
    # It also tests a class's characters one by one, in the order written: common units first.
    first = "[" + "".join(re.escape(ch) for ch in sorted({u.surface[0] for u in units}, key=rank)) + "]"
    return "(?=" + first + ")" + trie([(u.surface, guard(u)) for u in units])


def _expand(pattern: str, parts: dict[str, str], w: Where) -> str:
    for _ in range(3):                       # parts may use parts (NUM inside a rule)
        for k, v in parts.items():
            pattern = pattern.replace("{" + k + "}", v)
    left = regex.findall(r"\{[A-Z]+\}", pattern)
    if left:
        raise w.error(f"unknown placeholder(s) {sorted(set(left))}")
    return pattern


def _compile_rule(r, w: Where, parts, units, need_num: bool = True, stdlib: bool = False) -> Rule:
    rw = w.at(r, r.get("id") if isinstance(r, dict) else None)
    check_keys(r, rw, required=("id", "pattern", "examples"),
               optional=("counter", "priority", "note", "unit"))
    check_examples(r, rw, FIELDS)
    fixed = r.get("unit")
    if fixed is not None and fixed not in units:
        raise rw.error(f"unit {fixed!r} is not in the lexicon")
    source = _expand(expect(r["pattern"], str, rw, "pattern"), parts, rw)
    pat = Pattern(source, rw, stdlib=stdlib)
    if need_num and "num" not in pat.rx.groupindex:
        raise rw.error("the pattern needs a (?P<num>...) group")
    try:
        rx = re.compile(source)
    except re.error as e:
        raise rw.error(f"the pattern must also compile with Python's re (fixed-width lookbehind): {e}") from None
    return Rule(r["id"], pat, rx, expect(r.get("priority", 0), int, rw, "priority"), fixed,
                _slots(pat.groupindex))


def _compile_exclusion(x, w: Where, units) -> Exclusion:
    xw = w.at(x, x.get("id") if isinstance(x, dict) else None)
    check_keys(x, xw, required=("id", "note"),
               optional=("units", "dimensions", "number", "before", "after", "span", "words",
                         "examples", "counter"))
    check_examples(x, xw, FIELDS)
    if not x.get("counter"):
        raise xw.error("an exclusion needs counter-examples")
    for u in x.get("units") or ():
        if u not in {v.unit for v in units.values()}:
            raise xw.error(f"unit {u!r} is not in the lexicon")
    for d in x.get("dimensions") or ():
        expect_enum(d, DIMENSIONS, xw, "dimension")
    if x.get("number") is not None:
        expect_enum(x["number"], NUMBER_KINDS, xw, "number")
    words = expect_str_list(x["words"], xw, "words") if x.get("words") else []
    if not any(k in x for k in ("units", "dimensions", "number", "before", "after", "span", "words")):
        raise xw.error("an exclusion needs at least one condition")
    return Exclusion(
        id=x["id"],
        units=frozenset(x["units"]) if x.get("units") else None,
        dimensions=frozenset(x["dimensions"]) if x.get("dimensions") else None,
        number=x.get("number"),
        before=Context(x["before"], "before", xw) if x.get("before") else None,
        after=Context(x["after"], "after", xw) if x.get("after") else None,
        span=_span_rx(x["span"], xw) if x.get("span") else None,
        words=Words(words) if words else None,
    )


def _span_rx(source: str, w: Where):
    pat = Pattern(source, w)
    try:
        return re.compile(source)
    except re.error:
        return pat.rx


def _lengths_by(words, at: int) -> dict[str, tuple[int, ...]]:
    out: dict[str, set[int]] = {}
    for word in words:
        out.setdefault(word[at], set()).add(len(word))
    return {ch: tuple(sorted(ns, reverse=True)) for ch, ns in out.items()}


def _compile_approx(data, w: Where) -> dict:
    check_keys(data, w, required=("prefix", "suffix"),
               optional=("suffix_dimensions", "suffix_not_before", "recent_prefix", "prefix_needs"))
    out = {}
    for side in ("prefix", "suffix"):
        table = {}
        for kind, words in expect(data[side], dict, w, side).items():
            expect_enum(kind, APPROX, w, f"{side} kind")
            for word in expect_str_list(words, w, f"{side}.{kind}"):
                table[word] = kind
        out[side] = table
    # the character next to the span -> the lengths (longest first) of the qualifiers that end
    # (prefix) or begin (suffix) with it: the only words worth slicing and looking up there
    out["prefix_lengths"] = _lengths_by(out["prefix"], -1)
    out["suffix_lengths"] = _lengths_by(out["suffix"], 0)
    out["suffix_dimensions"] = {k: frozenset(v) for k, v in (data.get("suffix_dimensions") or {}).items()}
    out["suffix_not_before"] = {k: tuple(v) for k, v in (data.get("suffix_not_before") or {}).items()}
    out["recent_prefix"] = {k: frozenset(v) for k, v in (data.get("recent_prefix") or {}).items()}
    out["prefix_needs"] = {}
    for k, v in (data.get("prefix_needs") or {}).items():
        if k not in out["prefix"]:
            raise w.at(data["prefix_needs"]).error(f"prefix_needs: {k!r} is not a prefix qualifier")
        out["prefix_needs"][k] = frozenset(expect(v, str, w, f"prefix_needs.{k}"))
    return out


# --- extraction ---------------------------------------------------------------------------------
def extract(doc: Doc, rules: dict) -> None:
    text, trigger, alt = doc.folded, rules["trigger"], rules["alternation"]
    rs, slots, rule_of_group, falls_back = (rules["rules"], rules["slots"], rules["rule_of_group"],
                                            rules["falls_back"])
    add = doc.rows.setdefault("quantities", []).append
    # the compiled patterns are called directly (the Pattern wrappers cost a tenth of the stage)
    # under Pattern's time limit; a timeout is reported as Pattern reports it
    scan, match = trigger.hot("finditer", text), alt.hot("match", text)
    tg = trigger.groupindex.get(TRIGGER_GROUP, 0)        # the trigger's span in a scan (_scanner)
    not_after = rules["not_after"]                       # see _everywhere
    spans = doc.main_spans() if doc.blocks else [(0, len(text))]
    for bs, be in spans:
        pos = trigger_end = bs
        try:
            for t in scan(text, bs, be):
                start = t.start()
                if start < trigger_end:
                    continue              # inside the previous trigger
                trigger_end = t.end(tg)
                if start < pos:
                    continue              # inside a mention already read (a range, a list)
                if not_after and text.endswith(not_after, 0, start):
                    continue              # every candidate here is excluded
                try:
                    m = match(text, start, be)
                except TimeoutError:
                    raise alt.timeout_error() from None
                if m is None:
                    continue
                i = rule_of_group[m.lastindex]
                rows = _rows(doc, m, slots[i], rs[i], rules)
                if not rows and falls_back[i]:
                    rows = _fallback(doc, start, be, rs, i, rules)
                for row in rows:
                    add(row)
                    if row["end"] > pos:
                        pos = row["end"]
        except TimeoutError:              # only the scan can raise it here
            raise trigger.timeout_error() from None


def _fallback(doc: Doc, start: int, be: int, rs: list[Rule], i: int, rules: dict) -> list[dict]:
    """A structure (range, list: a higher priority) that is excluded falls back to the simpler
    rules after it (从2亿个到238亿个 gives 2亿个); rules of one priority exclude each other, so
    the fallback stops there."""
    prio = rs[i].priority
    for rule in rs[i + 1:]:
        if rule.priority < prio:
            m = rule.pat.match(doc.folded, start, be)
            if m is not None:
                rows = _rows(doc, m, rule.slots, rule, rules)
                if rows:
                    return rows
    return []


def _rows(doc: Doc, m, slots: tuple, rule: Rule, rules: dict) -> list[dict]:
    """The rows of one match (several for a list), or [] when it is excluded or malformed."""
    text = doc.folded
    k, ku, kt, k2, kl = slots
    num, num_end = m.group(k), m.end(k)
    written_unit = m.group(ku) if ku else None
    tail = m.group(kt) if kt else None
    num2 = m.group(k2) if k2 else None
    items = m.group(kl) if kl else None
    surface = written_unit or rule.unit
    end = m.end(ku) if written_unit else (m.start(kt) if tail else m.end())
    units = rules["units"]
    # 3千瓦, 1.2万千瓦: the greedy number took the 千 of the unit
    if written_unit and num[-1] == "千" and len(num) > 1 and num[-2] not in CN_DIGITS \
            and not num2 and ("千" + surface) in units:
        um = rules["unit_rx"].match(text, num_end - 1)
        if um:
            num, num_end, surface, end = num[:-1], num_end - 1, um.group(), um.end()
    unit = units[surface] if surface else None
    dim = unit.dimension if unit else "count"
    if tail and dim == "duration":
        end = m.end(kt)
    start = m.start()
    nums = [num, num2] if num2 else [num]
    if items:
        nums = items.split("、")[:-1] + nums
        kind = _is_arabic(num)
        if any(_is_arabic(n) != kind for n in nums):
            return []              # 三、5个: a heading number does not join a list
    if unit is not None and unit.arabic_only and not _is_arabic(nums[-1]):
        return []
    if num2 and start > 0 and text[start - 1] in RANGE_NOT_AFTER:
        return []
    if "," in num and "，" in doc.text[start:end]:
        return []                  # a full-width comma folded to "," is punctuation, not a separator
    canon = unit.unit if unit else None
    kind = _CLASS_OF.get(nums[0])
    if kind is None:
        kind = _number_class(nums[0])
        if len(_CLASS_OF) < _CLASS_CACHE:
            _CLASS_OF[nums[0]] = kind
    plan = rules["exclusion_plans"][surface or None][kind]
    if _excluded(text, start, end, nums, plan):
        return []
    if items:
        return _list_rows(doc, m.start(kl), nums, end, canon, dim, rule, rules, surface)
    if num2:
        lo, hi = numerals.parse_number(num), numerals.parse_number(num2)
        if (lo is None or hi is None) and not (numerals.is_vague(num) or numerals.is_vague(num2)):
            return []
        lo = _share_magnitude(num, lo, num2, hi)
    else:
        lo, hi = numerals.parse_range(num)
        if lo is None and not numerals.is_vague(num):
            return []              # not a well-formed numeral (十四五期)
    written = num + (num2 or "") + (tail or "") + (surface or "")
    approx = _approx(text, start, end, dim, written, rules["approx"])
    # _row, written out: this is the path of nearly every row
    return [{"start": start, "end": end, "text": doc.text[start:end], "value": lo, "value_max": hi,
             "unit": canon, "dimension": dim, "approx": approx, "rule_id": rule.id,
             "priority": rule.priority, "doc_id": doc.doc_id}]


def _list_rows(doc, pos, nums, end, canon, dim, rule, rules, surface) -> list[dict]:
    rows, text, last = [], doc.folded, len(nums) - 1
    for i, n in enumerate(nums):
        s, e = pos, (end if i == last else pos + len(n))
        value = numerals.parse_number(n)
        if value is None and not numerals.is_vague(n):
            return []
        approx = _approx(text, s, e, dim, n + (surface if i == last else ""), rules["approx"],
                         prefix=(i == 0), suffix=(i == last))
        rows.append(_row(doc, s, e, value, None, canon, dim, approx, rule))
        pos += len(n) + 1
    return rows


def _row(doc, start, end, value, value_max, unit, dim, approx, rule) -> dict:
    return {"start": start, "end": end, "text": doc.text[start:end], "value": value,
            "value_max": value_max, "unit": unit, "dimension": dim, "approx": approx,
            "rule_id": rule.id, "priority": rule.priority, "doc_id": doc.doc_id}


def _is_arabic(n: str) -> bool:
    return not _ARABIC_DIGITS.isdisjoint(n)


_ARABIC_DIGITS = frozenset("0123456789")


def _share_magnitude(num: str, lo, num2: str, hi):
    """5—10万元: a magnitude written only after the upper end applies to the lower end too."""
    if lo is None or hi is None or any(c in num for c in MAGNITUDE_CHARS):
        return lo
    bare = num2.rstrip("余多")
    core = bare.rstrip(MAGNITUDE_CHARS)
    if core == bare:
        return lo
    coef = numerals.parse_number(core)
    return lo * (hi / coef) if coef else lo


def _excluded(text, start, end, nums, plan: Plan) -> bool:
    """Does one of the exclusions that can apply (plan: by unit and number class) hold?"""
    if plan.always:
        return True
    if plan.before and text.endswith(plan.before, 0, start):
        return True
    if plan.after and text.startswith(plan.after, end):
        return True
    if plan.words is not None and plan.words.overlap(text, start, end):
        return True
    year = None
    if plan.year:
        year = any(numerals.looks_like_year(n) for n in nums)
        if year:
            return True
    for x in plan.rest:
        if x.number == "year":
            if year is None:
                year = any(numerals.looks_like_year(n) for n in nums)
            if not year:
                continue
        if x.span is not None and not x.span.fullmatch(text, start, end):
            continue
        if x.after is not None and not x.after.holds(text, end):
            continue
        if x.before is not None and not x.before.holds(text, start):
            continue
        if x.words is not None and not x.words.overlap(text, start, end):
            continue
        return True
    return False


def _approx(text, start, end, dim, written, ax, prefix=True, suffix=True) -> str:
    if prefix and start and (lengths := ax["prefix_lengths"].get(text[start - 1])):
        for k in lengths:
            if start >= k:
                word = text[start - k:start]
                kind = ax["prefix"].get(word)
                needs = ax["prefix_needs"].get(word)
                if needs is not None and text[start] not in needs:
                    continue                          # 上三个月: not 上千名
                if kind == "eq":
                    break                             # 签约, 最近: not a qualifier; a suffix may be
                if kind:
                    if dim in ax["recent_prefix"].get(word, ()) and text[start] not in BARE_MAGNITUDES:
                        return "eq"                   # 近五年来: the last five years (近千年: nearly)
                    return kind
    if "多" in written or "余" in written:
        return "gt"                                   # 10余场, 300多家, 一年多, 3个多月
    if suffix and end < len(text) and (lengths := ax["suffix_lengths"].get(text[end])):
        for k in lengths:
            word = text[end:end + k]
            kind = ax["suffix"].get(word)
            if not kind:
                continue
            dims = ax["suffix_dimensions"].get(word)
            if dims is not None and dim not in dims:
                continue
            if text.startswith(ax["suffix_not_before"].get(word, ()), end + k):
                continue
            return kind
    return "eq"
