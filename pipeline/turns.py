"""Speaker turns: transcript turns and reported speech (SPEC "Speaker turns").

Runs after organisations and overlap resolution, on main blocks only.

1. People: role + name pairs found by structure, never by a tagger: role captions on their own
   line (`武汉市人民政府副秘书长徐盛敏`), the lead's participant list (`…副主任赵荣贵，…`), `由…主持`
   (the host), and the title (`…外交部发言人陆慷主持例行记者会`). A role ends with a title word from
   rules/turns.yaml (局长, 主任, 发言人 …); its organisation is the first organisation inside it.
2. Transcript turns: a label at the start of a line (`赵荣贵:`, `新华网记者:`, `问:` / `答:`, `追问:`,
   `会后有记者问及:`) or a bare name line; the text runs to the last non-blank line before the next
   turn, caption, heading or non-main block. Unlabelled text before the first question of a
   spokesperson's briefing is that spokesperson's `opening` (start/end null).
3. Reported speech outside transcript turns: speaker + speech verb + comma/colon at a sentence start
   (`王忠林在致辞中指出，`, `他表示，`), a body heading a paragraph (`会议指出，`), and the
   quotation-first form (`“……”盛秋平表示`). The text runs to the end of the paragraph or the next
   reported statement. 他/她 resolve to the last named person before them.
Matching happens on doc.folded (full-width punctuation folded: `：` is `:` there, `，` is `,`).
"""
from __future__ import annotations

import bisect
import re
import sys

import numpy as np
import regex

from . import organisations   # for find_orgs (imported once: an import per call cost more than the lookup)
from .dates import anchor, required_literals
from .document import Doc, lut_hits
from .rules import (LDict, Pattern, Where, check_examples, check_keys, expect, expect_str_list, stdlib_twin,
                    trie_regex)

_WORDS = ("title_endings", "speech_verbs", "speech_adverbs", "surnames", "name_stoplist", "question_labels",
          "answer_labels", "host_labels", "pronouns", "bodies", "presence_verbs")
