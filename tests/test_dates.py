"""dates: the reference date of a document and the dates table, through the whole pipeline."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import SEEDS, TRUTH, corpus_records
from pipeline import dates
from pipeline.document import Doc

D = dt.date.fromisoformat


def published(engine, text: str):
    row = engine.process_text(text, "t")["documents"][0]
    return row["published"], row["published_source"]


def date_rows(engine, text: str, ref: str | None = None) -> dict[str, dict]:
    rows = engine.process_text(text, "t", D(ref) if ref else None)["dates"]
    return {r["text"]: r for r in rows}


# --- the reference date ---------------------------------------------------------------------------
@pytest.mark.parametrize("text,want,source", [
    ("11月10日，2025中国5G+工业互联网大会新闻发布会在湖北武汉召开。", "2025-11-10", "lead"),
    ("# 2024 中国大会在武汉开幕\n\n中国网 11月19日  \n讯（记者 王某）\n\n11月19日，大会开幕。", "2024-11-19", "dateline"),
    ("本报北京4月25日电 会议召开。\n2024-04-26\n", "2024-04-26", "date line"),
    ("新华社北京2021年3月4日电 会议举行。", "2021-03-04", "dateline"),
    ("# 2020年4月29日外交部发言人耿爽主持例行记者会\n\n记者：4月28日，会议举行。", "2020-04-29", "title"),
    ("# 《新闻联播》 (20220924)\n\n本期节目主要内容。", "2022-09-24", "title"),
    ("---\ntitle: 大会开幕\ndate: 2024-11-19 10:00\n---\n\n大会开幕。", "2024-11-19", "front matter"),
    ("某某局关于开展检查的通知\n\n各单位：" + "请按时报送材料。" * 60 + "\n\n某某局\n2023年6月2日\n", "2023-06-02",
     "closing date line"),
])
def test_reference_sources(engine, text, want, source):
    got, src = published(engine, text)
    assert (got.isoformat() if got else None, (src or "").split(":")[0]) == (want, source)


def test_reference_year_from_same_line(engine):
    got, src = published(engine, "11月10日，2025中国5G+工业互联网大会新闻发布会召开。")
    assert got == D("2025-11-10") and "2025" in src and "same line" in src


@pytest.mark.parametrize("text", [
    "耿爽：4月28日，金砖国家举行外长会。",            # a month-day but no year anywhere
    "目前，各项筹备工作进展顺利。",                     # no date at all
])
def test_no_reference_is_null_never_today(engine, text):
    assert published(engine, text) == (None, None)
    for r in engine.process_text(text + "今年以来，去年同期。", "t")["dates"]:
        assert r["value_start"] is None and r["value_end"] is None and r["relative"]


def test_user_reference_is_kept(engine):
    text = "# 2020年4月29日外交部发言人主持例行记者会\n\n今天，会议举行。"
    out = engine.process_text(text, "t", D("2021-01-02"))
    assert out["documents"][0]["published"] == D("2021-01-02")
    assert out["documents"][0]["published_source"] == "user"
    assert {r["text"]: r["value_start"] for r in out["dates"]}["今天"] == D("2021-01-02")


def test_find_reference_does_nothing_when_fixed(engine):
    doc = Doc("t", "2024年11月19日\n今天，会议举行。", published=D("2020-01-01"), reference_fixed=True)
    dates.find_reference(doc, engine.rules["dates"])
    assert doc.published == D("2020-01-01")


def test_seeds_published(engine):
    want = {json.loads(l)["doc_id"]: json.loads(l)["published"] for l in open(TRUTH / "documents.jsonl")}
    for path in sorted(SEEDS.glob("*.txt")):
        row = engine.process_text(path.read_text(encoding="utf-8"), path.stem)["documents"][0]
        assert row["published"].isoformat() == want[path.stem], path.stem


# --- expressions in context -----------------------------------------------------------------------
def test_anaphora_follow_the_text(engine):
    rows = date_rows(engine, "2019年全省粮食产量比上年增长2%。同年12月，新粮库建成。12月31日验收，次日投用。",
                     "2020-02-28")
    assert rows["上年"]["value_start"] == D("2018-01-01")
    assert rows["同年12月"]["value_end"] == D("2019-12-31")
    assert rows["次日"]["value_start"] == D("2020-01-01")


def test_qualifiers(engine):
    rows = date_rows(engine, "截至今年10月底，自2020年以来，到2025年，2021年至今，2024年前后。", "2025-11-10")
    assert rows["今年10月底"]["qualifier"] == "until"
    assert rows["2020年"]["qualifier"] == "since"
    assert rows["2025年"]["qualifier"] == "until"
    assert rows["2021年"]["qualifier"] == "since"
    assert rows["2024年"]["qualifier"] is None


def test_not_dates(engine):
    text = ("当前，目前，近年来，近期，下一步，未来。2025中国5G+工业互联网大会召开，近2000家企业参加，"
            "中欧班列开行2000列，5G和6G网络，五年来成效明显，每月1日更新。")
    assert date_rows(engine, text, "2025-11-10") == {}


def test_plan_span_excludes_quotes(engine):
    text = "“十四五”期间成效显著，面向“十五五”谋划发展。"
    rows = engine.process_text(text, "t")["dates"]
    assert [(text[r["start"]:r["end"]], r["value_start"].year, r["value_end"].year) for r in rows] == [
        ("十四五", 2021, 2025), ("十五五", 2026, 2030)]


def test_corpus_rows_are_well_formed(engine):
    """On real pages: spans hold, values are ordered, grains and qualifiers are known."""
    from pipeline.records import GRAINS, QUALIFIERS
    for rec in corpus_records("xwlb_daily.jsonl", 20) + corpus_records("mfa_spokesperson.jsonl", 20):
        out = engine.process_text(rec["text"], rec["id"])
        for r in out["dates"]:
            assert rec["text"][r["start"]:r["end"]] == r["text"]
            assert r["grain"] in GRAINS and r["qualifier"] in (None, *QUALIFIERS)
            if r["value_start"] is not None:
                assert r["value_start"] <= r["value_end"], r


# --- the literal gate that skips a rule on a document without its strings -------------------------
@pytest.mark.parametrize("pattern,want", [
    (r"(?<!每)(?P<half>上|下)半年(?P<edge>末)?", ("半年",)),
    (r"(?P<r>(?:今|去)年)(?!纪)", ("今年", "去年")),
    (r"(?:(?P<r>今年)年?|(?<![每一])年)(?P<edge>初|底)", ("年初", "年底")),
    (r"(?P<y>\d{4})(?P<s>[-/])\d\d(?P=s)\d\d", ("-", "/")),
    (r"(?:一|二|三|四|五|六|七)十", ("十",)),                 # many strings, one shared character
    (r"\d+[a-z]*", None),                                  # nothing required
    (r"(?i)ab", None),                                     # case-insensitive: not a literal
    (r"x?y?", None),                                       # may match the empty string
])
def test_required_literals(pattern, want):
    assert dates.required_literals(pattern) == want


def test_every_example_row_holds_a_required_literal(engine):
    # the gate may skip a rule only on text it cannot match: every row of every example passes it
    from pipeline.process import DEFAULT_RULES_DIR
    from pipeline.rules import load_yaml
    data = load_yaml(DEFAULT_RULES_DIR / "dates.yaml")
    rules = {r.id: r for r in engine.rules["dates"]["rules"]}
    texts = [ex["text"] for r in data["rules"] for ex in (r.get("examples") or []) + (r.get("counter") or [])]
    for text in texts:
        for row in engine.process_text(text, "t")["dates"]:
            assert dates.may_match(rules[row["rule_id"]], dates.fold_width(row["text"])), row


def test_a_catastrophic_date_rule_fails_its_document_with_the_rule_named(monkeypatch):
    """The rule passes call the compiled pattern directly (speed) but keep Pattern's timeout."""
    from pipeline.process import Engine
    from pipeline.rules import Pattern, Where
    eng = Engine()
    monkeypatch.setattr(Pattern, "budget", staticmethod(lambda text: 0.3))
    rule = eng.rules["dates"]["rules"][0]
    evil = dates.Rule("date.evil", Pattern(r"(a|aa)+$", Where("rules/dates.yaml", "date.evil", 1)), 0,
                      frozenset())
    monkeypatch.setitem(eng.rules["dates"], "rules", [rule, evil])
    bad = eng.process_text("a" * 60 + "!", "bad")
    assert bad["documents"][0]["status"] == "error" and "date.evil" in bad["documents"][0]["error"]


