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

import regex

from .dates import required_literals
from .document import Block, Doc
from .rules import LDict, Pattern, Where, check_examples, check_keys, expect, expect_str_list

_LINE = regex.compile(r"[^\n]*\n?")
# a line's text without its leading and trailing white space (stdlib \s is str.isspace, as strip())
_LINE_TEXT = re.compile(r"\S(?:[^\n]*\S)?")
_CLAUSE_PUNCT = re.compile("[。，！？；：,.!?;:]")       # a menu item holds none
_HAN_BIGRAM_STRIP = regex.compile(r"[^\p{Han}A-Za-z0-9]+")

# rule id -> the keys it needs besides id/examples/counter/note
_WORD_RULES = ("footer", "box", "boilerplate_line", "boilerplate_contains", "teaser", "digest_title",
               "toc_heading")
_PATTERN_RULES = ("heading", "dateline", "section_heading", "link_line", "date_line", "html_paragraph_end",
                  "front_matter", "sentence_end")
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
        out[key] = Pattern(rule["pattern"], rw, regex.M)
    # strings one of which every match contains (None: unknown): most blocks hold none, and a
    # `str.find` is far cheaper than a pattern search (see _may_match)
    out["needs"] = {key: _any_of(required_literals(data[key]["pattern"])) for key in ("link_line", "dateline")}
    # one search for all the words of a list (see _contains)
    out["any"] = {key: _any_of(out[key]) for key in _WORD_RULES}
    out["footer_set"] = frozenset(out["footer"])
    out["box_set"] = frozenset(out["box"])
    out["line_set"] = frozenset(out["boilerplate_line"])
    out["sentence_end_chars"] = frozenset(data["sentence_end"]["pattern"].strip("[]"))
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


def paragraphs(text: str, rules: dict) -> list[tuple[int, int, str]]:
    """Trimmed (start, end, kind) spans: kind is 'front' for front-matter lines, else ''."""
    out: list[tuple[int, int, str]] = []
    pos = 0
    fm = rules["front_matter"].search(text, 0, min(len(text), 4000))
    if fm and not text[:fm.start()].strip():
        for s, e in _lines(text, fm.start(), fm.end()):
            out.append((s, e, "front"))
        pos = fm.end()
    out.extend((s, e, "") for s, e in _split_html(text, _paragraphs(text, pos, rules), rules))
    return out


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
    lines: list[tuple[int, int]] = []
    blank_before: list[bool] = []
    prev = start
    for m in _LINE_TEXT.finditer(text, start):
        s, e = m.span()
        lines.append((s, e))
        blank_before.append(text.count("\n", prev, s) >= 2)     # a white-space-only line between
        prev = e
    if not lines:
        return []
    # Does this text separate paragraphs by blank lines? Then runs of lines are paragraphs.
    n_blank_sep = sum(blank_before[1:])
    runs_are_paragraphs = n_blank_sep >= max(1, (len(lines) - 1) * 0.6)
    out: list[list[int]] = []
    for i, (s, e) in enumerate(lines):
        if not out:
            out.append([s, e])
            continue
        if blank_before[i]:
            join = _page_break(text, out[-1][0], out[-1][1], s, rules)
        else:
            join = runs_are_paragraphs and text[s] != "#" and text[out[-1][0]] != "#"
        if join:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


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
    """Each `<p>…</p>` element on a line is its own block."""
    if "</" not in text:
        return spans
    out = []
    pat = rules["html_paragraph_end"]
    for s, e in spans:
        if text.find("</", s, e) < 0:        # the pattern starts with `</` (checked in compile_rules)
            out.append((s, e))
            continue
        cur = s
        for m in pat.finditer(text, s, e):
            if m.end() < e:
                out.append((cur, m.start() + len(m.group().rstrip())))
                cur = m.end()
        out.append((cur, e))
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
            and _CLAUSE_PUNCT.search(body) is None and not body.startswith("#"))