_PATTERNS = ("reporter_label", "after_meeting_question", "speech_frame", "trailing_markup")
_FIELDS = ("speaker", "speaker_label", "speaker_role", "speaker_org", "kind", "cue")
_SEP = r"[ \t]*"
_STOP = r"\s,.:;!?。、“”()<>《》"          # characters a role or a speaker never contains (folded text)
_CLAUSE_END = r"\n。!?;:,"                  # a reported-speech subject (speaker + frame) never spans these


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table",) + _WORDS + _PATTERNS, optional=("notes",))
    r: dict = {}
    for key in _WORDS:
        rule = check_keys(data[key], w.at(data[key], key), required=("id", "words"),
                          optional=("examples", "counter", "note"))
        rw = w.at(rule, rule["id"])
        check_examples(rule, rw, _FIELDS)
        r[key] = expect_str_list(rule["words"], rw, "words")
    for key in _PATTERNS:
        rule = check_keys(data[key], w.at(data[key], key), required=("id", "pattern"),
                          optional=("examples", "counter", "note"))
        rw = w.at(rule, rule["id"])
        expect(rule["pattern"], str, rw, "pattern")
        check_examples(rule, rw, _FIELDS)
        r[key] = rule["pattern"]
    where = lambda rid: Where(path, rid)
    surnames = [s for s in r["surnames"] if s]
    r["surname_set"] = frozenset(s for s in surnames if len(s) == 1)
    r["surname2_set"] = frozenset(s for s in surnames if len(s) == 2)
    r["stop_set"] = frozenset(r["name_stoplist"])
    r["pronoun_set"] = frozenset(r["pronouns"])
    r["body_set"] = frozenset(r["bodies"])
    r["verb_set"] = frozenset(r["speech_verbs"])
    ends = trie_regex(r["title_endings"])
    role = rf"(?:[^{_STOP}]{{0,30}}?{ends}、)*[^{_STOP}]{{0,30}}?{ends}"
    r["role_re"] = role
    after = trie_regex(r["presence_verbs"] + r["speech_verbs"])
    # Patterns built here from word lists (a prefix tree of literals) and fixed code cannot
    # backtrack catastrophically: plain `regex`, no per-call timeout (it costs more than most
    # matches; a batch run's watchdog still covers them).
    # A pattern holding a rule's own regex (`reporter_label`, `speech_frame` …) is a `Pattern`.
    # `_fast`: a stdlib `re` twin where one is measured faster (below).
    # role + name in running text (lead, participant lists), anchored on the title ending; the
    # role's start is found by scanning back to punctuation (`_role_start`). Stdlib `re` skips
    # to a title word's first character fast (`regex` tries every position)
    _fast(r, "role_name", rf"{ends}(?P<name>\p{{Han}}{{2,3}}?)(?=[,.;:。、\s(<]|$|{after}|等)", re.M)
    # a role + name, whole: stdlib `re` (a fifth of the instructions: this backtracks a lot, over
    # the tree of endings at every lazy step)
    _fast(r, "role_full", rf"(?P<role>{role})(?P<name>\p{{Han}}{{2,3}})")
    # a caption: a line that is only role + name ({4,45}+ is possessive: giving back a character
    # cannot help, the next one would be another [^\s<>], never `<`, a space or the line end)
    _fast(r, "caption", rf"^{_SEP}(?:<[^>\n]{{1,40}}>)*(?P<line>[^\s<>]{{4,45}}+)(?:</[a-z]+>)*{_SEP}$", re.M)
    _fast(r, "host", rf"由(?P<role>{role})?(?P<name>\p{{Han}}{{2,3}}?)主持")
    r["title_person"] = regex.compile(rf"(?P<role>{role})(?P<name>\p{{Han}}{{2,3}}?)(?=主持|答|就|宣布|表示|发表|谈|在|:|$)")
    r["title_role"] = regex.compile(rf"(?P<role>{role})(?=主持|答|就|宣布|表示|发表|谈|:)")
    qa = trie_regex(r["question_labels"] + r["answer_labels"] + r["host_labels"])
    r["label"] = Pattern(
        rf"^{_SEP}(?:<[^>\n]{{1,40}}>)*(?P<label>(?P<after>{r['after_meeting_question']})|(?P<qa>{qa})(?=[ \t]*:)"
        rf"|(?P<reporter>{r['reporter_label']})|(?P<name>\p{{Han}}{{2,4}}))(?P<cue>[ \t]*:)",
        where("turn.label"), regex.M, stdlib=True)
    _fast(r, "bare", rf"^{_SEP}(?P<name>\p{{Han}}{{2,4}}){_SEP}$", re.M)
    r["heading"] = regex.compile(r"^[ \t]*#", regex.M)
    verbs = trie_regex(r["speech_verbs"])
    adv = trie_regex(r["speech_adverbs"])
    pre = rf"(?:{adv})?(?:{r['speech_frame']})?(?:{adv})?"
    cue = rf"{pre}{verbs}"
    # literals only: stdlib `re` finds it directly (see the scanners below)
    r["reported"] = re.compile(rf"(?P<verb>{verbs})(?P<sep>[,:])")
    # the subject runs from a clause start to the verb; it never spans a clause end (the frame
    # 在…中 excludes them too): so the search may start after the last one (`_subject`)
    # (stdlib `re` when it reads the frame alike: a third of the instructions, as `regex` sets up
    # each call at length; the look-behind in fixed widths, as `re` needs)
    # (?=…) before `pre`: a speaker may end only where `pre` can start (or at the verb), so
    # each longer speaker tried costs a character test, not a pass through the frame
    firsts = _pre_firsts(r["speech_adverbs"], r["speech_frame"])
    gate = rf"(?=[{firsts}]|\Z)" if firsts else ""
    _fast(r, "subject", r"(?:^|(?<=[\n。!?;:,>])|(?<=[。!?]”))(?=[^" + _CLAUSE_END + r"]*\Z)[ \t]*"
          rf"(?P<sp>[^{_STOP}]{{1,24}}?){gate}(?P<pre>{pre})\Z")
    # to the last clause end (greedy, then back): fewer instructions than a REVERSE `regex`
    # search or a str.rfind per character, as call overhead dominates on these short spans
    r["clause_cut"] = re.compile(rf".*[{_CLAUSE_END}]", re.S).match
    # (?=…): a speech verb before the next clause end, else no speaker + cue can follow (fast fail)
    head = rf"“(?P<q>[^“”\n]{{2,600}})”,?"
    quote = rf"{head}(?=[^{_CLAUSE_END}]*?{verbs})"
    r["quote_first"] = Pattern(rf"{quote}(?P<sp>[^{_STOP}]{{1,24}}?)(?P<cue>{cue})(?=[。,.]|$)",
                               where("turn.quote_first"), regex.M, stdlib=True)
    r["trailing"] = regex.compile(r["trailing_markup"])
    r["trailing_needs"] = required_literals(r["trailing_markup"])     # `<`: most turns hold no markup
    # scanners (stdlib `re`, far faster at finding literals): each finds the places where its
    # pattern can start, and the pattern itself is then tried only there (`_each`)
    r["ends_scan"] = re.compile(trie_regex(r["title_endings"]))
    # the lines a caption can be, as `caption` reads them but with a wider class (spaces: ASCII
    # only; regex's \s holds more), so every caption line is among them; `\n` first: fast
    r["caption_scan"] = re.compile(r"\n(?=[ \t]*(?:<[^>\n]{1,40}>)*[^\t\n\v\f\r <>]{4,45}+(?:</[a-z]+>)*[ \t]*"
                                   r"(?:\n|\Z))")
    # quote_first's head: a quotation, a verb in its clause; each place in the clause is first
    # tested for a verb's first character (one charset test), before the tree of verbs
    firsts = "".join(sorted({re.escape(w[0]) for w in r["speech_verbs"] if w}))
    r["quote_scan"] = re.compile(rf"{head}(?=[^{_CLAUSE_END}]*?(?=[{firsts}]){verbs})" if firsts else quote)
    r["bare_scan"] = re.compile(r"\n(?=[ \t]*\S{2,4}[ \t]*(?:\n|\Z))")
    r["role_cut"] = regex.compile(rf"[{_STOP.replace('、', '')}由]", regex.REVERSE)
    r["classes"], r["verb_lens"] = _class_table(r)
    return r


