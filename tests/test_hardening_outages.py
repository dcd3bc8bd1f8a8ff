"""Issue 13, caches and logs: a hung Redis, the broker, share links in logs and in Redis.

A hung Redis is a local listener that accepts connections and never answers, as the review
found it; everything else runs against the real Redis, database and sandbox.
"""

from __future__ import annotations

import logging
import time

import pytest

from reviewer import cachebackend, tasks
from reviewer.celery import app as celery_app


def _hung_cache(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "reviewer.cachebackend.BreakerRedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "KEY_PREFIX": "reviewer",
            "BREAKER_SECONDS": 10,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_a_hung_redis_costs_one_timeout_not_one_per_operation(
    as_carol, settings, caplog, listener
) -> None:
    hung = listener(None)
    settings.CACHES = _hung_cache(hung.port)
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    for _ in range(10):
        response = as_carol.get("/sessions/")
        assert response.status_code == 200
        assert b"data-session-id" in response.content
    elapsed = time.monotonic() - started
    # Before: 0.5 s per cache operation, several per page (4-22 s a page with longer
    # timeouts). Now: one timeout, then misses at once until the breaker probes again.
    assert elapsed < 5, elapsed
    outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage) == 1
    assert not [r for r in caplog.records if r.exc_info and "cache" in r.getMessage()]


def test_the_breaker_probes_again_and_closes_when_redis_answers(settings, listener) -> None:
    breaker = cachebackend.Breaker("a test cache", seconds=0.2)
    calls = []

    def failing() -> None:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(cachebackend.CacheUnavailable):
        breaker.call(failing, (ConnectionError,))
    with pytest.raises(cachebackend.CacheUnavailable):
        breaker.call(failing, (ConnectionError,))
    assert len(calls) == 1  # the second call did not even try
    time.sleep(0.25)
    assert breaker.call(lambda: "back", (ConnectionError,)) == "back"
    assert not breaker.is_open


@pytest.fixture
def hung_broker(listener):
    """The Celery app pointed at a hung Redis, and back afterwards."""
    hung = listener(None)
    conf = celery_app.conf
    saved = (conf.broker_url, conf.broker_transport_options)
    conf.broker_url = f"redis://127.0.0.1:{hung.port}/0"
    conf.broker_transport_options = {
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "max_retries": 0,
    }
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield hung
    conf.broker_url, conf.broker_transport_options = saved
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_a_hung_broker_costs_one_publish_timeout_per_interval(org_a, hung_broker) -> None:
    started = time.monotonic()
    results = [tasks.enqueue_prefetch(org_a, f"sess-{n}") for n in range(5)]
    elapsed = time.monotonic() - started
    assert results == [False] * 5
    assert tasks.broker.is_open
    assert elapsed < 4, elapsed
