"""Quantities: a number with what it counts or measures (SPEC "Quantities").

rules/quantities.yaml holds everything a rule author edits: the unit lexicon (unit -> dimension),
the patterns that find spans, the exclusions that drop what only looks like a quantity
(ordinals, years, names, idioms), and the approximation qualifiers. This module compiles them
and turns matches into rows; pipeline/numerals.py gives the values.

Speed: numbers are everywhere in news text, and a pass of the `regex` module costs ~1 µs per
digit-like character, so one pass per rule ran at 0.2 M chars/s. Instead, ONE trigger pattern
(parts.TRIGGER: where a quantity can start) is scanned with the stdlib `re`, which skips
non-numeral characters fast; at each trigger every rule is tried anchored, in priority order,
with one call to an alternation of all rules (a range or list that is then excluded falls back
to the rules after it). `re` has no timeout, so at load each pattern is run on adversarial
strings and one that backtracks badly is refused with its file and rule. Every pattern is also
compiled as a rules.Pattern, so a bad one is reported with its rule and line.
"""
from __future__ import annotations

import re
import time
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
    pat: Pattern         # the rule compiled with `regex`: matched (with its timeout) at scanner hits
    rx: re.Pattern       # the same pattern in stdlib `re`: the load-time probe and group names
    priority: int
    unit: str | None     # a unit fixed by the rule (百分之五十 -> %)


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


@dataclass
class Exclusion:
    id: str
    units: frozenset | None
    dimensions: frozenset | None
    number: str | None
    before: Context | None
    after: Context | None
    span: re.Pattern | None
    words: tuple[str, ...]
    by_char: dict        # character -> the words that contain it


# --- compiling rules/quantities.yaml -------------------------------------------------------------
def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "parts", "units", "approx", "rules", "exclusions"),
               optional=("notes",))
    units = _compile_units(data["units"], w.at(data["units"], "units"))
    parts = {k: expect(v, str, w.at(data["parts"], "parts"), f"part {k}") for k, v in data["parts"].items()}
    parts["UNIT"] = _unit_alternation(units.values())
    parts["UNITFIRST"] = "[" + "".join(sorted({re.escape(u[0]) for u in units})) + "]"
    rules = [_compile_rule(r, w, parts, units) for r in expect(data["rules"], list, w, "rules")]
    rules.sort(key=lambda r: -r.priority)           # stable: YAML order among equals
    exclusions = [_compile_exclusion(x, w, units) for x in expect(data["exclusions"], list, w, "exclusions")]
    trigger = _compile_rule({"id": "trigger", "pattern": parts["TRIGGER"], "examples": []},
                            w.at(data["parts"], "parts.TRIGGER"), parts, units, need_num=False)
    _probe([trigger] + rules, w)
    alternation_rx, group_maps = _alternation(rules, w.at(data["rules"], "rules (alternation)"))
    return {"units": units, "unit_rx": re.compile(parts["UNIT"]), "rules": rules,
            "trigger": trigger.pat, "alternation": alternation_rx, "group_maps": group_maps,
            "exclusions": exclusions, "exclusions_by_unit": _by_unit(exclusions, units),
            "approx": _compile_approx(data["approx"], w.at(data["approx"], "approx"))}


def _by_unit(exclusions: list[Exclusion], units: dict[str, Unit]) -> dict:
    canon = {u.unit for u in units.values()} | {None}
    return {c: tuple(x for x in exclusions if x.units is None or c in x.units) for c in canon}


_GROUP = re.compile(r"\(\?P<(\w+)>")
# strings that make a badly nested pattern backtrack; each is tried at growing lengths, so an
# exponential pattern is caught at ~20 characters (before it can hang) and a quadratic one later
_PROBE_UNITS = ("1", "1,", "一", "1、", "1万", "1.1", "数十", "十")
_PROBE_LENGTHS = (8, 10, 12, 14, 16, 18, 20, 64, 400, 2000)
PROBE_SECONDS = 0.1


def _alternation(rules: list[Rule], w: Where) -> tuple[Pattern, list[dict[str, int]]]:
    """All rules as one alternation (groups renamed <name>_<i>) matched anchored at a trigger:
    the first rule that matches wins, in priority order. group_maps[i] maps rule i's group names
    to group numbers in the alternation. Like every rule pattern it runs with the regex module's
    timeout (the load-time probe below is an early warning, not the guard)."""
    alts = [f"(?P<_r{i}>" + _GROUP.sub(lambda g: f"(?P<{g.group(1)}_{i}>", r.rx.pattern) + ")"
            for i, r in enumerate(rules)]
    pat = Pattern("|".join(alts), w)
    maps = [{name: pat.groupindex[f"{name}_{i}"] for name in r.rx.groupindex} for i, r in enumerate(rules)]
    return pat, maps


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


