"""pipeline/numerals.py: the one numeral parser. Many cases come from numeral bugs reported
against Microsoft Recognizers-Text (一万五千亿, 二十万亿, 3万4000, 1,100万, 一万零一十二)."""
from __future__ import annotations

import pytest

from pipeline.numerals import has_approx_mark, is_vague, looks_like_year, parse_number, parse_range

CASES = [
    # Arabic: separators, decimals (full-width digits arrive folded)
    ("3", 3), ("1260", 1260), ("1,100", 1100), ("1,234,567", 1234567), ("5.79", 5.79), ("0.9", 0.9),
    # Chinese
    ("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("一十二", 12), ("一百二十", 120),
    ("两千", 2000), ("两", 2), ("九十五", 95), ("三百五", 350), ("一万五", 15000),
    ("一万五千亿", 1.5e12), ("二十万亿", 2e13), ("三千万", 3e7), ("十四亿", 1.4e9),
    ("一千零一", 1001), ("一百零五", 105), ("一千零五十", 1050),
    ("一万零一十二", 10012), ("一万零十二", 10012), ("一万零一", 10001),
    ("三点五", 3.5), ("零点五", 0.5), ("一点五亿", 1.5e8), ("二〇二五", 2025), ("〇", 0),
    ("壹佰", 100),
    # Mixed Arabic + magnitude
    ("5.79万", 57900), ("2835亿", 2.835e11), ("1.5万亿", 1.5e12), ("5.58万亿", 5.58e12),
    ("3万4000", 34000), ("25万6千", 256000), ("1,100万", 1.1e7), ("1千零1", 1001),
    ("3亿5000万", 3.5e8), ("1亿2千万", 1.2e8), ("3万4", 34000),
    # approximation marks are ignored by the parser (approx is set by the extractor)
    ("百余", 100), ("10余", 10), ("300多", 300), ("5000多万", 5e7), ("十余万", 1e5),
    # percent words
    ("百分之五十", 50), ("百分之零点五", 0.5),
    # a magnitude alone is one of it (上万人, 超亿元, 近百个, 突破万亿元: the extractor reads
    # these only after a qualifier)
    ("万", 1e4), ("亿", 1e8), ("万亿", 1e12), ("百亿", 1e10), ("千万", 1e7), ("万余", 1e4),
]


@pytest.mark.parametrize("text,value", CASES, ids=[c[0] for c in CASES])
def test_parse_number(text, value):
    got = parse_number(text)
    assert got is not None and abs(got - value) <= 1e-9 * max(1, abs(value)), (text, got)


@pytest.mark.parametrize("text", ["数百", "数百亿", "几十万", "十几", "几", "若干"])
def test_vague_numbers_have_no_value(text):
    assert parse_number(text) is None
    assert is_vague(text)


@pytest.mark.parametrize("text", ["百千万", "十百", "万万", "1.2.3", "3五", "", "点五"])
def test_invalid_numerals_give_none(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text,lo,hi", [("五六", 5, 6), ("两三", 2, 3), ("七八十", 70, 80),
                                        ("十五六", 15, 16), ("一两", 1, 2), ("三四百万", 3e6, 4e6)])
def test_adjacent_digits_are_a_range(text, lo, hi):
    assert parse_range(text) == (lo, hi)


def test_positional_digits_are_not_a_range():
    assert parse_range("二〇二五") == (2025, None)
    assert parse_range("一二三四") == (1234, None)


@pytest.mark.parametrize("text,year", [("2025", True), ("1949", True), ("二〇二五", True),
                                       ("5000", False), ("20", False), ("2,025", False), ("三", False)])
def test_looks_like_year(text, year):
    assert looks_like_year(text) is year


def test_approx_marks():
    assert has_approx_mark("10余") and has_approx_mark("5000多万") and not has_approx_mark("5000万")


def test_magnitudes_give_exact_values():
    """regression: 2.47 * 1e12 is 2470000000000.0005 in binary floating point"""
    assert parse_number("2.47万亿") == 2.47e12
    assert parse_number("5.79万") == 57900
