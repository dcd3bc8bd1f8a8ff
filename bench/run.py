"""`python -m bench.run`: start the whole product, measure figures a–i, report, stop it all;
once on the embedded set-up (SQLite, file cache, filesystem broker) and once on PostgreSQL
with Redis, one after the other in the same run.

Every process runs in its own process group and is stopped at the end, also on Ctrl-C, on
SIGTERM and on failure. Only 127.0.0.1 is used. See README, "Performance".
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from bench import db, report, stack
from bench.figure import Figure, Plan
from bench.firstview import first_view
from bench.listing import cold_list, stampede, warm_list
from bench.load import load
from bench.prefetching import prefetch
from bench.procs import BenchError
from bench.searching import search
from bench.sessionpage import session_page
from bench.timeline import timeline

Step = Callable[[stack.Running, Plan, dict[str, Any]], list[Figure]]

STEPS: list[tuple[str, str, Step]] = [
    ("a", "session list, warm cache", lambda r, p, _f: warm_list(r, p)),
    ("b", "session list, cold cache", lambda r, p, _f: cold_list(r, p)),
    ("c", "concurrent cold requests", lambda r, p, _f: stampede(r, p)),
    ("g", "first visible event of a never-fetched 100k session", first_view),
    ("d", "prefetch of the 100k-event session", prefetch),
    ("e", "timeline fragments of the stored session", timeline),
    ("h", "search, in the session and across the organization", search),
    ("i", "session page with its map", session_page),
    ("f", "load", load),
]
ALL = "".join(sorted(key for key, _, _ in STEPS))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--only", default=ALL, help="figures to measure, e.g. 'ab' or 'de'")
    parser.add_argument(
        "--db",
        default=",".join(db.KINDS),
        help="set-ups to measure on, in order: sqlite (embedded), postgresql (with Redis)",
    )
    parser.add_argument("--runs", type=int, default=Plan.runs, help="runs per latency figure")
    parser.add_argument("--prefetch-runs", type=int, default=Plan.prefetch_runs)
    parser.add_argument("--first-view-runs", type=int, default=Plan.first_view_runs)
    parser.add_argument("--load-seconds", type=int, default=Plan.load_seconds)
    parser.add_argument("--keep", action="store_true", help="keep the temporary logs")
    return parser.parse_args(argv)


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_step(
    key: str, title: str, step: Step, running: stack.Running, plan: Plan, found: dict[str, Any]
) -> list[Figure]:
    """Run one figure's measurement; a failure is recorded as an error row, not fatal."""
    print(f"[{running.database.label} {key}] {title} …", flush=True)
    start = time.monotonic()
    try:
        figures = step(running, plan, found)
        for figure in figures:
            figure.db = running.database.label
    except BenchError as exc:
        print(f"[{key}] failed: {exc}", flush=True)
        return [_failed(key, title, running, str(exc).splitlines()[0])]
    except Exception as exc:  # a bug or an unexpected answer: show it, go on with the others
        traceback.print_exc()
        return [_failed(key, title, running, f"{type(exc).__name__}: {exc}")]
    print(f"[{key}] done in {time.monotonic() - start:.0f}s", flush=True)
    return figures


def _failed(key: str, title: str, running: stack.Running, error: str) -> Figure:
    return Figure(key, title, "", "", error=error, db=running.database.label)


def _dead_process(running: stack.Running) -> str:
    for proc in running.stack.procs:
        if not proc.alive():
            return f"{proc.name} stopped during the benchmark:\n{proc.tail()}"
    return ""


def _measure(running: stack.Running, plan: Plan, only: str) -> list[Figure]:
    found: dict[str, Any] = {}
    figures: list[Figure] = []
    for key, title, step in STEPS:
        if key not in only:
            continue
        figures += _run_step(key, title, step, running, plan, found)
        dead = _dead_process(running)
        if dead:  # the remaining figures would measure a broken stack
            print(dead, file=sys.stderr)
            figures.append(_failed(key, "stack", running, dead.splitlines()[0]))
            break
    return figures


