"""Dates: find calendar expressions, parse them, resolve them to ISO ranges; and the reference date.

Rules (rules/dates.yaml) are regexes with named groups; the groups of a match say what it
means (see the file's notes). Per main-block run of text every rule is run once, overlapping
candidates are resolved longest first (the same total order as pipeline/resolve.py), then the
winners are parsed into a dateresolve.Expr and resolved in text order, so an anaphor (上年,
同日, 次日, 同期) sees the nearest date before it. Values come from pipeline/dateresolve.py.
"""
from __future__ import annotations

import bisect
import datetime as dt
import operator
from dataclasses import dataclass

import numpy as np

import regex

try:                                                      # the stdlib regex parser (3.11+ / older)
    from re import _constants as C, _parser as sre_parse
except ImportError:                                       # pragma: no cover
    import sre_constants as C
    import sre_parse

from . import dateresolve as R
from .document import Doc, fold_width, lut_hits
from .rules import (LDict, Pattern, Where, alternation, check_examples, check_keys, expect, expect_str_list,
                    expect_enum)

FIELDS = ("value_start", "value_end", "grain", "relative", "qualifier")
LEXICON_KEYS = ("deictic_years", "anaphoric_years", "deictic_months", "anaphoric_months",
                "deictic_days", "anaphoric_days", "edges", "day_periods", "holidays", "qualifiers")
EDGES = ("first", "last", "dekad1", "dekad2", "dekad3")
REGIONS = ("head", "lead", "title", "tail")
_NAME = regex.compile(r"\{([A-Za-z_][A-Za-z_0-9]*)(?::(\w+))?\}")
# compose(): a piece of the left kind written right before one of the right kind joins it
JOINS = {"year": "dated", "day": "clock"}


@dataclass(frozen=True)
class Rule:
    id: str
    pat: Pattern
    priority: int
    joins: frozenset[str]          # how compose() joins it to its neighbour (see JOINS)
    needs: tuple | None = None     # strings one of which every match contains (see may_match)
    anchor: tuple | None = None    # where matches can start (see anchor), when that is faster
    names: tuple = ()              # (group name, index in match.groups()), as groupdict() orders them
    window: tuple | None = None    # (literals, before, after): the text around them that matches read (see window)


@dataclass(frozen=True)
class Source:
    id: str
    label: str
    region: str
    pat: Pattern
    needs: tuple | None = None     # as Rule.needs: a region without them is not searched


# --- compiling the rule file ----------------------------------------------------------------------
def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "rules", "lexicon", "parts", "reference", "anaphor_reach"),
               optional=("notes",))
    lex = _lexicon(data["lexicon"], w.at(data["lexicon"], "lexicon"))
    parts = expect(data["parts"], dict, w.at(data["parts"], "parts"), "parts")
    expand = _expander(parts, lex, w)
    rules = []
    for r in expect(data["rules"], list, w, "rules"):
        rw = w.at(r, r.get("id") if isinstance(r, dict) else None)
        check_keys(r, rw, required=("id", "pattern"),
                   optional=("examples", "counter", "priority", "note", "joins"))
        check_examples(r, rw, FIELDS)
        prio = expect(r.get("priority", 0), int, rw, "priority")
        joins = frozenset(expect_enum(j, ("year", "dated", "day", "clock"), rw, "joins")
                          for j in expect(r.get("joins", []), list, rw, "joins"))
        source = expand(expect(r["pattern"], str, rw, "pattern"), rw)
        needs, pat = required_literals(source), Pattern(source, rw)
        rules.append(Rule(r["id"], pat, prio, joins, _needs(needs), _use_anchor(source, needs),
                          tuple((name, i - 1) for name, i in pat.groupindex.items()), window(source, needs)))
    return {"rules": rules, "lex": lex, "anaphor_reach": expect(data["anaphor_reach"], int, w, "anaphor_reach"),
            "gate": LiteralGate(rules),
            "reference": _reference(data["reference"], w, expand),
            "parsed": {}, "resolved": {}}                 # caches (see _meaning, _resolve)


def _lexicon(d, w: Where) -> dict:
    check_keys(d, w, required=LEXICON_KEYS)
    lex = {}
    for key in ("deictic_years", "anaphoric_years", "deictic_months", "anaphoric_months",
                "deictic_days", "anaphoric_days"):
        lex[key] = {k: expect(v, int, w, f"{key}.{k}") for k, v in expect(d[key], dict, w, key).items()}
    lex["edges"] = {k: expect_enum(v, EDGES, w, f"edges.{k}") for k, v in expect(d["edges"], dict, w, "edges").items()}
    lex["day_periods"] = [expect(v, str, w, "day_periods item") for v in expect(d["day_periods"], list, w, "day_periods")]
    lex["holidays"] = {}
    for k, v in expect(d["holidays"], dict, w, "holidays").items():
        m = regex.fullmatch(r"(\d\d)-(\d\d)", expect(v, str, w, f"holidays.{k}"))
        if not m:
            raise w.error(f"holidays.{k}: {v!r} is not MM-DD")
        lex["holidays"][k] = (int(m.group(1)), int(m.group(2)))
    q = check_keys(d["qualifiers"], w, required=("before", "after"), optional=("skip_before",))
    lex["q_skip"] = frozenset(expect_str_list(q.get("skip_before") or [], w, "qualifiers.skip_before"))
    lex["q_skip_lens"] = sorted({len(k) for k in lex["q_skip"]}, reverse=True)
    lex["q_skip_ends"] = frozenset(k[-1] for k in lex["q_skip"] if k)
    for side in ("before", "after"):
        words = expect(q[side], dict, w, f"qualifiers.{side}")
        for k, v in words.items():
            if v is not None:
                expect_enum(v, ("until", "since"), w, f"qualifiers.{side}.{k}")
        lex[f"q_{side}"] = dict(words)
        lex[f"q_{side}_lens"] = sorted({len(k) for k in words}, reverse=True)
    lex["q_before_ends"] = frozenset(k[-1] for k in lex["q_before"])
    lex["q_after_starts"] = frozenset(k[0] for k in lex["q_after"])
    # a span with none of these right outside it has no qualifier (see extract)
    lex["q_near_before"] = lex["q_before_ends"] | lex["q_skip_ends"] | {" "}
    lex["q_near_after"] = lex["q_after_starts"] | {" "}
    return lex


