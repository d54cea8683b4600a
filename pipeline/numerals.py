"""Chinese and Arabic numerals -> numbers: the one numeral parser of the project.

Extractors find a span with a rule; this module turns its number text into a value
(Recognizers-Text's extractor/parser split). It accepts what press releases write:

    1,100  5.79  3万4000  25万6千  1,100万  1千零1  1.5万亿          (Arabic, mixed)
    三  十二  两千  一万五千亿  二十万亿  一万零一十二  三点五  二〇二五  (Chinese)
    百余  5000多万                                                  (余/多: approximation marks,
                                                                     ignored here; callers set approx)
    数百  几十万  十几                                              -> None (cannot be known)
    万  亿  万亿  百亿                                              -> one 万/亿 (上万人, 超百亿元)
    五六  两三  七八十                                              -> a range (parse_range)
    百分之五十                                                      -> 50 (the percent value)

Text is expected width-folded (doc.folded): full-width digits are already ASCII.
An invalid numeral (十四五 read as a number, 百千万) gives None rather than a guess.
"""
from __future__ import annotations

import functools
import re

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
          "七": 7, "八": 8, "九": 9,
          "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}
SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
BIG = {"万": 10_000, "亿": 100_000_000}
VAGUE = ("数", "几", "若干")          # 数百, 几十万, 十几: the value cannot be known
APPROX_MARKS = "余多"                 # 百余, 300多: "more than", decided by the caller
PERCENT_WORDS = "百分之"

_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?|.")
# Two adjacent Chinese digits n, n+1 (五六, 两三, 七八十) mean "n or n+1", not a positional number.
_PAIR = re.compile(r"(?<![零〇一二两三四五六七八九])([一二两三四五六七八九])([二两三四五六七八九])"
                   r"(?![零〇一二两三四五六七八九])")
_YEAR_AR = re.compile(r"(?:1[0-9]|2[01])[0-9]{2}")
_YEAR_CN = re.compile(r"[一二][零〇一二三四五六七八九]{3}")


class _Invalid(Exception):
    pass


def parse_number(s: str) -> float | None:
    """The value of a numeral, or None when it is vague (数百) or not a well-formed numeral."""
    lo, _hi = parse_range(s)
    return lo


@functools.lru_cache(maxsize=8192)
def parse_range(s: str) -> tuple[float | None, float | None]:
    """(value, value_max) of a numeral; value_max is set only for 五六 / 两三 style ranges.
    Cached: the same few thousand numerals (一, 两, 2025, 10) recur in every document."""
    s = s.replace(",", "")
    if _PLAIN.fullmatch(s):                       # the common case: 1260, 5.79
        return float(s), None
    if s.startswith(PERCENT_WORDS):
        s = s[len(PERCENT_WORDS):]
    if not s or any(v in s for v in VAGUE):
        return None, None
    for ch in APPROX_MARKS:
        s = s.replace(ch, "")
    m = _PAIR.search(s)
    if m and (DIGITS[m.group(2)] == DIGITS[m.group(1)] + 1):
        lo = _parse(s[:m.start()] + m.group(1) + s[m.end():])
        hi = _parse(s[:m.start()] + m.group(2) + s[m.end():])
        return (lo, hi) if lo is not None and hi is not None else (None, None)
    return _parse(s), None


def _parse(s: str) -> float | None:
    try:
        v = _value(_TOKEN.findall(s))
    except _Invalid:
        return None
    # 2.47万亿 is 2.47 * 1e12 = 2470000000000.0005 in binary floats: keep 15 significant digits
    return None if v is None else float(f"{v:.15g}")


def _value(tokens: list[str]) -> float | None:
    if not tokens:
        return None
    total = 0.0        # everything already multiplied by 亿
    mid = 0.0          # the part since the last 亿, already multiplied by 万
    sec = 0.0          # the section below 万 (十/百/千 multiples)
    cur: float | None = None     # the pending digit run or Arabic number
    run = 0            # length of a Chinese digit run (二〇二五 is positional)
    arabic = False     # cur came from Arabic digits
    frac = 0.0         # > 0 while reading Chinese decimals after 点
    last_small = None  # the last 十/百/千 in this section: they must decrease
    last_unit = None   # the last unit of any size, for 一万五 = 15000
    zero = False       # a 零 since the last unit: 一千零一 adds 1, not 100
    seen = False
    for tok in tokens:
        if tok[0].isdigit():
            if cur is not None:
                raise _Invalid
            cur, arabic, run, seen = float(tok), True, 0, True
        elif tok in DIGITS:
            d = DIGITS[tok]
            if frac:
                if cur is None:
                    raise _Invalid
                cur += d * frac
                frac /= 10
            elif cur is not None and not arabic and run:
                cur, run = cur * 10 + d, run + 1          # 二〇二五
            elif cur is not None:
                raise _Invalid
            elif d == 0:
                zero, seen = True, True
                if last_unit is None:                     # a leading 〇 starts a digit run
                    cur, run, arabic = 0.0, 1, False
            else:
                cur, run, arabic, seen = float(d), 1, False, True
        elif tok == "点" or tok == ".":
            if cur is None or frac or arabic:
                raise _Invalid
            frac = 0.1
        elif tok in SMALL:
            u = SMALL[tok]
            if (last_small is not None and u >= last_small) or run > 1 or frac:
                raise _Invalid
            sec += (1.0 if cur is None else cur) * u
            cur, run, arabic, last_small, last_unit, zero, seen = None, 0, False, u, u, False, True
        elif tok in BIG:
            u = BIG[tok]
            if not seen:                                 # 万人, 亿元 after 上/超: one 万, one 亿
                cur, seen = 1.0, True
            elif run > 1 and last_unit is not None:
                raise _Invalid
            part = sec + (cur or 0.0)
            frac = 0.0
            if u == BIG["万"]:
                if last_unit == u and part == 0:             # 万万
                    raise _Invalid
                mid += part * u
            else:
                total = (total + mid + part) * u
                mid = 0.0
            sec, cur, run, arabic, last_small, last_unit, zero = 0.0, None, 0, False, None, u, False
        else:
            raise _Invalid
    if not seen:
        return None
    if cur is not None:
        if last_unit is not None and not zero and run <= 1 and not frac and (not arabic or cur < 10) \
                and cur == int(cur) and cur < 10:
            cur *= last_unit / 10                          # 一万五 = 15000, 三千五 = 3500, 十五 = 15
        total += cur
    return total + mid + sec


def looks_like_year(s: str) -> bool:
    """2025, 1949, 二〇二五: a number that, before 年, names a calendar year."""
    return bool(_YEAR_AR.fullmatch(s) or _YEAR_CN.fullmatch(s))


def is_vague(s: str) -> bool:
    return any(v in s for v in VAGUE)


def has_approx_mark(s: str) -> bool:
    """余/多 inside a numeral (10余, 300多, 5000多万): 'more than'."""
    return any(ch in s for ch in APPROX_MARKS)
