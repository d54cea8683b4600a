"""Date resolution as a pure function: (parsed expression, reference date, previous date) -> value.

The extractor (dates.py) finds a span and parses it into an `Expr`; this module turns the Expr
into an inclusive ISO range and a grain. Nothing here reads text, rules or the clock, so every
calendar fact (leap years, month ends, cross-year ranges, five-year plans, anaphora) is tested
directly in tests/test_dateresolve.py.

Where the value needs a date the document does not give (a year-less month-day with no
reference date), the result has start/end None: never today's date.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, fields

# where a missing year/month/day comes from
REF = "ref"        # the document's reference date (deictic: 今年, 昨天, 11月10日)
PREV = "prev"      # the nearest earlier date in the text (anaphoric: 上年, 同日, 次日)


@dataclass(frozen=True)
class Expr:
    """A parsed date expression. Only the fields the text gave are set."""
    year: int | None = None            # explicit start year
    year_from: str | None = None       # REF / PREV when the year is deictic or anaphoric
    year_offset: int = 0               # 去年 -1, 明年 +1, 上年 -1, 次年 +1
    month: int | None = None
    month_from: str | None = None      # 本月 / 上月 (REF), 当月 (PREV)
    month_offset: int = 0
    day: int | None = None
    day_from: str | None = None        # 今天 / 昨天 (REF), 同日 / 次日 (PREV)
    day_offset: int = 0
    end_year: int | None = None        # range ends (None: same as the start's)
    end_month: int | None = None
    end_day: int | None = None
    quarter: int | None = None         # 1..4; with end_quarter a quarter range (前三季度: 1..3)
    end_quarter: int | None = None
    half: int | None = None            # 1 上半年, 2 下半年
    edge: str | None = None            # first / last (初, 底/末) / dekad1..3 (上/中/下旬)
    edge_of: str | None = None         # year / quarter / month / half: what the edge cuts
    months_upto: int | None = None     # 前10个月 -> months 1..10
    plan: int | None = None            # five-year plan number (十四五 -> 14)
    same_period: bool = False          # 同期: the previous date's own period (+ year_offset)
    clock: bool = False                # a clock time: grain minute on its day
    nearest: bool = False              # year-less day/month: pick the year nearest the reference

    @classmethod
    def of(cls, fields: dict) -> "Expr":
        """Expr(**fields), built without the frozen dataclass's __init__ (an object.__setattr__
        per field: 3.6 us here, this 0.8 us); the same fields, equality, hash and repr."""
        if not fields.keys() <= _DEFAULTS.keys():
            raise TypeError(f"Expr has no field(s) {sorted(fields.keys() - _DEFAULTS.keys())}")
        e = object.__new__(cls)
        e.__dict__.update(_DEFAULTS)
        e.__dict__.update(fields)
        return e

    @property
    def anchors(self) -> bool:
        """Whether later anaphors may read against this date. A comparison base (比上年, 同期)
        does not move the story's time; 同年12月, 次日 do."""
        return not (self.same_period or (self.year_from == PREV and self.month is None
                                         and self.day is None and not (self.quarter or self.half)))

    @property
    def reads_prev(self) -> bool:
        """Whether resolve() looks at the previous date at all (else its value depends on the
        reference only, and dates.py may reuse it). Keep in step with resolve()."""
        return (self.same_period or PREV in (self.year_from, self.month_from, self.day_from)
                or (self.month is None and (self.day is not None or self.clock)))


_DEFAULTS = {f.name: f.default for f in fields(Expr)}


@dataclass(frozen=True)
class Value:
    start: dt.date | None
    end: dt.date | None
    grain: str
    relative: bool


@dataclass(frozen=True)
class Plans:
    """Five-year plans: 一五 1953-57, 二五 1958-62, then three adjustment years (1963-65),
    三五 from 1966 and every plan five years after (十四五 2021-25, 十五五 2026-30)."""
    first_start: int = 1953
    gap_after: int = 2
    gap_years: int = 3

    def start(self, n: int) -> int:
        return self.first_start + 5 * (n - 1) + (self.gap_years if n > self.gap_after else 0)


PLANS = Plans()
NEAREST_DAYS = 183      # a year-less date more than half a year after the reference is last year's


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def shift_years(d: dt.date, n: int) -> dt.date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:                  # 29 Feb -> 28 Feb
        return d.replace(year=d.year + n, day=28)