def _expander(parts: dict, lex: dict, w: Where):
    """{NAME} -> parts.NAME (itself expanded) or a longest-first alternation of a lexicon."""
    def expand(src: str, where: Where, depth: int = 0) -> str:
        if depth > 8:
            raise where.error("parts refer to each other in a loop")

        def one(m):
            name = m.group(1)
            if name in parts:
                return expand(expect(parts[name], str, w.at(parts, "parts"), f"parts.{name}"), where, depth + 1)
            if name in lex and isinstance(lex[name], (dict, list)):
                words = [w_ for w_ in lex[name] if w_.endswith(m.group(2) or "")]
                if not words:
                    raise where.error(f"{{{name}:{m.group(2)}}} selects no word")
                return suffix_alternation(words)
            raise where.error(f"unknown name {{{name}}} in pattern (not in parts or lexicon)")
        return _NAME.sub(one, src)
    return expand


def suffix_alternation(words) -> str:
    """Words sharing their last character as one sequence, (?:今|去|明)年: the regex module
    scans a pattern that ends in one literal far faster than a top-level alternation."""
    by_last: dict[str, list[str]] = {}
    for w_ in words:
        by_last.setdefault(w_[-1], []).append(w_[:-1])
    alts = []
    # groups with longer words first, so 国庆节 is tried before 国庆
    for last, heads in sorted(by_last.items(), key=lambda kv: (-max(map(len, kv[1])), kv[0])):
        heads = [h for h in heads if h]
        empty = len(heads) < len(by_last[last])
        inner = alternation(heads)[3:-1] if heads else ""
        alts.append(regex.escape(last) if not heads else
                    f"(?:{inner}){'?' if empty else ''}{regex.escape(last)}")
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def _reference(d, w: Where, expand) -> dict:
    rw = w.at(d, "reference")
    check_keys(d, rw, required=("head_chars", "tail_chars", "year", "sources"))
    sources = []
    for s in expect(d["sources"], list, rw, "sources"):
        sw = w.at(s, s.get("id") if isinstance(s, dict) else None)
        check_keys(s, sw, required=("id", "label", "region", "pattern"), optional=("examples", "counter", "note"))
        check_examples(s, sw, FIELDS)
        expect_enum(s["region"], REGIONS, sw, "region")
        source = expand(s["pattern"], sw)
        sources.append(Source(s["id"], s["label"], s["region"], Pattern(source, sw), _needs(required_literals(source))))
    return {"head": expect(d["head_chars"], int, rw, "head_chars"),
            "tail": expect(d["tail_chars"], int, rw, "tail_chars"),
            "year": Pattern(d["year"], rw), "sources": sources}


# --- which literals a match must contain (a cheap test that skips a rule on a document) -----------
# A pass of the `regex` module costs about as much for a rare rule (元旦, 次日) as for a common
# one; a document that has none of the strings every match of a rule contains cannot match it.
# The strings are read off the pattern itself (stdlib parser), so they can never disagree with it.
_CAP = 64            # largest set of alternatives followed through a pattern
GATE_MAX = 16        # a rule needing one of more strings than this is simply run
GATE_SEARCHES = 6    # more strings than this that share a character: the character is tested


def _parse_plain(source: str):
    """The stdlib parse of `source` with groups unnamed and backreferences as `.*` (enough to
    read literals off it), or None when it cannot be read that way."""
    src = regex.sub(r"\(\?P=\w+\)", "(?s:.*)", regex.sub(r"\(\?P<\w+>", "(?:", source))
    try:
        parsed = sre_parse.parse(src)
    except Exception:                                     # syntax only `regex` knows
        return None
    if parsed.state.flags & sre_parse.SRE_FLAG_IGNORECASE:
        return None
    return parsed


def required_literals(source: str) -> tuple[str, ...] | None:
    """Strings one of which every match of `source` contains, or None when none are known."""
    parsed = _parse_plain(source)
    if parsed is None:
        return None
    exact, req = _seq(parsed)
    best = _better(_better(None, exact), req)
    if not best or len(best) > GATE_MAX:
        return None
    shared = set.intersection(*map(set, best))
    if len(best) > GATE_SEARCHES and shared:              # 十一五 … 十四五: one `in` for 五, not 9 searches
        return (min(shared),)
    return tuple(sorted(best))


def _seq(items) -> tuple:
    """(exact, req): every string the items match (None: too many or unknown) and a set of
    strings one of which every match contains (None: unknown)."""
    exact, whole, best, run = {""}, True, None, ""
    for op, av in items:
        ex, rq = _node(op, av)
        run = run + next(iter(ex)) if ex is not None and len(ex) == 1 else ""
        best = _better(best, {run} if run else None)      # a literal run (季度) is required
        if ex is not None and len(exact) * len(ex) <= _CAP:
            exact = {a + b for a in exact for b in ex}
            continue
        whole, best = False, _better(best, exact)
        exact = set(ex) if ex is not None else {""}
        best = _better(best, rq)
    return (exact if whole else None), _better(best, exact)


