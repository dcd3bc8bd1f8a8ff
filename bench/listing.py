"""Figures a–c: the session list warm, cold, and under a stampede of identical cold requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.figure import Figure, Plan, median, ratio
from bench.http import Sample, Site, expect_ok
from bench.procs import BenchError
from bench.stack import Running

LIST = "/sessions/"
FLOOR = "/accounts/login/"  # renders a small template through the same middleware, no upstream
UPSTREAM_LIST = "/v1/sessions?limit=20&offset=0"  # what GET /sessions/ asks upstream for
WARM_VIEWS = 100
COLD_BUDGET_MS = 25.0


def paired_samples(
    site: Site, path: str, reference: str, n: int
) -> tuple[list[Sample], list[Sample]]:
    """`n` requests of each path, interleaved so both see the same noise; server times filled."""
    measured: list[Sample] = []
    floor: list[Sample] = []
    for _ in range(n):
        measured.append(expect_ok(site.get(path)))
        floor.append(expect_ok(site.get(reference)))
    site.fill_server_times(measured + floor)
    return measured, floor


def warm_list(run: Running, plan: Plan) -> list[Figure]:
    """a. Warm list vs the floor (server time), and upstream calls per 100 warm views."""
    expect_ok(run.site.get(LIST))  # fills the cache
    per_run: list[tuple[float, float]] = []
    walls: list[tuple[float, float]] = []
    for _ in range(plan.runs):
        measured, floor = paired_samples(run.site, LIST, FLOOR, plan.per_run)
        per_run.append((median(s.best_ms for s in measured), median(s.best_ms for s in floor)))
        walls.append((median(s.wall_ms for s in measured), median(s.wall_ms for s in floor)))
    ratios = [m / f for m, f in per_run]
    latency = Figure(
        "a",
        "list, warm cache (server time)",
        "ms",
        "≤ 2× floor",
        measured=median(m for m, _ in per_run),
        reference=median(f for _, f in per_run),
        reference_name=f"GET {FLOOR} (floor)",
        ratio=median(ratios),
        details={
            "runs": [{"list_ms": m, "floor_ms": f} for m, f in per_run],
            "client_wall_ms": {
                "list": median(m for m, _ in walls),
                "floor": median(f for _, f in walls),
            },
        },
    )
    latency.met = latency.ratio is not None and latency.ratio <= 2.0
    return [latency, _warm_upstream_calls(run)]


def _warm_upstream_calls(run: Running) -> Figure:
    expect_ok(run.site.get(LIST))  # fresh entry, so the window below stays inside its TTL
    run.reset_upstream_stats()
    for _ in range(WARM_VIEWS):
        expect_ok(run.site.get(LIST))
    stats = run.upstream_stats()
    calls = int(stats["requests"])
    return Figure(
        "a",
        f"upstream calls per {WARM_VIEWS} warm list views",
        "calls",
        "0",
        measured=calls,
        reference=0,
        met=calls == 0,
        details={"by_route": stats.get("by_route", {})},
    )


def _raw_upstream_ms(run: Running, http: requests.Session) -> float:
    start = time.perf_counter()
    response = http.get(run.api_url + UPSTREAM_LIST, headers=run.upstream_headers(), timeout=30)
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    response.json()
    return elapsed


def cold_list(run: Running, plan: Plan) -> list[Figure]:
    """b. Cold list page (cache emptied before each) vs a raw request of the same upstream URL."""
    http = requests.Session()
    rows = []
    for _ in range(plan.cold_runs):
        raw_ms = _raw_upstream_ms(run, http)
        run.flush_cache()
        run.reset_upstream_stats()
        sample = expect_ok(run.site.get(LIST))
        stats = run.upstream_stats()
        rows.append((sample, raw_ms, stats))
    run.site.fill_server_times([s for s, _, _ in rows])
    page = median(s.wall_ms for s, _, _ in rows)
    raw = median(r for _, r, _ in rows)
    figure = Figure(
        "b",
        "list, cold cache (client wall time)",
        "ms",
        f"≤ upstream + {COLD_BUDGET_MS:.0f} ms",
        measured=page,
        reference=raw,
        reference_name=f"raw GET {UPSTREAM_LIST}",
        ratio=median(filter(None, (ratio(s.wall_ms, r) for s, r, _ in rows))),
        details={
            "runs": [
                {
                    "page_wall_ms": s.wall_ms,
                    "page_server_ms": s.server_ms,
                    "upstream_ms": r,
                    "upstream_calls": st["requests"],
                    "by_route": st.get("by_route", {}),
                }
                for s, r, st in rows
            ],
            "overhead_ms": page - raw,
        },
    )
    figure.met = page - raw <= COLD_BUDGET_MS
    return [figure]


def _stampede_once(run: Running, clients: list[Site]) -> tuple[list[Sample], dict]:
    run.flush_cache()
    run.reset_upstream_stats()
    barrier = threading.Barrier(len(clients), timeout=30)

    def one(client: Site) -> Sample:
        barrier.wait()
        return client.get(LIST, timeout=60)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        samples = list(pool.map(one, clients, timeout=120))
    bad = [s.status for s in samples if s.status != 200]
    if bad:
        raise BenchError(f"{len(bad)} of {len(samples)} concurrent list requests failed: {bad}")
    return samples, run.upstream_stats()


def stampede(run: Running, plan: Plan) -> list[Figure]:
    """c. Identical concurrent cold requests: how many upstream calls they cause (worst run)."""
    clients = [run.site.clone() for _ in range(plan.stampede_clients)]
    runs = [_stampede_once(run, clients) for _ in range(plan.stampede_runs)]
    calls = [int(stats["requests"]) for _, stats in runs]
    figure = Figure(
        "c",
        f"{plan.stampede_clients} concurrent cold list requests: upstream calls (worst run)",
        "calls",
        "≤ 2",
        measured=max(calls),
        details={
            "calls_per_run": calls,
            "by_route": [stats.get("by_route", {}) for _, stats in runs],
            "slowest_wall_ms": [max(s.wall_ms for s in samples) for samples, _ in runs],
        },
    )
    figure.met = max(calls) <= 2
    return [figure]
