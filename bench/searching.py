"""Figure h: search on the database's text index, in one session and across the organization.

Every session of the organization is stored first (`manage.py prefetch --org acme --all`, the
product's own command), and the figures wait until the deferred index pass has put every
stored event into the index (`reviewer.search.index_pending`), so they measure the index,
not the scan of pending rows. Text searches are never cached by the product, so each request
runs the query. The rare word is taken from the stored text of an event near position 90,000
of the 100k session and checked to match only a few of its events.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from bench.figure import Figure, Plan, median
from bench.http import Sample, Site, expect_ok
from bench.listing import FLOOR
from bench.procs import BenchError
from bench.stack import ORG, Running, manage

IN_SESSION_TARGET_MS = 50.0
ORG_TARGET_MS = 300.0
MIN_SESSIONS = 50
PREFETCH_TIMEOUT = 900.0
INDEX_TIMEOUT = 300.0


def _store_everything(run: Running) -> dict[str, Any]:
    """Prefetch every session of the organization, then wait for the index pass."""
    start = time.perf_counter()
    run.stack.run(
        "prefetch-all", manage("prefetch", "--org", ORG, "--all"), timeout=PREFETCH_TIMEOUT
    )
    fetched = time.perf_counter() - start
    while (left := int(run.helper.call("pending", ORG))) > 0:
        if time.perf_counter() - start > PREFETCH_TIMEOUT + INDEX_TIMEOUT:
            raise BenchError(f"{left} stored events still not in the search index")
        time.sleep(0.5)
    stored = dict(run.helper.call("stored", ORG))  # type: ignore[call-overload]
    stored.update({"prefetch_all_s": fetched, "indexed_s": time.perf_counter() - start})
    if stored["sessions"] < MIN_SESSIONS:
        raise BenchError(f"only {stored['sessions']} sessions stored; want ≥ {MIN_SESSIONS}")
    return stored


def _fragment(path: str) -> bool:
    """Timeline and turn searches are htmx fragments; the search page is a whole page."""
    return path != FLOOR and not path.startswith("/search/")


def _measure(site: Site, paths: list[str], n: int) -> dict[str, list[Sample]]:
    """`n` rounds over every path plus the floor, interleaved; server times filled."""
    samples: dict[str, list[Sample]] = {p: [] for p in [*paths, FLOOR]}
    for _ in range(n):
        for path in samples:
            samples[path].append(expect_ok(site.get(path, htmx=_fragment(path))))
    site.fill_server_times([s for group in samples.values() for s in group])
    return samples


def search(run: Running, plan: Plan, found: dict[str, Any]) -> list[Figure]:
    """h. In-session and organization-wide searches (server time) vs the floor."""
    sid = run.big_session_id
    stored = _store_everything(run)
    rare = dict(run.helper.call("rare_word", ORG, sid, plan.deep_index))  # type: ignore[call-overload]
    common = plan.search_word
    common_hits = int(run.helper.call("org_matches", ORG, common))  # type: ignore[arg-type]
    found["rare_word"] = rare["word"]
    base = f"/sessions/{sid}/"
    word = urlencode({"q": rare["word"]})
    specs = [
        (
            f"in-session search, events (q=<rare>, {rare['in_session']} hits)",
            f"{base}timeline/?{word}",
            IN_SESSION_TARGET_MS,
            "data-event-id=",
        ),
        (
            f"in-session search, turns (q=<rare>, {rare['in_session']} hits)",
            f"{base}turns/?{word}",
            IN_SESSION_TARGET_MS,
            "data-turn=",
        ),
        (
            f"org-wide search, {stored['sessions']} sessions (q=<rare>, {rare['in_org']} hits)",
            f"/search/?{word}",
            ORG_TARGET_MS,
            "data-event-id=",
        ),
        (
            f"org-wide search, {stored['sessions']} sessions (q={common}, {common_hits:,} hits)",
            f"/search/?{urlencode({'q': common})}",
            ORG_TARGET_MS,
            "data-event-id=",
        ),
    ]
    shown = {}
    for _, path, _, marker in specs:  # warm-up, and a check that each answer has hits
        body = expect_ok(run.site.get(path, htmx=_fragment(path), keep_body=True)).body
        shown[path] = body.count(marker)
    paths = [path for _, path, _, _ in specs]
    runs = [_measure(run.site, paths, plan.per_run) for _ in range(plan.runs)]
    floor = median(median(s.best_ms for s in r[FLOOR]) for r in runs)
    figures = []
    for name, path, target, marker in specs:
        per_run = [median(s.best_ms for s in r[path]) for r in runs]
        measured = median(per_run)
        figure = Figure(
            "h",
            f"{name} (server time)",
            "ms",
            f"≤ {target:.0f} ms",
            measured=measured,
            reference=floor,
            reference_name=f"GET {FLOOR} (floor)",
            ratio=median(
                m / median(s.best_ms for s in r[FLOOR]) for m, r in zip(per_run, runs, strict=True)
            ),
            met=measured <= target,
            details={
                "path": path.replace(rare["word"], "<rare>"),
                "word": rare["word"],
                "shown": shown[path],
                "runs_ms": per_run,
                "p90_ms": sorted(s.best_ms for r in runs for s in r[path])[
                    int(0.9 * len(runs) * plan.per_run) - 1
                ],
                "stored": stored,
            },
        )
        if shown[path] == 0:
            figure.error = f"the answer had no {marker!r}, so this figure measures nothing"
            figure.met = None
        figures.append(figure)
    figures[0].notes.append(
        f"{stored['sessions']} sessions, {stored['events']:,} events stored and indexed "
        f"({stored['prefetch_all_s']:.0f} s for prefetch --all, {stored['indexed_s']:.0f} s "
        f"until the index pass was done); rare word {rare['word']!r}"
    )
    return figures