def shift_months(year: int, month: int, n: int) -> tuple[int, int]:
    k = year * 12 + (month - 1) + n
    return k // 12, k % 12 + 1


def resolve(e: Expr, ref: dt.date | None, prev: Value | None = None, plans: Plans = PLANS) -> Value:
    """The inclusive range, grain and relativity of `e`, read against `ref` and `prev`."""
    if e.plan is not None:
        s = plans.start(e.plan)
        return Value(dt.date(s, 1, 1), dt.date(s + 4, 12, 31), "period", False)
    prev_ok = prev if prev is not None and prev.start is not None else None
    if e.same_period:
        return _same_period(e, ref, prev_ok)
    relative = bool(e.year_from or e.month_from or e.day_from
                    or (e.year is None and (e.month is not None or e.day is not None or e.clock
                                            or e.quarter or e.half or e.edge or e.months_upto)))
    try:
        start, end, grain = _absolute(e, ref, prev_ok)
    except (_Unknown, ValueError):
        return Value(None, None, _grain_of(e), relative)
    return Value(start, end, grain, relative)


class _Unknown(Exception):
    """A part of the date needs a reference the document does not have."""


def _anchor(frm: str | None, ref: dt.date | None, prev: Value | None) -> dt.date:
    if frm == PREV and prev is not None:
        return prev.start
    if ref is None:
        raise _Unknown
    return ref


def _grain_of(e: Expr) -> str:
    if e.clock:
        return "minute"
    if e.day is not None or e.day_from or e.edge:
        return "day"
    if e.quarter:
        return "quarter"
    if e.half:
        return "half"
    if e.month is not None or e.month_from or e.months_upto:
        return "month"
    return "year"


def _same_period(e: Expr, ref: dt.date | None, prev: Value | None) -> Value:
    """同期 / 上年同期 / 去年同期: a previous date's period moved by year_offset years.
    去年同期 is read against the reference: the previous date is used only when it lies in the
    reference year (今年前三季度 … 去年同期); otherwise the reference day itself."""
    base = None
    if prev is not None and (e.year_from != REF or ref is None or prev.start.year == ref.year):
        base = prev
    elif ref is not None:
        base = Value(ref, ref, "day", True)
    if base is None:
        return Value(None, None, "day", True)
    end = shift_years(base.end, e.year_offset)
    if base.end == month_end(base.end.year, base.end.month):     # keep month ends (29 Feb)
        end = month_end(end.year, end.month)
    return Value(shift_years(base.start, e.year_offset), end, base.grain, True)


def _year(e: Expr, ref: dt.date | None, prev: Value | None) -> int:
    if e.year is not None:
        return e.year
    return _anchor(e.year_from, ref, prev).year + e.year_offset


