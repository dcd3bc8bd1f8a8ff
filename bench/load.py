"""Figure f: concurrent clients on a mix of pages and fragments, driven by locust."""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.db import SyncReader, SyncRow
from bench.figure import Figure, Plan
from bench.http import expect_ok
from bench.procs import BenchError
from bench.stack import Running

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
P95_TARGET_MS = 200.0
WARMUP_TIMEOUT = 180.0
_SESSION_RE = re.compile(r'data-session-id="([A-Za-z0-9][A-Za-z0-9_-]{0,99})"')


def _listed_sessions(run: Running) -> list[str]:
    body = expect_ok(run.site.get("/sessions/?limit=20", keep_body=True)).body
    ids = list(dict.fromkeys(_SESSION_RE.findall(body)))
    if not ids:
        raise BenchError("the session list shows no sessions to load-test with")
    return ids


def _prefetch_all(run: Running, ids: list[str]) -> dict[str, int]:
    """Open every session (which queues its prefetch) and wait until none is still fetching."""
    statuses = {sid: run.site.get(f"/sessions/{sid}/").status for sid in ids}
    pending = [sid for sid, status in statuses.items() if status == 200]
    reader = SyncReader(run.database)
    deadline = time.monotonic() + WARMUP_TIMEOUT
    try:
        while pending and time.monotonic() < deadline:
            pending = [sid for sid in pending if not _settled(reader.read(sid))]
            time.sleep(0.5)
    finally:
        reader.close()
    if pending:
        raise BenchError(f"{len(pending)} session(s) still fetching after {WARMUP_TIMEOUT:.0f}s")
    for sid in ids:  # computes and caches the attribution summaries
        run.site.get(f"/sessions/{sid}/attribution/")
    return statuses


def _settled(row: SyncRow | None) -> bool:
    return row is not None and row.state in ("done", "failed")


def _write_config(run: Running, ids: list[str], found: dict[str, Any], plan: Plan) -> Path:
    cookie = "; ".join(f"{k}={v}" for k, v in run.site.cookies.items())
    path = run.tmp / "locust-config.json"
    path.write_text(
        json.dumps(
            {
                "cookie": cookie,
                "sessions": [s for s in ids if s != run.big_session_id] or ids,
                "big": run.big_session_id,
                "deep": found["deep_event_id"],
                "word": quote(plan.search_word),
            }
        )
    )
    return path


def _run_locust(run: Running, plan: Plan, config: Path) -> tuple[dict[str, dict[str, str]], float]:
    """Run locust headless; return its CSV rows by name and the CPU seconds it used."""
    prefix = run.tmp / "locust"
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(plan.load_users),
        "-r",
        str(plan.load_users),
        "-t",
        f"{plan.load_seconds}s",
        "--host",
        run.web_url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "5",
    ]
    run.stack.env["BENCH_LOCUST_CONFIG"] = str(config)
    before = _children_cpu_seconds()
    try:
        run.stack.run("locust", cmd, timeout=plan.load_seconds + 120)
    finally:
        run.stack.env.pop("BENCH_LOCUST_CONFIG", None)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise BenchError(f"locust wrote no {stats.name}")
    with stats.open(newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    return rows, _children_cpu_seconds() - before


def _children_cpu_seconds() -> float:
    """CPU time of finished child processes: around the locust run, the load client's own."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _num(row: dict[str, str], column: str) -> float:
    try:
        return float(row[column])
    except (KeyError, ValueError):
        return float("nan")


def load(run: Running, plan: Plan, found: dict[str, Any]) -> list[Figure]:
    """f. Throughput, p50/p95/p99 and errors of `load_users` clients for `load_seconds`."""
    if not found.get("deep_event_id"):
        raise BenchError("needs figure d (the stored session and the id of event ~90,000)")
    ids = _listed_sessions(run)
    warmup = _prefetch_all(run, [*ids, run.big_session_id])
    config = _write_config(run, ids, found, plan)
    run.reset_upstream_stats()
    rows, client_cpu = _run_locust(run, plan, config)
    upstream = run.upstream_stats()
    total = rows.get("Aggregated")
    if total is None:
        raise BenchError("locust's CSV has no Aggregated row")
    label = f"load, {plan.load_users} clients × {plan.load_seconds} s"
    details = {
        "requests": int(_num(total, "Request Count")),
        "per_endpoint": {
            name: {
                "requests": int(_num(row, "Request Count")),
                "failures": int(_num(row, "Failure Count")),
                "p50_ms": _num(row, "50%"),
                "p95_ms": _num(row, "95%"),
                "p99_ms": _num(row, "99%"),
            }
            for name, row in rows.items()
            if name != "Aggregated"
        },
        "upstream_calls": upstream.get("requests"),
        "warmup_statuses": warmup,
        "client": "locust FastHttpUser, no think time, on the same machine",
        "client_cpu_seconds": client_cpu,
        "client_share_of_machine_cpu": client_cpu / (plan.load_seconds * (os.cpu_count() or 1)),
    }
    errors = int(_num(total, "Failure Count"))
    p95 = _num(total, "95%")
    bad = {sid: status for sid, status in warmup.items() if status != 200}
    notes = [f"session pages that failed before the load test: {bad}"] if bad else []
    notes.append(
        f"the load client itself used {client_cpu:.0f} CPU-seconds "
        f"({details['client_share_of_machine_cpu']:.0%} of the machine) on the same cores"
    )
    return [
        Figure(
            "f",
            f"{label}: throughput",
            "req/s",
            "—",
            measured=_num(total, "Requests/s"),
            details=details,
        ),
        Figure("f", f"{label}: p50", "ms", "—", measured=_num(total, "50%")),
        Figure(
            "f",
            f"{label}: p95",
            "ms",
            f"≤ {P95_TARGET_MS:.0f} ms",
            measured=p95,
            met=p95 <= P95_TARGET_MS,
        ),
        Figure("f", f"{label}: p99", "ms", "—", measured=_num(total, "99%")),
        Figure(
            "f",
            f"{label}: errors",
            "requests",
            "0",
            measured=errors,
            met=errors == 0,
            notes=notes,
        ),
    ]