def _unit_alternation(units) -> str:
    """The lexicon as a regex trie (个(?:百分点|多月|月|...)|家|...): one branch per first
    character, longest continuation first, so a unit is matched in a few steps. A unit followed
    by a guard continuation (家庭, 期间, 人口) is not a unit, and a Latin unit must not run on
    into more letters (3GPP)."""
    def guard(u: Unit) -> str:
        g = "(?!" + "|".join(re.escape(x) for x in u.not_before) + ")" if u.not_before else ""
        if u.surface[-1].isascii() and u.surface[-1].isalpha():
            g += "(?![A-Za-z0-9])"
        return g

    def trie(items: list[tuple[str, str]]) -> str:
        branches: dict[str, list[tuple[str, str]]] = {}
        ends = []
        for rest, g in items:
            if rest:
                branches.setdefault(rest[0], []).append((rest[1:], g))
            else:
                ends.append(g)
        alts = [re.escape(ch) + trie(sub) for ch, sub in sorted(branches.items())] + ends
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return trie([(u.surface, guard(u)) for u in units])


def _expand(pattern: str, parts: dict[str, str], w: Where) -> str:
    for _ in range(3):                       # parts may use parts (NUM inside a rule)
        for k, v in parts.items():
            pattern = pattern.replace("{" + k + "}", v)
    left = regex.findall(r"\{[A-Z]+\}", pattern)
    if left:
        raise w.error(f"unknown placeholder(s) {sorted(set(left))}")
    return pattern


def _compile_rule(r, w: Where, parts, units, need_num: bool = True) -> Rule:
    rw = w.at(r, r.get("id") if isinstance(r, dict) else None)
    check_keys(r, rw, required=("id", "pattern", "examples"),
               optional=("counter", "priority", "note", "unit"))
    check_examples(r, rw, FIELDS)
    fixed = r.get("unit")
    if fixed is not None and fixed not in units:
        raise rw.error(f"unit {fixed!r} is not in the lexicon")
    source = _expand(expect(r["pattern"], str, rw, "pattern"), parts, rw)
    pat = Pattern(source, rw)
    if need_num and "num" not in pat.rx.groupindex:
        raise rw.error("the pattern needs a (?P<num>...) group")
    try:
        rx = re.compile(source)
    except re.error as e:
        raise rw.error(f"the pattern must also compile with Python's re (fixed-width lookbehind): {e}") from None
    return Rule(r["id"], pat, rx, expect(r.get("priority", 0), int, rw, "priority"), fixed)


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
        words=tuple(words),
        by_char=_by_char(words),
    )


def _span_rx(source: str, w: Where):
    pat = Pattern(source, w)
    try:
        return re.compile(source)
    except re.error:
        return pat.rx


def _by_char(words: list[str]) -> dict[str, tuple[tuple[str, int], ...]]:
    """character -> (word, offset of that character in the word) for every word holding it."""
    out: dict[str, list[tuple[str, int]]] = {}
    for word in words:
        for j, ch in enumerate(word):
            out.setdefault(ch, []).append((word, j))
    return {k: tuple(v) for k, v in out.items()}


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
        out[side + "_lengths"] = sorted({len(k) for k in table}, reverse=True)
    out["prefix_last"] = frozenset(k[-1] for k in out["prefix"])     # a cheap test before slicing
    out["suffix_first"] = frozenset(k[0] for k in out["suffix"])
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
    text, trigger, alt, maps, rs = (doc.folded, rules["trigger"], rules["alternation"],
                                    rules["group_maps"], rules["rules"])
    add = doc.rows.setdefault("quantities", [])
    spans = doc.main_spans() if doc.blocks else [(0, len(text))]
    for bs, be in spans:
        pos = bs
        for t in trigger.finditer(text, bs, be):
            start = t.start()
            if start < pos:
                continue                  # inside a mention already read (a range, a list)
            m = alt.match(text, start, be)
            if m is None:
                continue
            i = int(m.lastgroup[2:])
            rows = _rows(doc, m, maps[i], rs[i], rules)
            # a structure (range, list: a higher priority) that is excluded falls back to the
            # simpler rules after it (从2亿个到238亿个 gives 2亿个); rules of one priority exclude
            # each other, so the fallback stops there
            prio = rs[i].priority
            for rule in rs[i + 1:] if not rows else ():
                if rule.priority < prio:
                    m = rule.pat.match(text, start, be)
                    if m is not None:
                        rows = _rows(doc, m, rule.pat.groupindex, rule, rules)
                        if rows:
                            break
            for row in rows:
                row["doc_id"] = doc.doc_id
                add.append(row)
                if row["end"] > pos:
                    pos = row["end"]


