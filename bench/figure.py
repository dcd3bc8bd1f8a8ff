"""One measured figure, the plan of a run, and the small statistics they need."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Plan:
    """How much to measure. The defaults keep a whole run (both set-ups) near fifteen minutes."""

    runs: int = 5  # runs of each latency figure; the median is reported
    per_run: int = 15  # requests per run and path (its median is the run's value)
    cold_runs: int = 7
    stampede_clients: int = 20
    stampede_runs: int = 5
    prefetch_runs: int = 3
    first_view_runs: int = 5
    prefetch_timeout: float = 240.0
    search_word: str = "pytest"
    deep_index: int = 90_000
    load_users: int = 32
    load_seconds: int = 30


@dataclass
class Figure:
    key: str
    name: str
    unit: str
    target: str
    measured: float | None = None
    reference: float | None = None
    reference_name: str = ""
    ratio: float | None = None
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    db: str = ""  # the set-up it was measured on ("SQLite", "PG"), set by the runner
    notes: list[str] = field(default_factory=list)  # things seen on the way, printed below
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median(values: Iterable[float]) -> float:
    items = list(values)
    if not items:
        raise ValueError("no values to take the median of")
    return float(statistics.median(items))


def ratio(measured: float, reference: float) -> float | None:
    return measured / reference if reference > 0 else None
