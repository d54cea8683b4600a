"""Quantities: a number with what it counts or measures (SPEC "Quantities").

rules/quantities.yaml holds everything a rule author edits: the unit lexicon (unit -> dimension),
the patterns that find spans, the exclusions that drop what only looks like a quantity
(ordinals, years, names, idioms), and the approximation qualifiers. This module compiles them,
runs each pattern once over the folded text of the main blocks, and turns a match into rows;
pipeline/numerals.py gives the values.
"""
from __future__ import annotations

from dataclasses import dataclass

import regex

from . import numerals
from .document import Doc
from .records import APPROX, DIMENSIONS
from .rules import (LDict, Pattern, Where, alternation, check_examples, check_keys, expect,
                    expect_enum, expect_str_list)

FIELDS = ("value", "value_max", "unit", "dimension", "approx")
NUMBER_KINDS = ("year", "one", "bare_magnitude", "chinese", "arabic")
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
    pat: Pattern
    priority: int
    unit: str | None     # a unit fixed by the rule (百分之五十 -> %)


@dataclass
class Exclusion:
    id: str
    units: frozenset | None
    dimensions: frozenset | None
    number: str | None
    before: Pattern | None
    after: Pattern | None
    span: Pattern | None
    words: Pattern | None
    width: int           # longest word, for the overlap window


# --- compiling rules/quantities.yaml -------------------------------------------------------------
def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "parts", "units", "approx", "rules", "exclusions"),
               optional=("notes",))
    units = _compile_units(data["units"], w.at(data["units"], "units"))
    parts = {k: expect(v, str, w.at(data["parts"], "parts"), f"part {k}") for k, v in data["parts"].items()}
    parts["UNIT"] = _unit_alternation(units.values())
    rules = [_compile_rule(r, w, parts, units) for r in expect(data["rules"], list, w, "rules")]
    exclusions = [_compile_exclusion(x, w, units) for x in expect(data["exclusions"], list, w, "exclusions")]
    return {"units": units, "unit_rx": regex.compile(parts["UNIT"]), "rules": rules,
            "exclusions": exclusions, "approx": _compile_approx(data["approx"], w.at(data["approx"], "approx"))}


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
    """Longest first; a unit followed by a guard continuation (家庭, 期间, 人口) is not a unit, and a
    Latin unit must not run on into more letters (3GPP)."""
    out = []
    for u in sorted(units, key=lambda x: (-len(x.surface), x.surface)):
        alt = regex.escape(u.surface)
        if u.not_before:
            alt += "(?!" + "|".join(regex.escape(x) for x in u.not_before) + ")"
        if u.surface[-1].isascii() and u.surface[-1].isalpha():
            alt += "(?![A-Za-z0-9])"
        out.append(alt)
    return "(?:" + "|".join(out) + ")"


def _expand(pattern: str, parts: dict[str, str], w: Where) -> str:
    for _ in range(3):                       # parts may use parts (NUM inside a rule)
        for k, v in parts.items():
            pattern = pattern.replace("{" + k + "}", v)
    left = regex.findall(r"\{[A-Z]+\}", pattern)
    if left:
        raise w.error(f"unknown placeholder(s) {sorted(set(left))}")
    return pattern


def _compile_rule(r, w: Where, parts, units) -> Rule:
    rw = w.at(r, r.get("id") if isinstance(r, dict) else None)
    check_keys(r, rw, required=("id", "pattern", "examples"),
               optional=("counter", "priority", "note", "unit"))
    check_examples(r, rw, FIELDS)
    fixed = r.get("unit")
    if fixed is not None and fixed not in units:
        raise rw.error(f"unit {fixed!r} is not in the lexicon")
    pat = Pattern(_expand(expect(r["pattern"], str, rw, "pattern"), parts, rw), rw)
    if "num" not in pat.rx.groupindex:
        raise rw.error("the pattern needs a (?P<num>...) group")
    return Rule(r["id"], pat, expect(r.get("priority", 0), int, rw, "priority"), fixed)


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
        before=Pattern("(?:" + x["before"] + r")\Z", xw) if x.get("before") else None,
        after=Pattern(x["after"], xw) if x.get("after") else None,
        span=Pattern(x["span"], xw) if x.get("span") else None,
        words=Pattern(alternation(words), xw) if words else None,
        width=max((len(s) for s in words), default=0),
    )


def _compile_approx(data, w: Where) -> dict:
    check_keys(data, w, required=("prefix", "suffix"),
               optional=("suffix_dimensions", "suffix_not_before", "recent_prefix"))
    out = {}
    for side in ("prefix", "suffix"):
        table = {}
        for kind, words in expect(data[side], dict, w, side).items():
            expect_enum(kind, APPROX, w, f"{side} kind")
            for word in expect_str_list(words, w, f"{side}.{kind}"):
                table[word] = kind
        out[side] = table
        out[side + "_lengths"] = sorted({len(k) for k in table}, reverse=True)
    out["suffix_dimensions"] = {k: frozenset(v) for k, v in (data.get("suffix_dimensions") or {}).items()}
    out["suffix_not_before"] = {k: tuple(v) for k, v in (data.get("suffix_not_before") or {}).items()}
    out["recent_prefix"] = {k: frozenset(v) for k, v in (data.get("recent_prefix") or {}).items()}
    return out


# --- extraction -----------------------------------------------------------------------------------
def extract(doc: Doc, rules: dict) -> None:
    text = doc.folded
    spans = doc.main_spans() if doc.blocks else [(0, len(text))]
    for rule in rules["rules"]:
        for bs, be in spans:
            for m in rule.pat.finditer(text, bs, be):
                for row in _rows(doc, m, rule, rules):
                    doc.add("quantities", row)