def _node(op, av) -> tuple:
    if op is C.LITERAL:
        return {chr(av)}, None
    if op is C.IN:
        chars = set()
        for k, v in av:
            if k is C.LITERAL:
                chars.add(chr(v))
            elif k is C.RANGE and v[1] - v[0] < _CAP:
                chars.update(map(chr, range(v[0], v[1] + 1)))
            else:                                        # negation, \d, \s: anything
                return None, None
        return (chars, None) if len(chars) <= _CAP else (None, None)
    if op is C.SUBPATTERN:
        if av[1] & (sre_parse.SRE_FLAG_IGNORECASE | sre_parse.SRE_FLAG_VERBOSE):
            return None, None
        return _seq(av[3])
    if op is C.BRANCH:
        parts = [_seq(alt) for alt in av[1]]
        exacts = [ex for ex, _ in parts]
        exact = set().union(*exacts) if None not in exacts else None
        reqs = [_better(ex, rq) for ex, rq in parts]
        req = set().union(*reqs) if None not in reqs else None
        return (exact if exact is not None and len(exact) <= _CAP else None), req
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        lo, hi, sub = av
        ex, rq = _seq(sub)
        if lo == 0:
            return (ex | {""} if ex is not None and hi == 1 else None), None
        if lo == hi == 1:
            return ex, rq
        return None, _better(ex, rq)
    if op in (C.ASSERT, C.ASSERT_NOT, C.AT):             # zero width
        return {""}, None
    return None, None


def _better(a, b):
    """The cheaper, more selective of two requirement sets: at most GATE_MAX strings, then
    strings of two characters or more (one character is in almost every document), then fewer
    strings, then longer. A set holding "" requires nothing; strings holding another member
    are dropped (needing 今年初 or 年初 is needing 年初)."""
    cands = []
    for x in (a, b):
        if x and "" not in x:
            x = {s for s in x if not any(t != s and t in s for t in x)}
            n = min(map(len, x))
            cands.append((len(x) > GATE_MAX, n < 2, len(x), -n, sorted(x), x))
    return min(cands)[-1] if cands else None


def _needs(lits: tuple[str, ...] | None) -> tuple | None:
    """(literal, compiled search or None for one character) per required string."""
    if lits is None:
        return None
    return tuple((x, regex.compile(regex.escape(x)) if len(x) > 1 else None) for x in lits)


# --- where a match can start ----------------------------------------------------------------------
# The `regex` module skips quickly to a leading literal, but scans a leading character class or
# alternation (19|20, 今年|去年, [01]?\d时) at 30-90 instructions a character. When every match
# holds one of a few literals at an offset from its start known to a character or two, str.find
# finds the literals and the pattern is tried only at the starts they allow: the same matches
# as finditer (leftmost first, no overlap) for a fraction of the cost. Read off the pattern.
ANCHOR_STRINGS = 8       # at most this many literals to find
ANCHOR_SPREAD = 2        # at most this many more starts than one per literal found
ANCHOR_FINDS = 4         # at most this many str.find passes
# and at most this many strings: the rules with more (今年 去年 …, 今天 昨天 …) match often,
# and a Python call per match loses to regex's own finditer in seconds (not in callgrind's
# instruction count, which overstates the scan)
ANCHOR_WORDS = 4


def anchor(source: str) -> tuple[tuple[str, ...], int, int] | None:
    """(strings, lo, hi): every match of `source` has one of the strings at an offset in
    [lo, hi] from its start. The cheapest of those read off the leading items, or None."""
    parsed = _parse_plain(source)
    if parsed is None:
        return None
    found: list = []
    _anchors(parsed.data, parsed.state, 0, 0, found)
    if not found:
        return None
    # cost: starts to try per hit, times the literals; a literal one character longer is
    # taken as about eight times rarer
    _, lo, hi, strings = min(((hi - lo + 1) * len(ex) / 8 ** (min(map(len, ex)) - 1), lo, hi, tuple(sorted(ex)))
                             for lo, hi, ex in found)
    return strings, lo, hi


def _use_anchor(source: str, needs) -> tuple | None:
    """(lo, hi, finds) for a pattern that `regex` cannot skip through by itself: one with no
    single literal every match holds (`regex` searches for such a literal first). See
    _finds; each find is a pass over the text, so a few only."""
    a = anchor(source) if needs is not None and len(needs) > 1 else None
    if a is None:
        return None
    strings, lo, hi = a
    finds = _finds(strings)
    return (lo, hi, finds) if len(finds) <= ANCHOR_FINDS and len(strings) <= ANCHOR_WORDS else None


def _finds(strings) -> tuple:
    """((what str.find looks for, ((offset of it in the strings, their length, the strings),
    ...) or None when it is the string), ...). Strings sharing a character (年 of 今年, 去年 …) are found by it: a search for
    one character is several times faster than for two, and a slice tells which string it is."""
    shared = set.intersection(*map(set, strings))
    if not shared:
        return tuple((x, None) for x in strings)          # None: what is found is the string
    ch = min(shared)
    places: dict = {}
    for x in strings:
        for j, c in enumerate(x):
            if c == ch:
                places.setdefault((j, len(x)), set()).add(x)
    return ((ch, tuple((j, n, frozenset(xs)) for (j, n), xs in sorted(places.items()))),)


