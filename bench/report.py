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
COLUMNS = ("figure", "measured", "reference", "ratio", "target", "met?")


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
        _value(figure.measured, figure.unit),
        reference,
        "—" if figure.ratio is None else f"{figure.ratio:.2f}×",
        figure.target,
        _met(figure),
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
    return [f"{f.key}. {note}" for f in figures for note in f.notes]


def errors(figures: list[Figure]) -> list[str]:
    return [f"{f.key}. {f.name}: {f.error}" for f in figures if f.error]


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


def machine(database_engine: str, redis_version: str) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(_memory_gb(), 1),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": database_engine,
        "redis": redis_version,
        "commit": _commit(),
    }


def machine_line(facts: dict[str, Any]) -> str:
    return (
        f"{facts['nproc']} CPUs ({facts['cpu_model']}), {facts['memory_gb']} GB RAM, "
        f"Python {facts['python']}, {facts['database']}, Redis {facts['redis']}"
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
