"""Organisations: the grammar, the gazetteer, canonical names, the helper for captions."""
from __future__ import annotations


import pytest

from conftest import corpus_records
from pipeline import organisations as org


@pytest.fixture(scope="module")
def rules(engine):
    return engine.rules["organisations"]


def orgs(engine, text):
    return [(r["text"], r["name"], r["kind"]) for r in engine.process_text(text)["organisations"]]


@pytest.mark.parametrize("text, want", [
    # coordination: one mention per name
    ("中国电信、中国移动、中国联通参与展示。", [("中国电信", "中国电信", "company"), ("中国移动", "中国移动", "company"),
                                            ("中国联通", "中国联通", "company")]),
    # the left edge is a word boundary, not the preposition
    ("在工业和信息化部的指导下", [("工业和信息化部", "工业和信息化部", "government")]),
    # the longest name; the title after it stays out
    ("工业和信息化部新闻宣传中心党委副书记、副主任赵荣贵", [("工业和信息化部新闻宣传中心", "工业和信息化部新闻宣传中心", "government")]),
    # two bodies written together
    ("湖北省通信管理局表示，在省委省政府的领导下推进。", [("湖北省通信管理局", "湖北省通信管理局", "government"),
                                          ("省委", "中国共产党湖北省委员会", "party"), ("省政府", "湖北省人民政府", "government")]),
    ("工信部信管局和湖北省经信厅给予支持。", [("工信部信管局", "工业和信息化部信息通信管理局", "government"),
                                  ("湖北省经信厅", "湖北省经济和信息化厅", "government")]),
])
def test_mentions(engine, text, want):
    assert orgs(engine, text) == want


@pytest.mark.parametrize("text", [
    "2025中国5G+工业互联网大会在武汉召开。",
    "党的二十届四中全会提出新要求。",
    "湖北、京津冀、长三角积极参与。",
    "该部有关负责人表示，相关企业和有关部门要落实。",
    "主办方邀请党组和党委成员出席。",
    "布局发展通算中心、超算中心、智算中心。",
])
def test_not_organisations(engine, text):
    assert orgs(engine, text) == []


def test_full_name_in_the_same_document(engine):
    got = orgs(engine, "中国长江三峡集团有限公司与武汉签约。三峡集团将加大投资。")
    assert ("三峡集团", "中国长江三峡集团有限公司", "company") in got


def test_find_orgs_on_a_caption(rules):
    assert org.find_orgs("武汉市人民政府副秘书长", rules) == [(0, 7, "武汉市人民政府", "government")]
    assert org.find_orgs("工业和信息化部新闻宣传中心党委副书记、副主任", rules) == [
        (0, 13, "工业和信息化部新闻宣传中心", "government")]
    assert org.find_orgs("湖北省委宣传部新闻发布处处长", rules)[0][2] == "中国共产党湖北省委员会宣传部"
    assert org.find_orgs("外交部发言人", rules) == [(0, 3, "外交部", "government")]


def test_lexicon_words_are_names(rules):
    words = org.lexicon_words(rules)
    assert "工信部" in words and "湖北省" in words
    assert not any(ch in w for w in words for ch in "()[]|\\*?+")


def test_corpus_rows_are_consistent(engine):
    for rec in corpus_records("mfa_spokesperson.jsonl", 10) + corpus_records("xwlb_daily.jsonl", 5):
        text = rec["text"]
        for r in engine.process_text(text, rec["id"])["organisations"]:
            assert text[r["start"]:r["end"]] == r["text"]
            assert r["kind"] in ("government", "party", "company", "media", "academic", "association", "other")
            assert r["name"]




def _regex_found(folded, rules):
    n, rev = len(folded), folded[::-1]
    return [(n - m.end(), n - m.start(), m.group()[::-1]) for m in rules["lex_rx"].finditer(rev)]


def test_lexicon_arrays_match_the_regex(rules):
    """The lexicon found in C (when built), through numpy arrays (long texts) and through the
    regex (short ones): the same matches (longest word ending at each place, right to left, no
    overlaps)."""
    from pipeline import native
    assert (rules["lex_ctrie"] is None) == (native.cjieba is None)
    texts = ["联合国安理会和联合国会员国代表出席。工信部信管局、湖北省经信厅给予支持。" * 40,
             "国家卫生健康委员会中国共产党第二十届中央委员会" * 30, "部" * 50, "外交部发言人" + "。" * 1200]
    texts += [rec["text"] for rec in corpus_records("xwlb_daily.jsonl", 20) + corpus_records("mfa_spokesperson.jsonl", 20)]
    for text in texts:
        folded = text.translate({cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)})
        for part in (folded, folded[:37], folded[3:1500], folded[-2:]):
            want = _regex_found(part, rules)
            assert org._lexicon_found_arrays(part, rules["lex_trie"]) == want
            if rules["lex_ctrie"] is not None:            # the C trie (pipeline._cjieba), any length
                assert rules["lex_ctrie"][0].rmatches(part, rules["lex_ctrie"][1]) == want


def test_word_maps_find_the_words_around_a_place():
    """The byte maps of jieba's words answer what the token list does, blanks (gaps) included."""
    from pipeline.document import Tokens
    folded = "湖北省 经信厅给予支持"
    spans = [(0, 3), (4, 6), (6, 7), (7, 9), (9, 11)]
    for tokens in (Tokens([s for s, _ in spans], [e for _, e in spans]), spans):
        w = org._Words(tokens, folded)
        for pos in range(len(folded)):
            holding = [s for s, e in spans if s <= pos < e]
            assert w.containing(pos) == (holding[0] if holding else None)
            assert w.starts_word(pos) == any(s == pos for s, _ in spans)
    plain = org._Words(None, "省委")
    assert plain.containing(1) == 1 and plain.starts_word(1)
