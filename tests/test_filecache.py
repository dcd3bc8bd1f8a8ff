"""The embedded set-up's file cache: an `add` that one of many processes wins."""

from __future__ import annotations

import multiprocessing
import time

from reviewer.filecache import AtomicFileCache


def _cache(location: str) -> AtomicFileCache:
    return AtomicFileCache(location, {"KEY_PREFIX": "t"})


def _race(location: str, start_at: float, results) -> None:
    cache = _cache(location)
    time.sleep(max(0.0, start_at - time.time()))
    results.put(cache.add("refresh-lock", "me", 30))


def test_of_processes_adding_one_key_at_once_exactly_one_wins(tmp_path) -> None:
    """The refresh lock of `reviewer.cache` is an `add`: gunicorn's processes asking at once
    must not all believe they hold it (each would call upstream)."""
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        location = str(tmp_path / f"round-{round_}")
        results = context.Queue()
        start_at = time.time() + 0.3
        workers = [
            context.Process(target=_race, args=(location, start_at, results)) for _ in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
        wins = [results.get(timeout=5) for _ in workers]
        assert wins.count(True) == 1, f"round {round_}: {wins.count(True)} processes won"


def test_an_added_entry_holds_until_it_expires(tmp_path) -> None:
    cache = _cache(str(tmp_path))
    assert cache.add("k", 1, 1)
    assert not cache.add("k", 2, 1)
    assert cache.get("k") == 1
    time.sleep(1.1)
    assert cache.add("k", 3, 30)  # the expired entry no longer counts
    assert cache.get("k") == 3