def _pre_firsts(adverbs: list[str], frame: str) -> str | None:
    """The characters a non-empty match of `(?:adverb)?(?:frame)?(?:adverb)?` starts with, as the
    inside of a character class; None when unknown (an empty adverb, or a frame not known to
    start each match with one of some strings: dates.anchor reads that off the pattern)."""
    a = anchor(frame)
    if not adverbs or not all(adverbs) or a is None or a[1:] != (0, 0) or not all(a[0]):
        return None
    return "".join(sorted({re.escape(w[0]) for w in adverbs} | {re.escape(w[0]) for w in a[0]}))


# bits of the character classes (`_class_table`): what a character can be in the two scans.
# A bit and the one above it are read as pairs of neighbours (`_class_starts`): a first character
# of an ending then a second; a verb's last character then a sep
_END1, _END2, _VERB_LAST, _SEP_BIT = 1, 2, 4, 8


def _class_table(r: dict):
    """A table over code points (numpy, indexed by the character) of the bits above: first or
    second character of a title ending, last character of a speech verb, `,` / `:`. Both
    scans (`_class_starts`) read it on the text's characters at once, where a
    stdlib charset scan tests them one by one (about half of this stage's regex time).
    verb_lens: the verbs' lengths, longest first; None when a verb is empty or holds `,` / `:`
    (a sep would no longer end the verb: `_verb_seps` falls back to the pattern)."""
    table = np.zeros(sys.maxunicode + 1, np.uint8)
    ends = [w for w in r["title_endings"] if w]
    if all(len(w) >= 2 for w in ends):
        for w in ends:
            table[ord(w[0])] |= _END1
            table[ord(w[1])] |= _END2
    else:                                   # a one-character ending: every character may start one
        table |= _END1 | _END2
    verbs = r["speech_verbs"]
    for w in verbs:
        if w:
            table[ord(w[-1])] |= _VERB_LAST
    table[[ord(","), ord(":")]] |= _SEP_BIT
    plain = verbs and all(w and "," not in w and ":" not in w for w in verbs)
    if not table[0xFFFF:].any():            # the usual case: the words are all in the BMP
        table = table[:0xFFFF + 1].copy()    # 64 KB, not 1.1 MB: stays in the cache
    return table, (sorted({len(w) for w in verbs}, reverse=True) if plain else None)


def _fast(r: dict, key: str, source: str, flags: int = 0) -> None:
    """r[key]: `source` compiled for stdlib `re` where `re` reads it as `regex` does
    (rules.stdlib_twin writes \\p{Han}, \\s ... out as `regex`'s classes), else for `regex`. For
    the patterns built here where `re` is measured faster on the calls this stage makes.
    r["fast_sources"] keeps each source (tests match them with `regex` too)."""
    r.setdefault("fast_sources", {})[key] = (source, flags)
    r[key] = stdlib_twin(source, flags) or regex.compile(source, flags)


# --- people -------------------------------------------------------------------------------------
_HAN = regex.compile(r"\p{Han}+")
_TAG = regex.compile(r"<[^>]*>")
_TITLE_DATE = regex.compile(r"^[\d年月日\s#]+")


def _is_name(s: str, r: dict) -> bool:
    """A plausible Chinese personal name: 2-4 Han characters starting with a surname, not a stop word."""
    if not 2 <= len(s) <= 4 or s in r["stop_set"]:
        return False
    surname = (s[:2] in r["surname2_set"] and len(s) >= 3) or (s[0] in r["surname_set"] and len(s) <= 3)
    return surname and _HAN.fullmatch(s) is not None


_ORG_CACHE: dict = {}
_ROLE_CACHE: dict = {}


def _role_full(s: str, r: dict) -> tuple[int, str] | None:
    """(end of the role, name) when s is wholly role + name, cached: the pattern backtracks a
    lot and the same captions and speakers (`外交部发言人汪文斌`) come back in every document."""
    key = (id(r), s)
    hit = _ROLE_CACHE.get(key, False)
    if hit is False:
        m = r["role_full"].fullmatch(s)
        hit = (m.end("role"), m.group("name")) if m else None
        if len(_ROLE_CACHE) > 20_000:                    # memory must not grow with the corpus
            _ROLE_CACHE.clear()
        _ROLE_CACHE[key] = hit
    return hit


def _find_orgs(text: str, org_rules: dict) -> tuple:
    """organisations.find_orgs(text), cached: a briefing repeats the same roles, outlets and
    bodies hundreds of times."""
    key = (id(org_rules), text)
    found = _ORG_CACHE.get(key)
    if found is None:
        find = getattr(organisations, "find_orgs", None)
        try:
            found = tuple(find(text, org_rules)) if find is not None else ()
        except Exception:                   # pragma: no cover - a neighbour stage mid-change
            found = ()
        if len(_ORG_CACHE) > 50_000:
            _ORG_CACHE.clear()
        _ORG_CACHE[key] = found
    return found


