"""dateresolve: the calendar arithmetic alone, as a pure function of (Expr, reference, previous)."""
from __future__ import annotations

import datetime as dt

import pytest

from pipeline.dateresolve import PREV, REF, Expr, Value, month_end, resolve

D = dt.date.fromisoformat


def span(e: Expr, ref: str | None = None, prev: Value | None = None):
    v = resolve(e, D(ref) if ref else None, prev)
    return (v.start.isoformat() if v.start else None, v.end.isoformat() if v.end else None, v.grain, v.relative)


@pytest.mark.parametrize("year,month,end", [
    (2024, 2, "2024-02-29"), (2023, 2, "2023-02-28"), (1900, 2, "1900-02-28"), (2000, 2, "2000-02-29"),
    (2025, 4, "2025-04-30"), (2025, 12, "2025-12-31")])
def test_month_end(year, month, end):
    assert month_end(year, month).isoformat() == end


@pytest.mark.parametrize("expr,ref,want", [
    # 2024年11月19日 / 11月10日 (year from the reference) / 2月底 in a leap year
    (Expr(year=2024, month=11, day=19), None, ("2024-11-19", "2024-11-19", "day", False)),
    (Expr(month=11, day=10, nearest=True), "2025-11-10", ("2025-11-10", "2025-11-10", "day", True)),
    (Expr(month=11, day=10, nearest=True), None, (None, None, "day", True)),
    (Expr(year=2024, month=2, edge="last"), None, ("2024-02-29", "2024-02-29", "day", False)),
    (Expr(month=2, edge="last", nearest=True), "2024-03-05", ("2024-02-29", "2024-02-29", "day", True)),
    (Expr(year=2023, month=2, edge="last"), None, ("2023-02-28", "2023-02-28", "day", False)),
    (Expr(year=2024, month=2, edge="dekad3"), None, ("2024-02-21", "2024-02-29", "day", False)),
    (Expr(year=2024, month=4, edge="dekad2"), None, ("2024-04-11", "2024-04-20", "day", False)),
    (Expr(year=2024, month=4, edge="first"), None, ("2024-04-01", "2024-04-01", "day", False)),
    (Expr(year=2021, edge="last"), None, ("2021-12-31", "2021-12-31", "day", False)),
    (Expr(year_from=REF, edge="first"), "2024-05-01", ("2024-01-01", "2024-01-01", "day", True)),
    # ranges, also across a year end
    (Expr(month=11, day=21, end_day=23, nearest=True), "2025-11-10", ("2025-11-21", "2025-11-23", "day", True)),
    (Expr(year=2024, month=12, end_year=2025, end_month=2), None, ("2024-12-01", "2025-02-28", "month", False)),
    (Expr(year=2023, month=12, end_year=2024, end_month=2), None, ("2023-12-01", "2024-02-29", "month", False)),
    (Expr(month=12, day=28, end_month=1, end_day=3, nearest=True), "2024-12-01",
     ("2024-12-28", "2025-01-03", "day", True)),
    (Expr(year=2017, month=8, end_month=11), None, ("2017-08-01", "2017-11-30", "month", False)),
    (Expr(month=1, end_month=9, nearest=True), "2024-10-20", ("2024-01-01", "2024-09-30", "month", True)),
    (Expr(year=2024, end_year=2026), None, ("2024-01-01", "2026-12-31", "year", False)),
    # quarters and halves
    (Expr(quarter=1, end_quarter=3, year_from=REF), "2024-11-19", ("2024-01-01", "2024-09-30", "quarter", True)),
    (Expr(year=2023, quarter=4), None, ("2023-10-01", "2023-12-31", "quarter", False)),
    (Expr(year=2023, quarter=3, edge="last"), None, ("2023-09-30", "2023-09-30", "day", False)),
    (Expr(half=1, year_from=REF), "2025-11-10", ("2025-01-01", "2025-06-30", "half", True)),
    (Expr(year=2023, half=2), None, ("2023-07-01", "2023-12-31", "half", False)),
    (Expr(year_from=REF, months_upto=10), "2024-11-07", ("2024-01-01", "2024-10-31", "month", True)),
    # deictic words against the reference
    (Expr(year_from=REF), "2025-11-10", ("2025-01-01", "2025-12-31", "year", True)),
    (Expr(year_from=REF, year_offset=-1), "2025-11-10", ("2024-01-01", "2024-12-31", "year", True)),
    (Expr(year_from=REF, year_offset=-1), None, (None, None, "year", True)),
    (Expr(day_from=REF, day_offset=-1), "2024-03-01", ("2024-02-29", "2024-02-29", "day", True)),
    (Expr(month_from=REF, month_offset=-1), "2024-01-15", ("2023-12-01", "2023-12-31", "month", True)),
    (Expr(month_from=REF, month_offset=-1, edge="last"), "2024-03-10", ("2024-02-29", "2024-02-29", "day", True)),
    # the year of a year-less date is the one nearest the reference
    (Expr(month=12, day=30, nearest=True), "2024-01-05", ("2023-12-30", "2023-12-30", "day", True)),
    (Expr(month=1, day=1, nearest=True), "2024-12-20", ("2025-01-01", "2025-01-01", "day", True)),
    (Expr(month=1, nearest=True), "2024-12-20", ("2024-01-01", "2024-01-31", "month", True)),
    # a bare day: the reference's month, or the previous one when well after the reference
    (Expr(day=23), "2022-09-24", ("2022-09-23", "2022-09-23", "day", True)),
    (Expr(day=30), "2022-10-02", ("2022-09-30", "2022-09-30", "day", True)),
])
def test_resolve(expr, ref, want):
    assert span(expr, ref) == want


