"""Figure i: the stored 100k session's page, with its session map, warm and cold.

The page (`/sessions/<id>/`, the turns view) carries the map (`reviewer/sessionmap.py`, the
`session-map` figure in the HTML), the kind counts, the first turns and the attribution
panel. Warm is what every view after the first sees (the map and the rest cached under the
store's version); cold is right after the product forgets everything derived from the
session's store (`fragments.forget_session`), so the map, turns, counts and summary are
computed again from the store.
"""

from __future__ import annotations

from typing import Any

from bench.figure import Figure, Plan, median
from bench.http import Sample, expect_ok
from bench.listing import FLOOR
from bench.procs import BenchError
from bench.stack import Running

WARM_TARGET_MS = 100.0
MARKER = 'class="session-map"'


def session_page(run: Running, plan: Plan, _found: dict[str, Any]) -> list[Figure]:
    """i. Session page of the stored 100k session, warm (vs the floor) and cold."""
    path = f"/sessions/{run.big_session_id}/"
    body = expect_ok(run.site.get(path, keep_body=True)).body
    if MARKER not in body:
        raise BenchError(f"GET {path} has no session map ({MARKER!r})")
    runs: list[tuple[list[Sample], list[Sample]]] = []
    for _ in range(plan.runs):
        page: list[Sample] = []
        floor: list[Sample] = []
        for _ in range(plan.per_run):
            page.append(expect_ok(run.site.get(path)))
            floor.append(expect_ok(run.site.get(FLOOR)))
        run.site.fill_server_times(page + floor)
        runs.append((page, floor))
    per_run = [(median(s.best_ms for s in p), median(s.best_ms for s in f)) for p, f in runs]
    warm = Figure(
        "i",
        "100k session page with its map, warm (server time)",
        "ms",
        f"≤ {WARM_TARGET_MS:.0f} ms",
        measured=median(m for m, _ in per_run),
        reference=median(f for _, f in per_run),
        reference_name=f"GET {FLOOR} (floor)",
        ratio=median(m / f for m, f in per_run),
        details={"runs": [{"page_ms": m, "floor_ms": f} for m, f in per_run]},
    )
    warm.met = warm.measured is not None and warm.measured <= WARM_TARGET_MS
    cold: list[Sample] = []
    for _ in range(max(3, plan.runs)):
        run.forget_rendered(run.big_session_id)
        cold.append(expect_ok(run.site.get(path)))
    run.site.fill_server_times(cold)
    cold_ms = median(s.best_ms for s in cold)
    return [
        warm,
        Figure(
            "i",
            "100k session page, cold: map, turns, counts, summary computed again (server time)",
            "ms",
            "—",
            measured=cold_ms,
            reference=warm.reference,
            reference_name=f"GET {FLOOR} (floor)",
            ratio=cold_ms / warm.reference if warm.reference else None,
            details={"runs_ms": [s.best_ms for s in cold]},
        ),
    ]
