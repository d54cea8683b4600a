"""Cut a document into paragraph blocks and label each main / off_topic / boilerplate.

Paragraphs (SPEC "Blocks"):
- Where the text separates paragraphs with blank lines, a paragraph is a maximal run of non-blank
  lines; where it does not (one paragraph a line), each line is a block.
- A blank line inside a sentence (page-break debris: the prose before it does not end a sentence)
  does not end the paragraph.
- An inline HTML paragraph (`<p>…</p><p>…</p>` on one line) is a paragraph: each element is its own
  block, tags included, so every non-blank character still belongs to exactly one block.
- Markdown front matter (`---` … `---`) is one block a line: its `title:` line is the title (main),
  the rest is boilerplate.
Spans are trimmed of indentation and trailing white space; nothing is deleted.

Labels come from one pass over the blocks with a small state machine (main -> off_topic when
another story starts; -> boilerplate when the page footer starts). Every marker, pattern and
threshold is data in rules/blocks.yaml; `reason` names the rule that decided.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from operator import itemgetter

import regex

from .dates import required_literals
from .document import Block, Doc
from .rules import LDict, Pattern, Where, check_examples, check_keys, expect, expect_str_list

_LINE = regex.compile(r"[^\n]*\n?")
# a line's text without its leading and trailing white space (stdlib \s is str.isspace, as strip());
# a look-behind, not an optional group `\S(?:[^\n]*\S)?`: sre runs that by its slower repeat machinery
_LINE_TEXT = re.compile(r"\S[^\n]*(?<=\S)")
# a white-space run between two lines holding a blank line (one match a run: \s* is greedy)
_BLANK_GAP = re.compile(r"\n\s*\n")
_CLAUSE_PUNCT = re.compile("[。，！？；：,.!?;:]")       # a menu item holds none
_HAN_BIGRAM_STRIP = regex.compile(r"[^\p{Han}A-Za-z0-9]+")

# rule id -> the keys it needs besides id/examples/counter/note
_WORD_RULES = ("footer", "box", "boilerplate_line", "boilerplate_contains", "teaser", "digest_title",
               "toc_heading")
_PATTERN_RULES = ("heading", "dateline", "section_heading", "link_line", "date_line", "html_paragraph_end",
                  "front_matter", "sentence_end")
# rules with a stdlib twin (see Pattern), used by the hot loops: `re` is measured faster on them
# (`</` and a few tag names searched in every HTML line; short lines, where `regex`'s cost a call
# dominates)
_TWINNED = frozenset({"html_paragraph_end", "heading", "link_line", "date_line"})
_NUMBERS = ("page_break_min_chars", "story_similarity", "menu_line_max", "menu_run_min", "title_max_chars",
            "contains_max_chars", "box_item_max_chars", "lead_chars")


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "thresholds") + _WORD_RULES + _PATTERN_RULES, optional=("notes",))
    out: dict = {}
    th = check_keys(data["thresholds"], w.at(data["thresholds"], "thresholds"), required=_NUMBERS)
    for k in _NUMBERS:
        out[k] = expect(th[k], (int, float), w.at(th, "thresholds"), k)
    for key in _WORD_RULES:
        rule = check_keys(data[key], w.at(data[key], key), required=("id", "words"),
                          optional=("examples", "counter", "note"))
        rw = w.at(rule, rule["id"])
        check_examples(rule, rw, ("label", "reason"))
        out[key] = tuple(expect_str_list(rule["words"], rw, "words"))
    for key in _PATTERN_RULES:
        rule = check_keys(data[key], w.at(data[key], key), required=("id", "pattern"),
                          optional=("examples", "counter", "note"))
        rw = w.at(rule, rule["id"])
        expect(rule["pattern"], str, rw, "pattern")
        check_examples(rule, rw, ("label", "reason"))
        out[key] = Pattern(rule["pattern"], rw, regex.M, stdlib=key in _TWINNED)
    # strings one of which every match contains (None: unknown): most blocks hold none, and a
    # `str.find` is far cheaper than a pattern search (see _may_match)
    needs = {key: required_literals(data[key]["pattern"]) for key in ("link_line", "dateline")}
    out["needs"] = {key: _any_of(words) for key, words in needs.items()}
    # ... or, when they are few, a `str.find` each: cheaper still on the short text tested
    out["needs_probes"] = {key: _probes(words) for key, words in needs.items()}
    # one search for all the words of a list (see _contains)
    out["any"] = {key: _any_of(out[key]) for key in _WORD_RULES}
    # strings found in the whole text by one str.find pass each, far cheaper than a search per
    # block on long lines: a block holding none cannot match (see _touched)
    out["probes"] = {"link_line": _probes(required_literals(data["link_line"]["pattern"])),
                     "teaser": _probes(out["teaser"])}
    out["footer_set"] = frozenset(out["footer"])
    out["box_set"] = frozenset(out["box"])
    out["line_set"] = frozenset(out["boilerplate_line"])
    out["line_len"] = max(map(len, out["line_set"]), default=-1)     # longer text is in no set
    # first characters of the box words (None: an empty word, which starts every line)
    out["box_firsts"] = frozenset(w[0] for w in out["box"]) if all(out["box"]) else None
    out["key_len"] = max(map(len, out["footer_set"] | out["box_set"]), default=-1)   # likewise
    out["sentence_end_chars"] = frozenset(data["sentence_end"]["pattern"].strip("[]"))
    # a paragraph ending in one of these never runs on over a blank line (see _page_break)
    out["no_break_last"] = out["sentence_end_chars"] | {">"}
    if not regex.match(r"\^(?:\(\?P<\w+>)?#", data["heading"]["pattern"]):         # see _heading
        raise w.at(data["heading"], data["heading"]["id"]).error("pattern must start with `^#`")
    if not data["html_paragraph_end"]["pattern"].startswith("</"):     # _split_html looks for `</` first
        raise w.at(data["html_paragraph_end"], data["html_paragraph_end"]["id"]).error(
            "pattern must start with `</`")
    return out


# --- paragraphs --------------------------------------------------------------------------------
def _any_of(words) -> re.Pattern | None:
    """A stdlib pattern that finds any of the literal words (None: no words known)."""
    if words is None:
        return None
    return re.compile("|".join(map(re.escape, words)) if words else "(?!)")


def _probes(words, most: int = 6) -> tuple[str, ...] | None:
    """Strings one of which each of the words contains: the words without those that contain
    another (None: unknown, an empty word, or too many for a str.find pass each)."""
    if words is None or "" in words:
        return None
    kept: list[str] = []
    for w in sorted(set(words), key=len):
        if not any(k in w for k in kept):
            kept.append(w)
    if len(kept) > 1 and len(common := _common_part(kept)) >= 3:
        return (common,)                    # one pass, not one a word (`阅读下一篇`, `下一篇阅读`)
    return tuple(kept) if len(kept) <= most else None


def _common_part(words: list[str]) -> str:
    """The longest string every word contains (words[0] the shortest; "" when none)."""
    first = words[0]
    for n in range(len(first), 0, -1):
        for i in range(len(first) - n + 1):
            if all(first[i:i + n] in w for w in words):
                return first[i:i + n]
    return ""


def paragraphs(text: str, rules: dict) -> tuple[list[tuple[int, int]], int]:
    """Trimmed (start, end) spans, and how many of the first ones are front-matter lines."""
    pos = 0
    front: list[tuple[int, int]] = []
    fm = rules["front_matter"].search(text, 0, min(len(text), 4000))
    if fm and not text[:fm.start()].strip():
        front = _lines(text, fm.start(), fm.end())
        pos = fm.end()
    return front + _split_html(text, _paragraphs(text, pos, rules), rules), len(front)


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for m in _LINE.finditer(text, start, end):
        if not m.group():
            break
        seg = m.group()
        stripped = seg.strip()
        if stripped:
            lead = len(seg) - len(seg.lstrip())
            spans.append((m.start() + lead, m.start() + len(seg.rstrip())))
    return spans


def _paragraphs(text: str, start: int, rules: dict) -> list[tuple[int, int]]:
    lines = list(map(re.Match.span, _LINE_TEXT.finditer(text, start)))
    if not lines or _BLANK_GAP.search(text, lines[0][0], lines[-1][1]) is None:
        return lines                        # no blank line between lines: one paragraph a line
    # blank[i]: a white-space-only line between lines i and i + 1
    count = text.count
    blank = [count("\n", e, s) >= 2 for (_, e), (s, _) in zip(lines, lines[1:])]
    # Does this text separate paragraphs by blank lines? Then runs of lines are paragraphs.
    runs_are_paragraphs = sum(blank) >= max(1, (len(lines) - 1) * 0.6)
    if not runs_are_paragraphs and True not in blank:
        return lines                                            # one paragraph a line
    out: list[tuple[int, int]] = []
    no_break_last = rules["no_break_last"]
    ps, pe = lines[0]                                           # the open paragraph
    for (s, e), b in zip(lines[1:], blank):
        if b:       # (the commonest reason for no page break first, without a call)
            join = text[pe - 1] not in no_break_last and _page_break(text, ps, pe, s, rules)
        else:
            join = runs_are_paragraphs and text[s] != "#" and text[ps] != "#"
        if join:
            pe = e
        else:
            out.append((ps, pe))
            ps, pe = s, e
    out.append((ps, pe))
    return out


def _page_break(text: str, prev_s: int, prev_e: int, next_s: int, rules: dict) -> bool:
    """A blank line inside a sentence: the prose before it is long and does not end a sentence."""
    if text[prev_e - 1] in rules["sentence_end_chars"]:
        return False
    if prev_e - prev_s < rules["page_break_min_chars"] and "，" not in text[prev_s:prev_e]:
        return False                    # a short line without a clause comma: a caption, a heading
    if text[prev_s] == "#" or text[prev_e - 1] == ">":          # a heading, an HTML element
        return False
    nxt = text[next_s]
    return nxt not in "#-*>|<" and not nxt.isspace()


def _split_html(text: str, spans: list[tuple[int, int]], rules: dict) -> list[tuple[int, int]]:
    """Each `<p>…</p>` element on a line is its own block: a span is cut after each match of the
    rule inside it. One search from the first `</` (the pattern starts with it, checked in
    compile_rules) to the last span's end: white space separates spans, so a match starts in the
    span ending after it, and one running past that end (trailing blanks) cuts nothing."""
    p = text.find("</", spans[0][0]) if spans else -1
    if p < 0:
        return spans
    pat = rules["html_paragraph_end"]
    finditer = pat.hot("finditer", text)
    ends = [e for _, e in spans]
    out: list[tuple[int, int]] = []
    done = 0                                    # spans[:done] are in out, but for the one cut
    cur = e = -1                                # ... from cur to its end e
    try:
        for m in finditer(text, p, ends[-1]):
            ms, me = m.span()
            if ms >= e:                         # the first match in a later span
                if e >= 0:
                    out.append((cur, e))
                j = bisect_right(ends, ms)
                out += spans[done:j]
                cur, e = spans[j]
                done = j + 1
            if me < e:
                # the end without trailing white space (rstrip only when there is some)
                out.append((cur, ms + len(m.group().rstrip()) if text[me - 1].isspace() else me))
                cur = me
                # the pattern's \s (regex: White_Space) leaves out \x1c-\x1f, which strip()
                # removes; the span ends on a non-blank character, so this stops before e
                while text[cur].isspace():
                    cur += 1
    except TimeoutError:
        raise pat.timeout_error() from None
    if e >= 0:
        out.append((cur, e))
    out += spans[done:]
    return out


# --- features -----------------------------------------------------------------------------------
def _bigrams(s: str) -> set[str]:
    s = _HAN_BIGRAM_STRIP.sub("", s)
    return {s[i:i + 2] for i in range(len(s) - 1)}


def _similarity(a: str, ref: set[str]) -> float:
    """Share of a's character bigrams found in ref (title + lead): a cheap topic overlap."""
    b = _bigrams(a)
    return len(b & ref) / len(b) if b else 0.0


