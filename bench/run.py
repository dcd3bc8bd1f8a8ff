"""`python -m bench.run`: start the whole product, measure figures a–f, report, stop it all.

Every process runs in its own process group and is stopped at the end, also on Ctrl-C, on
SIGTERM and on failure. Only 127.0.0.1 is used. See README, "Benchmarks".
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
from bench.listing import cold_list, stampede, warm_list
from bench.load import load
from bench.prefetching import prefetch
from bench.procs import BenchError
from bench.timeline import timeline

Step = Callable[[stack.Running, Plan, dict[str, Any]], list[Figure]]

STEPS: list[tuple[str, str, Step]] = [
    ("a", "session list, warm cache", lambda r, p, _f: warm_list(r, p)),
    ("b", "session list, cold cache", lambda r, p, _f: cold_list(r, p)),
    ("c", "concurrent cold requests", lambda r, p, _f: stampede(r, p)),
    ("d", "prefetch of the 100k-event session", prefetch),
    ("e", "timeline fragments of the stored session", timeline),
    ("f", "load", load),
]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--only", default="abcdef", help="figures to measure, e.g. 'ab' or 'de'")
    parser.add_argument("--runs", type=int, default=Plan.runs, help="runs per latency figure")
    parser.add_argument("--prefetch-runs", type=int, default=Plan.prefetch_runs)
    parser.add_argument("--load-seconds", type=int, default=Plan.load_seconds)
    parser.add_argument("--keep", action="store_true", help="keep the temporary logs")
    return parser.parse_args(argv)


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_step(
    key: str, title: str, step: Step, running: stack.Running, plan: Plan, found: dict[str, Any]
) -> list[Figure]:
    """Run one figure's measurement; a failure is recorded as an error row, not fatal."""
    print(f"[{key}] {title} …", flush=True)
    start = time.monotonic()
    try:
        figures = step(running, plan, found)
    except BenchError as exc:
        print(f"[{key}] failed: {exc}", flush=True)
        return [Figure(key, title, "", "", error=str(exc).splitlines()[0])]
    except Exception as exc:  # a bug or an unexpected answer: show it, go on with the others
        traceback.print_exc()
        return [Figure(key, title, "", "", error=f"{type(exc).__name__}: {exc}")]
    print(f"[{key}] done in {time.monotonic() - start:.0f}s", flush=True)
    return figures


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
            figures.append(Figure(key, "stack", "", "", error=dead.splitlines()[0]))
            break
    return figures


def _redis_version(running: stack.Running) -> str:
    try:
        return str(running.redis.info("server").get("redis_version", "?"))
    except Exception:
        return "?"


def _setup(running: stack.Running, plan: Plan, load_before: float) -> dict[str, Any]:
    return {
        "load_average_1m_before_run": load_before,
        "plan": plan.__dict__,
        "sandbox_latency_ms": stack.SANDBOX_LATENCY_MS,
        "gunicorn": f"{stack.GUNICORN_WORKERS} workers × {stack.GUNICORN_THREADS} threads",
        "celery": "prefork, --concurrency 1",
        "server_time": "gunicorn's own request time (%(D)s in its access log), per request",
        "big_session_id": running.big_session_id,
        "database_note": running.database.note,
    }


def _finish(running: stack.Running, plan: Plan, figures: list[Figure], load_before: float) -> None:
    facts = report.machine(running.database.engine, _redis_version(running))
    path = report.write_json(figures, facts, _setup(running, plan, load_before))
    print()
    print(report.table(figures))
    print()
    print("Machine:", report.machine_line(facts))
    print(f"Load average (1 min) before the run: {load_before:.2f} on {facts['nproc']} CPUs")
    for line in report.notes(figures):
        print("note:", line)
    for line in report.errors(figures):
        print("error:", line)
    print(f"Results written to {path}")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    plan = Plan(
        runs=max(1, args.runs),
        prefetch_runs=max(1, args.prefetch_runs),
        load_seconds=max(5, args.load_seconds),
    )
    signal.signal(signal.SIGTERM, _on_sigterm)
    load_before = os.getloadavg()[0]  # other work on a shared machine skews every figure
    tmp = Path(tempfile.mkdtemp(prefix="reviewer-bench-"))
    database = db.create(tmp)
    print(f"Database: {database.engine}" + (f" — {database.note}" if database.note else ""))
    procs = stack.new_stack(tmp, database)
    keep = args.keep
    code = 0
    try:
        running = stack.start(procs, tmp, database)
        print(
            f"Started: web {running.web_url}, sandbox {running.api_url}, worker pid "
            f"{running.worker.pid}; logs in {tmp / 'logs'}",
            flush=True,
        )
        figures = _measure(running, plan, args.only)
        _finish(running, plan, figures, load_before)
        code = 1 if report.errors(figures) else 0
    except BenchError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        keep, code = True, 1
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        keep, code = True, 130
    finally:
        procs.stop()
        stack.clear_redis()
        db.drop(database)
        if keep:
            print(f"Logs kept in {tmp / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
