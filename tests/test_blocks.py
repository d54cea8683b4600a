"""Blocks: paragraphs, page-break repair, HTML paragraphs, labels (SPEC "Blocks")."""
from __future__ import annotations

import pytest

from conftest import corpus_records


def _blocks(engine, text):
    return [(text[b["start"]:b["end"]], b["label"]) for b in engine.process_text(text)["blocks"]]


def test_page_break_inside_a_sentence_is_one_block(engine):
    text = "# 标题\n\n王忠林强调，当前，湖北正坚定贯彻习近平\n\n总书记视察湖北重要讲话精神。\n\n第二段。"
    got = _blocks(engine, text)
    assert ("王忠林强调，当前，湖北正坚定贯彻习近平\n\n总书记视察湖北重要讲话精神。", "main") in got


def test_html_paragraphs_are_blocks(engine):
    text = "# 标题\n\n<p>第一段内容。</p><p>第二段内容。</p>"
    got = _blocks(engine, text)
    assert ("<p>第一段内容。</p>", "main") in got and ("<p>第二段内容。</p>", "main") in got


def test_blank_control_characters_after_a_paragraph_end_are_not_in_the_next_block(engine):
    # \x1c-\x1f are white space to str.strip() but not to the rule's \s (found by hypothesis)
    got = _blocks(engine, "<p>第一段内容。</p>\x1f\x1c 第二段内容。</p>")
    assert [t for t, _ in got] == ["<p>第一段内容。</p>", "第二段内容。</p>"]


def test_second_story_and_footer(engine):
    text = ("# 某市召开数据要素座谈会\n\n某市数据局召开座谈会，研究数据要素市场建设，推进数据要素流通。\n\n"
            "## 江西中欧班列累计开行突破2000列\n\n当日，中欧班列装载货物从赣州驶出。\n\n推荐阅读\n\n关注我们")
    labels = dict(_blocks(engine, text))
    assert labels["## 江西中欧班列累计开行突破2000列"] == "off_topic"
    assert labels["当日，中欧班列装载货物从赣州驶出。"] == "off_topic"
    assert labels["关注我们"] == "boilerplate"


def test_numbered_section_heading_stays_main(engine):
    text = "# 2024年某市统计公报\n\n2024年，某市地区生产总值增长5.2%。\n\n## 二、工业\n\n全年工业增加值增长6%。"
    assert dict(_blocks(engine, text))["## 二、工业"] == "main"


@pytest.mark.corpus
def test_digest_pages_keep_their_stories_main(engine):
    for rec in corpus_records("xwlb_daily.jsonl", 30):
        result = engine.process_text(rec["text"], rec["id"])
        assert result["documents"][0]["status"] == "ok"
        labels = [b["label"] for b in result["blocks"]]
        assert labels[0] == "main"
        assert labels.count("main") > labels.count("boilerplate")
        assert "off_topic" not in labels
