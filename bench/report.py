"""The results table, the JSON file and the facts about the machine they were measured on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figure import Figure

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("figure", "db", "measured", "reference", "ratio", "target", "met?", "before")

# The previous run's figures (README before this version of the bench: PostgreSQL + Redis,
# sandbox latency 50 ms, the old cache keys), by figure name, for the "before" column.
BEFORE = {
    "list, warm cache (server time)": "3.7 ms (1.47×)",
    "upstream calls per 100 warm list views": "0",
    "list, cold cache (client wall time)": "64.2 ms vs 52.0 (50 ms API)",
    "20 concurrent cold list requests: upstream calls (worst run)": "2",
    "prefetch 100,000 events (real worker, end to end)": "6.76 s (1.16×, 50 ms API)",
    "worker peak RSS during prefetch (largest process)": "119 MB",
    "worker peak RSS, main process + pool child together": "217 MB",
    "timeline first chunk (server time)": "4.8 ms",
    "timeline first chunk, cold: rendered again (server time)": "49.6 ms¹",
    "timeline deep chunk (after event ~90,000) (server time)": "4.7 ms",
    "timeline deep chunk (after event ~90,000), cold: rendered again (server time)": "53.4 ms¹",
    "timeline kind filter (command) (server time)": "4.5 ms",
    "timeline kind filter (command), cold: rendered again (server time)": "36.3 ms¹",
    "timeline text search (q=pytest) (server time)": "4.5 ms²",
    "timeline text search (q=pytest), cold: rendered again (server time)": "103.1 ms¹",
    "load, 32 clients × 30 s: throughput": "287.3 req/s",
    "load, 32 clients × 30 s: p50": "110.0 ms",
    "load, 32 clients × 30 s: p95": "170.0 ms",
    "load, 32 clients × 30 s: p99": "230.0 ms",
    "load, 32 clients × 30 s: errors": "0",
}


def _value(value: float | None, unit: str) -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    if unit in ("calls", "requests"):
        return f"{value:.0f} {unit}"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.1f} {unit}"


def _met(figure: Figure) -> str:
    if figure.error:
        return "error"
    if figure.met is None:
        return "—"
    return "yes" if figure.met else "NO"


def row(figure: Figure) -> tuple[str, ...]:
    reference = _value(figure.reference, figure.unit)
    if figure.reference_name and figure.reference is not None:
        reference = f"{reference} ({figure.reference_name})"
    return (
        f"{figure.key}. {figure.name}",
        figure.db,
        _value(figure.measured, figure.unit),
        reference,
        "—" if figure.ratio is None else f"{figure.ratio:.2f}×",
        figure.target,
        _met(figure),
        BEFORE.get(figure.name, "") if figure.db == "PG" else "",
    )


def table(figures: list[Figure]) -> str:
    """A plain-text table, which is also valid Markdown."""
    rows = [COLUMNS, *(row(f) for f in figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for index, cells in enumerate(rows):
        lines.append(
            "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
        )
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def notes(figures: list[Figure]) -> list[str]:
    return [f"{f.key} ({f.db}). {note}" for f in figures for note in f.notes]


def errors(figures: list[Figure]) -> list[str]:
    return [f"{f.key} ({f.db}). {f.name}: {f.error}" for f in figures if f.error]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=RESULTS.parent,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def machine(engines: str) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(_memory_gb(), 1),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "databases": engines,
        "commit": _commit(),
    }


def machine_line(facts: dict[str, Any]) -> str:
    return (
        f"{facts['nproc']} CPUs ({facts['cpu_model']}), {facts['memory_gb']} GB RAM, "
        f"Python {facts['python']}, {facts['databases']}"
    )


def write_json(figures: list[Figure], facts: dict[str, Any], setup: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    payload = {
        "timestamp": stamp,
        "machine": facts,
        "setup": setup,
        "figures": [f.as_dict() for f in figures],
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