def _org_of(role: str, start: int | None, doc: Doc, org_rules: dict) -> str | None:
    """The first organisation inside a role (`湖北省委副书记、省长` -> 中国共产党湖北省委员会)."""
    found = _find_orgs(role, org_rules)
    if found:
        return min(found)[2]
    if start is not None:
        rows = doc.rows.get("organisations", [])       # resolved: sorted by start
        i = bisect.bisect_left(rows, start, key=lambda o: o["start"])
        if i < len(rows) and rows[i]["start"] < start + len(role):
            return rows[i]["name"]
    return None


def _outlet(label: str, doc: Doc, org_rules: dict) -> str | None:
    """The outlet of a reporter label (`新华网记者` -> 新华网), canonical when it is one organisation."""
    outlet = label[:-2] if label.endswith("记者") else label
    outlet = outlet.strip("《》 ")
    if not outlet:
        return None
    whole = [f for f in _find_orgs(outlet, org_rules) if f[0] == 0 and f[1] == len(outlet)]
    return whole[0][2] if whole else outlet


class People:
    """Names with their role (and where the role was written), from captions, lead and title."""

    def __init__(self) -> None:
        self.role: dict[str, tuple[str, int | None]] = {}

    def add(self, name: str, role: str | None, pos: int | None, prefer: bool = False) -> None:
        if role and (prefer or name not in self.role or not self.role[name][0]):
            self.role[name] = (role, pos)
        elif name not in self.role:
            self.role[name] = ("", None)

    def __contains__(self, name: str) -> bool:
        return name in self.role


def _people(doc: Doc, r: dict, mains: Mains, role_starts: list[int]) -> tuple[People, str | None, set[int]]:
    """People of the document, the host's name, and the line starts of captions."""
    people = People()
    folded = doc.folded
    captions: set[int] = set()
    host = None
    lo, hi = mains[0][0], mains[-1][1]
    for m, s, e in _each(r["caption"], folded, mains, _caption_lines(folded, r, lo, hi)):
        c = _role_full(m.group("line"), r)
        if c and _is_name(c[1], r):
            rs = m.start("line")
            people.add(c[1], doc.text[rs:rs + c[0]], rs, prefer=True)
            captions.add(m.start())
    for m, s, e in _each(r["role_name"], folded, mains, role_starts):
        name = m.group("name")
        if _is_name(name, r) and name not in people:
            rs = _role_start(folded, m.start(), s, r)
            people.add(name, doc.text[rs:m.start("name")], rs)
    if folded.find("主持", lo, hi) >= 0:                   # the host pattern ends with 主持
        for m, s, e in _each(r["host"], folded, mains, _find_all(folded, "由", lo, hi)):
            if _is_name(m.group("name"), r):
                host = m.group("name")
                people.add(host, m.group("role") and doc.text[m.start("role"):m.end("role")], m.start("role"))
    return people, host, captions


# --- scanning -----------------------------------------------------------------------------------
# The regex module tries a pattern at every position of the text (5-30 M chars/s for the patterns
# here). Each pattern can only start where something cheap to find is: a title word, a `:` on the
# line, a `“`, a speech verb before `,`. Those places are found with str.find or stdlib `re`
# (100+ M chars/s) and the rule pattern is tried only there, with the same bounds: the matches are
# exactly those of `pat.finditer(folded, lo, hi)`.
class Mains(list):
    """The main blocks turns are found in: (start, end) spans in order, each from the start of
    its first line; `starts` lists their starts (for bisect)."""

    def __init__(self, spans: list[tuple[int, int]]):
        super().__init__(spans)
        self.starts = [s for s, e in spans]


def _each(pat, folded: str, mains: Mains, starts):
    """Matches of `pat` over the main blocks, tried at `starts` (sorted, every place a match can
    start); yields (match, block start, block end) for matches inside one main block.
    The matches are exactly those of pat.finditer(folded, lo, hi) that lie in a main block."""
    lo, hi = mains[0][0], mains[-1][1]
    if isinstance(pat, Pattern):
        match = pat.hot("match", folded)
    else:
        match = pat.match
    bstarts, right = mains.starts, bisect.bisect_right
    cur = lo
    for p in starts:
        if p < cur or p >= hi:
            continue
        try:
            m = match(folded, p, hi)
        except TimeoutError:
            raise pat.timeout_error() from None
        if m:
            e = m.end()
            cur = e if e > p else p + 1
            i = right(bstarts, p) - 1                  # the match starts at p
            if i >= 0 and e <= mains[i][1]:
                yield m, mains[i][0], mains[i][1]


def _class_starts(text: str, lo: int, hi: int, r: dict) -> tuple[list[int], list[int]]:
    """In text[lo:hi], from the class bits (`_class_table`) of its characters: the places where
    a title ending's first two characters stand (every place `role_name` can match), and the
    `,` / `:` right after a verb's last character (every sep `reported` can match before).
    (A numpy call costs some 10 k instructions: it pays for these two scans of every
    character, not for the line scans below, which have few places to try.)"""
    # only characters with a class can start a pair; a code point past a BMP-only table reads
    # its last entry, 0
    at, cls, nxt = lut_hits(text, r["classes"], lo, hi)
    pair = cls & (nxt >> 1)                   # bit 0: _END1 then _END2; bit 2: _VERB_LAST then _SEP_BIT
    ends = at[(pair & _END1).view(bool)]      # 0/1 bytes viewed as bool
    seps = at[(pair >> 2).view(bool)] + 1
    return ends.tolist(), seps.tolist()