def _is_prose(body: str, rules: dict) -> bool:
    return len(body) > rules["box_item_max_chars"] and any(c in rules["sentence_end_chars"] for c in body[-3:])


def _short(body: str, rules: dict) -> bool:
    """A menu item: one very short line without sentence punctuation."""
    return (len(body) <= rules["menu_line_max"] and "\n" not in body
            and _CLAUSE_PUNCT.search(body) is None and body[:1] != "#")


# --- labelling ----------------------------------------------------------------------------------
def label_blocks(doc: Doc, rules: dict) -> None:
    text = doc.text
    spans, n_front = paragraphs(text, rules)
    bodies = [text[s:e] for s, e in spans]
    firsts = [b if "\n" not in b else b[:b.index("\n")] for b in bodies]
    heads = _headings(firsts, rules, text)
    title_i = _find_title(doc, n_front, bodies, firsts, heads, rules)
    digest = _is_digest(doc.title, firsts, heads, rules)
    ref = _bigrams((doc.title or "") + _lead(bodies, title_i, rules))
    menu = _menu_runs(bodies, firsts, rules)
    out: list[Block] = []
    # hot loop: rule data and the word lists' one-search prefilters bound once per document
    footer_set, box_set, box_words = rules["footer_set"], rules["box_set"], rules["box"]
    box_firsts = rules["box_firsts"]
    key_len = rules["key_len"]
    # blocks longer are neither a boilerplate line nor short enough for boilerplate_contains
    short_max = max(rules["line_len"], rules["contains_max_chars"])
    starts = list(map(itemgetter(0), spans))
    linked = _touched(text, starts, rules["probes"]["link_line"])
    teased = _touched(text, starts, rules["probes"]["teaser"])
    date_line = rules["date_line"].hot("search", text)     # every line of a table of contents
    link_line = rules["link_line"].hot("search", text)     # every line of a list of links

    state, state_reason = "main", ""
    seen_dateline = False
    seen_body = False
    toc = False
    for i, ((s, e), body, first, h) in enumerate(zip(spans, bodies, firsts, heads)):
        label = reason = None
        if i < n_front:
            label, reason = ("main", "front matter title") if i == title_i else ("boilerplate", "front matter")
        elif i == title_i:
            label, reason = "main", "title"
        elif state == "boilerplate":
            label, reason = "boilerplate", state_reason
        # (set look-ups only for text short enough to be in the set: no hash of a long line)
        elif (keyed := len(key := first.strip(" ：:")) <= key_len) and key in footer_set:
            state, state_reason = "boilerplate", f"after footer marker {key}"
            label, reason = "boilerplate", f"footer marker {key}"
        elif state == "box" and not _is_prose(body, rules):
            label, reason = "boilerplate", state_reason
        elif digest and h and _contains(first, rules, "toc_heading"):
            toc = True
            label, reason = "boilerplate", "table of contents heading (digest page)"
        elif toc and not h:
            try:
                dated = date_line(body)
            except TimeoutError:
                raise rules["date_line"].timeout_error() from None
            label, reason = ("main", "date line") if dated else \
                ("boilerplate", "table of contents: headlines of the stories below")
        elif keyed and key in box_set or ((box_firsts is None or first[:1] in box_firsts)
                                          and first.startswith(box_words) and _box_start(first, rules)):
            state, state_reason = "box", f"link box {key[:12]}"
            label, reason = "boilerplate", f"link box marker {key[:12]}"
        elif ((maybe_link := i in linked) or len(body) <= short_max) \
                and (bl := _boilerplate_line(body, rules, link_line if maybe_link else None)):    # else none of its tests holds
            label, reason = "boilerplate", bl
        elif i in menu:
            label, reason = "boilerplate", "menu: run of very short lines"
        elif i in teased and (w := _contains(first, rules, "teaser")):
            state, state_reason = "off_topic", "teaser of another story"
            label, reason = "off_topic", f"teaser marker {w}"
        if label is None:
            if state == "box":                       # prose after a link box: back to the story?
                if _similarity(body[:rules["lead_chars"]], ref) >= rules["story_similarity"] and not digest:
                    state = "main"
                else:
                    state, state_reason = "boilerplate", "after a link box"
                    label, reason = "boilerplate", "prose after a link box, unrelated to the story"
        if label is None:
            toc = toc and not h
            if digest:
                label, reason = "main", ("section heading (digest page)" if h else "digest page story")
            elif h:
                other = _other_story(i, bodies, firsts, heads, ref, rules)
                if other or state == "off_topic":
                    state = "off_topic"
                    label, reason = "off_topic", other or "heading inside another story"
                else:
                    label, reason = "main", "section heading of the story"
            elif state == "off_topic":
                label, reason = "off_topic", "inside another story"
            elif _dateline(body, rules):
                if seen_dateline or seen_body:
                    state = "off_topic"
                    label, reason = "off_topic", "second dateline: another story starts"
                else:
                    label, reason = "main", "dateline"
                seen_dateline = True
            else:
                label, reason = "main", "document body"
                seen_body = seen_body or (len(body) >= 15 and body[-1] in rules["sentence_end_chars"])
        out.append(Block(i, s, e, label, reason))
    doc.blocks = out
    doc.invalidate()


