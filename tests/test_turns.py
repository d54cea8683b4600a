"""Turns: transcript labels, briefings, reported speech (SPEC "Speaker turns")."""
from __future__ import annotations

import pytest

from conftest import corpus_records


def _turns(engine, text):
    return engine.process_text(text)["turns"]


def test_briefing_with_title_spokesperson(engine):
    text = ("# 2018年6月26日外交部发言人陆慷主持例行记者会\n　　首先向大家通报一条消息：某国外长将访华。\n"
            "　　问：中方对此有何评论？\n　　答：我们注意到有关报道。\n　　追问：你能否证实？\n　　我不掌握情况。")
    ts = _turns(engine, text)
    assert [t["kind"] for t in ts] == ["opening", "question", "answer", "question", "answer"]
    assert ts[0]["start"] is None and ts[0]["speaker"] == "陆慷"
    assert ts[2]["speaker"] == "陆慷" and ts[2]["speaker_role"] == "外交部发言人"
    assert ts[4]["speaker"] == "陆慷" and ts[4]["start"] is None
    assert text[ts[2]["text_start"]:ts[2]["text_end"]] == "我们注意到有关报道。"


def test_headline_byline_and_heading_colon_are_not_turns(engine):
    text = "# 王蒙徽：加快建设宜居城市\n\n会议强调，要抓好落实。\n\n## 洪桥街道：加速构建数据库\n\n会议要求，各村要抓好落实。"
    ts = _turns(engine, text)
    assert [t["speaker_label"] for t in ts] == ["会议"]


def test_reported_speech_ends_at_next_statement(engine):
    text = "大会召开。\n\n李明指出，要加快推进。张华强调，要抓好落实。"
    ts = _turns(engine, text)
    assert [(t["speaker"], text[t["text_start"]:t["text_end"]]) for t in ts] == [
        ("李明", "要加快推进。"), ("张华", "要抓好落实。")]


def test_reported_speech_ends_at_its_html_paragraph(engine):
    """Several <p> paragraphs on one line: each is a block, and a statement ends with its own."""
    text = ("<p>会见时，李明表示，双方要深化合作。</p><p>王刚说，愿同中方加强交流。</p>"
            "<p>双方还就共同关心的问题交换了意见。</p>")
    ts = _turns(engine, text)
    assert [(t["speaker"], text[t["text_start"]:t["text_end"]]) for t in ts] == [
        ("李明", "双方要深化合作。"), ("王刚", "愿同中方加强交流。")]


@pytest.mark.corpus
def test_mfa_questions_and_answers_have_speakers(engine):
    for rec in corpus_records("mfa_spokesperson.jsonl", 20):
        if "主持例行记者会" not in rec["title"]:
            continue
        ts = engine.process_text("# " + rec["title"] + "\n" + rec["text"], rec["id"])["turns"]
        answers = [t for t in ts if t["kind"] in ("answer", "opening")]
        assert answers and all(t["speaker"] and t["speaker"] in rec["title"] for t in answers), rec["id"]


def test_label_after_a_no_break_space(engine):
    """Web transcripts indent with U+3000 and sometimes a U+00A0 before the label."""
    text = ("# 2019年1月2日外交部发言人陆慷主持例行记者会\n\n　　问：第一个问题？\n　　答：第一个回答。\n"
            "　　\u00a0问：第二个问题？\n　　答：第二个回答。\n")
    ts = _turns(engine, text)
    assert [t["kind"] for t in ts] == ["question", "answer", "question", "answer"]
    assert text[ts[1]["text_start"]:ts[1]["text_end"]] == "第一个回答。"


def test_name_positions_same_by_find_and_by_trie(monkeypatch):
    """Few names: one str.find pass each; many: one trie pass (linear in a long text). Both give
    the leftmost, then longest, non-overlapping names."""
    from types import SimpleNamespace

    from pipeline import turns
    from pipeline.ingest import doc_from_text
    names = ["王毅", "王毅军", "李强", "强调", "毅军", "张", "张三丰", "三丰"]
    people = SimpleNamespace(role={n: ("", None) for n in names})
    doc = doc_from_text("王毅军见李强调研，王毅说，张三丰和张三、丰收；毅军与王毅。" * 3, "t")
    monkeypatch.setattr(turns, "FEW_NAMES", 100)
    by_find = turns._name_positions(doc, people)
    monkeypatch.setattr(turns, "FEW_NAMES", 0)
    by_trie = turns._name_positions(doc, people)
    assert by_find == by_trie
    assert by_find[:3] == [(0, "王毅军"), (4, "李强"), (9, "王毅")]