def _verb_seps(folded: str, seps: list[int], lo: int, hi: int, r: dict):
    """(start, end) of the verbs that `reported` finds in folded[lo:hi] (the `,` / `:` after
    each is at `end`), as its finditer does, from the candidate `seps`. A verb holds no sep, so
    each sep ends at most one match and matches cannot overlap: the leftmost start at a sep is
    its longest verb suffix."""
    lens, verbs = r["verb_lens"], r["verb_set"]
    if lens is None:
        for m in r["reported"].finditer(folded, lo, hi):
            yield m.start(), m.end("verb")
        return
    for q in seps:
        for n in lens:
            if q - n >= lo and folded[q - n:q] in verbs:
                yield q - n, q
                break


def _starts(scan: re.Pattern, text: str, lo: int, hi: int):
    """Every place (overlapping ones too) in [lo, hi) where `scan` matches."""
    m = scan.search(text, lo, hi)
    while m:
        yield m.start()
        m = scan.search(text, m.start() + 1, hi)


def _find_all(text: str, needle: str, lo: int, hi: int):
    p = text.find(needle, lo, hi)
    while p >= 0:
        yield p
        p = text.find(needle, p + 1, hi)


# Line starts of increasing positions are found by searching back only to the previous
# position (a search back to 0 every time is quadratic on a document that is one huge line).
def _colon_lines(text: str, lo: int, hi: int) -> list[int]:
    """The starts of the lines in [lo, hi) that hold a `:` (a transcript label ends with one)."""
    out: list[int] = []
    find, rfind, prev, ls = text.find, text.rfind, 0, 0
    p = find(":", lo, hi)
    while p >= 0:
        k = rfind("\n", prev, p)
        if k >= 0:
            ls = k + 1
        prev = p
        out.append(ls)
        nl = find("\n", p, hi)
        if nl < 0:
            break
        p = find(":", nl, hi)
    return out


def _caption_lines(text: str, r: dict, lo: int, hi: int) -> list[int]:
    """The starts of the lines in [lo, hi) that may be captions (lo too: `^` decides there)."""
    return [lo] + [m.end() for m in r["caption_scan"].finditer(text, lo, hi)]


def _short_lines(text: str, r: dict, lo: int, hi: int) -> list[int]:
    """The starts of the lines in [lo, hi) whose text is 2-4 characters (bare name lines)."""
    return [lo] + [m.end() for m in r["bare_scan"].finditer(text, lo, hi)]     # lo is a line start


def _heading_lines(text: str) -> list[int]:
    """The starts of the lines whose first character after spaces is `#` (as `^[ \t]*#`)."""
    out: list[int] = []
    rfind, prev, ls = text.rfind, 0, 0
    p = text.find("#")
    while p >= 0:
        k = rfind("\n", prev, p)
        if k >= 0:
            ls = k + 1
        prev = p
        if not text[ls:p].strip(" \t"):
            out.append(ls)
        nl = text.find("\n", p)
        if nl < 0:
            break
        p = text.find("#", nl)
    return out


def _role_start(folded: str, ending: int, floor: int, r: dict) -> int:
    """Where the role that ends with the title word at `ending` starts: back to punctuation or 由."""
    lo = max(floor, ending - 40)
    m = r["role_cut"].search(folded, lo, ending)           # the last character a role cannot hold
    return m.end() if m else lo


def _title_person(doc: Doc, r: dict) -> tuple[str | None, str | None]:
    """(name, role) of the person a briefing's title names: `…外交部发言人陆慷主持例行记者会`."""
    title = _TITLE_DATE.sub("", doc.title or "")       # the date heading a briefing's title
    if not r["ends_scan"].search(title):                # both patterns need a role: a title word
        return None, None
    m = r["title_person"].search(title)
    if m and _is_name(m.group("name"), r):
        return m.group("name"), m.group("role")
    m = r["title_role"].search(title)
    return None, (m.group("role") if m else None)


# --- turns --------------------------------------------------------------------------------------
def _main_spans(doc: Doc) -> list[tuple[int, int]]:
    """Each main block from the start of its first line, so that `^` holds after indentation,
    but never before the end of the block in front of it: several <p> paragraphs share one
    line, and a span reaching back over them made reported speech run across paragraphs."""
    text = doc.text
    out, prev_end, rfind = [], 0, text.rfind
    for b in doc.blocks:
        if b.label == "main" and b.reason not in _TITLE_REASONS:
            s = b.start
            if s > prev_end and text[s - 1] != "\n":       # most blocks start a line: no search
                s = rfind("\n", prev_end, s) + 1 or prev_end
            out.append((s, b.end))
        prev_end = b.end
    return out


_TITLE_REASONS = frozenset(("title", "front matter title"))