def _touched(text: str, starts: list[int], probes: tuple[str, ...] | None) -> set[int] | range:
    """Indexes of the blocks that may hold one of the probe strings (all when probes is None):
    the block an occurrence starts in (blocks are in text order, starts sorted)."""
    if probes is None:
        return range(len(starts))
    out: set[int] = set()
    find = text.find
    for p in probes:
        at = find(p)
        while at >= 0:
            out.add(bisect_right(starts, at) - 1)
            at = find(p, at + 1)
    return out


def _headings(firsts: list[str], rules: dict, text: str) -> list:
    """_heading of each block's first line, once per block (the title, digest and story checks
    reuse them). `text`: the document (a call's time limit; see Pattern.hot)."""
    pat = rules["heading"]
    search = pat.hot("search", text)
    try:
        # (a slice test: str.startswith parses its arguments the slow way, costly once a block)
        return [search(f) if f[:1] == "#" else None for f in firsts]
    except TimeoutError:
        raise pat.timeout_error() from None


def _heading(s: str, rules: dict):
    """rules["heading"].search(s). The pattern starts with `^#` (checked in compile_rules): only
    text with a line starting with `#` can match, and most blocks have none."""
    return rules["heading"].search(s) if s[:1] == "#" or "\n#" in s else None


def _contains(s: str, rules: dict, key: str) -> str | None:
    """The first word of list `key` (in the file's order) that s contains. One search for any
    of them first: most text holds none."""
    if rules["any"][key].search(s) is None:
        return None
    for w in rules[key]:
        if w in s:
            return w
    return None


