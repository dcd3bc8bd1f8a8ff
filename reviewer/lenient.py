"""Lenient reading of the scalars upstream sends: a wrong type or an impossible value becomes a
default (or None), never an exception, because the documentation contradicts itself about
types (REFERENCE.md §7) and one odd field must not cost a whole session.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# The largest count a store column holds (PostgreSQL integer): larger claims are clamped.
MAX_COUNT = 2**31 - 1


def as_str(value: Any, default: str = "") -> str:
    """`value` if it is a string; `default` otherwise."""
    return value if isinstance(value, str) else default


def as_int(value: Any, default: int = 0) -> int:
    """An integer from an int, a finite float or a numeric string; `default` otherwise."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else default
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return default


def as_count(value: Any, default: int = 0) -> int:
    """A non-negative count that fits a store column."""
    return max(0, min(MAX_COUNT, as_int(value, default)))


def as_float(value: Any) -> float | None:
    """A finite float from an int or a float; None otherwise (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


# RFC 3339 (and ISO 8601's common profile): `T`, `t` or a space between date and time, any
# number of fractional digits, `Z`, `z` or a numeric offset; a leap second reads as :59.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_ts(value: Any) -> datetime | None:
    """An aware datetime from an RFC 3339 timestamp; None when it cannot be read.

    Without an offset the time is taken as UTC. Digits beyond microseconds are dropped.
    """
    if not isinstance(value, str) or not value:
        return None
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        tz: timezone = UTC
        if offset and offset not in ("Z", "z"):
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone(sign * delta)
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(59, int(second or 0)),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:  # month 13, hour 25, offset beyond a day …
        return None