def extract(doc: Doc, rules: dict, org_rules: dict) -> None:
    r = rules
    mains = Mains(_main_spans(doc))
    if not mains:
        return
    role_starts, seps = _class_starts(doc.folded, mains[0][0], mains[-1][1], r)
    people, host, captions = _people(doc, r, mains, role_starts)
    tname, trole = _title_person(doc, r)
    if tname:
        people.add(tname, trole, None, prefer=tname not in people or not people.role[tname][0])
    turns = _transcript(doc, r, org_rules, mains, people, host, captions, tname, trole)
    turns += _reported(doc, r, org_rules, mains, people, turns, seps)
    turns.sort(key=lambda t: (t["text_start"], t["start"] if t["start"] is not None else -1))
    for i, t in enumerate(turns):
        t["turn_index"] = i
        doc.add("turns", t)


def _boundaries(doc: Doc, r: dict, events: list[int]) -> list[int]:
    """Positions where a turn's text must stop: other turns, captions, headings, non-main blocks."""
    out = list(events)
    out += [b.start for b in doc.blocks if b.label != "main"]
    out += _heading_lines(doc.folded)
    out.append(len(doc.text))
    return sorted(set(out))


def _end_before(doc: Doc, r: dict, start: int, stop: int) -> int:
    """The end of the last non-blank text in [start, stop), trailing markup (`</p>`) trimmed."""
    seg = doc.text[start:stop].rstrip()
    m = r["trailing"].search(seg) if _may_hold(seg, r["trailing_needs"]) else None
    if m and m.start() > 0:
        seg = seg[:m.start()].rstrip()
    return start + len(seg)


def _may_hold(text: str, needs: tuple[str, ...] | None) -> bool:
    """False when text lacks every string a pattern's match must contain (None: unknown)."""
    return needs is None or any(x in text for x in needs)