def _box_start(first: str, rules: dict) -> bool:
    """`相关阅读：…` as the head of a short line."""
    return len(first) <= rules["box_item_max_chars"] and first.startswith(rules["box"]) and any(
        first.startswith(w) and first[len(w):len(w) + 1] in "：: " for w in rules["box"])


def _boilerplate_line(body: str, rules: dict, link_line) -> str | None:
    """link_line: the link_line rule's hot search when the block holds one of its probe strings
    (see _touched), else None."""
    if len(body) <= rules["line_len"] and body in rules["line_set"]:      # (spans are trimmed)
        return "boilerplate line"
    # (the one-search prefilter of _contains here, not in a call per short block: most hold none)
    if len(body) <= rules["contains_max_chars"] and rules["any"]["boilerplate_contains"].search(body):
        return f"boilerplate marker {_contains(body, rules, 'boilerplate_contains')}"
    if link_line is not None and _may_match(rules, "link_line", body, len(body)):
        try:
            if link_line(body):
                return "link line"
        except TimeoutError:
            raise rules["link_line"].timeout_error() from None
    return None


def _dateline(body: str, rules: dict) -> bool:
    end = min(len(body), 80)
    return _may_match(rules, "dateline", body, end) and rules["dateline"].search(body, 0, end) is not None