def _rows(doc: Doc, m, rule: Rule, rules: dict) -> list[dict]:
    text, g = doc.folded, m.groupdict()
    num, num_end = g["num"], m.end("num")
    surface = g.get("unit") or rule.unit
    end = m.end("unit") if g.get("unit") else (m.end() if not g.get("tail") else m.start("tail"))
    # 3千瓦, 1.2万千瓦: the greedy number took the 千 of the unit
    if g.get("unit") and len(num) > 1 and num[-1] == "千" and num[-2] not in CN_DIGITS \
            and not g.get("num2") and ("千" + surface) in rules["units"]:
        um = rules["unit_rx"].match(text, num_end - 1)
        if um:
            num, num_end, surface, end = num[:-1], num_end - 1, um.group(), um.end()
    unit = rules["units"][surface] if surface else None
    dim = unit.dimension if unit else "count"
    if g.get("tail") and dim == "duration":
        end = m.end("tail")
    start = m.start()
    nums = [num] + ([g["num2"]] if g.get("num2") else [])
    items = g.get("list")
    if items:
        nums = items.split("、")[:-1] + nums
        arabic = [_is_arabic(n) for n in nums]
        if any(a != arabic[-1] for a in arabic):
            return []
    if unit and unit.arabic_only and not _is_arabic(nums[-1]):
        return []
    if "，" in doc.text[start:end] and any("," in n for n in nums):
        return []                 # a full-width comma folded to "," is punctuation, not a separator
    if g.get("num2") and start > 0 and text[start - 1] in RANGE_NOT_AFTER:
        return []
    if _excluded(text, start, end, nums, unit, dim, rules["exclusions"]):
        return []
    base = {"unit": unit.unit if unit else None, "dimension": dim, "rule_id": rule.id,
            "priority": rule.priority}
    if items:
        return _list_rows(doc, m, nums, end, base, rules, surface)
    if g.get("num2"):
        lo, hi = numerals.parse_number(num), numerals.parse_number(g["num2"])
        if (lo is None or hi is None) and not any(numerals.is_vague(n) for n in nums):
            return []
        lo = _share_magnitude(num, lo, g["num2"], hi)
    else:
        lo, hi = numerals.parse_range(num)
        if lo is None and not numerals.is_vague(num):
            return []                 # not a well-formed numeral (十四五期)
    approx = _approx(text, start, end, dim, "".join(nums) + (g.get("tail") or "") + (surface or ""),
                     rules["approx"])
    return [_row(doc, start, end, lo, hi, approx, base)]


def _list_rows(doc, m, nums, end, base, rules, surface) -> list[dict]:
    rows, pos = [], m.start("list")
    text = doc.folded
    for i, n in enumerate(nums):
        s, e = pos, pos + len(n)
        if i == len(nums) - 1:
            e = end
        value = numerals.parse_number(n)
        if value is None and not numerals.is_vague(n):
            return []
        approx = _approx(text, s, e, base["dimension"], n + (surface if i == len(nums) - 1 else ""),
                         rules["approx"], prefix=(i == 0), suffix=(i == len(nums) - 1))
        rows.append(_row(doc, s, e, value, None, approx, base))
        pos += len(n) + 1
    return rows


def _row(doc, start, end, value, value_max, approx, base) -> dict:
    return {"start": start, "end": end, "text": doc.text[start:end], "value": value,
            "value_max": value_max, "approx": approx, **base}


def _is_arabic(n: str) -> bool:
    return any("0" <= c <= "9" for c in n)


def _share_magnitude(num: str, lo, num2: str, hi):
    """5—10万元: a magnitude written only after the upper end applies to the lower end too."""
    if lo is None or hi is None or any(c in num for c in MAGNITUDE_CHARS):
        return lo
    core = num2.rstrip("余多").rstrip(MAGNITUDE_CHARS)
    if core == num2.rstrip("余多"):
        return lo
    coef = numerals.parse_number(core)
    return lo * (hi / coef) if coef else lo


def _number_kind(kind: str, nums: list[str]) -> bool:
    first = nums[0]
    if kind == "year":
        return any(numerals.looks_like_year(n) for n in nums)
    if kind == "one":
        return first == "一"
    if kind == "bare_magnitude":
        return set(first) <= BARE_MAGNITUDES          # 百, 千万, 万亿: no digit, no 余/多
    if kind == "chinese":
        return not _is_arabic(first)
    return _is_arabic(first)


def _excluded(text, start, end, nums, unit, dim, exclusions) -> str | None:
    """The id of the first exclusion whose conditions all hold, else None."""
    for x in exclusions:
        if x.units is not None and (unit is None or unit.unit not in x.units):
            continue
        if x.dimensions is not None and dim not in x.dimensions:
            continue
        if x.number is not None and not _number_kind(x.number, nums):
            continue
        if x.span is not None and not x.span.rx.fullmatch(text, start, end):
            continue
        if x.before is not None and not x.before.search(text, max(0, start - WINDOW), start):
            continue
        if x.after is not None and not x.after.rx.match(text, end):
            continue
        if x.words is not None and not any(
                wm.start() < end and wm.end() > start
                for wm in x.words.finditer(text, max(0, start - x.width + 1), min(len(text), end + x.width - 1))):
            continue
        return x.id
    return None


def _approx(text, start, end, dim, written, ax, prefix=True, suffix=True) -> str:
    if prefix:
        for k in ax["prefix_lengths"]:
            word = text[start - k:start] if start >= k else None
            kind = ax["prefix"].get(word) if word else None
            if kind:
                if dim in ax["recent_prefix"].get(word, ()):
                    return "eq"                       # 近五年来: the last five years
                return kind
    if numerals.has_approx_mark(written):
        return "gt"
    if suffix:
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
