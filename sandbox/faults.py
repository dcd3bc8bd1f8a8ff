"""How the sandbox misbehaves on request: one-shot faults, random failures and rate limits.

Tests and benchmarks queue a *fault* for the next requests of a route (``SandboxServer.inject`` or
``POST /_sandbox/faults``): an error status, a delay, a truncated or malformed body, a dropped
connection, a duplicated or skipped timeline event, a delete whose response is lost, fields
merged into the answer (``patch``, e.g. a session whose ``id`` is not the one asked for). Besides, a
share of requests can fail at random (``fail_rate``), and each client IP is rate limited in
fixed windows like the upstream.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

TIMELINE_ROUTE = "GET /v1/sessions/:id/timeline"
DELETE_ROUTE = "DELETE /v1/sessions/:id"

FAULTS = frozenset(
    {
        "status",
        "rate_limit",
        "delay",
        "truncated",
        "malformed",
        "disconnect",
        "repeat_event",
        "skip_event",
        "delete_fails_after",
        "patch",
    }
)
"""Fault names accepted by :meth:`SandboxServer.inject` and ``POST /_sandbox/faults``."""

ROUTE_ONLY = {
    "repeat_event": TIMELINE_ROUTE,
    "skip_event": TIMELINE_ROUTE,
    "delete_fails_after": DELETE_ROUTE,
}
"""Faults that only make sense on one route, and that route."""

DEFAULT_RATE_LIMIT = 300
"""The ``x-ratelimit-limit`` reported when limiting is off (the upstream's documented limit)."""

RATE_WINDOW_SECONDS = 60


@dataclass
class Fault:
    """A pending fault: applies to the next ``remaining`` requests matching ``route``."""

    kind: str
    remaining: int
    route: str | None
    params: dict[str, Any]

    def matches(self, route_key: str) -> bool:
        required = ROUTE_ONLY.get(self.kind)
        if required and route_key != required:
            return False
        return self.route is None or self.route == route_key

    def as_dict(self) -> dict[str, Any]:
        return {"fault": self.kind, "count": self.remaining, "route": self.route, **self.params}


class FaultQueue:
    """Pending faults, and the draws of random failures; shared by every request thread."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._fail_rng = random.Random(f"{seed}:fail-rate")

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def take(self, route_key: str) -> Fault | None:
        """The first pending fault for ``route_key``, used up by one (a copy with count 1)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(route_key):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return Fault(fault.kind, 1, fault.route, dict(fault.params))
        return None

    def random_failure(self, rate: float) -> bool:
        """Whether this request fails at random, with probability ``rate`` (seeded draws)."""
        with self._lock:
            return self._fail_rng.random() < rate


class RateLimiter:
    """Fixed 60-second windows per client IP, like the upstream's documented 300/min per IP."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, ip: str, now: float) -> tuple[int, int, int, bool]:
        """Count one request: ``(limit, remaining, reset_epoch_seconds, exceeded)``."""
        window = int(now // RATE_WINDOW_SECONDS)
        reset = (window + 1) * RATE_WINDOW_SECONDS
        if self.limit <= 0:
            return DEFAULT_RATE_LIMIT, DEFAULT_RATE_LIMIT - 1, reset, False
        with self._lock:
            seen_window, count = self._windows.get(ip, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._windows[ip] = (window, count)
            if len(self._windows) > 10_000:  # forget idle clients
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return self.limit, max(0, self.limit - count), reset, count > self.limit
