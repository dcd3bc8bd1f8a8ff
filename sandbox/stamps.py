"""Ids and timestamps: derived from the seed, formatted the way the upstream formats them.

Every id is a UUID4-shaped string hashed from ``seed`` and a label (never ``uuid4()``, never
``hash()``), so the same seed gives the same ids in every process. Timestamps are milliseconds since
the epoch, rendered as ISO-8601 UTC with milliseconds and ``Z``.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

MS_PER_MIN = 60_000
DAY_MS = 86_400_000
_BASE_MS = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000)
"""Start of the sandbox's fixed calendar: ended sessions happen in October-November 2026."""


def uuid_for(seed: int, label: str) -> str:
    """A UUID4-shaped id derived from ``seed`` and ``label`` (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def event_prefix(seed: int, session_id: str) -> str:
    """The first four groups of every event id of a session; the last group is the index."""
    full = uuid_for(seed, f"events:{session_id}")
    return full[:23]


def event_id(prefix: str, index: int) -> str:
    """Event ``index`` of the session whose events share ``prefix``."""
    return f"{prefix}-{index:012x}"


def iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, the format the upstream API uses."""
    sec, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"


def parse_iso_ms(value: Any) -> int | None:
    """Milliseconds since the epoch for an ISO timestamp, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def sha_hex(rng: random.Random, length: int = 40) -> str:
    """A random hex string, e.g. a commit sha."""
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def day_ms(month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Milliseconds for a date in October/November 2026 (the sandbox's fixed calendar)."""
    start_of_month = _BASE_MS if month == 10 else _BASE_MS + 31 * DAY_MS
    return start_of_month + (day - 1) * DAY_MS + hour * 3_600_000 + minute * MS_PER_MIN