def _anchors(items, state, lo: int, hi: int, found: list) -> None:
    """Append (lo, hi, strings) for the items of a sequence starting at offsets [lo, hi]."""
    run, run_at = None, (0, 0)                            # the strings consecutive items spell
    for op, av in items:
        if hi - lo > ANCHOR_SPREAD:
            return
        ex, _ = _node(op, av)
        if ex is not None and run is not None and len(run) * len(ex) <= ANCHOR_STRINGS:
            run = {a + b for a in run for b in ex}
        else:
            run, run_at = (ex, (lo, hi)) if ex is not None and len(ex) <= ANCHOR_STRINGS else (None, (0, 0))
        if run and "" not in run:
            found.append((*run_at, run))
        if op is C.SUBPATTERN:
            _anchors(av[3], state, lo, hi, found)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            _anchors(av[2], state, lo, hi, found)
        a, b = sre_parse.SubPattern(state, [(op, av)]).getwidth()
        lo, hi = lo + a, hi + b


def anchored_matches(match, text: str, anchor: tuple):
    """What finditer yields, from `match` (the pattern's match method) tried only at the
    starts the anchor allows, in order, from the end of the last match on."""
    lo, hi, finds = anchor
    starts = []
    for lit, places in finds:
        find, i = text.find, text.find(lit)
        while i >= 0:
            if places is None:
                starts.extend(range(max(i - hi, 0), i - lo + 1))
            else:
                for j, n, strings in places:
                    if i >= j and text[i - j:i - j + n] in strings:
                        starts.extend(range(max(i - j - hi, 0), i - j - lo + 1))
            i = find(lit, i + 1)
    end = 0
    for s in sorted(set(starts)) if len(starts) > 1 else starts:
        if s >= end:
            m = match(text, s)
            if m is not None:
                yield m
                end = m.end()


# --- the windows of text a rule's matches lie in ----------------------------------------------------
# Every match holds one of the rule's literals (needs) and is at most `width` characters long, so
# it lies, with everything its look-arounds read, within a fixed distance of a literal. The
# windows around the literals, joined by a separator, are a few hundredths of a document; run
# on them, finditer yields the same matches (leftmost first, no overlap) with the same groups,
# at offsets shifted back by the window's start: no match and no look-around reaches past its
# window, and the separator (in no literal) makes no literal where two windows meet. A pattern
# that `regex` skips through by itself costs about the same either way; one opening on a class
# or an alternation (今年|去年, [01]?\d时) a third to a fifth (callgrind, 100 documents).
WINDOW_WIDTH = 64        # patterns with longer matches (or a repeat without end) run on the whole text


def window(source: str, needs: tuple[str, ...] | None) -> tuple | None:
    """(literals, before, after): every match of `source` (and what it reads around it) lies in
    [p - before, p + after) of the start p of one of the literals; None when not known."""
    sized = _sized_backrefs(source) if needs is not None else None
    parsed = _parse_plain(sized) if sized is not None else None
    if parsed is None:
        return None
    width = parsed.getwidth()[1]
    looks = _looks(parsed.data)
    if width > WINDOW_WIDTH or looks is None:
        return None
    back, ahead = looks
    # a match starts at most `width` before a literal it holds and not after it
    return tuple(needs), width + back, width + ahead + 1


def _sized_backrefs(source: str) -> str | None:
    """`source` with each backreference (?P=name) as `(?s:.{0,w})`, w the widest group of that
    name (what it can repeat), so that the pattern's width is known; None when not readable."""
    names = set(regex.findall(r"\(\?P=(\w+)\)", source))
    if not names:
        return source
    count = iter(range(1 << 30))                           # groups of one name apart (regex allows it)
    unique = regex.sub(r"\(\?P<(\w+)>", lambda m: f"(?P<{m.group(1)}__{next(count)}>", source)
    try:
        parsed = sre_parse.parse(regex.sub(r"\(\?P=\w+\)", "(?:)", unique))
    except Exception:
        return None
    widths: dict = {}
    for name, gid in parsed.state.groupdict.items():
        base = name.rsplit("__", 1)[0]
        if base in names:
            w = _group_width(parsed.data, gid)
            if w is None:
                return None
            widths[base] = max(widths.get(base, 0), w)
    if names - widths.keys():
        return None
    return regex.sub(r"\(\?P=(\w+)\)", lambda m: f"(?s:.{{0,{widths[m.group(1)]}}})", source)


def _group_width(items, gid: int) -> int | None:
    """The largest width of group `gid` in the parsed items, or None when it is not there."""
    for op, av in items:
        if op is C.SUBPATTERN and av[0] == gid:
            return av[3].getwidth()[1]
        for sub in (av[3],) if op is C.SUBPATTERN else av[1] if op is C.BRANCH else \
                (av[2],) if op in (C.MAX_REPEAT, C.MIN_REPEAT) else (av[1],) if op in (C.ASSERT, C.ASSERT_NOT) else ():
            w = _group_width(sub, gid)
            if w is not None:
                return w
    return None


_LEAVES = (C.LITERAL, C.NOT_LITERAL, C.IN, C.ANY, C.CATEGORY, C.RANGE)


def _looks(items) -> tuple[int, int] | None:
    """(back, ahead): how far look-behinds and look-aheads (and anchors: one character) can read
    beyond the match, summed (an upper bound), or None for what is not known here."""
    back = ahead = 0
    for op, av in items:
        subs = ()
        if op in (C.ASSERT, C.ASSERT_NOT):
            w = av[1].getwidth()[1]
            if w > WINDOW_WIDTH:
                return None
            back, ahead = (back, ahead + w) if av[0] == 1 else (back + w, ahead)
            subs = (av[1],)
        elif op is C.AT:
            back, ahead = back + 1, ahead + 1
        elif op is C.SUBPATTERN:
            subs = (av[3],)
        elif op is C.BRANCH:
            subs = av[1]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            subs = (av[2],)
        elif op not in _LEAVES:                            # atomic groups, conditionals …
            return None
        for sub in subs:
            inner = _looks(sub)
            if inner is None:
                return None
            back, ahead = back + inner[0], ahead + inner[1]
    return back, ahead


