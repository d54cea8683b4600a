"""Property tests: for random text mixing Chinese, ASCII, full-width digits and punctuation,
control characters, emoji and long lines, the pipeline never raises, and every row of every
table satisfies text == doc[start:end] and lies inside a main block."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.document import FOLD_TABLE, fold_width
from test_offsets import check_rows

PIECES = ["今年", "上半年", "11月10日", "2024—2026年", "十四五", "工业和信息化部", "湖北省委", "中国电信",
          "5.79万个", "超2万个", "近300家", "9.57%", "0.9个百分点", "三年", "第六届", "5G", "问：", "答：",
          "记者：", "赵荣贵:", "他表示，", "指出，", "## 另一条新闻", "# 标题", "推荐阅读", "责任编辑：张三",
          "<p>", "</p>", "---", "date: 2024-01-02", "，", "。", "：", "（", "）", "“", "”", "、", "\n", "\n\n",
          "\r\n", "\t", "\u3000", "１２３", "ＡＢＣ", "％", "😀", "\x00", "\x07", "\x1b", "\u200b", "\ufeff",
          "a" * 50, "一" * 30]
text_strategy = st.lists(st.one_of(st.sampled_from(PIECES),
                                   st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)),
                         max_size=60).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=text_strategy)
def test_pipeline_never_raises_and_offsets_hold(engine, text):
    result = engine.process_text(text, "prop")
    assert result["documents"][0]["status"] == "ok", result["documents"][0]["error"]
    check_rows(text, result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.lists(st.sampled_from(PIECES[:30]), min_size=200, max_size=400).map("".join))
def test_very_long_lines(engine, line):
    result = engine.process_text(line.replace("\n", ""), "long")
    assert result["documents"][0]["status"] == "ok"
    check_rows(line.replace("\n", ""), result)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600))
def test_fold_width_is_translate(text):
    folded = fold_width(text)
    assert folded == text.translate(FOLD_TABLE) and len(folded) == len(text)
