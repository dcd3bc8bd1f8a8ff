"""Figure g: how soon a never-fetched 100,000-event session shows its first event.

The session page stores and renders the first upstream page within its own request
(`reviewer.views.sessions._first_page`), then queues the worker for the rest. Each run
starts from nothing: the session's store purged and the product's cache emptied (so the
session's own fields come from upstream too, as on a first visit), and measures the client
wall time until the whole response is in, checked for the first event's HTML: a turn header
(`data-turn=`) in the default turns view, an event (`data-event-id=`) with `?view=events`.
The reference is one raw upstream timeline page of the same size, fetched just before.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from bench.db import SyncReader
from bench.figure import Figure, Plan, median
from bench.http import Sample, expect_ok
from bench.procs import BenchError
from bench.stack import SANDBOX_LATENCY_MS, Running

FIRST_PAGE = 200  # the page's own first page (reviewer.views.sessions.FIRST_PAGE)
BUDGET_MS = 300.0
SETTLE_TIMEOUT = 15.0
VIEWS = (
    ("turns view", "", "data-turn="),
    ("events view", "?view=events", "data-event-id="),
)


def _raw_page_ms(run: Running, http: requests.Session) -> float:
    url = f"{run.api_url}/v1/sessions/{run.big_session_id}/timeline"
    start = time.perf_counter()
    response = http.get(
        url, params={"limit": FIRST_PAGE}, headers=run.upstream_headers(), timeout=30
    )
    response.raise_for_status()
    response.json()
    return (time.perf_counter() - start) * 1000


def _stop_worker_fetch(run: Running, reader: SyncReader) -> None:
    """The page queued the worker for the rest: wait until it has started (or finished),
    then purge, which stops it at its next page, so the next run starts from nothing and
    measures a quiet machine."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        row = reader.read(run.big_session_id)
        if row is None or row.state in ("running", "done", "failed"):
            break
        time.sleep(0.1)
    run.purge_store(run.big_session_id)
    time.sleep(1.0)
    run.purge_store(run.big_session_id)  # a page the worker wrote meanwhile


def _one(
    run: Running, http: requests.Session, reader: SyncReader, query: str, marker: str
) -> tuple[Sample, float, int]:
    run.purge_store(run.big_session_id)
    run.flush_cache()
    raw = _raw_page_ms(run, http)
    sample = expect_ok(run.site.get(f"/sessions/{run.big_session_id}/{query}", keep_body=True))
    shown = sample.body.count(marker)
    sample.body = ""
    _stop_worker_fetch(run, reader)
    return sample, raw, shown


def first_view(run: Running, plan: Plan, _found: dict[str, Any]) -> list[Figure]:
    """g. Page with the first events of a never-fetched session vs one raw upstream page."""
    http = requests.Session()
    reader = SyncReader(run.database)
    results: dict[str, list[tuple[Sample, float, int]]] = {name: [] for name, _, _ in VIEWS}
    try:
        for _ in range(plan.first_view_runs):
            for name, query, marker in VIEWS:  # interleaved, so both see the same noise
                results[name].append(_one(run, http, reader, query, marker))
    finally:
        reader.close()
    run.site.fill_server_times([s for rows in results.values() for s, _, _ in rows])
    figures = []
    for name, query, marker in VIEWS:
        rows = results[name]
        page = median(s.wall_ms for s, _, _ in rows)
        raw = median(r for _, r, _ in rows)
        empty = [n for _, _, n in rows if n == 0]
        figure = Figure(
            "g",
            f"first visible event, never-fetched 100k session, {name} (client wall time)",
            "ms",
            f"≤ upstream page + {BUDGET_MS:.0f} ms",
            measured=page,
            reference=raw,
            reference_name=f"raw GET timeline?limit={FIRST_PAGE}, {SANDBOX_LATENCY_MS} ms API",
            ratio=median(s.wall_ms / r for s, r, _ in rows),
            met=page - raw <= BUDGET_MS,
            details={
                "path": f"/sessions/<id>/{query}",
                "marker": marker,
                "runs": [
                    {
                        "page_wall_ms": s.wall_ms,
                        "page_server_ms": s.server_ms,
                        "raw_ms": r,
                        "markers": n,
                    }
                    for s, r, n in rows
                ],
                "overhead_ms": page - raw,
                "server_ms": median(s.best_ms for s, _, _ in rows),
            },
        )
        if empty:
            figure.error = f"{len(empty)} of {len(rows)} pages had no {marker!r}: nothing shown"
            figure.met = None
        figures.append(figure)
    if not figures:
        raise BenchError("no view measured")
    if run.purge_retries:
        figures[0].notes.append(
            f"{run.purge_retries} purge(s) met the worker writing a page of the session "
            "(IntegrityError on the events' foreign key) and were tried again"
        )
    return figures