# --- anchored rules: the same matches as finditer ---------------------------------------------------
def _anchored_rules(engine):
    rules = [r for r in engine.rules["dates"]["rules"] if r.anchor is not None]
    assert rules, "no date rule is anchored: the anchored path would go untested"
    return rules


_NOISE = ("0", "1", "2", "5", "9", "05", "12", "31", "2024", "1999", "19", "20", "-", "/", ".", ":", " ", "T",
          "年", "月", "日", "号", "初", "底", "末", "今", "去", "同", "当", "次", "天", "，", "。")


def test_anchored_matches_equal_finditer_on_corpus_and_noise(engine):
    """A rule tried only where its anchor literals allow finds exactly what finditer finds: on
    corpus text, and on random strings of the characters its matches are made of (dense
    near-misses, overlapping and back-to-back candidates)."""
    import random
    texts = [Doc("c", r["text"]).folded for name in ("mfa_spokesperson.jsonl", "xwlb_daily.jsonl")
             for r in corpus_records(name, 60)]
    texts += ["2023-05-062023/05/06 20220924 19:00，1999.1.2.3 12019-01-01 2020.13.01 20201301 2020-1-1T08:30",
              "今年初去年底同月当天次日当日同日次月今日去年年底年初初底末"]
    rng = random.Random(11)
    for rule in _anchored_rules(engine):
        pieces = sorted({lit for lit, _ in rule.anchor[2]} | set(_NOISE))
        noise = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))) for _ in range(600)]
        for text in texts + noise:
            want = [m.span() for m in rule.pat.rx.finditer(text)]
            got = [m.span() for m in dates.anchored_matches(rule.pat.rx.match, text, rule.anchor)]
            assert got == want, (rule.id, text[:80])


