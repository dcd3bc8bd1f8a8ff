"""Redis that fails fast: a circuit breaker for the cache backend (and the broker's publishes).

A Redis that is down, or up but hung (it accepts connections and never answers), must cost a
page one short socket timeout, not one per cache operation. `Breaker` opens after a failure:
for `seconds` afterwards every operation fails at once with `CacheUnavailable`, which the
callers in `reviewer.cache` treat as a miss. Then one caller probes; success closes it, a
failure opens it again. An outage logs one warning per `log_every` seconds, not a traceback
per operation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")


class CacheUnavailable(Exception):
    """The cache failed just now, or recently enough that it is not asked again yet."""


class Breaker:
    """A process-wide circuit breaker for one service, shared by every thread."""

    def __init__(self, name: str, *, seconds: float = 10.0, log_every: float = 60.0) -> None:
        self.name = name
        self.seconds = seconds
        self.log_every = log_every
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._tripped = False
        self._logged_at = -float("inf")

    @property
    def is_open(self) -> bool:
        """True while operations fail at once without trying."""
        return self._tripped and time.monotonic() < self._open_until

    def allow(self) -> bool:
        """May an operation try now? After the open period, one caller probes at a time."""
        with self._lock:
            if not self._tripped:
                return True
            now = time.monotonic()
            if now < self._open_until:
                return False
            self._open_until = now + self.seconds  # this caller probes; the others wait
            return True

    def succeeded(self) -> None:
        """An operation worked: close the circuit."""
        if self._tripped:
            with self._lock:
                self._tripped = False
                self._open_until = 0.0
            log.warning("%s is reachable again", self.name)

    def failed(self, exc: BaseException) -> None:
        """An operation failed: open the circuit, and say so at most once per interval."""
        with self._lock:
            now = time.monotonic()
            self._tripped = True
            self._open_until = now + self.seconds
            should_log = now - self._logged_at >= self.log_every
            if should_log:
                self._logged_at = now
        if should_log:
            log.warning(
                "%s is unreachable (%s); treating it as absent, retrying every %.0f s",
                self.name,
                type(exc).__name__,
                self.seconds,
            )

    def reset(self) -> None:
        """Forget any failure (tests, and a configuration change)."""
        with self._lock:
            self._tripped = False
            self._open_until = 0.0
            self._logged_at = -float("inf")

    def call(self, operation: Callable[[], T], errors: tuple[type[BaseException], ...]) -> T:
        """Run `operation` through the breaker; `errors` open it (as CacheUnavailable)."""
        if not self.allow():
            raise CacheUnavailable(self.name)
        try:
            result = operation()
        except errors as exc:
            self.failed(exc)
            raise CacheUnavailable(self.name) from exc
        self.succeeded()
        return result


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(name: str, **kwargs: Any) -> Breaker:
    """The process's breaker called `name` (made on first use)."""
    with _breakers_lock:
        if name not in _breakers:
            _breakers[name] = Breaker(name, **kwargs)
        return _breakers[name]


def reset_all() -> None:
    """Close every breaker (tests)."""
    for breaker in list(_breakers.values()):
        breaker.reset()


class BreakerRedisCache(RedisCache):
    """Django's RedisCache behind a `Breaker` (CACHES option `BREAKER_SECONDS`, default 10).

    Keep the connection's socket timeouts short (OPTIONS `socket_timeout`,
    `socket_connect_timeout`): they bound what the probe that finds Redis hung costs.
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self.breaker = breaker_for(
            f"the cache at {server.split(',')[0].split('@')[-1]}",
            seconds=float(params.get("BREAKER_SECONDS", 10)),
        )

    def _guard(self, operation: Callable[[], T]) -> T:
        return self.breaker.call(operation, (RedisError, OSError))

    def add(self, *args: Any, **kwargs: Any) -> bool:
        return self._guard(lambda: super(BreakerRedisCache, self).add(*args, **kwargs))

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard(lambda: super(BreakerRedisCache, self).get(*args, **kwargs))

    def set(self, *args: Any, **kwargs: Any) -> None:
        self._guard(lambda: super(BreakerRedisCache, self).set(*args, **kwargs))

    def touch(self, *args: Any, **kwargs: Any) -> bool:
        return self._guard(lambda: super(BreakerRedisCache, self).touch(*args, **kwargs))

    def delete(self, *args: Any, **kwargs: Any) -> bool:
        return self._guard(lambda: super(BreakerRedisCache, self).delete(*args, **kwargs))

    def get_many(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._guard(lambda: super(BreakerRedisCache, self).get_many(*args, **kwargs))

    def has_key(self, *args: Any, **kwargs: Any) -> bool:
        return self._guard(lambda: super(BreakerRedisCache, self).has_key(*args, **kwargs))

    def incr(self, *args: Any, **kwargs: Any) -> int:
        return self._guard(lambda: super(BreakerRedisCache, self).incr(*args, **kwargs))

    def set_many(self, *args: Any, **kwargs: Any) -> list[str]:
        return self._guard(lambda: super(BreakerRedisCache, self).set_many(*args, **kwargs))

    def delete_many(self, *args: Any, **kwargs: Any) -> None:
        self._guard(lambda: super(BreakerRedisCache, self).delete_many(*args, **kwargs))

    def clear(self) -> None:
        self._guard(lambda: super(BreakerRedisCache, self).clear())