@pytest.mark.parametrize("n,start,end", [
    (1, 1953, 1957), (2, 1958, 1962), (3, 1966, 1970), (4, 1971, 1975), (5, 1976, 1980),
    (6, 1981, 1985), (7, 1986, 1990), (8, 1991, 1995), (9, 1996, 2000), (10, 2001, 2005),
    (11, 2006, 2010), (12, 2011, 2015), (13, 2016, 2020), (14, 2021, 2025), (15, 2026, 2030),
    (16, 2031, 2035)])
def test_five_year_plans(n, start, end):
    assert span(Expr(plan=n)) == (f"{start}-01-01", f"{end}-12-31", "period", False)


Y2019 = Value(D("2019-01-01"), D("2019-12-31"), "year", False)
Q1_2019 = Value(D("2019-01-01"), D("2019-03-31"), "quarter", False)
FEB_2024 = Value(D("2024-02-01"), D("2024-02-29"), "month", False)
DAY = Value(D("2023-05-08"), D("2023-05-08"), "day", False)


@pytest.mark.parametrize("expr,ref,prev,want", [
    # a bulletin on 2019 published in 2020: 比上年增长 -> 2018
    (Expr(year_from=PREV, year_offset=-1), "2020-02-28", Y2019, ("2018-01-01", "2018-12-31", "year", True)),
    (Expr(year_from=PREV, year_offset=-1), "2020-02-28", None, ("2019-01-01", "2019-12-31", "year", True)),
    # 上年同期 after 2019年一季度; 同期 after a year; 去年同期 against the reference
    (Expr(same_period=True, year_from=PREV, year_offset=-1), None, Q1_2019,
     ("2018-01-01", "2018-03-31", "quarter", True)),
    (Expr(same_period=True), None, Y2019, ("2019-01-01", "2019-12-31", "year", True)),
    (Expr(same_period=True, year_from=REF, year_offset=-1), "2024-11-19", None,
     ("2023-11-19", "2023-11-19", "day", True)),
    (Expr(same_period=True, year_from=REF, year_offset=-1), "2024-11-19", Y2019,
     ("2023-11-19", "2023-11-19", "day", True)),
    (Expr(same_period=True, year_from=REF, year_offset=-1), "2025-03-01", FEB_2024,
     ("2024-03-01", "2024-03-01", "day", True)),        # the previous date is not this year's
    (Expr(same_period=True, year_from=REF, year_offset=-1), "2024-03-01", FEB_2024,
     ("2023-02-01", "2023-02-28", "month", True)),
    # 同日, 次日, 当月, a clock time on the previous day
    (Expr(day_from=PREV), None, DAY, ("2023-05-08", "2023-05-08", "day", True)),
    (Expr(day_from=PREV, day_offset=1), None, DAY, ("2023-05-09", "2023-05-09", "day", True)),
    (Expr(month_from=PREV), None, DAY, ("2023-05-01", "2023-05-31", "month", True)),
    (Expr(clock=True), "2024-01-01", DAY, ("2023-05-08", "2023-05-08", "minute", True)),
    (Expr(day=9), "2024-01-01", DAY, ("2023-05-09", "2023-05-09", "day", True)),
])
def test_anaphora(expr, ref, prev, want):
    assert span(expr, ref, prev) == want


@pytest.mark.parametrize("expr", [
    Expr(year=2024), Expr(year=2024, month=5, day=3), Expr(month=5, nearest=True), Expr(year_from=REF),
    Expr(year_from=REF, quarter=3), Expr(year=2021, end_year=2025), Expr(plan=14), Expr(day_from=REF),
    Expr(month_from=REF, month_offset=-1, edge="last"), Expr(year_from=REF, half=1, edge="last"),
    Expr(year_from=REF, months_upto=10), Expr(month=10, day=1, nearest=True, clock=True),
])
def test_reads_prev_false_means_prev_is_ignored(expr):
    # dates.py reuses a value across previous dates when reads_prev is False
    assert not expr.reads_prev
    for ref in (None, "2024-03-01"):
        assert len({span(expr, ref, p) for p in (None, Y2019, Q1_2019, FEB_2024, DAY)}) == 1


@pytest.mark.parametrize("expr", [Expr(day=9), Expr(clock=True), Expr(same_period=True),
                                  Expr(year_from=PREV), Expr(month_from=PREV), Expr(day_from=PREV)])
def test_reads_prev_true(expr):
    assert expr.reads_prev