def _rows(doc: Doc, m, gi: dict, rule: Rule, rules: dict) -> list[dict]:
    """The rows of one match (several for a list), or [] when it is excluded or malformed."""
    text = doc.folded
    k = gi["num"]
    num, num_end = m.group(k), m.end(k)
    ku, kt, k2, kl = gi.get("unit"), gi.get("tail"), gi.get("num2"), gi.get("list")
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
    if _excluded(text, start, end, nums, unit, dim, rules["exclusions_by_unit"]):
        return []
    canon = unit.unit if unit else None
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
    return [_row(doc, start, end, lo, hi, canon, dim, approx, rule)]


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
            "rule_id": rule.id, "priority": rule.priority}


def _is_arabic(n: str) -> bool:
    return n[-1] in _ARABIC_END or any("0" <= c <= "9" for c in n)


_ARABIC_END = frozenset("0123456789")


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


def _number_kind(kind: str, nums: list[str]) -> bool:
    first = nums[0]
    if kind == "one":
        return first == "一"
    if kind == "year":
        return any(numerals.looks_like_year(n) for n in nums)
    if kind == "bare_magnitude":
        return set(first) <= BARE_MAGNITUDES          # 百, 千万, 万亿: no digit, no 余/多
    if kind == "leading_zero":
        return len(first) > 1 and first[0] == "0" and first[1].isdigit()    # 01组, 02批
    if kind == "chinese":
        return not _is_arabic(first)
    return _is_arabic(first)


def _excluded(text, start, end, nums, unit, dim, by_unit) -> str | None:
    """The id of the first exclusion whose conditions all hold, else None. by_unit maps a
    canonical unit (None: no unit) to the exclusions that can apply to it, in YAML order."""
    kinds = None
    for x in by_unit.get(unit.unit if unit else None, ()):
        if x.dimensions is not None and dim not in x.dimensions:
            continue
        if x.number is not None:
            if kinds is None:
                kinds = _kinds(nums)
            if not kinds[x.number]:
                continue
        if x.span is not None and not x.span.fullmatch(text, start, end):
            continue
        if x.after is not None and not x.after.holds(text, end):
            continue
        if x.before is not None and not x.before.holds(text, start):
            continue
        if x.words and not _overlaps_word(text, start, end, x.by_char):
            continue
        return x.id
    return None


class _kinds(dict):
    """What the first number of a candidate is (one, chinese, ...); the year test, the only
    costly one, is computed when first asked."""

    def __init__(self, nums: list[str]):
        first = nums[0]
        arabic = _is_arabic(first)
        super().__init__(one=first == "一", arabic=arabic, chinese=not arabic,
                         bare_magnitude=not arabic and set(first) <= BARE_MAGNITUDES,
                         leading_zero=len(first) > 1 and first[0] == "0" and first[1].isdigit())
        self.nums = nums

    def __missing__(self, kind: str) -> bool:
        self[kind] = value = _number_kind(kind, self.nums)
        return value


def _overlaps_word(text: str, start: int, end: int, by_char: dict) -> bool:
    """Does one of the words occur overlapping [start, end)? Such an occurrence either covers
    the span's first character or begins inside the span, so only those alignments are tried."""
    for word, j in by_char.get(text[start], ()):
        if j <= start and text.startswith(word, start - j):
            return True
    for p in range(start + 1, end):
        for word, j in by_char.get(text[p], ()):
            if j == 0 and text.startswith(word, p):
                return True
    return False


def _approx(text, start, end, dim, written, ax, prefix=True, suffix=True) -> str:
    if prefix and start and text[start - 1] in ax["prefix_last"]:
        for k in ax["prefix_lengths"]:
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
    if suffix and end < len(text) and text[end] in ax["suffix_first"]:
        for k in ax["suffix_lengths"]:
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
