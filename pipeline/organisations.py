"""Organisations: a gazetteer plus a naming grammar (head + name part cut on word boundaries).

How a mention is found (rules/organisations.yaml says the same with examples):
- one lexicon of every gazetteer name, alias and HEAD (部, 局, 委员会, 大学, 日报 ...), as a trie
  matched on the reversed text (a regex for short texts, numpy arrays for long ones: the same
  matches), gives the longest name or head ending at each place;
- gazetteer: a name is kept where it starts and ends on jieba word boundaries (联合国 is not
  found inside 联合国际);
- grammar: for every head that ends a word, the name part is taken going left word by
  word while words can be part of a name (stop: jieba's verbs, prepositions, particles ...,
  titles and determiners of the rules file). Weak heads need an anchor (place, prefix, known
  organisation) in the name part; a span ending in a title-like unit (党委, 党组) is dropped.
All candidates go to the resolve stage, which keeps the longest of overlapping ones.

`find_orgs(text, rules)` runs the same on a plain string (a speaker caption) for other stages.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from operator import itemgetter

import numpy as np
import regex

from .document import Doc, Tokens, code_points
from .native import cjieba
from .records import ORG_KINDS
from .rules import (LDict, Pattern, Where, trie_regex, check_examples, check_keys, expect, expect_enum,
                    expect_str_list)

TABLE = "organisations"
FIELDS = ("name", "kind")
MAX_NAME_CHARS = 32     # the longest name the grammar builds
NAMED_REACH = 16        # a `named` head's known name starts at most this far before it
                        # (联合国工业发展|组织): a cheap test before the left edge


# --- compiling ----------------------------------------------------------------------------------
def _first_chars(words) -> frozenset | None:
    """The first characters of the words: a cheap test before a search for them (None when a
    word is empty, which would match anywhere)."""
    return None if any(not w for w in words) else frozenset(w[0] for w in words)


def _split_names(entry: str) -> list[str]:
    return [n.strip() for n in entry.split("|") if n.strip()]


def _jieba_tags(stop_pos: set[str], cross_pos: set[str]) -> tuple[set[str], set[str], set[str], set[str]]:
    """Words of jieba's dictionary whose tag ends a name (verbs, particles ...), those among them
    a loose edge may cross (verbs, adverbs ...), words tagged as places or organisations
    (anchors) and the organisations alone. Read once per Engine."""
    import jieba
    path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    stop, verbs, anchor, bodies = set(), set(), set(), set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            w, tag = parts[0], parts[2]
            if tag in stop_pos:
                stop.add(w)
                if tag in cross_pos:
                    verbs.add(w)
            elif tag in ("ns", "nt") and len(w) > 1:
                anchor.add(w)
                if tag == "nt":
                    bodies.add(w)
    return stop, verbs, anchor, bodies


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "edge", "places", "prefixes", "inner", "subunits", "heads",
                                  "bare", "canonical", "kinds", "titles", "exclude", "gazetteer"), optional=("notes",))
    r: dict = {}

    # the left edge
    e = data["edge"]
    ew = w.at(e, e.get("id"))
    check_keys(e, ew, required=("id", "stop_pos", "cross_pos", "verbs", "name_words", "not_opening", "name_pattern",
                                "stop_words",
                                "hard_chars", "hard_pattern", "generic"),
               optional=("examples", "counter"))
    check_examples(e, ew, FIELDS)
    name_words = set(expect_str_list(e["name_words"], ew, "name_words"))
    jstop, jverbs, janchor, r["bodies"] = _jieba_tags(set(expect_str_list(e["stop_pos"], ew, "stop_pos")),
                                         set(expect_str_list(e["cross_pos"], ew, "cross_pos")))
    more_verbs = set(expect_str_list(e["verbs"], ew, "verbs"))
    r["stop"] = (jstop - name_words) | set(expect_str_list(e["stop_words"], ew, "stop_words")) | more_verbs
    r["cross"] = (jverbs - name_words) | more_verbs
    r["name_pat"] = Pattern(e["name_pattern"], ew, stdlib=True)
    r["not_opening"] = tuple(expect_str_list(e["not_opening"], ew, "not_opening"))
    r["not_opening_first"] = _first_chars(r["not_opening"])
    r["generic"] = set(expect_str_list(e["generic"], ew, "generic"))
    r["generic_first"] = frozenset(x[0] for x in r["generic"] if x)
    r["hard_pat"] = Pattern(e["hard_pattern"], ew, stdlib=True)
    r["hard_stop"] = set(expect_str_list(e["stop_words"], ew, "stop_words")) | \
        set(expect_str_list(e["hard_chars"], ew, "hard_chars"))

    # places
    p = data["places"]
    pw = w.at(p, p.get("id"))
    check_keys(p, pw, required=("id", "provinces", "cities", "countries", "suffixes"),
               optional=("examples", "counter"))
    check_examples(p, pw, FIELDS)
    province_of: dict[str, str] = {}          # any written form -> full name
    for entry in expect_str_list(p["provinces"], pw, "provinces"):
        names = _split_names(entry)
        for n in names:
            province_of[n] = names[0]
    cities = expect_str_list(p["cities"], pw, "cities")
    city_of = {c: c + "市" for c in cities} | {c + "市": c + "市" for c in cities}
    countries = expect_str_list(p["countries"], pw, "countries")
    suffixes = expect_str_list(p["suffixes"], pw, "suffixes")
    r["province_of"], r["city_of"] = province_of, city_of
    r["province_rx"] = re.compile(trie_regex(province_of))
    r["city_rx"] = re.compile(trie_regex(city_of))
    r["place_suffixes"] = tuple(sorted(suffixes, key=len, reverse=True))
    places = set(province_of) | set(city_of) | set(countries)
    r["places"] = places
    r["stop"] -= places                               # 大同 (a city jieba tags as an adverb)
    r["cross"] -= places

    # prefixes
    pf = data["prefixes"]
    pfw = w.at(pf, pf.get("id"))
    check_keys(pf, pfw, required=("id", "words"), optional=("examples", "counter"))
    check_examples(pf, pfw, FIELDS)
    prefixes = set(expect_str_list(pf["words"], pfw, "words"))

    # inner parts and sub-unit short forms
    inn = data["inner"]
    iw = w.at(inn, inn.get("id"))
    check_keys(inn, iw, required=("id", "words", "abbreviations"), optional=("examples", "counter"))
    check_examples(inn, iw, FIELDS)
    inner = expect_str_list(inn["words"], iw, "words")
    # inner parts joined by 和 / 与 (经济和信息化, 物流与采购): the joining word is not a stop there
    r["inner_and"] = {}                          # the joining character -> (inner part, its offset)
    for x in inner:
        for i, ch in enumerate(x):
            if ch in "和与":
                r["inner_and"].setdefault(ch, []).append((x, i))
    expect(inn["abbreviations"], dict, iw, "abbreviations")
    inner_abbr = {k: v for k, v in inn["abbreviations"].items() if k != v}
    su = data["subunits"]
    sw = w.at(su, su.get("id"))
    check_keys(su, sw, required=("id", "abbreviations"), optional=("examples", "counter"))
    check_examples(su, sw, FIELDS)
    expect(su["abbreviations"], dict, sw, "abbreviations")
    sub_abbr = {k: v for k, v in su["abbreviations"].items() if k != v}

    # heads
    # word -> (kind, strength, inherit, place_alone, rule id, named_kinds)
    heads: dict[str, tuple] = {}
    for h in expect(data["heads"], list, w, "heads"):
        hw = w.at(h, h.get("id"))
        check_keys(h, hw, required=("id", "kind", "strength", "inherit", "place_alone", "words"),
                   optional=("named_kinds", "examples", "counter"))
        check_examples(h, hw, FIELDS)
        kind = expect_enum(h["kind"], ORG_KINDS, hw, "kind")
        weak = expect_enum(h["strength"], ("weak", "strong", "named"), hw, "strength")
        weak = None if weak == "strong" else weak
        # named_kinds: the known name must be of these kinds (央视新闻: a media brand); such a
        # name is kept as written, it is the outlet's own name
        named_kinds = frozenset(expect_enum(k, ORG_KINDS, hw, "named_kinds")
                                for k in expect_str_list(h.get("named_kinds", []), hw, "named_kinds"))
        for word in expect_str_list(h["words"], hw, "words"):
            if word in heads:
                raise hw.error(f"head {word!r} is listed twice")
            heads[word] = (kind, weak, expect(h["inherit"], bool, hw, "inherit"),
                           expect(h["place_alone"], bool, hw, "place_alone"), h["id"], named_kinds)
    r["heads"] = heads

    # bare forms
    b = data["bare"]
    bw = w.at(b, b.get("id"))
    check_keys(b, bw, required=("id", "forms"), optional=("examples", "counter"))
    check_examples(b, bw, FIELDS)
    r["bare"] = {}
    for form, spec in expect(b["forms"], dict, bw, "forms").items():
        check_keys(spec, bw, required=("name", "kind"))
        r["bare"][form] = (spec["name"], expect_enum(spec["kind"], ORG_KINDS, bw, "kind"))

    # canonical rewriting rules
    place_rx = r"\p{Han}{1,12}?(?:" + "|".join(regex.escape(s) for s in r["place_suffixes"]) + ")"
    r["canonical"] = []
    for c in expect(data["canonical"], list, w, "canonical"):
        cw = w.at(c, c.get("id"))
        check_keys(c, cw, required=("id", "needs", "pattern", "replace"), optional=("examples", "counter"))
        check_examples(c, cw, FIELDS)
        pat = Pattern(c["pattern"].replace("{P}", place_rx), cw)
        # `needs`: a literal the name must hold before the pattern is tried (speed)
        r["canonical"].append((pat.rx, c["replace"], expect(c["needs"], str, cw, "needs")))
    r["inner_abbr"] = inner_abbr
    r["inner_abbr_rx"] = re.compile("(?:(?<=^)|(?<=省|市|县|区|州|部))(?:" + trie_regex(inner_abbr) +
                                    ")(?=厅|局|委员会|委|办)") if inner_abbr else None
    r["sub_abbr"] = sub_abbr
    r["sub_abbr_rx"] = re.compile(trie_regex(sub_abbr)) if sub_abbr else None

    # kinds told by the name
    kd = data["kinds"]
    kw = w.at(kd, kd.get("id"))
    check_keys(kd, kw, required=("id", "party_words", "not_party_words", "not_party_heads", "state_heads",
                                 "not_state_words"), optional=("examples", "counter"))
    check_examples(kd, kw, FIELDS)
    party_words = expect_str_list(kd["party_words"], kw, "party_words")
    # gate: a character of every party word (the last), which removing not_party_words cannot bring
    r["party_kind"] = {"rx": re.compile(trie_regex(party_words)),
                       "gate": re.compile("[" + "".join(sorted({re.escape(x[-1]) for x in party_words})) + "]"
                                          if party_words and all(party_words) else ""),
                       "not_rx": re.compile(trie_regex(expect_str_list(kd["not_party_words"], kw, "not_party_words"))),
                       "not_heads": set(expect_str_list(kd["not_party_heads"], kw, "not_party_heads"))}
    foreign = sorted((c for c in countries if c != "中国" and len(c) > 1), key=len, reverse=True)
    r["state_centre"] = {"heads": set(expect_str_list(kd["state_heads"], kw, "state_heads")),
                         "rx": re.compile(trie_regex(foreign)),
                         "not_rx": re.compile(trie_regex(expect_str_list(kd["not_state_words"], kw, "not_state_words")))}
    r["date_countries"] = {c for c in countries if c == "日"}

    # titles of newspapers after a country
    ti = data["titles"]
    tw = w.at(ti, ti.get("id"))
    check_keys(ti, tw, required=("id", "endings", "followed_by"), optional=("examples", "counter"))
    check_examples(ti, tw, FIELDS)
    multi = sorted((c for c in countries if len(c) > 1), key=len, reverse=True)
    ends_alt = "|".join(regex.escape(x) for x in sorted(expect_str_list(ti["endings"], tw, "endings"), key=len, reverse=True))
    after_alt = "|".join(regex.escape(x) for x in expect_str_list(ti["followed_by"], tw, "followed_by"))
    # country《title》: the country is looked up before each 《, the title matched from it
    r["title_countries"], r["title_country_max"] = set(multi), max(map(len, multi))
    r["title_country_last"] = {c[-1] for c in multi}
    r["title_rx"] = Pattern(rf"《(?P<t>[^《》\s]{{1,12}}(?:{ends_alt})|[^《》\s]{{2,12}}(?=》(?:{after_alt})))》", tw)

    # exclusions
    x = data["exclude"]
    xw = w.at(x, x.get("id"))
    check_keys(x, xw, required=("id", "words", "no_final", "not_after", "straddle", "not_initial", "overlap_heads"),
               optional=("examples", "counter"))
    check_examples(x, xw, FIELDS)
    r["exclude"] = set(expect_str_list(x["words"], xw, "words"))
    r["no_final"] = tuple(expect_str_list(x["no_final"], xw, "no_final"))
    r["not_after_rx"] = re.compile(trie_regex(expect_str_list(x["not_after"], xw, "not_after")))
    r["not_after_first"] = _first_chars(x["not_after"])
    r["straddle_rx"] = re.compile(trie_regex(expect_str_list(x["straddle"], xw, "straddle")))
    r["straddle_first"] = {word[0] for word in x["straddle"]}
    r["not_initial"] = tuple(expect_str_list(x["not_initial"], xw, "not_initial"))
    r["overlap_heads"] = set(expect_str_list(x["overlap_heads"], xw, "overlap_heads"))

    # gazetteer
    gaz: dict[str, tuple[str, str, str]] = {}          # written form -> (canonical, kind, rule id)
    for g in expect(data["gazetteer"], list, w, "gazetteer"):
        gw = w.at(g, g.get("id"))
        check_keys(g, gw, required=("id", "kind", "names"), optional=("examples", "counter"))
        check_examples(g, gw, FIELDS)
        kind = expect_enum(g["kind"], ORG_KINDS, gw, "kind")
        for entry in expect_str_list(g["names"], gw, "names"):
            names = _split_names(entry)
            for n in names:
                if n in gaz and gaz[n][0] != names[0]:
                    raise gw.error(f"gazetteer name {n!r} has two canonical names")
                gaz[n] = (names[0], kind, g["id"])
    r["gaz"] = gaz
    # The lexicon tries run with the standard `re` engine: five times faster than `regex` on
    # literal alternations, and a trie of literals cannot backtrack (no timeout needed).
    # It runs on the REVERSED text: names end in few characters (部, 局, 会, 报 ...) but start
    # with very common ones (中, 国, 人), so the reversed trie tries three times fewer positions.
    r["lex_rx"] = re.compile(trie_regex({x[::-1] for x in set(gaz) | set(heads)}))
    r["lex_trie"] = _lexicon_trie(set(gaz) | set(heads))
    r["lex_ctrie"] = _lexicon_ctrie(set(gaz) | set(heads))
    r["gaz_prefix_rx"] = re.compile(trie_regex(gaz))
    r["gaz_search_rx"] = r["gaz_prefix_rx"]
    r["party_heads_need_place"] = {"委"}

    # anchors: what makes a weak head's name part a real name
    # jieba's organisation words that end with a head (财政经济委员会): a whole body
    r["bodies"] = {b for b in r["bodies"] if _head_suffix(b, heads)}
    r["anchor_words"] = _Openers(places | prefixes | set(gaz) | janchor)
    suffix_alt = "|".join(re.escape(x) for x in sorted(suffixes, key=len, reverse=True))
    r["place_rx"] = re.compile(f".{{2,7}}?(?:{suffix_alt})")
    r["loose_anchor"] = _Openers(places | prefixes | set(gaz) | {a for a in janchor if a.endswith(tuple(suffixes))})
    r["canon_cache"] = {}
    r["judge_cache"] = {}
    r["word_flags"] = {}
    lexicon = set(gaz) | set(heads)
    r["word_info"] = {x: _word_info(x, gaz, heads) for x in lexicon}    # (cut-off words added: bounded)
    r["straddle_last"] = {x for x in lexicon if x[-1] in r["straddle_first"]}
    r["legal_forms"] = ("集团股份有限公司", "集团有限公司", "股份有限公司", "有限责任公司", "有限公司")
    return r


def lexicon_words(rules: dict) -> list[str]:
    """Real names for jieba: gazetteer names and aliases, provinces, cities (no patterns)."""
    return sorted(set(rules["gaz"]) | set(rules["province_of"]) | set(rules["city_of"]))


# --- word boundaries -----------------------------------------------------------------------------
class _Words:
    """jieba's word boundaries of one text as two byte maps, 1 where a word starts (`sb`) or ends
    (`eb`): built at numpy speed, no Python object per word; a word is named by its start and
    its neighbours are found with bytes.find / rfind. Without tokens every character is a word
    (a plain string such as a caption). Words do not overlap and are not empty."""

    __slots__ = ("folded", "sb", "eb")

    def __init__(self, tokens, folded):
        self.folded = folded
        n = len(folded)
        if tokens is None or len(tokens) == 0:
            self.sb, self.eb = b"\x01" * n + b"\x00", b"\x00" + b"\x01" * n
            return
        if not isinstance(tokens, Tokens):
            tokens = Tokens([s for s, _ in tokens], [e for _, e in tokens])
        starts, ends = tokens.starts, tokens.ends
        sb = np.zeros(n + 1, dtype=np.uint8)
        sb[starts] = 1
        # words follow one another: a word ends where the next starts, except before a gap
        # (white space), so eb is sb moved over the few gaps (cheaper than a second scatter)
        gap = (starts[1:] != ends[:-1]).nonzero()[0]
        eb = sb.copy()
        eb[starts[0]] = 0
        eb[starts.take(gap + 1)] = 0
        eb[ends.take(gap)] = 1
        eb[ends[-1]] = 1
        self.sb, self.eb = sb.tobytes(), eb.tobytes()

    def starts_word(self, pos: int) -> bool:
        return self.sb[pos] == 1

    def containing(self, pos: int) -> int | None:
        """The start of the word holding pos, or None (a blank)."""
        s = self.sb.rfind(1, 0, pos + 1)
        return s if s >= 0 and self.eb.find(1, s + 1) > pos else None


# --- extraction ----------------------------------------------------------------------------------
def extract(doc: Doc, rules: dict) -> None:
    rows = _candidates(doc.folded, doc.text, doc.tokens, rules)
    doc_id = doc.doc_id
    for row in rows:
        row["doc_id"] = doc_id
    doc.rows.setdefault(TABLE, []).extend(rows)


def find_orgs(text: str, rules: dict, tokens: list[tuple[int, int]] | None = None) -> list[tuple[int, int, str, str]]:
    """Organisations in a plain string, e.g. a role caption `武汉市人民政府副秘书长`.

    Returns non-overlapping (start, end, name, kind) in text order; of overlapping candidates the
    longest wins (as in the resolve stage). Without `tokens` (jieba word spans of `text`) every
    character is a word boundary, which suits short captions. Bare forms (省委) are named with
    the places written in `text` itself.
    """
    from .document import fold_width
    rows = sorted(_candidates(fold_width(text), text, tokens or [], rules),
                  key=lambda r: (-(r["end"] - r["start"]), -r["priority"], r["start"]))
    kept: list[dict] = []
    for r in rows:
        if all(r["end"] <= k["start"] or r["start"] >= k["end"] for k in kept):
            kept.append(r)
    return [(r["start"], r["end"], r["name"], r["kind"]) for r in sorted(kept, key=lambda r: r["start"])]


def _candidates(folded: str, text: str, tokens, rules: dict) -> list[dict]:
    """One pass of the lexicon trie (gazetteer names and heads) over the text: the longest
    name or head ending at each place."""
    words = _Words(tokens, folded)
    gaz, heads = rules["gaz"], rules["heads"]
    if len(rules["word_flags"]) > 50_000:    # bounded: memory must not grow with the corpus
        rules["word_flags"].clear()
    accepted: dict[int, str] = {}                     # end -> kind of names accepted so far
    ends: list[int] = []                              # the same ends, in text order
    out: list[dict] = []
    bare: list[dict] = []                             # rows of bare forms, and of companies, in
    companies: list[dict] = []                        # text order (for _name_document)
    found = _lexicon_found(folded, rules)
    _overlapped(found, folded, words, rules)
    straddle, straddle_last = rules["straddle_rx"].match, rules["straddle_last"]
    gaz_search = rules["gaz_search_rx"].search
    infos, sb, eb = rules["word_info"], words.sb, words.eb
    for s, e, w in reversed(found):                   # left to right: earlier names are known
        if w in straddle_last and straddle(folded, e - 1) is not None:
            w, e = w[:-1], e - 1                      # 人民日报社|论: 社论 is the word, the name is 人民日报
        elif eb[e] != 1:
            continue                                  # 部 in 部署, 局 in 局长: neither a name nor a head
        info = infos.get(w)
        if info is None:
            info = infos[w] = _word_info(w, gaz, heads)
        g, head_len, named = info
        if g is not None and sb[s] == 1:
            row = {"start": s, "end": e, "text": text[s:e], "name": g[0], "kind": g[1], "rule_id": g[2], "priority": 2}
            out.append(row)
            if g[1] == "company":
                companies.append(row)
            accepted[e] = g[1]
            ends.append(e)
        if head_len:                                  # a head, or a known body that ends with one (英国外交部)
            hs = e - head_len
            if named and gaz_search(folded, max(0, hs - NAMED_REACH), hs) is None:
                continue                              # 组织, 新闻 ...: no known name just before
            row = _from_head(hs, e, folded, words, rules, accepted, ends)
            if row:
                row["text"] = text[row["start"]:e]
                out.append(row)
                if "bare" in row:
                    bare.append(row)
                if row["kind"] == "company":
                    companies.append(row)
                if e not in accepted:
                    ends.append(e)
                accepted[e] = row["kind"]
    if "《" in folded:
        _titles(folded, text, rules, out)
    if bare or companies:
        _name_document(out, bare, companies, folded, rules)
    return out


def _lexicon_found(folded: str, rules: dict) -> list[tuple[int, int, str]]:
    """The matches of the lexicon trie on the reversed text, right to left, as (start, end,
    word) of the text: at each place the longest name or head ending there, not overlapping.
    In C when pipeline._cjieba is built (one walk per place, several times faster than the
    numpy arrays below); else long texts go through the same trie as arrays, five times faster
    than the regex. All give the same matches (tests/test_organisations.py)."""
    if rules["lex_ctrie"] is not None:
        trie, words = rules["lex_ctrie"]
        return trie.rmatches(folded, words)
    if len(folded) < LEX_ARRAY_MIN or rules["lex_trie"] is None:
        n, rev = len(folded), folded[::-1]
        return [(n - m.end(), n - m.start(), m.group()[::-1]) for m in rules["lex_rx"].finditer(rev)]
    return _lexicon_found_arrays(folded, rules["lex_trie"])


LEX_ARRAY_MIN = 1000        # below this, numpy's fixed costs outweigh the regex


def _lexicon_ctrie(words) -> tuple | None:
    """The lexicon as pipeline._cjieba's trie of the reversed words, each word's frequency 1 +
    its index in the list returned with it (Trie.rmatches hands back those str objects); None
    without the extension."""
    if cjieba is None:
        return None
    trie, listed = cjieba.Trie(), sorted(words)
    for i, w in enumerate(listed, 1):
        trie.add_word(w[::-1], i)
    return trie, listed


def _lexicon_trie(words) -> tuple | None:
    """The lexicon as a trie walked from a word's LAST character: each node's children {char:
    node} (the root is node 0) and the word each node ends (None: none; the same str objects
    for every document, their hashes computed once); and in arrays over the code points up to U+FFFF:
    which ones end a word, the root's child for each and each one's column (both as intp: the
    walk indexes with them, and `take` would convert other index types at every call), and the
    other edges as a flat int16 table (node * width + column -> node, or -1; compact, as it is
    read at random and a document finds it cold). None when a word holds a character beyond
    U+FFFE (the regex then does the work)."""
    edges: dict[tuple[int, str], int] = {}
    word_of: list[str | None] = [None]
    for w in sorted(set(words)):
        node = 0
        for ch in reversed(w):
            child = edges.get((node, ch))
            if child is None:
                child = edges[(node, ch)] = len(word_of)
                word_of.append(None)
            node = child
        word_of[node] = w
    chars = sorted({ch for (node, ch) in edges if node})
    if len(word_of) >= 32767 or any(ord(ch) >= 0xFFFF for _, ch in edges):
        return None
    column = np.zeros(0x10000, dtype=np.intp)
    for i, ch in enumerate(chars, 1):
        column[ord(ch)] = i
    width = len(chars) + 1
    is_last = np.zeros(0x10000, dtype=bool)
    root = np.full(0x10000, -1, dtype=np.intp)
    table = np.full(len(word_of) * width, -1, dtype=np.int16)
    for (node, ch), child in edges.items():
        if node:
            table[node * width + int(column[ord(ch)])] = child
        else:
            is_last[ord(ch)], root[ord(ch)] = 1, child
    children: list[dict[str, int]] = [{} for _ in word_of]
    for (node, ch), child in edges.items():
        children[node][ch] = child
    ends_word = np.array([w is not None for w in word_of], dtype=bool)
    return children, word_of, is_last, root, column, table, width, ends_word


FEW = 60                    # below this many places still walking, Python's dict is quicker


def _lexicon_found_arrays(folded: str, trie: tuple) -> list[tuple[int, int, str]]:
    """_lexicon_found on arrays: every place whose character ends a word walks the trie leftwards
    (all places at once, one character per step), which gives the longest word ending at each
    place (its node); then, right to left, a word is kept when it ends at or before the last
    one kept began (the regex's scan of the reversed text). (`take` and `nonzero` rather than
    fancy and boolean indexing: the arrays are small, numpy's fixed cost per call is what counts.)"""
    children, word_of, is_last, root, column, table, width, ends_word = trie
    # as intp: the walk indexes with them. Characters beyond U+FFFF stay as they are; the
    # lookups clip them to U+FFFF, which is in no word
    codes = code_points(folded).astype(np.intp)
    last = is_last.take(codes, mode="clip").nonzero()[0]    # a word's last character
    node = root.take(codes.take(last))
    best = np.where(ends_word.take(node), node, 0)    # the node of the longest word so far (0: none)
    ids = np.arange(len(last))
    pos = last - 1                                    # the character to try next
    while len(ids) >= FEW:
        if pos[0] < 0:                                # (sorted: only the first can be off the text)
            ids, node, pos = ids[1:], node[1:], pos[1:]
        node = table.take(node * width + column.take(codes.take(pos), mode="clip")).astype(np.intp)
        hit = (node >= 0).nonzero()[0]
        ids, node, pos = ids.take(hit), node.take(hit), pos.take(hit) - 1
        word = ends_word.take(node)
        best[ids[word]] = node[word]
    for i, nd, p in zip(ids.tolist(), node.tolist(), pos.tolist()):    # the few long walks left
        while p >= 0:
            nd = children[nd].get(folded[p])
            if nd is None:
                break
            if word_of[nd] is not None:
                best[i] = nd
            p -= 1
    has = best.nonzero()[0]
    found, begin = [], len(folded)
    for e, nd in zip((last.take(has) + 1).tolist()[::-1], best.take(has).tolist()[::-1]):   # right to left
        if e <= begin:
            w = word_of[nd]                           # (no slice of the text: a str whose hash is known)
            begin = e - len(w)
            found.append((begin, e, w))
    return found


def _titles(folded: str, text: str, rules: dict, out: list) -> None:
    """Newspapers written as a title after their country: 加拿大《国家邮报》."""
    countries, longest, title = rules["title_countries"], rules["title_country_max"], rules["title_rx"]
    lasts = rules["title_country_last"]
    done = 0                                          # where the last title ended
    q = folded.find("《")
    while q >= 0:
        if q <= done or folded[q - 1] not in lasts:
            q = folded.find("《", max(q + 1, done))
            continue                                  # (most 《 follow no country: a cheap test)
        for p in range(max(done, q - longest), q):   # the longest country ending at 《 (a name
            if folded[p:q] in countries:              # holds no 《, so only this 《 can follow it)
                m = title.match(folded, q)
                if m:
                    s, e = m.span("t")
                    out.append({"start": s, "end": e, "text": text[s:e], "name": text[s:e], "kind": "media",
                                "rule_id": "org.titles", "priority": 1})
                    done = m.end()
                break
        q = folded.find("《", max(q + 1, done))


_WORD = itemgetter(2)


def _overlapped(found: list, folded: str, words: _Words, rules: dict) -> None:
    """The trie's matches do not overlap: a head inside a word (国会 in 联合国|会员国) hides the
    name ending inside it. For such heads (rules: overlap_heads), look again for the longest
    name ending inside the head, and add it in place (found runs right to left)."""
    risky = rules["overlap_heads"]
    if risky.isdisjoint(map(_WORD, found)):
        return                                        # (a quick test: most texts hold none; the
                                                      # words' hashes are reused later)
    n = len(folded)
    rev = None
    extra = []
    for s, e, w in found:
        if w in risky and not words.starts_word(s):
            if rev is None:
                rev = folded[::-1]
            for p in range(e - 1, s, -1):
                m = rules["lex_rx"].match(rev, n - p)
                if m:
                    extra.append((p - len(m.group()), p, m.group()[::-1]))
                    break
    if extra:
        found.extend(extra)
        found.sort(key=lambda x: (x[1], x[0]), reverse=True)


def _word_info(w: str, gaz: dict, heads: dict) -> tuple:
    """What a lexicon match tells by itself: (its gazetteer entry or None, the length of the
    head ending it (0: none; a government body ending with one counts), whether that head is
    `named`)."""
    g = gaz.get(w)
    head_len = len(w) if w in heads else (_head_suffix(w, heads) if g is not None and g[1] == "government" else 0)
    return g, head_len, head_len > 0 and heads[w[len(w) - head_len:]][1] == "named"


def _head_suffix(w: str, heads) -> int:
    """Length of the longest head that ends the word w (0 if none)."""
    for n in range(min(len(w) - 1, 4), 0, -1):
        if w[-n:] in heads:
            return n
    return 0


def _from_head(hs: int, he: int, folded: str, words: _Words, rules: dict, accepted, ends) -> dict | None:
    """The candidate ending with the head folded[hs:he] (the caller checked that the head ends a
    word, or a word straddling its end was cut off, and that a `named` head follows a known
    name), if a real name part stands before it."""
    first = rules["not_after_first"]
    if (first is None or folded[he:he + 1] in first) and rules["not_after_rx"].match(folded, he):
        return None                                   # ... 大会, ... 工程: an event or programme
    k = hs if words.sb[hs] == 1 else words.sb.rfind(1, 0, hs)    # the word holding the head's start
    if k < 0 or k < hs and (words.eb.find(1, k + 1) <= hs or folded[k:he] in rules["stop"]):
        return None                                   # a blank; 主办, 举办: a verb, not a head
    loose, strict = _left_edge(k, hs, he, folded, words, rules, accepted)
    if strict is not None and loose < strict and _starts_anchored(folded[strict:hs], rules["loose_anchor"]):
        # a name opens after the verb (李强会见|美国商会): the verb belongs to the sentence
        return _judge(strict, hs, he, folded, rules, words, accepted, ends)
    return _judge(loose, hs, he, folded, rules, words, accepted, ends)


def _left_edge(k, hs, he, folded, words: _Words, rules, accepted) -> tuple[int, int | None]:
    """Take words left of the head while they can be part of a name; returns the loose and the
    strict edge (None when it is the loose one).

    Two edges: the strict one stops at any word that cannot be in a name (jieba's verbs,
    particles ...); the loose one goes on across ONE word of a kind jieba also puts inside
    names (a verb or adverb: 航天飞行控制中心, 世界自然基金会) and stops at hard stops
    (function words, titles, determiners of the rules file), at pronouns, prepositions and time
    words (这家, 关于) and at a word right after an organisation when a name part follows it
    (瑞士政府|宣布瑞银集团: the body is the verb's subject; 世贸组织上诉机构 goes on). The loose edge is offered only when it starts on an anchor (a
    place or known name): `武汉中小数转专家委员会` keeps its odd inner words because 武汉 opens
    it; the caller tries the strict edge first (李强会见|美国商会)."""
    sb, eb = words.sb, words.eb
    flags_of, inner_and = rules["word_flags"], rules["inner_and"]
    pos = k
    strict = None
    crossed = 0                                       # words of two or more characters crossed
    ordinal_from = None                               # where the name starts when ordinals open it
    s = sb.rfind(1, 0, k)                             # the word before, by its start
    while s >= 0:
        # no word starts between s and pos, so the word at s ends at pos unless a gap follows it
        if eb[pos] != 1 or he - s > MAX_NAME_CHARS:
            break                                     # a gap; too long
        e = pos
        w = folded[s:e]
        flags = flags_of.get(w)
        if flags is None:
            flags = _set_word_flags(w, flags_of, rules)
        other, count, hard, soft, ordinal, cross = flags
        if other or count:
            break                                     # punctuation, a quote; 八大, 十项: counts are not names
        if hard or (soft and not ordinal and not _fragment(s, e, sb, eb)):
            # 经济和信息化: 和 inside an inner part
            jump = _inner_across(s, folded, rules) if folded[s] in inner_and else None
            if jump is not None:
                pos = jump
                if sb[jump] != 1:
                    break                             # the jump lands inside a word
                s = sb.rfind(1, 0, jump)              # the word before the jump
                continue
            if hard:
                break
            if e - s > 1 and (not cross or crossed) or pos < hs and (
                    s in accepted or ((b := sb.rfind(1, 0, s)) >= 0 and folded[b:s] in rules["bodies"])):
                if strict is not None:
                    pos = strict                      # a second verb: a sentence, not a name
                strict = pos
                break
            crossed += e - s > 1                      # one-character pieces (中, 转, 县) are free
            strict = pos if strict is None else strict
        if e in accepted and _self_contained(folded[pos:he], rules):
            break                                     # 省委|省政府, 党中央|国务院: two bodies
        if ordinal:
            ordinal_from = pos if ordinal_from is None else ordinal_from
        else:
            ordinal_from = None
        pos, s = s, sb.rfind(1, 0, s)
    if strict is not None and not _starts_anchored(folded[pos:hs], rules["loose_anchor"]):
        pos = strict
    if folded[pos] in rules["date_countries"] and pos and folded[pos - 1].isdigit():
        pos += 1                                      # 23日|中国共产党: 日 is the date, not Japan
    if ordinal_from is not None and pos < ordinal_from:
        pos = ordinal_from                            # a name does not open with 第十四届
    first = rules["not_opening_first"]
    if (first is None or folded[pos] in first) and folded.startswith(rules["not_opening"], pos):
        j = words.containing(pos)
        je = eb.find(1, j + 1) if j is not None else 0
        if j is not None and folded[pos:je] in rules["not_opening"] and je < hs and \
                _starts_anchored(folded[je:hs], rules["loose_anchor"]):
            pos = je                                  # 建设|国家区域医疗中心: the name opens on the anchor
    return pos, (strict if strict is not None and strict > pos else None)


def _set_word_flags(w: str, cache: dict, rules) -> tuple:
    """What the left edge needs to know of a word, computed once per word: (a word opening with
    punctuation or a quote (a name holds Han, letters, digits), a count such as 八大, a hard
    stop, a soft stop, an ordinal such as 第十四届, a word a loose edge may cross)."""
    c = w[0]
    other = not ("\u3400" <= c <= "\u9fff" or "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9")
    hard_pat, name_pat = rules["hard_pat"], rules["name_pat"]
    try:
        count = hard_pat.hot("fullmatch", w)(w) is not None
    except TimeoutError:
        raise hard_pat.timeout_error() from None
    try:
        ordinal = name_pat.hot("fullmatch", w)(w) is not None
    except TimeoutError:
        raise name_pat.timeout_error() from None
    flags = cache[w] = (other, count, w in rules["hard_stop"], w in rules["stop"], ordinal, w in rules["cross"])
    return flags


def _fragment(s: int, e: int, sb: bytes, eb: bytes) -> bool:
    """A one-character word beside another one: a piece of a word jieba does not know
    (经/信 in 湖北省经信厅, 星/地 in 星地融合), not a real verb or particle."""
    if e - s != 1:
        return False
    left = s > 0 and sb[s - 1] == 1 and eb[s] == 1          # a one-character word ends at s
    right = sb[e] == 1 and eb[e + 1] == 1 if e + 1 < len(eb) else False
    return left or right


class _Openers:
    """A set of words, and for their first two characters the lengths (2 to 8) of those words:
    most text opens with no word of the set, which one lookup tells."""

    __slots__ = ("words", "lengths")

    def __init__(self, words: set):
        self.words = words
        lengths: dict[str, set] = {}
        for w in words:
            if 2 <= len(w) <= 8:
                lengths.setdefault(w[:2], set()).add(w)
        self.lengths = {k: tuple(sorted({len(w) for w in v})) for k, v in lengths.items()}


def _starts_anchored(part: str, openers: _Openers) -> bool:
    """The part opens with one of the words (set lookups: a big regex alternation is slower)."""
    if len(part) == 1:
        return part in openers.words                  # 日 in 日外务省: a one-character country
    lengths = openers.lengths.get(part[:2])
    if lengths is None:
        return False
    words = openers.words
    return any(part[:n] in words for n in lengths if n <= len(part))


def _inner_across(s: int, folded: str, rules) -> int | None:
    for word, off in rules["inner_and"].get(folded[s], ()):
        if folded.startswith(word, s - off):
            return s - off
    return None


def _self_contained(part: str, rules) -> bool:
    """The part already names a body of its own: a bare level form (省政府) or a known name."""
    return part in rules["bare"] or part in rules["gaz"]


def _judge(start: int, hs: int, he: int, folded: str, rules, words, accepted, ends) -> dict | None:
    """Accept or reject the span folded[start:he]; give its kind and canonical name. The verdict
    hangs on the span, its head and the kinds of the names accepted inside it (`ends`: their
    ends, in text order), so it is cached; only the word check of the name part (jieba's cut
    differs by context) is done every time."""
    i = len(ends)                                     # (ends ascend; the span is near their end)
    while i and ends[i - 1] > hs:
        i -= 1
    j = i
    while j and ends[j - 1] > start:
        j -= 1
    kinds = tuple([accepted[x] for x in ends[j:i]]) if j < i else ()
    span = folded[start:he]                           # (the span may start inside the head: 报 after 日)
    key = (span, he - hs, kinds)
    cache = rules["judge_cache"]
    verdict = cache.get(key, _MISS)
    if verdict is _MISS:
        if len(cache) > 20_000:          # bounded: memory must not grow with the corpus
            cache.clear()
        verdict = cache[key] = _verdict(span, folded[hs:he], kinds, rules)
    if verdict is None:
        return None
    name, kind, rid, bare = verdict
    if bare:
        return {"start": start, "end": he, "name": name, "kind": kind, "rule_id": rid, "priority": 1, "bare": True}
    if _only_generic(start, hs, words, rules["generic"], rules["generic_first"]):
        return None                                   # 创新联合实验室: no name, only kinds
    return {"start": start, "end": he, "name": name, "kind": kind, "rule_id": rid, "priority": 0}


_MISS = object()


def _verdict(span: str, head: str, inner_kinds: tuple, rules) -> tuple | None:
    """(name, kind, rule id, bare) of a span ending with `head`, or None when it is no name;
    `inner_kinds`: the kinds of the names accepted inside it, in text order."""
    kind, weak, inherit, place_alone, rid, named_kinds = rules["heads"][head]
    if span in rules["exclude"] or span.endswith(rules["no_final"]):
        return None
    if span in rules["bare"]:
        name, kind = rules["bare"][span]
        return name, kind, "org.bare", True
    name_part = span[: len(span) - len(head)]
    if name_part.startswith(rules["not_initial"]):
        return None                                   # 驻港总领馆: whose consulates? not a name
    if not name_part or name_part in rules["generic"] or (name_part in rules["stop"] and name_part not in rules["places"]):
        return None
    if len(name_part) == 1 and name_part not in rules["anchor_words"].words:
        return None                                   # 省报, 该部 ...
    if not place_alone and name_part in rules["places"]:
        return None                                   # 中国公司, 美国公司: a kind of firm, not a name
    gaz_head = rules["gaz_prefix_rx"].match(span)
    if weak == "weak" and not (inner_kinds or gaz_head or _anchored(name_part, rules)):
        return None
    if weak == "named" and not _named(name_part, named_kinds, rules):
        return None                                   # 荆州美的洗衣机工厂, not 5G工厂
    if weak == "named" and not place_alone and name_part in rules["gaz"]:
        return None                                   # 联合国机构: the UN's agencies, no name
    # (then _judge: a name part made only of generic words is no name: 创新联合实验室)
    if inherit:
        if gaz_head:
            kind = rules["gaz"][gaz_head.group()][1]
        for k in inner_kinds:
            if k in ("party", "government"):
                kind = k
    name = span if named_kinds else canonical_name(span, rules)
    if kind == "party" and head in rules["party_heads_need_place"] and not name.startswith("中国共产党"):
        kind = "government"                           # 国家卫健委, 全国人大财经委: not a party committee
    if name.startswith(("中国共产党", "中共")) or (kind == "government" and span.startswith("中央")
                                                  and "政府" not in span):
        kind = "party"
    elif kind in ("government", "association", "other"):
        kind = _kind_by_name(name, head, name_part, kind, rules)
    return name, kind, rid, False


def _kind_by_name(name: str, head: str, name_part: str, kind: str, rules) -> str:
    """Kinds the name itself tells (rules `kinds`): a party word makes a party or one of its
    organs (朝鲜劳动党中央委员会, 德国基督教民主联盟), unless the head is a government named after
    its ruling party; a foreign country's centre is a state agency (比利时网络安全中心)."""
    pk = rules["party_kind"]
    if head not in pk["not_heads"] and pk["gate"].search(name) and pk["rx"].search(pk["not_rx"].sub("", name)):
        return "party"
    sk = rules["state_centre"]
    if kind == "other" and head in sk["heads"] and sk["rx"].match(name_part) and not sk["not_rx"].search(name_part):
        return "government"
    return kind


def _named(name_part: str, kinds, rules) -> bool:
    """The name part holds a known name (of one of `kinds`, when given)."""
    if not kinds:
        return rules["gaz_search_rx"].search(name_part) is not None
    return any(rules["gaz"][m.group()][1] in kinds for m in rules["gaz_search_rx"].finditer(name_part))


def _only_generic(start: int, end: int, words: _Words, generic: set, first: frozenset) -> bool:
    """The words of folded[start:end] (a name part, by jieba's boundaries) are one or more,
    all generic (`first`: the generic words' first characters)."""
    sb, eb, folded = words.sb, words.eb, words.folded
    if sb[start] == 1:
        if folded[start] not in first:
            return False                              # (most name parts: the first word is not generic)
        s = start
    else:
        s = sb.find(1, start)
    any_word = False
    while s >= 0:
        e = eb.find(1, s + 1)
        if e > end:
            break
        if folded[s:e] not in generic:
            return False
        any_word = True
        s = e if sb[e] == 1 else sb.find(1, e)        # (no word starts inside the word at s)
    return any_word


def _anchored(name_part: str, rules) -> bool:
    """The name part opens with an anchor word or holds a place with its level (湖北省 ...)."""
    return _starts_anchored(name_part, rules["anchor_words"]) or rules["place_rx"].match(name_part) is not None


def canonical_name(span: str, rules: dict) -> str:
    """The canonical name of a written form (rules/organisations.yaml, SPEC rule 2)."""
    cache = rules["canon_cache"]
    name = cache.get(span)
    if name is None:
        if len(cache) > 20_000:          # bounded: memory must not grow with the corpus
            cache.clear()
        name = cache[span] = _canonical(span, rules)
    return name


def _canonical(span: str, rules: dict) -> str:
    g = rules["gaz"].get(span)
    if g:
        return g[0]
    name = span
    m = rules["gaz_prefix_rx"].match(name)          # 工信部信管局 -> 工业和信息化部信管局
    if m and rules["gaz"][m.group()][1] in ("government", "party", "media"):
        full = rules["gaz"][m.group()][0]
        name = full + name[m.end():]
        if rules["gaz"][m.group()][1] == "party" and not full.startswith("中国共产党"):
            return name                               # 民革北京市委: another party's committee
    if rules["sub_abbr_rx"] is not None:
        name = rules["sub_abbr_rx"].sub(lambda x: rules["sub_abbr"][x.group()], name)
    if rules["inner_abbr_rx"] is not None:
        name = rules["inner_abbr_rx"].sub(lambda x: rules["inner_abbr"][x.group()], name)
    for pat, repl, needs in rules["canonical"]:
        if needs in name:
            name = pat.sub(repl, name, count=1)
    return name


# --- document-level naming -------------------------------------------------------------------
def _name_document(rows: list[dict], bare: list[dict], companies: list[dict], folded: str, rules: dict) -> None:
    """Bare forms take the document's province / city; short forms take a full name given in
    the same document (三峡集团 -> 中国长江三峡集团有限公司). `bare`, `companies`: those of the
    rows, in text order."""
    places: dict[str, str | None] = {}                # a slot's place, found when a form needs it
    for r in bare:
        del r["bare"]
        form = r["name"]
        slot = "{province}" if "{province}" in form else "{city}" if "{city}" in form else None
        if slot is not None:
            if slot not in places:
                places[slot] = _document_place(slot, rows, folded, rules)
            r["name"] = form.replace(slot, places[slot]) if places[slot] else r["text"]
    full = {r["name"] for r in companies if r["name"].endswith(("有限公司", "有限责任公司"))}
    if full:
        for r in companies:
            if r["name"] not in full and r["name"] == r["text"]:
                for f in sorted(full, key=len):
                    short = r["name"]
                    if len(f) > len(short) + 1 and (short in f or (short[0] == f[0] and _subsequence(short, f)
                                                                   and 2 * len(short) >= len(_core(f, rules)))):
                        r["name"] = f
                        break


def _document_place(slot: str, rows: list[dict], folded: str, rules) -> str | None:
    """The province or the city most often named in the document (a scan of the whole text)."""
    if slot == "{province}":
        return _most_frequent(rules["province_rx"], folded, rules["province_of"])
    return _most_frequent(rules["city_rx"], folded, rules["city_of"],
                          [r["text"][: r["text"].index("市") + 1] for r in rows if "市" in r["text"][2:6]])


def _core(full: str, rules) -> str:
    """A company's full name without its legal form (中国远洋海运集团有限公司 -> 中国远洋海运): a
    short form written as a subsequence must hold half of it (中车 is not 中国汽车技术研究中心)."""
    for suffix in rules["legal_forms"]:
        if full.endswith(suffix):
            return full[: -len(suffix)]
    return full


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def _most_frequent(pat, folded: str, full_of: dict, extra=()) -> str | None:
    """The place most often named (lexicon matches plus places written in mentions)."""
    counts = Counter(extra)
    first = {x: 0 for x in extra}
    for m in pat.finditer(folded):
        g = m.group()
        f = full_of.get(g, g)
        counts[f] += 1
        first.setdefault(f, m.start())
    if not counts:
        return None
    return max(counts, key=lambda f: (counts[f], -first[f]))