def _compact(text: str, pos: list, before: int, after: int, sep: str) -> tuple[str, list, list]:
    """(the windows [p - before, p + after) around the sorted positions, merged where they
    overlap and joined by sep; where each window starts in that string; the offset to add
    there to get back to text)."""
    parts, starts, shifts, c = [], [], [], 0
    s0, e0 = max(pos[0] - before, 0), pos[0] + after
    for p in pos:
        if p - before > e0:
            parts.append(text[s0:e0])
            starts.append(c)
            shifts.append(s0 - c)
            c += e0 - s0 + 1
            s0 = p - before
        e0 = p + after
    parts.append(text[s0:e0])
    starts.append(c)
    shifts.append(s0 - c)
    return sep.join(parts), starts, shifts


def may_match(rule: Rule | Source, text: str) -> bool:
    """False when `text` lacks every string a match of the rule must contain. A literal
    search cannot backtrack, so it needs no timeout; one character: str `in` is faster still."""
    if rule.needs is None:
        return True
    for lit, rx in rule.needs:
        if (lit in text) if rx is None else (rx.search(text) is not None):
            return True
    return False


class LiteralGate:
    """may_match for every rule at once. One numpy pass over a document finds which of the
    characters and adjacent pairs of the rules' literals it holds; a literal of one or two
    characters is then known exactly, a longer one is searched only when all its pairs occur.
    The separate literal searches (most of them find nothing and read the whole text) cost
    about as much as the rule passes themselves."""
    CHUNK = 1 << 20          # characters per numpy pass: transient memory stays small on huge files

    def __init__(self, rules: list[Rule]):
        chars = sorted({ch for r in rules if r.needs for lit, _ in r.needs for ch in lit})
        self.n = len(chars) + 1                           # 0: any other character
        self.ok = self.n <= 256 and all(ord(ch) <= 0xFFFF for ch in chars)
        index = {ch: i + 1 for i, ch in enumerate(chars)}
        self.lut = np.zeros(0x10001, np.uint8)            # the last entry, 0, stands for U+10000 and up
        for ch, i in index.items():
            self.lut[ord(ch)] = i
        # id(rule) -> (rule, ((set of codes, search or None when the codes are exact), ...)); a code
        # is -i for character i alone, i * n + j for the pair (i, j). A rule it does not know
        # (a list changed after compiling) is decided by may_match.
        self.tests = {}
        for r in rules:
            if r.needs is not None:
                tests = []
                for lit, rx in r.needs:
                    ids = [index[ch] for ch in lit]
                    codes = (-ids[0],) if len(ids) == 1 else tuple(a * self.n + b for a, b in zip(ids, ids[1:]))
                    tests.append((codes, rx if len(lit) > 2 else None))
                self.tests[id(r)] = (r, tuple((frozenset(codes), rx) for codes, rx in tests))
        used = {c for _, t in self.tests.values() for codes, _ in t for c in codes}
        self.pairs = np.array(sorted(c for c in used if c > 0), np.int64)
        self.singles = np.array(sorted(-c for c in used if c < 0), np.int64)
        # rules with the same literals share their windows (see window), with the widest margins:
        # literals -> [the pair codes that start one (a table over codes), before, after, separator]
        self.windows: dict = {}
        for r in rules:
            if r.window is None or id(r) not in self.tests:
                continue
            lits, before, after = r.window
            w = self.windows.get(lits)
            if w is not None:
                w[1], w[2] = max(w[1], before), max(w[2], after)
                continue
            opens = np.zeros(self.n * self.n, np.bool_)
            for lit in lits:                              # a literal's first two characters
                row = index[lit[0]] * self.n              # (one character: followed by any)
                if len(lit) == 1:
                    opens[row:row + self.n] = True
                else:
                    opens[row + index[lit[1]]] = True
            sep = next(ch for ch in "\x00\x01\x02\x03" if not any(ch in x for x in lits))
            self.windows[lits] = [opens, before, after, sep]

    def present(self, text: str) -> set[int]:
        """The codes (see __init__) that occur in text."""
        return self._scan(text)[0]

    def _scan(self, text: str) -> tuple[set[int], tuple | None]:
        """(present(text), (positions of the literal characters, the pair code at each) or None
        when text is more than one chunk)."""
        n, pairs, singles = self.n, np.zeros(self.n * self.n, np.bool_), np.zeros(self.n, np.bool_)
        where = None
        for i in range(0, len(text), self.CHUNK):         # chunks overlap by one character (pairs)
            at, first, then = lut_hits(text, self.lut, i, i + self.CHUNK + 1)
            if not len(at):
                continue
            singles[first] = True
            code = first.astype(np.int64) * n + then
            pairs[code] = True
            if len(text) <= self.CHUNK + 1:               # one chunk
                where = (at, code)
        out = set(self.pairs[pairs[self.pairs]].tolist())
        out.update((-self.singles[singles[self.singles]]).tolist())
        return out, where

    def runnable(self, rules: list[Rule], text: str) -> list[Rule]:
        """The rules that may match text (may_match), decided on one present(text)."""
        return [rule for rule, _ in self.sieve(rules, text)]

    def sieve(self, rules: list[Rule], text: str) -> list[tuple[Rule, tuple | None]]:
        """runnable(rules, text), each rule with the windows of text to run it on (_compact's
        triple; see window), or None: the whole text."""
        if not self.ok:
            return [(r, None) for r in rules if may_match(r, text)]
        (present, where), out, made = self._scan(text), [], {}
        for rule in rules:
            known = self.tests.get(id(rule))
            if rule.needs is None:
                out.append((rule, None))
            elif known is None or known[0] is not rule:
                if may_match(rule, text):
                    out.append((rule, None))
            else:
                for codes, rx in known[1]:
                    if codes <= present and (rx is None or rx.search(text) is not None):
                        out.append((rule, self._windows(rule, text, where, made)))
                        break
        return out

    def _windows(self, rule: Rule, text: str, where, made: dict) -> tuple | None:
        """_compact's windows of text around the rule's literals, made once per document for
        the rules with the same literals (`made`)."""
        if rule.window is None or where is None:
            return None
        lits = rule.window[0]
        got = made.get(lits)
        if got is None:
            opens, before, after, sep = self.windows[lits]
            at, code = where
            pos = at[opens.take(code)].tolist()
            got = made[lits] = _compact(text, pos, before, after, sep) if pos else ("", [0], [0])
        return got


