"""Parsing of the quantities people type into topology files.

Durations (``250ms``, ``10m``, ``1h30m``, ``2y``), rates (``400/s``, ``1.5k/m``) and
percentages (``99.95%``) become plain floats in SI units: seconds, events per second,
and fractions in [0, 1]. Internally failsim never handles a unit string again.
"""

from __future__ import annotations

import math
import re

from simulator.errors import short_repr

__all__ = [
    "SECOND",
    "MINUTE",
    "HOUR",
    "DAY",
    "WEEK",
    "YEAR",
    "MIN_DURATION",
    "MAX_DURATION",
    "MIN_RATE",
    "MAX_RATE",
    "UnitError",
    "parse_duration",
    "parse_rate",
    "parse_fraction",
    "parse_bytes",
    "format_duration",
    "format_bytes",
]

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
#: A Julian year (365.25 days): 99.99 % availability is 52.6 minutes of downtime a year.
YEAR = 365.25 * DAY

#: Non-zero durations lie between these (seconds): their squares and reciprocals, and
#: sums of many of them, stay ordinary floats.
MIN_DURATION = 1e-9
MAX_DURATION = 1e9 * YEAR
#: Non-zero rates lie between these (per second).
MIN_RATE = 1e-12
MAX_RATE = 1e12

_DURATION_UNITS = {
    "ms": 1e-3,
    "s": SECOND,
    "m": MINUTE,
    "min": MINUTE,
    "h": HOUR,
    "d": DAY,
    "w": WEEK,
    "y": YEAR,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|min|s|m|h|d|w|y)")
_RATE = re.compile(rf"^\s*({_NUMBER})\s*([kKM]?)\s*/\s*(ms|min|s|m|h|d|w|y)\s*$")
_PERCENT = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")
_SIZE = re.compile(rf"^\s*({_NUMBER})\s*([kKMGT]?)(i?)B\s*$")
_SIZE_POWERS = {"": 0, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4}
_MULTIPLIERS = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6}


class UnitError(ValueError):
    """A quantity could not be read; the message says what was expected."""


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # beyond any float: as impossible as infinity
            return math.copysign(math.inf, value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_bytes(value: object) -> float:
    """A size in bytes: ``2KB`` (10^3), ``1.5MiB`` (2^20), ``512B`` or a bare number."""
    number = _as_number(value)
    if number is None:
        match = _SIZE.match(value) if isinstance(value, str) else None
        if match is None:
            raise UnitError(f"expected a size such as 2KB, 1.5MiB or 512B, got {short_repr(value)}")
        number = float(match.group(1)) * (1024.0 if match.group(3) else 1000.0) ** _SIZE_POWERS[match.group(2)]
    if not math.isfinite(number) or number < 0:
        raise UnitError(f"a size must be finite and not negative, got {short_repr(value)}")
    return number


def parse_duration(value: object) -> float:
    """Return a duration in seconds.

    Parameters
    ----------
    value : str or number
        ``"250ms"``, ``"10m"``, ``"1h30m"``, ``"2y"``, or a bare number of seconds.
        Units: ms, s, m (or min), h, d, w, y (365.25 days).

    Examples
    --------
    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration("250ms")
    0.25
    """
    number = _as_number(value)
    if number is not None:
        seconds = number
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        seconds, pos = 0.0, 0
        while pos < len(text):
            match = _DURATION_PART.match(text, pos)
            if match is None:
                raise UnitError(
                    f"expected a duration like 250ms, 10m, 4h, 30d or 2y, got {short_repr(value)}"
                )
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
    else:
        raise UnitError(f"expected a duration like 250ms, 10m, 4h, 30d or 2y, got {short_repr(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise UnitError(f"a duration must be finite and not negative, got {short_repr(value)}")
    if seconds != 0 and not MIN_DURATION <= seconds <= MAX_DURATION:
        raise UnitError(f"a duration must be 0 or between 1ns and 1e9y, got {short_repr(value)}")
    return seconds


def parse_rate(value: object) -> float:
    """Return a rate in events per second.

    Examples
    --------
    >>> parse_rate("400/s")
    400.0
    >>> parse_rate("1.2k/m")
    20.0
    """
    number = _as_number(value)
    if number is not None:
        rate = number
    else:
        match = _RATE.match(value) if isinstance(value, str) else None
        if match is None:
            raise UnitError(f"expected a rate like 400/s, 1.2k/m or 30/h, got {short_repr(value)}")
        rate = (
            float(match.group(1))
            * _MULTIPLIERS[match.group(2)]
            / _DURATION_UNITS[match.group(3)]
        )
    if not math.isfinite(rate) or rate < 0:
        raise UnitError(f"a rate must be finite and not negative, got {short_repr(value)}")
    if rate != 0 and not MIN_RATE <= rate <= MAX_RATE:
        raise UnitError(f"a rate must be 0 or between 1e-12/s and 1e12/s, got {short_repr(value)}")
    return rate


def parse_fraction(value: object) -> float:
    """Return a fraction in [0, 1] from ``"99.95%"`` or a number in [0, 1].

    A bare number above 1 is refused rather than guessed: ``99.95`` could mean
    either, so it must be written ``99.95%``.
    """
    if isinstance(value, str) and _PERCENT.match(value):
        fraction = float(_PERCENT.match(value).group(1)) / 100.0  # type: ignore[union-attr]
    else:
        number = _as_number(value)
        if number is None:
            raise UnitError(f"expected a percentage like 99.95% or a fraction, got {short_repr(value)}")
        if number > 1:
            raise UnitError(f"write percentages with a % sign (e.g. {number}%), got {short_repr(value)}")
        fraction = number
    if not 0.0 <= fraction <= 1.0:
        raise UnitError(f"a percentage must be between 0% and 100%, got {short_repr(value)}")
    return fraction


def format_duration(seconds: float) -> str:
    """Render seconds the way a person would write them (``"1.5h"``, ``"250ms"``)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, size in (("y", YEAR), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.3g}{unit}"
    if seconds == 0:
        return "0s"
    return f"{seconds * 1e3:.3g}ms"


def format_bytes(size: float) -> str:
    """Render a size in bytes with binary prefixes (``"2MiB"``, ``"512B"``)."""
    for unit, power in (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if size >= 1024**power:
            return f"{size / 1024**power:.3g}{unit}"
    return f"{size:.0f}B"
