"""Tests of simulator.units: durations, rates and percentages as people type them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.units import (
    DAY,
    HOUR,
    MINUTE,
    WEEK,
    YEAR,
    UnitError,
    format_duration,
    parse_duration,
    parse_fraction,
    parse_rate,
)

# -- parse_duration ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("30s", 30.0),
        ("10m", 600.0),
        ("10min", 600.0),
        ("4h", 4 * HOUR),
        ("30d", 30 * DAY),
        ("2w", 2 * WEEK),
        ("2y", 2 * YEAR),
        (".5h", 1800.0),
        ("1e3ms", 1.0),
        (" 10m ", 600.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration_single_unit(text, seconds):
    """Each unit (ms s m min h d w y) converts to the right number of seconds."""
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1m30s", 90.0),
        ("1d12h", 1.5 * DAY),
        ("2h15m30s", 2 * HOUR + 15 * MINUTE + 30),
        ("1s500ms", 1.5),
    ],
)
def test_parse_duration_compound(text, seconds):
    """A compound duration is the sum of its parts."""
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "seconds"), [(90, 90.0), (2.5, 2.5), (0, 0.0), ("120", 120.0), (" 7.5 ", 7.5)]
)
def test_parse_duration_bare_number_is_seconds(value, seconds):
    """A bare number (or a numeric string) is a number of seconds."""
    assert parse_duration(value) == seconds


def test_parse_duration_units_are_consistent():
    """Unit constants agree with each other and a year is 365.25 days."""
    assert parse_duration("1m") == parse_duration("60s") == MINUTE
    assert parse_duration("1h") == parse_duration("60m") == HOUR
    assert parse_duration("1d") == parse_duration("24h") == DAY
    assert parse_duration("1w") == parse_duration("7d") == WEEK
    assert parse_duration("1y") == pytest.approx(365.25 * DAY)
    # the documented consequence: 99.99 % is 52.6 minutes of downtime a year
    assert (1 - 0.9999) * YEAR / MINUTE == pytest.approx(52.6, abs=0.05)


@pytest.mark.parametrize("value", ["-5s", "-1h30m", "1h-30m", -1, -0.5, -1e-9])
def test_parse_duration_refuses_negatives(value):
    """A negative duration is refused with a UnitError."""
    with pytest.raises(UnitError):
        parse_duration(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "abc",
        "10x",
        "30X",
        "1h30",
        "h",
        "m5",
        "10 parsecs",
        "1..5s",
        "inf",
        "nan",
        math.inf,
        math.nan,
        None,
        True,
        [1],
        {"s": 1},
    ],
)
def test_parse_duration_refuses_garbage(value):
    """Text that is not a duration (or a non-finite number) is refused with a UnitError."""
    with pytest.raises(UnitError):
        parse_duration(value)


def test_parse_duration_error_says_what_was_expected():
    """The error message quotes the input and shows examples of valid durations."""
    with pytest.raises(UnitError, match=r"expected a duration like .*250ms.*got '30x'"):
        parse_duration("30x")


def test_unit_error_is_a_value_error():
    """UnitError is a ValueError, so generic validation code catches it."""
    assert issubclass(UnitError, ValueError)


# -- parse_rate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("400/s", 400.0),
        ("1.2k/m", 20.0),
        ("30/h", 30 / HOUR),
        ("1.5K/min", 25.0),
        ("2M/d", 2e6 / DAY),
        ("5 / s", 5.0),
        ("100/ms", 1e5),
        ("0/s", 0.0),
        (12, 12.0),
        ("12", 12.0),
        (0.5, 0.5),
    ],
)
def test_parse_rate(text, per_second):
    """Rates with k/M multipliers and any time unit become events per second."""
    assert parse_rate(text) == pytest.approx(per_second, rel=1e-12)


@pytest.mark.parametrize(
    "value",
    ["-1/s", -1, "400/x", "400 per s", "k/s", "400/", "/s", "1.2g/m", "", "inf/s", math.inf, None, True],
)
def test_parse_rate_refuses_garbage(value):
    """Negative, non-finite or malformed rates are refused with a UnitError."""
    with pytest.raises(UnitError):
        parse_rate(value)


def test_parse_rate_error_says_what_was_expected():
    """The error message shows examples of valid rates."""
    with pytest.raises(UnitError, match=r"400/s"):
        parse_rate("400 per second")


# -- parse_fraction ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fraction"),
    [
        ("99.95%", 0.9995),
        ("100%", 1.0),
        ("0%", 0.0),
        ("50 %", 0.5),
        (" 99.9% ", 0.999),
        (0.9995, 0.9995),
        ("0.9995", 0.9995),
        (1, 1.0),
        (0, 0.0),
    ],
)
def test_parse_fraction(value, fraction):
    """A percentage with % or a fraction in [0, 1] becomes a fraction."""
    assert parse_fraction(value) == pytest.approx(fraction, rel=1e-12)


@pytest.mark.parametrize("value", [99.95, "99.95", 5, 1.0001])
def test_parse_fraction_bare_percentage_asks_for_percent_sign(value):
    """A bare number above 1 is refused with a message asking for the % sign."""
    with pytest.raises(UnitError, match=r"%") as info:
        parse_fraction(value)
    assert f"{float(value)}%" in str(info.value)


@pytest.mark.parametrize("value", ["150%", "100.01%", -0.1, "-5%", "abc", "99.95 percent", "", None, True])
def test_parse_fraction_refuses_out_of_range_and_garbage(value):
    """Percentages outside 0-100 %, negative fractions and text are refused."""
    with pytest.raises(UnitError):
        parse_fraction(value)


# -- format_duration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (0.0015, "1.5ms"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1.5m"),
        (5400, "1.5h"),
        (DAY, "1d"),
        (YEAR, "1y"),
        (2 * YEAR, "2y"),
    ],
)
def test_format_duration(seconds, text):
    """Durations render in the largest unit that keeps the number at least 1."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", [None, math.inf, -math.inf, math.nan])
def test_format_duration_unknown_is_dash(value):
    """A missing or non-finite duration renders as a dash."""
    assert format_duration(value) == "-"


@given(st.floats(min_value=1e-3, max_value=1e4 * YEAR, allow_nan=False, allow_infinity=False))
def test_format_duration_round_trips_through_parse(seconds):
    """Parsing a formatted duration gives it back to its three significant digits."""
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=5e-3)
