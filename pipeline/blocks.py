"""Cut a document into paragraph blocks and label each main / off_topic / boilerplate.

Paragraphs: where the text separates paragraphs with blank lines, a paragraph is a maximal run
of non-blank lines; where it does not (one paragraph a line), each line is a block. A blank line
inside a sentence (page-break debris: the text before it does not end a sentence) does not end
the paragraph. Spans are trimmed of indentation and trailing white space; nothing is deleted.
Labels come from rules/blocks.yaml (markers as data) and structure (headings, datelines).
"""
from __future__ import annotations

import regex

from .document import Block, Doc
from .rules import LDict, Pattern, Where, check_examples, check_keys, expect, expect_str_list

_LINE = regex.compile(r"[^\n]*\n?")
SENTENCE_END = set("。！？!?…；;”」』)）】》.:：")


def compile_rules(data: LDict, path) -> dict:
    w = Where(path)
    check_keys(data, w, required=("table", "boilerplate_lines", "boilerplate_contains", "footer_starts",
                                  "story_heading", "dateline"), optional=("notes",))
    out = {}
    out["boilerplate_lines"] = set(expect_str_list(data["boilerplate_lines"], w.at(data), "boilerplate_lines"))
    out["boilerplate_contains"] = expect_str_list(data["boilerplate_contains"], w.at(data), "boilerplate_contains")
    out["footer_starts"] = set(expect_str_list(data["footer_starts"], w.at(data), "footer_starts"))
    for key in ("story_heading", "dateline"):
        rule = check_keys(data[key], w.at(data[key], key), required=("id", "pattern"),
                          optional=("examples", "counter", "note"))
        rw = w.at(rule, rule["id"])
        expect(rule["pattern"], str, rw, "pattern")
        check_examples(rule, rw, ())
        out[key] = Pattern(rule["pattern"], rw, regex.M)
    return out


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Trimmed (start, end) spans of paragraphs, page breaks repaired."""
    lines = []          # (start, end) of each non-blank line, trimmed
    pos = 0
    blank_before = []   # was there a blank line before this line?
    saw_blank = False
    for m in _LINE.finditer(text):
        if not m.group():
            break
        s, e = m.start(), m.end()
        pos = e
        seg = text[s:e]
        stripped = seg.strip()
        if not stripped:
            saw_blank = True
            continue
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg.rstrip())
        lines.append((s + lead, s + trail))
        blank_before.append(saw_blank)
        saw_blank = False
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
        prev_s, prev_e = out[-1]
        if blank_before[i]:
            join = _page_break(text, prev_s, prev_e, s)
        else:
            join = runs_are_paragraphs
        if join:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _page_break(text: str, prev_s: int, prev_e: int, next_s: int) -> bool:
    """A blank line inside a sentence: the paragraph before it is prose that does not end."""
    last = text[prev_e - 1]
    if last in SENTENCE_END or prev_e - prev_s < 30:
        return False
    first_line = text[prev_s:text.find("\n", prev_s) if "\n" in text[prev_s:prev_e] else prev_e]
    if first_line.startswith("#"):
        return False
    nxt = text[next_s]
    return nxt not in "#-*>" and not nxt.isspace()


def label_blocks(doc: Doc, rules: dict) -> None:
    text = doc.text
    spans = paragraphs(text)
    blocks = [Block(i, s, e) for i, (s, e) in enumerate(spans)]
    state = "main"           # main -> off_topic (another story) / boilerplate (footer)
    seen_heading = False
    for b in blocks:
        body = text[b.start:b.end]
        first = body.split("\n", 1)[0].strip()
        if state == "boilerplate":
            b.label, b.reason = "boilerplate", "after a footer marker"
            continue
        if first in rules["footer_starts"]:
            state = "boilerplate"
            b.label, b.reason = "boilerplate", f"footer marker {first!r}"
            continue
        if first in rules["boilerplate_lines"] or any(m in body for m in rules["boilerplate_contains"]):
            b.label, b.reason = "boilerplate", "boilerplate marker"
            continue
        if rules["story_heading"].search(body):
            if seen_heading or b.index > 0:
                state = "off_topic"
                b.label, b.reason = "off_topic", "heading of another story"
                continue
            seen_heading = True
        if state == "off_topic":
            b.label, b.reason = "off_topic", "inside another story"
        else:
            b.label, b.reason = "main", "document body"
    doc.blocks = blocks
    doc.invalidate()
    if doc.title is None and blocks:
        m = regex.match(r"#+\s*(.+)", text[blocks[0].start:blocks[0].end])
        if m:
            doc.title = m.group(1).strip()