# --- numbers --------------------------------------------------------------------------------------
_CN = {"〇": 0, "零": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
       "七": 7, "八": 8, "九": 9}


def cn_int(s: str) -> int:
    """Small numbers as dates write them: 23, 二十三, 十一, 廿, and year digits 二〇二四."""
    if s.isdigit():
        return int(s)
    if "十" not in s:                                # digit by digit: 二〇二四
        n = 0
        for ch in s:
            n = n * 10 + _CN[ch]
        return n
    tens, _, ones = s.partition("十")
    return (_CN[tens] if tens else 1) * 10 + (_CN[ones] if ones else 0)


# --- parsing a match into an Expr -----------------------------------------------------------------
def parse(g: dict, lex: dict) -> R.Expr:
    """Named groups of a match -> the expression they write (no calendar arithmetic here)."""
    f: dict = {}
    if g.get("year"):
        f["year"] = cn_int(g["year"])
    elif g.get("ryear"):
        f["year_from"], f["year_offset"] = R.REF, lex["deictic_years"][g["ryear"]]
    elif g.get("ayear"):
        f["year_from"], f["year_offset"] = R.PREV, lex["anaphoric_years"][g["ayear"]]
    if g.get("same"):
        f["same_period"] = True
        return R.Expr.of(f)
    if g.get("plan"):
        return R.Expr.of({"plan": cn_int(g["plan"])})
    if g.get("year2"):
        f["end_year"] = cn_int(g["year2"])
    for key, name in (("month", "month"), ("month2", "end_month"), ("day", "day"), ("day2", "end_day"),
                      ("quarter", "quarter"), ("months_upto", "months_upto")):
        if g.get(key):
            f[name] = cn_int(g[key])
    if g.get("quarter_to"):
        f["quarter"], f["end_quarter"] = 1, cn_int(g["quarter_to"])
    if g.get("half"):
        f["half"] = 1 if g["half"] == "上" else 2
    if g.get("edge") and g["edge"] in lex["edges"]:      # 度 (2025年度) is the whole year
        f["edge"] = lex["edges"][g["edge"]]
    if g.get("rmonth"):
        f["month_from"], f["month_offset"] = R.REF, lex["deictic_months"][g["rmonth"]]
    elif g.get("amonth"):
        f["month_from"], f["month_offset"] = R.PREV, lex["anaphoric_months"][g["amonth"]]
    if g.get("rday"):
        f["day_from"], f["day_offset"] = R.REF, lex["deictic_days"][g["rday"]]
    elif g.get("aday"):
        f["day_from"], f["day_offset"] = R.PREV, lex["anaphoric_days"][g["aday"]]
    if g.get("holiday"):
        f["month"], f["day"] = lex["holidays"][g["holiday"]]
    if g.get("hour"):
        f["clock"] = True
    if "year" not in f and "year_from" not in f and "month" in f:
        f["nearest"] = True
    return R.Expr.of(f)


def qualifier(folded: str, start: int, end: int, lex: dict) -> str | None:
    """截至/到 … → until, 自/从 … 以来 → since: the words right outside the span."""
    while start > 0 and folded[start - 1] == " ":         # 截至 2024年, 2023/05/06 10:30 起
        start -= 1
    if folded[start - 1:start] in lex["q_skip_ends"]:
        for k in lex["q_skip_lens"]:                      # 截至北京时间今天: the zone sits between
            if k <= start and folded[start - k:start] in lex["q_skip"]:
                start -= k
                break
    while end < len(folded) and folded[end] == " ":
        end += 1
    before, after = lex["q_before"], lex["q_after"]
    if folded[start - 1:start] not in lex["q_before_ends"] and folded[end:end + 1] not in lex["q_after_starts"]:
        return None                                       # most dates: no qualifier word can touch them
    for k in lex["q_before_lens"]:                        # longest first: 截止到 before 到
        if k <= start and folded[start - k:start] in before:
            q = before[folded[start - k:start]]
            if q is not None:
                return q
            break                                         # 达到: no preposition; 以来 may follow
    for k in lex["q_after_lens"]:                         # 前后 (null) before 前 (until)
        if folded[end:end + k] in after:
            return after[folded[end:end + k]]
    return None