def _may_match(rules: dict, key: str, text: str, end: int) -> bool:
    """False when text[:end] lacks every string a match of rule `key` must contain."""
    probes = rules["needs_probes"][key]
    if probes is not None:
        # `in` on the (short) window: str.find parses its arguments the slow way
        window = text if end >= len(text) else text[:end]
        for p in probes:
            if p in window:
                return True
        return False
    needs = rules["needs"][key]             # one search for any of the strings
    return needs is None or needs.search(text, 0, end) is not None


def _find_title(doc: Doc, n_front, bodies, firsts, heads, rules) -> int | None:
    """Index of the title block, and doc.title if not given: `# ` heading, front matter, first short line."""
    for i in range(n_front):
        m = regex.match(r"title\s*[:：]\s*(.+)", bodies[i])
        if m:
            doc.title = doc.title or m.group(1).strip().strip("\"'")
            return i
    if n_front == len(bodies):
        return None
    i, first = n_front, firsts[n_front]
    if heads[i]:
        doc.title = doc.title or heads[i].group("text").strip()
        return i
    if (len(first) <= rules["title_max_chars"] and "\n" not in bodies[i]
            and first[-1] not in rules["sentence_end_chars"] and not _dateline(first, rules)
            and not first.startswith("<")):
        doc.title = doc.title or first.strip()
        return i
    return None