def _absolute(e: Expr, ref: dt.date | None, prev: Value | None) -> tuple[dt.date, dt.date, str]:
    if e.day_from:                                         # 今天 / 昨天 / 同日 / 次日
        if e.day_from == PREV and prev is not None and prev.grain not in ("day", "minute"):
            raise _Unknown                                 # 2025年 … 当天: which day is not said
        d = _anchor(e.day_from, ref, prev) + dt.timedelta(days=e.day_offset)
        return d, d, "minute" if e.clock else "day"
    if e.clock and e.month is None and e.day is None:     # 12时55分: the day it belongs to
        prev_day = prev if prev is not None and prev.grain in ("day", "minute") else None
        d = _anchor(PREV if prev_day else REF, ref, prev_day)
        return d, d, "minute"
    if e.month_from:                                       # 本月 / 上月 / 当月
        a = _anchor(e.month_from, ref, prev)
        y, m = shift_months(a.year, a.month, e.month_offset)
        return _month_value(y, m, e)
    if e.day is not None and e.month is None:              # 23日: month from the previous date
        return _bare_day(e, ref, prev)
    y = _year(e, ref, prev) if (e.year is not None or e.year_from or e.month or e.quarter
                                or e.half or e.edge or e.months_upto) else None
    if y is None:
        raise _Unknown
    if e.quarter:
        q2 = e.end_quarter or e.quarter
        start = dt.date(y, 3 * e.quarter - 2, 1)
        end = month_end(y, 3 * q2)
        if e.edge:
            return _edge(start, end, e.edge), _edge(start, end, e.edge), "day"
        return start, end, "quarter"
    if e.half:
        start, end = dt.date(y, 6 * e.half - 5, 1), month_end(y, 6 * e.half)
        if e.edge:
            return _edge(start, end, e.edge), _edge(start, end, e.edge), "day"
        return start, end, "half"
    if e.months_upto:
        return dt.date(y, 1, 1), month_end(y, e.months_upto), "month"
    if e.month is None:                                    # a year, a year range, 年底
        y2 = e.end_year if e.end_year is not None else y
        start, end = dt.date(y, 1, 1), dt.date(y2, 12, 31)
        if e.edge:
            return _edge(start, end, e.edge), _edge(start, end, e.edge), "day"
        return start, end, "year"
    if e.nearest and e.year is None and e.year_from is None and ref is not None:
        y = _nearest_year(y, e.month, e.day, ref)
    if e.day is None:                                      # a month or a month range
        if e.end_month is not None:
            y2, m2 = _range_end(y, e.month, 1, e.end_year, e.end_month, 1)
            return dt.date(y, e.month, 1), month_end(y2, m2), "month"
        return _month_value(y, e.month, e)
    start = dt.date(y, e.month, e.day)
    if e.end_day is None:
        return start, start, "minute" if e.clock else "day"
    y2, m2 = _range_end(y, e.month, e.day, e.end_year, e.end_month or e.month, e.end_day)
    return start, dt.date(y2, m2, e.end_day), "day"


def _month_value(y: int, m: int, e: Expr) -> tuple[dt.date, dt.date, str]:
    start, end = dt.date(y, m, 1), month_end(y, m)
    if e.edge:
        s, t = _edge(start, end, e.edge), _edge(start, end, e.edge, last=True)
        return s, t, "day"
    return start, end, "month"


def _edge(start: dt.date, end: dt.date, edge: str, last: bool = False) -> dt.date:
    """初 -> first day, 底/末 -> last day, 上/中/下旬 -> days 1-10, 11-20, 21-end."""
    if edge == "first":
        return start
    if edge == "last":
        return end
    k = int(edge[-1])                                      # dekad1..3
    if not last:
        return start.replace(day=10 * (k - 1) + 1)
    return end if k == 3 else start.replace(day=10 * k)


def _range_end(y: int, m: int, d: int, y2: int | None, m2: int, d2: int) -> tuple[int, int]:
    """The end's year: as written, else the start's, else the next when the end comes first
    (12月28日至1月3日)."""
    if y2 is not None:
        return y2, m2
    return (y + 1, m2) if (m2, d2) < (m, d) else (y, m2)


def _nearest_year(y: int, m: int, d: int | None, ref: dt.date) -> int:
    """The year of a year-less month-day (or holiday) nearest the reference: 12月30日 read on
    5 January is last year's, 元旦 read on 20 December next year's. A year-less month (10月, 1-9月)
    only moves back: in a December review 1月 is this year's January."""
    try:
        cand = dt.date(y, m, min(d or 1, calendar.monthrange(y, m)[1]))
    except ValueError:
        return y
    if (cand - ref).days > NEAREST_DAYS:
        return y - 1
    if d is not None and (ref - cand).days > NEAREST_DAYS:
        return y + 1
    return y


def _bare_day(e: Expr, ref: dt.date | None, prev: Value | None) -> tuple[dt.date, dt.date, str]:
    """23日: the month of the previous date when it has one, else the reference's month (the
    previous month when the day would be well after the reference)."""
    if prev is not None and prev.grain in ("day", "minute", "month"):
        y, m = prev.start.year, prev.start.month
        if e.end_day is not None:
            return dt.date(y, m, e.day), dt.date(y, m, e.end_day), "day"
        d = dt.date(y, m, e.day)
        return d, d, "minute" if e.clock else "day"
    if ref is None:
        raise _Unknown
    y, m = ref.year, ref.month
    if e.day > ref.day + 10:
        y, m = shift_months(y, m, -1)
    d = dt.date(y, m, e.day)
    d2 = dt.date(y, m, e.end_day) if e.end_day is not None else d
    return d, d2, "minute" if e.clock and e.end_day is None else "day"