def _redis_version(running: stack.Running) -> str:
    if running.redis is None:
        return ""
    try:
        return str(running.redis.info("server").get("redis_version", "?"))
    except Exception:
        return "?"


def _setup(plan: Plan, loads: dict[str, float], seen: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "load_average_1m_before": loads,
        "plan": plan.__dict__,
        "sandbox_latency_ms": stack.SANDBOX_LATENCY_MS,
        "gunicorn": f"{stack.GUNICORN_WORKERS} workers × {stack.GUNICORN_THREADS} threads",
        "celery": "prefork, --concurrency 1",
        "server_time": "gunicorn's own request time (%(D)s in its access log), per request",
        "set_ups": seen,
    }


def _finish(
    plan: Plan,
    figures: list[Figure],
    loads: dict[str, float],
    seen: dict[str, dict[str, str]],
) -> None:
    engines = ", ".join(
        f"{s['engine']}" + (f" + Redis {s['redis']}" if s["redis"] else "") for s in seen.values()
    )
    facts = report.machine(engines)
    path = report.write_json(figures, facts, _setup(plan, loads, seen))
    print()
    print(report.table(figures))
    print()
    print("Machine:", report.machine_line(facts))
    for label, value in loads.items():
        print(f"Load average (1 min) before {label}: {value:.2f} on {facts['nproc']} CPUs")
    for line in report.notes(figures):
        print("note:", line)
    for line in report.errors(figures):
        print("error:", line)
    print(f"Results written to {path}")


def _one_set_up(
    kind: str, plan: Plan, only: str, root: Path, seen: dict[str, dict[str, str]]
) -> tuple[list[Figure], bool]:
    """Measure on one set-up from a fresh database and a fresh stack; (figures, keep logs)."""
    tmp = root / kind
    tmp.mkdir()
    try:
        database = db.create(kind, tmp)
    except BenchError as exc:
        print(f"{kind}: {exc}; skipped", file=sys.stderr)
        label = "PG" if kind == "postgresql" else kind
        return [Figure("-", f"{kind} set-up", "", "", error=str(exc), db=label)], True
    print(
        f"\n=== {database.label}: {database.engine}"
        + (
            f" + Redis {database.redis_url}"
            if database.redis_url
            else " (embedded: file cache, filesystem broker)"
        ),
        flush=True,
    )
    procs = stack.new_stack(tmp, database)
    try:
        running = stack.start(procs, tmp, database)
        print(
            f"Started: web {running.web_url}, sandbox {running.api_url}, worker pid "
            f"{running.worker.pid}; logs in {tmp / 'logs'}",
            flush=True,
        )
        seen[database.label] = {
            "engine": database.engine,
            "redis": _redis_version(running),
            "big_session_id": running.big_session_id,
        }
        return _measure(running, plan, only), False
    except BenchError as exc:
        print(f"\n{database.label}: the stack failed: {exc}", file=sys.stderr)
        return [
            Figure("-", "stack", "", "", error=str(exc).splitlines()[0], db=database.label)
        ], True
    finally:
        procs.stop()
        stack.clear_redis(database)
        db.drop(database)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    plan = Plan(
        runs=max(1, args.runs),
        prefetch_runs=max(1, args.prefetch_runs),
        first_view_runs=max(1, args.first_view_runs),
        load_seconds=max(5, args.load_seconds),
    )
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in db.KINDS]
    if unknown or not kinds:
        print(f"--db takes {', '.join(db.KINDS)}; not {unknown}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    root = Path(tempfile.mkdtemp(prefix="reviewer-bench-"))
    keep = args.keep
    figures: list[Figure] = []
    loads: dict[str, float] = {}
    seen: dict[str, dict[str, str]] = {}
    code = 0
    try:
        for kind in kinds:
            # other work on a shared machine skews every figure: say how busy it was
            loads[kind] = os.getloadavg()[0]
            found, failed = _one_set_up(kind, plan, args.only, root, seen)
            figures += found
            keep = keep or failed
        _finish(plan, figures, loads, seen)
        code = 1 if report.errors(figures) else 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        keep, code = True, 130
    finally:
        if keep:
            print(f"Logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
