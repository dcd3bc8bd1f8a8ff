"""Figure e: timeline fragments of the stored 100,000-event session (server time)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from bench.figure import Figure, Plan, median
from bench.http import Sample, Site, expect_ok
from bench.listing import FLOOR
from bench.procs import BenchError
from bench.stack import Running

CHUNK_TARGET_MS = 50.0
SEARCH_TARGET_MS = 300.0


def _paths(run: Running, plan: Plan, deep_event_id: str) -> list[tuple[str, str, float, str]]:
    """(name, path, target in ms, target note) per fragment."""
    base = f"/sessions/{run.big_session_id}/timeline/"
    return [
        ("first chunk", base, CHUNK_TARGET_MS, ""),
        (
            "deep chunk (after event ~90,000)",
            f"{base}?{urlencode({'after': deep_event_id})}",
            CHUNK_TARGET_MS,
            " (as first chunk)",
        ),
        ("kind filter (command)", f"{base}?kind=command", CHUNK_TARGET_MS, " (as first chunk)"),
        (
            f"text search (q={plan.search_word})",
            f"{base}?{urlencode({'q': plan.search_word})}",
            SEARCH_TARGET_MS,
            "",
        ),
    ]


def _events_in(sample: Sample) -> int:
    return sample.body.count("data-event-id=")


def _measure(site: Site, paths: list[str], n: int) -> dict[str, list[Sample]]:
    """`n` rounds over every path plus the floor, interleaved; server times filled."""
    samples: dict[str, list[Sample]] = {p: [] for p in [*paths, FLOOR]}
    for _ in range(n):
        for path in samples:
            samples[path].append(expect_ok(site.get(path, htmx=path != FLOOR)))
    site.fill_server_times([s for group in samples.values() for s in group])
    return samples


def _cold(run: Running, path: str, n: int) -> list[Sample]:
    """`n` views of `path`, each right after the rendered and derived entries are forgotten."""
    samples = []
    for _ in range(n):
        run.forget_rendered(run.big_session_id)
        samples.append(expect_ok(run.site.get(path, htmx=True)))
    run.site.fill_server_times(samples)
    return samples


def timeline(run: Running, plan: Plan, found: dict[str, Any]) -> list[Figure]:
    """e. First chunk, deep chunk, kind filter and text search vs the floor, median of runs."""
    deep = found.get("deep_event_id")
    if not deep:
        raise BenchError("needs figure d (the stored session and the id of event ~90,000)")
    specs = _paths(run, plan, deep)
    events = {}
    for _, path, _, _ in specs:  # warm-up, and a check that each fragment has events
        events[path] = _events_in(expect_ok(run.site.get(path, htmx=True, keep_body=True)))
    runs = [_measure(run.site, [p for _, p, _, _ in specs], plan.per_run) for _ in range(plan.runs)]
    floor = median(median(s.best_ms for s in r[FLOOR]) for r in runs)
    figures = []
    for name, path, target, note in specs:
        per_run = [median(s.best_ms for s in r[path]) for r in runs]
        ratios = [
            m / median(s.best_ms for s in r[FLOOR]) for m, r in zip(per_run, runs, strict=True)
        ]
        measured = median(per_run)
        figure = Figure(
            "e",
            f"timeline {name} (server time)",
            "ms",
            f"≤ {target:.0f} ms{note}",
            measured=measured,
            reference=floor,
            reference_name=f"GET {FLOOR} (floor)",
            ratio=median(ratios),
            met=measured <= target,
            details={
                "path": path,
                "events_in_fragment": events[path],
                "runs_ms": per_run,
                "client_wall_ms": median(s.wall_ms for r in runs for s in r[path]),
            },
        )
        if events[path] == 0:
            figure.error = "the fragment had no events, so this figure measures nothing"
            figure.met = None
        figures.append(figure)
        cold = median(s.best_ms for s in _cold(run, path, max(3, plan.runs)))
        figures.append(
            Figure(
                "e",
                f"timeline {name}, cold: rendered again (server time)",
                "ms",
                f"≤ {target:.0f} ms{note}",
                measured=cold,
                reference=floor,
                reference_name=f"GET {FLOOR} (floor)",
                ratio=cold / floor if floor else None,
                met=cold <= target,
                details={"path": path},
            )
        )
    return figures