def _lead(bodies, title_i, rules) -> str:
    """The first prose paragraph after the title (the story's lead), for topic similarity."""
    start = 0 if title_i is None else title_i + 1
    for body in bodies[start:start + 6]:
        if len(body) > rules["box_item_max_chars"] and not body.startswith("#"):
            return body[:rules["lead_chars"]]
    return ""


def _is_digest(title, firsts, heads, rules) -> bool:
    """A page whose title names a programme or digest, or that opens with a table of contents."""
    if title and _contains(title, rules, "digest_title"):
        return True
    for first, h in zip(firsts[:6], heads):
        if h and _contains(first, rules, "toc_heading"):
            return True
    return False


def _other_story(i, bodies, firsts, heads, ref, rules) -> str | None:
    """Does the heading at block i open another story? A dateline follows it, or it and its first
    paragraph share almost nothing with the title and lead (a numbered section heading never does)."""
    first = firsts[i]
    for j in range(i + 1, min(i + 3, len(bodies))):
        body = bodies[j]
        if heads[j] if body is firsts[j] else _heading(body, rules):
            break
        if _dateline(body, rules):
            return "heading of another story: its own dateline follows"
    if rules["section_heading"].search(first):
        return None
    nxt = bodies[i + 1] if i + 1 < len(bodies) else ""
    sample = first + nxt[:rules["lead_chars"]]
    if ref and _similarity(sample, ref) < rules["story_similarity"]:
        return "heading of another story: unrelated to the title and lead"
    return None


def _menu_runs(bodies, firsts, rules) -> set[int]:
    """Indexes of blocks in runs of >= menu_run_min very short lines (site navigation)."""
    line_max, run_min = rules["menu_line_max"], rules["menu_run_min"]
    # both kinds of menu item start with a short line: most blocks do not
    items = [i for i, (body, first) in enumerate(zip(bodies, firsts))
             if len(first.strip()) <= line_max
             and body and (_short(body, rules) or _multi_short(body, rules))]
    out: set[int] = set()
    run: list[int] = []
    for i in items + [-1]:
        if run and i != run[-1] + 1:                        # a run of consecutive items ends
            if len(run) >= run_min or (len(run) == 1 and _multi_short(bodies[run[0]], rules)):
                out.update(run)
            run = []
        run.append(i)
    return out


def _multi_short(body: str, rules: dict) -> bool:
    if body.count("\n") + 1 < rules["menu_run_min"]:
        return False
    lines = body.split("\n")
    return len(lines) >= rules["menu_run_min"] and all(_short(l.strip(), rules) for l in lines)