# --- extraction -----------------------------------------------------------------------------------
# A candidate is (start, end, rule, match, left): `left` is the candidate compose() joined in front
# of it (or None). Groups are read from the match objects only when needed: most spans repeat
# in a document and across documents, so their parse is cached by the matches' groups.
def _candidates(doc: Doc, rules: dict) -> list:
    """Every rule's matches that lie inside one main block."""
    folded, cands = doc.folded, []
    spans = doc.main_spans()
    starts = [s for s, _ in spans]
    right, add = bisect.bisect_right, cands.append
    for rule, win in rules["gate"].sieve(rules["rules"], folded):
        # the compiled pattern's own finditer under Pattern's time limit (no generator in between)
        try:
            if win is not None:                           # on the windows around its literals
                text, wstarts, shifts = win
                for m in rule.pat.hot("finditer", text)(text):
                    s, e = m.span()
                    k = shifts[right(wstarts, s) - 1]
                    s, e = s + k, e + k
                    i = right(starts, s) - 1
                    if i >= 0 and e <= spans[i][1]:
                        add((s, e, rule, m, None))
                continue
            for m in (rule.pat.hot("finditer", folded)(folded) if rule.anchor is None else
                      anchored_matches(rule.pat.hot("match", folded), folded, rule.anchor)):
                s, e = m.span()
                i = right(starts, s) - 1
                if i >= 0 and e <= spans[i][1]:
                    add((s, e, rule, m, None))
        except TimeoutError:
            raise rule.pat.timeout_error() from None
    return cands


def _select(cands: list) -> list:
    """Non-overlapping winners: longer, then higher priority, then earlier, then rule id.
    Candidates that overlap nothing win outright; the order above only decides inside a run
    of overlapping ones (a choice there never affects another run)."""
    kept, run, run_end = [], [], -1
    for c in sorted(cands, key=_START):
        if c[0] >= run_end:                               # c starts a run: settle the last one
            if len(run) == 1:
                kept.append(run[0])                       # most runs: no call
            elif run:
                _settle(run, kept)
            run, run_end = [c], c[1]
        else:
            run.append(c)
            if c[1] > run_end:
                run_end = c[1]
    if run:
        _settle(run, kept)
    return kept


def _settle(run: list, kept: list) -> None:
    """Append a run's winners to kept. Two in a run overlap each other, so the first in the
    order wins (most runs: 11月 inside 11月10日); longer runs go through _greedy."""
    if len(run) == 1:
        kept.append(run[0])
    elif len(run) == 2:
        kept.append(min(run, key=_rank))
    else:
        kept.extend(_greedy(run))


_START = operator.itemgetter(0)


def _rank(c) -> tuple:
    return (c[0] - c[1], -c[2].priority, c[0], c[2].id)


def _greedy(cands: list) -> list:
    kept, starts = [], []
    for c in sorted(cands, key=_rank):
        s, e = c[0], c[1]
        i = bisect.bisect_left(starts, s)
        if (i < len(kept) and kept[i][0] < e) or (i > 0 and kept[i - 1][1] > s):
            continue
        starts.insert(i, s)
        kept.insert(i, c)
    return kept


def groups_of(c) -> dict:
    """The named groups of a candidate; a joined one has the set groups of both pieces."""
    if c[4] is None:
        return _groupdict(c)
    g = {k: v for k, v in groups_of(c[4]).items() if v}
    g.update((k, v) for k, v in _groupdict(c).items() if v)
    return g


def _groupdict(c) -> dict:
    """match.groupdict() of a candidate, from groups(): `regex` first tries each name as a
    group number and formats the TypeError it raises (about 2,000 instructions a name)."""
    groups = c[3].groups()
    return {name: groups[i] for name, i in c[2].names}


def _key(c) -> tuple:
    """What a candidate's meaning depends on: its rules and their groups (not the offsets)."""
    return (c[2].id, c[3].groups(), None if c[4] is None else _key(c[4]))


_YEAR_KEYS = ("year", "ryear", "ayear")


def compose(kept: list) -> list:
    """Join pieces written side by side into one span with the groups of both: a year part
    (2024年, 今年, 同年) and the dated piece after it (11月19日, 前三季度, 国庆节); a day and its
    clock time (6月24日 + 12时55分). The right piece's rule id names the result."""
    out: list = []
    for c in kept:                                        # kept is in text order
        if out and out[-1][1] == c[0] and _joinable(out[-1], c):
            left = out[-1]
            out[-1] = (left[0], c[1], c[2], c[3], left)
            continue
        out.append(c)
    return out


def _joinable(left, right) -> bool:
    for lk, rk in JOINS.items():
        if lk in left[2].joins and rk in right[2].joins:
            lg = groups_of(left)
            if lk == "year":      # a bare year part only (not 2025年度, 2024—2026年) before a year-less piece
                return not lg.get("edge") and not lg.get("year2") and \
                    not any(_groupdict(right).get(k) for k in _YEAR_KEYS)
            return not lg.get("hour")
    return False


# how far back a candidate may look for the date it reads against (see extract)
ANY, SAME_BLOCK, NEARBY = 0, 1, 2


def _meaning(key: tuple, c, rules: dict) -> tuple:
    """(Expr, is a range, reads the previous date, anchors later ones, how far back it looks,
    its values by reference date when it does not read the previous one) of a candidate,
    cached across documents by what it depends on (_key)."""
    cache = rules["parsed"]
    hit = cache.get(key)
    if hit is None:
        if len(cache) > CACHE_SIZE:
            cache.clear()
        g = groups_of(c)
        expr = parse(g, rules["lex"])
        # a bare day (23日) reads against an earlier date of its own paragraph, a day anaphor
        # (当天, 次日) against one at most anaphor_reach characters before it: on a page of
        # several stories the previous date may belong to another one (then: the reference)
        back = SAME_BLOCK if expr.day is not None and expr.month is None else \
            NEARBY if expr.day_from == R.PREV else ANY
        hit = cache[key] = (expr, _is_range(g), expr.reads_prev, expr.anchors, back, {})
    return hit