# --- labelling ----------------------------------------------------------------------------------
def label_blocks(doc: Doc, rules: dict) -> None:
    text = doc.text
    spans = paragraphs(text, rules)
    blocks = [Block(i, s, e) for i, (s, e, _) in enumerate(spans)]
    bodies = [text[s:e] for s, e, _ in spans]
    firsts = [b.split("\n", 1)[0] for b in bodies]
    title_i = _find_title(doc, spans, bodies, firsts, rules)
    digest = _is_digest(doc.title, bodies, firsts, rules)
    ref = _bigrams((doc.title or "") + _lead(bodies, title_i, spans, rules))
    menu = _menu_runs(bodies, rules)

    state, state_reason = "main", ""
    seen_dateline = False
    seen_body = False
    toc = False
    for i, (b, body, first) in enumerate(zip(blocks, bodies, firsts)):
        kind = spans[i][2]
        h = _heading(first, rules)
        label, reason = None, None
        if kind == "front":
            label, reason = ("main", "front matter title") if i == title_i else ("boilerplate", "front matter")
        elif i == title_i:
            label, reason = "main", "title"
        elif state == "boilerplate":
            label, reason = "boilerplate", state_reason
        elif first.strip(" ：:") in rules["footer_set"]:
            state, state_reason = "boilerplate", f"after footer marker {first.strip(' ：:')}"
            label, reason = "boilerplate", f"footer marker {first.strip(' ：:')}"
        elif state == "box" and not _is_prose(body, rules):
            label, reason = "boilerplate", state_reason
        elif digest and h and _contains(first, rules, "toc_heading"):
            toc = True
            label, reason = "boilerplate", "table of contents heading (digest page)"
        elif toc and not h:
            label, reason = ("main", "date line") if rules["date_line"].search(body) else \
                ("boilerplate", "table of contents: headlines of the stories below")
        elif first.strip(" ：:") in rules["box_set"] or _box_start(first, rules):
            state, state_reason = "box", f"link box {first.strip(' ：:')[:12]}"
            label, reason = "boilerplate", f"link box marker {first.strip(' ：:')[:12]}"
        elif (bl := _boilerplate_line(body, first, rules)):
            label, reason = "boilerplate", bl
        elif i in menu:
            label, reason = "boilerplate", "menu: run of very short lines"
        elif _contains(first, rules, "teaser"):
            state, state_reason = "off_topic", "teaser of another story"
            label, reason = "off_topic", f"teaser marker {_contains(first, rules, 'teaser')}"
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
                other = _other_story(i, bodies, firsts, ref, rules)
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
        b.label, b.reason = label, reason
    doc.blocks = blocks
    doc.invalidate()


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


def _boilerplate_line(body: str, first: str, rules: dict) -> str | None:
    if body.strip() in rules["line_set"]:
        return "boilerplate line"
    if len(body) <= rules["contains_max_chars"]:
        w = _contains(body, rules, "boilerplate_contains")
        if w:
            return f"boilerplate marker {w}"
    if _may_match(rules, "link_line", body, len(body)) and rules["link_line"].search(body):
        return "link line"
    return None


def _dateline(body: str, rules: dict) -> bool:
    end = min(len(body), 80)
    return _may_match(rules, "dateline", body, end) and rules["dateline"].search(body, 0, end) is not None


def _may_match(rules: dict, key: str, text: str, end: int) -> bool:
    """False when text[:end] lacks every string a match of rule `key` must contain."""
    needs = rules["needs"][key]             # one search for any of the strings
    return needs is None or needs.search(text, 0, end) is not None


def _find_title(doc: Doc, spans, bodies, firsts, rules) -> int | None:
    """Index of the title block, and doc.title if not given: `# ` heading, front matter, first short line."""
    for i, (s, e, kind) in enumerate(spans):
        if kind != "front":
            break
        m = regex.match(r"title\s*[:：]\s*(.+)", bodies[i])
        if m:
            doc.title = doc.title or m.group(1).strip().strip("\"'")
            return i
    for i, (s, e, kind) in enumerate(spans):
        if kind == "front":
            continue
        first = firsts[i]
        h = _heading(first, rules)
        if h:
            doc.title = doc.title or h.group("text").strip()
            return i
        if (len(first) <= rules["title_max_chars"] and "\n" not in bodies[i]
                and first[-1] not in rules["sentence_end_chars"] and not _dateline(first, rules)
                and not first.startswith("<")):
            doc.title = doc.title or first.strip()
            return i
        return None
    return None


def _lead(bodies, title_i, spans, rules) -> str:
    """The first prose paragraph after the title (the story's lead), for topic similarity."""
    start = 0 if title_i is None else title_i + 1
    for body in bodies[start:start + 6]:
        if len(body) > rules["box_item_max_chars"] and not body.startswith("#"):
            return body[:rules["lead_chars"]]
    return ""


def _is_digest(title, bodies, firsts, rules) -> bool:
    """A page whose title names a programme or digest, or that opens with a table of contents."""
    if title and _contains(title, rules, "digest_title"):
        return True
    for first in firsts[:6]:
        if _heading(first, rules) and _contains(first, rules, "toc_heading"):
            return True
    return False


def _other_story(i, bodies, firsts, ref, rules) -> str | None:
    """Does the heading at block i open another story? A dateline follows it, or it and its first
    paragraph share almost nothing with the title and lead (a numbered section heading never does)."""
    first = firsts[i]
    for body in bodies[i + 1:i + 3]:
        if _heading(body, rules):
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


def _menu_runs(bodies, rules) -> set[int]:
    """Indexes of blocks in runs of >= menu_run_min very short lines (site navigation)."""
    out: set[int] = set()
    run: list[int] = []
    for i, body in enumerate(bodies + [""]):
        if body and (_short(body, rules) or _multi_short(body, rules)):
            run.append(i)
            continue
        if len(run) >= rules["menu_run_min"] or (len(run) == 1 and _multi_short(bodies[run[0]], rules)):
            out.update(run)
        run = []
    return out


def _multi_short(body: str, rules: dict) -> bool:
    if body.count("\n") + 1 < rules["menu_run_min"]:
        return False
    lines = body.split("\n")
    return len(lines) >= rules["menu_run_min"] and all(_short(l.strip(), rules) for l in lines)