def _skip_space(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _transcript(doc, r, org_rules, mains, people, host, captions, tname, trole) -> list[dict]:
    folded, text = doc.folded, doc.text
    found = []            # (line_start, label_start, label_end, cue, text_start, type, label)
    lo, hi = mains[0][0], mains[-1][1]
    for m, s, e in _each(r["label"], folded, mains, _colon_lines(folded, lo, hi)):
        if True:
            kind = "after" if m.group("after") else "qa" if m.group("qa") else \
                "reporter" if m.group("reporter") else "name"
            label = m.group("label")
            if kind == "name" and not (label in people or _is_name(label, r)):
                continue
            cue_s = m.start("cue") + len(m.group("cue")) - 1
            found.append((m.start(), m.start("label"), m.end("label"), text[cue_s], _skip_space(text, m.end(), e),
                          kind, label))
    for m, s, e in _each(r["bare"], folded, mains, _short_lines(folded, r, lo, hi)):
        if True:
            name = m.group("name")
            if m.start() in captions or not (name in people or (_is_name(name, r) and found)):
                continue
            found.append((m.start(), m.start("name"), m.end("name"), None, _skip_space(text, m.end(), e),
                          "bare", name))
    if not found:
        return []
    found.sort()
    bounds = _boundaries(doc, r, [f[0] for f in found] + sorted(captions))
    turns: list[dict] = []
    asked = False
    last_q_org = None
    questions = {"after", "reporter"}
    for line_s, ls, le, cue, ts, kind, label in found:
        stop = bounds[bisect.bisect_right(bounds, line_s)]
        te = _end_before(doc, r, ts, stop)
        row = {"start": ls, "end": le, "speaker": None, "speaker_label": text[ls:le], "speaker_role": None,
               "speaker_org": None, "cue": cue, "text_start": ts, "text_end": max(ts, te)}
        is_q = kind in questions or (kind == "qa" and label in r["question_labels"])
        if is_q:
            org = None
            if kind == "reporter":
                org = _outlet(label, doc, org_rules)
            elif label.startswith("追问") or label == "记者追问":
                org = last_q_org
            row.update(speaker_role="记者", speaker_org=org, kind="question",
                       rule_id="turn.after_meeting_question" if kind == "after" else
                       "turn.reporter_label" if kind == "reporter" else "turn.question_label")
            last_q_org = org if kind == "reporter" else last_q_org
            asked = True
        else:
            if kind == "qa" and label in r["answer_labels"]:
                name, role = tname, trole
                rid = "turn.answer_label"
            elif kind == "qa":                                  # 主持人
                name, role = host, people.role.get(host, ("", None))[0] if host else None
                rid = "turn.host_label"
            else:
                name = label
                role = people.role.get(name, ("", None))[0] or (trole if name == tname else None)
                rid = "turn.bare_name" if kind == "bare" else "turn.name_label"
            pos = people.role.get(name, ("", None))[1] if name else None
            row.update(speaker=name, speaker_role=role or None,
                       speaker_org=_org_of(role, pos, doc, org_rules) if role else None,
                       kind="opening" if not asked else "statement" if (name and name == host) or
                       (kind == "qa" and label in r["host_labels"]) else "answer", rule_id=rid)
        turns.append(row)
        if is_q and (tname or trole):
            implicit = _unlabelled_answer(doc, r, org_rules, row, tname, trole)
            if implicit:
                turns.append(implicit)
    opening = _unlabelled_opening(doc, r, org_rules, mains, turns, tname, trole, bounds)
    return ([opening] if opening else []) + turns


def _unlabelled_answer(doc, r, org_rules, q: dict, tname, trole) -> dict | None:
    """In a spokesperson's briefing a question is one paragraph: unlabelled lines after it are the
    spokesperson's answer whose `答:` the source dropped (start/end null)."""
    text = doc.text
    nl = text.find("\n", q["text_start"], q["text_end"])
    if nl < 0:
        return None
    ts = _skip_space(text, nl, q["text_end"])
    te = q["text_end"]
    q["text_end"] = _end_before(doc, r, q["text_start"], nl)
    return {"start": None, "end": None, "speaker": tname, "speaker_label": None, "speaker_role": trole,
            "speaker_org": _org_of(trole, None, doc, org_rules) if trole else None, "kind": "answer",
            "cue": None, "text_start": ts, "text_end": te, "rule_id": "turn.answer_unlabelled"}


def _unlabelled_opening(doc, r, org_rules, mains, turns, tname, trole, bounds) -> dict | None:
    """A spokesperson's announcements before the first question, with no label (SPEC)."""
    if not (tname or trole) or not turns or turns[0]["kind"] != "question":
        return None
    first = doc.text.rfind("\n", 0, turns[0]["start"]) + 1          # the first question's line
    ts = next((_skip_space(doc.text, s, e) for s, e in mains if s < first), None)
    if ts is None:
        return None
    stop = bounds[bisect.bisect_right(bounds, ts)]
    te = _end_before(doc, r, ts, stop)
    if te <= ts:
        return None
    return {"start": None, "end": None, "speaker": tname, "speaker_label": None, "speaker_role": trole,
            "speaker_org": _org_of(trole, None, doc, org_rules) if trole else None, "kind": "opening",
            "cue": None, "text_start": ts, "text_end": te, "rule_id": "turn.opening_unlabelled"}


# --- reported speech ----------------------------------------------------------------------------
def _reported(doc, r, org_rules, mains, people, transcript, seps) -> list[dict]:
    folded, text = doc.folded, doc.text
    covered = sorted((t["text_start"], t["text_end"]) for t in transcript)
    cstarts = [c[0] for c in covered]

    def inside_turn(pos: int) -> bool:
        i = bisect.bisect_right(cstarts, pos) - 1
        return i >= 0 and covered[i][0] <= pos < covered[i][1]

    cands = []     # (label_start, label_end, cue_start, cue_end, text_start, text_end or None, block span)
    lo, hi = mains[0][0], mains[-1][1]
    bstarts, right = mains.starts, bisect.bisect_right
    for vs, ve in _verb_seps(folded, seps, lo, hi, r):
        i = right(bstarts, vs) - 1
        if i < 0 or ve + 1 > mains[i][1] or inside_turn(vs):      # the match is verb + sep
            continue
        bs, be = mains[i]
        sub = _subject(folded, max(bs, vs - 60), vs, r)
        if sub:
            cands.append((*sub, ve, _skip_space(text, ve + 1, be), None, bs, be))
    for m, bs, be in _each(r["quote_first"], folded, mains, _starts(r["quote_scan"], folded, lo, hi)):
        if not inside_turn(m.start()):
            cands.append((m.start("sp"), m.end("sp"), m.start("cue"), m.end("cue"), m.start("q"), m.end("q"),
                          bs, be))
    if not cands:
        return []
    cands.sort()
    # named and institutional speakers first (they add people), then pronouns against them
    org_at: dict = {}                       # resolved organisation rows by span, the first one wins
    for o in doc.rows.get("organisations", []):
        org_at.setdefault((o["start"], o["end"]), o["name"])
    pronoun = [text[c[0]:c[1]] in r["pronoun_set"] for c in cands]
    whos = [None if p else _speaker(text[c[0]:c[1]], c[0], c[6], doc, r, org_rules, people, org_at)
            for c, p in zip(cands, pronoun)]
    if any(pronoun):
        names_seen = _name_positions(doc, people)
        bstarts = mains.starts
        for i, c in enumerate(cands):
            if pronoun[i]:
                j = bisect.bisect_left(names_seen, (c[0], "")) - 1
                # the antecedent must be near: in this paragraph or the one before (else unknown: no turn)
                k = bisect.bisect_right(bstarts, c[6]) - 1
                near = bstarts[k - 1] if k >= 1 else 0
                if j >= 0 and names_seen[j][0] >= near:
                    whos[i] = (*_person(names_seen[j][1], doc, org_rules, people), "turn.reported_pronoun")
    accepted = [(c, w) for c, w in zip(cands, whos) if w is not None]
    # label starts, sorted: the next turn after a position is found by bisection, not by a scan
    # of every later turn (which made long documents quadratic)
    later_starts = sorted([a[0][0] for a in accepted] + [t["start"] for t in transcript if t["start"]])
    out = []
    for i, ((ls, le, cs, ce, ts, te, bs, be), who) in enumerate(accepted):
        if te is None and ts >= be:
            # `X宣布：` ending its paragraph: the statement is the following paragraph(s), up to the
            # next turn or the next non-main block
            k = bisect.bisect_right(later_starts, ts)
            stop = min(later_starts[k] if k < len(later_starts) else len(text), _next_non_main(doc, ts))
            ts = _skip_space(text, ts, stop)
            te = _end_before(doc, r, ts, stop)
        elif te is None:
            stop = be                     # the next plain statement in this block (sorted: contiguous)
            for a in accepted[i + 1:]:
                if a[0][6] != bs:
                    break
                if a[0][0] > ts and a[0][5] is None:
                    stop = a[0][0]
                    break
            te = _end_before(doc, r, ts, stop)
        name, role, org, rid = who
        out.append({"start": ls, "end": le, "speaker": name, "speaker_label": text[ls:le], "speaker_role": role,
                    "speaker_org": org, "kind": "reported_speech", "cue": text[cs:ce],
                    "text_start": ts, "text_end": max(ts, te), "rule_id": rid})
    return out


_SUBJECT_CACHE: dict = {}


def _subject(folded: str, lo: int, verb: int, r: dict) -> tuple[int, int, int] | None:
    """(speaker start, speaker end, frame start) before the speech verb at `verb`, searched back
    to `lo`. A match cannot hold a clause end, so it starts after the last one: the search
    starts there. The answer depends only on the text searched and the two characters before
    it (the pattern's look-behind; `^` at the text's start): it is cached on those, since the
    same subjects (`<p>习近平`, `。他`) come back in every document."""
    cut = r["clause_cut"](folded, lo, verb)
    s = cut.end() if cut else lo
    key = (id(r), folded[max(0, s - 2):s], folded[s:verb])
    hit = _SUBJECT_CACHE.get(key, False)
    if hit is False:
        m = r["subject"].search(folded, s, verb)
        hit = None if m is None else (m.start("sp") - s, m.end("sp") - s, m.start("pre") - s)
        if len(_SUBJECT_CACHE) > 20_000:                 # memory must not grow with the corpus
            _SUBJECT_CACHE.clear()
        _SUBJECT_CACHE[key] = hit
    return None if hit is None else (s + hit[0], s + hit[1], s + hit[2])


def _next_non_main(doc: Doc, pos: int) -> int:
    i = bisect.bisect_left([b.start for b in doc.blocks], pos)
    for b in doc.blocks[i:]:
        if b.label != "main":
            return b.start
    return len(doc.text)


def _person(name: str, doc: Doc, org_rules: dict, people: "People"):
    role, pos = people.role.get(name, ("", None))
    return name, role or None, _org_of(role, pos, doc, org_rules) if role else None


FEW_NAMES = 32


def _name_positions(doc: Doc, people: People) -> list[tuple[int, str]]:
    """(start, name) of the names in the text as a scan for any of them finds them: leftmost,
    then longest, never overlapping. Found with str.find: compiling a pattern of each
    document's names cost far more than the search."""
    folded, found = doc.folded, []
    names = [n for n in people.role if n]
    if len(names) > FEW_NAMES:       # one str.find pass per name would be quadratic in a long text
        pat = re.compile(trie_regex(names))        # literal words: stdlib re, no timeout needed
        return [(m.start(), m.group()) for m in pat.finditer(folded)]
    for name in names:
        if name:
            p = folded.find(name)
            while p >= 0:
                found.append((p, -len(name), name))
                p = folded.find(name, p + 1)
    found.sort()
    out, end = [], 0
    for p, neg_len, name in found:
        if p >= end:
            out.append((p, name))
            end = p - neg_len
    return out


def _speaker(sp: str, ls: int, bs: int, doc: Doc, r: dict, org_rules: dict, people: People, org_at: dict):
    """(speaker, role, org, rule_id) for a reported-speech subject, or None when it is not a speaker."""
    person = lambda name: _person(name, doc, org_rules, people)
    if sp in people or _is_name(sp, r):
        if sp not in people:
            people.add(sp, None, None)
        return (*person(sp), "turn.reported_speech")
    m = _role_full(sp, r) if r["ends_scan"].search(sp) else None      # a role has a title word
    if m and _is_name(m[1], r):
        people.add(m[1], sp[:m[0]], ls)
        return (*person(m[1]), "turn.reported_speech")
    # a body heading its paragraph: 会议指出 / 国务院强调
    head = doc.text[bs:ls].strip()          # text before it, unless only markup (`<p>`)
    if head and (head[0] != "<" or head[-1] != ">" or _TAG.sub("", head).strip()):
        return None
    if sp in r["body_set"]:
        return None, None, sp, "turn.reported_body"
    org = _whole_org(sp, ls, org_at, org_rules)
    if org:
        return None, None, org, "turn.reported_body"
    return None


def _whole_org(sp: str, ls: int, org_at: dict, org_rules: dict) -> str | None:
    """The organisation the subject is, whole: a resolved row at that span, or find_orgs on it."""
    if (ls, ls + len(sp)) in org_at:
        return org_at[ls, ls + len(sp)]
    for s, e, name, kind in _find_orgs(sp, org_rules):
        if s == 0 and e == len(sp):
            return name
    return None