@pytest.mark.parametrize("source,text", [
    ("(?:19|20)\\d\\d年", "1999年2020年x19年201920年"),
    ("(?<![0-9])(?:今|去|明)年(?:初|底)?", "今年去年底明年初今今年"),
    ("[0-9]{1,2}(?:时|点)", "8时12点123时"),
    ("(?:去|今)年今?", "今年今年去年今去年"),        # a match may end inside the next candidate
])
def test_anchor_read_off_a_pattern_gives_finditer_matches(source, text):
    import regex
    a = dates._use_anchor(source, dates.required_literals(source))
    if a is None:
        pytest.skip("not anchored: finditer is used")
    rx = regex.compile(source)
    assert [m.span() for m in dates.anchored_matches(rx.match, text, a)] == [m.span() for m in rx.finditer(text)]


def _candidates_by_finditer(doc, rules):
    """What dates._candidates must give: every rule's whole-text finditer matches inside one main
    block, in rule order (no literal gate, no windows, no anchors)."""
    import bisect
    spans = doc.main_spans()
    starts = [s for s, _ in spans]
    out = []
    for rule in rules["rules"]:
        for m in rule.pat.rx.finditer(doc.folded):
            s, e = m.span()
            i = bisect.bisect_right(starts, s) - 1
            if i >= 0 and e <= spans[i][1]:
                out.append((s, e, rule.id, m.groups()))
    return out


def test_windowed_candidates_equal_whole_text_finditer(engine):
    """Rules run on the windows of text around their literals (dates.window, _compact) find
    exactly what they find on the whole text: corpus documents, and random strings dense in the
    rules' literals, digits and separators (windows merged, back to back, at the text's edges)."""
    import random

    from pipeline import blocks
    rules = engine.rules["dates"]
    assert any(r.window is not None for r in rules["rules"]), "no windowed rule: the path is untested"
    texts = [r["text"] for name in ("mfa_spokesperson.jsonl", "xwlb_daily.jsonl") for r in corpus_records(name, 40)]
    rng = random.Random(5)
    pieces = sorted({lit for r in rules["rules"] if r.needs for lit, _ in r.needs} | set(_NOISE)
                    | set("上下本这个季度半旬至到—~－～十一二三四五六七八九〇零两第每近约\n“”"))
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 200))) for _ in range(1500)]
    for text in texts:
        doc = Doc("t", text)
        blocks.label_blocks(doc, engine.rules["blocks"])
        got = [(c[0], c[1], c[2].id, c[3].groups()) for c in dates._candidates(doc, rules)]
        assert sorted(got) == sorted(_candidates_by_finditer(doc, rules)), text[:80]