CACHE_SIZE = 20_000         # bounded: memory must not grow with the number of documents
BY_REF_SIZE = 4             # values kept per parsed candidate (one reference date per document)


def _value(key: tuple, expr: R.Expr, ref, prev, rules: dict) -> R.Value:
    cache = rules["resolved"]
    v = cache.get(key)
    if v is None:
        if len(cache) > CACHE_SIZE:
            cache.clear()
        v = cache[key] = R.resolve(expr, ref, prev)
    return v


def extract(doc: Doc, rules: dict) -> None:
    folded, text, lex, ref, doc_id = doc.folded, doc.text, rules["lex"], doc.published, doc.doc_id
    reach, parsed, resolved = rules["anaphor_reach"], rules["parsed"], rules["resolved"]
    near_before, near_after = lex["q_near_before"], lex["q_near_after"]
    rows = doc.rows.setdefault("dates", [])
    prev: R.Value | None = None
    prev_block, prev_end = None, -10**9
    block_starts = [b.start for b in doc.blocks]
    right = bisect.bisect_right
    # the caches are read inline (a hit is the common case: no call per candidate)
    for c in compose(_select(_candidates(doc, rules))):
        s, e, rule, m, left = c
        key = (rule.id, m.groups(), None if left is None else _key(left))
        hit = parsed.get(key)
        expr, is_range, reads_prev, anchors, back, by_ref = hit if hit is not None else _meaning(key, c, rules)
        block = right(block_starts, s)
        if not reads_prev:                                # the value depends on the reference only
            v = by_ref.get(ref)                           # (kept with the parse: no second hashing of key)
            if v is None:
                if len(by_ref) >= BY_REF_SIZE:
                    by_ref.clear()
                v = by_ref[ref] = R.resolve(expr, ref, None)
        else:
            usable = back == ANY or block == prev_block or (back == NEARBY and s - prev_end <= reach)
            p = prev if usable else None
            vkey = (key, ref, p)
            v = resolved.get(vkey)
            if v is None:
                v = _value(vkey, expr, ref, p, rules)
        if anchors and v.start is not None:
            prev, prev_block, prev_end = v, block, e
        # qualifier() can only find a word when one of these characters touches the span
        if folded[s - 1:s] in near_before or folded[e:e + 1] in near_after:
            q = qualifier(folded, s, e, lex)
            if q == "since" and is_range and folded[s - 1:s] in "从自":
                q = None                                  # 从4月23日到27日: a range, not a start
        else:
            q = None
        rows.append({"start": s, "end": e, "text": text[s:e],
                     "value_start": v.start, "value_end": v.end, "grain": v.grain,
                     "relative": v.relative, "qualifier": q, "rule_id": rule.id, "doc_id": doc_id})


def _is_range(groups: dict) -> bool:
    return any(groups.get(k) for k in ("year2", "month2", "day2"))


# --- the reference date ---------------------------------------------------------------------------
def find_reference(doc: Doc, rules: dict) -> None:
    """documents.published: the first source (date line, dateline, title, …) with a whole date."""
    if doc.reference_fixed:
        return
    cfg = rules["reference"]
    first_main = next((b.start for b in doc.blocks if b.label == "main"), 0)
    title = fold_width(doc.title) if doc.title else ""
    regions = {"head": doc.folded[:first_main + cfg["head"]],
               "lead": doc.folded[first_main:first_main + cfg["head"]],
               "title": title,
               "tail": doc.folded[-cfg["tail"]:]}
    for src in cfg["sources"]:
        text = regions[src.region]
        m = src.pat.search(text) if text and may_match(src, text) else None
        if m is None or not m.group("month") or not m.group("day"):
            continue
        year, where = (int(m.group("year")), "") if m.group("year") else _year_nearby(cfg, text, m, title, regions)
        if year is None:
            continue
        try:
            doc.published = dt.date(year, int(m.group("month")), int(m.group("day")))
        except ValueError:
            continue
        doc.published_source = f"{src.label}: {_snippet(src, text, m)}{where}"
        return


def _snippet(src: Source, text: str, m) -> str:
    if src.region in ("title",):
        return " ".join(text.split())[:40]
    s = m.start("year") if m.group("year") else m.start("month")
    if src.id.endswith("dateline"):
        s = text.rfind("\n", 0, s) + 1
        return " ".join(m.string[s:m.end()].split())
    e = m.end("day")
    return text[s:e + (text[e:e + 1] in "日号")].strip()


def _year_nearby(cfg: dict, text: str, m, title: str, regions: dict) -> tuple[int | None, str]:
    """A year-less hit takes the year of its own line, else the title's, else the head's."""
    pos = m.start("month")
    ls, le = text.rfind("\n", 0, pos) + 1, text.find("\n", pos)
    line = text[ls:le if le >= 0 else len(text)]
    years = list(cfg["year"].finditer(line))
    if years:
        y = min(years, key=lambda y: abs(ls + y.start() - pos))
        word = regex.match(r"[^\s，。,、：:；;（）()]{1,14}", line[y.start():]).group(0)
        return int(y.group("year")), f", year {y.group('year')} from {word} in the same line"
    for name, where in ((title, "the title"), (regions["head"], "the first lines")):
        y = cfg["year"].search(name) if name else None
        if y:
            return int(y.group("year")), f", year {y.group('year')} from {where}"
    return None, ""
