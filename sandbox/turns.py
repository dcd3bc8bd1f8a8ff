"""Turns: fixed-length groups of events that follow a phase template.

A generated session's body is a sequence of turns of :data:`TURN_LEN` events. Each turn belongs to a
phase of the work (explore, reproduce, fix, verify, wrap up) and follows one of that phase's
templates; its :class:`Plan` fixes the kinds, the relative times and the test outcome shared by the
turn's events, so that a turn reads as one coherent step. Plans depend only on
``(seed, session, turn)``, which is what lets any event be generated on its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

TURN_LEN = 10
"""Body events per turn. Fixed so that an event index maps to (turn, slot) arithmetically."""

_FLEX = "*"
"""A template's flexible slot: a decision, a checkpoint, a compaction or an ordinary event."""

_TEMPLATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "explore": (
        (
            "prompt",
            "tool_use",
            "tool_use",
            "ai_response",
            "command",
            "mcp_call",
            "tool_use",
            "ai_response",
            "command",
            _FLEX,
        ),
        (
            "prompt",
            "planning",
            "tool_use",
            "ai_response",
            "command",
            "tool_use",
            "command",
            "subagent_start",
            "ai_response",
            _FLEX,
        ),
    ),
    "reproduce": (
        (
            "prompt",
            "ai_response",
            "file_create",
            "command",
            "test_run",
            "tool_use",
            "ai_response",
            "command",
            "ai_response",
            _FLEX,
        ),
        (
            "prompt",
            "tool_use",
            "ai_response",
            "file_create",
            "command",
            "test_run",
            "ai_response",
            "prompt",
            "ai_response",
            _FLEX,
        ),
    ),
    "fix": (
        (
            "prompt",
            "ai_response",
            "file_diff",
            "tool_use",
            "file_diff",
            "command",
            "test_run",
            "ai_response",
            "file_diff",
            _FLEX,
        ),
        (
            "prompt",
            "tool_use",
            "ai_response",
            "file_diff",
            "file_diff",
            "file_diff",
            "command",
            "test_run",
            "ai_response",
            _FLEX,
        ),
        (
            "prompt",
            "ai_response",
            "file_diff",
            "command",
            "test_run",
            "file_diff",
            "command",
            "test_run",
            "ai_response",
            _FLEX,
        ),
    ),
    "verify": (
        (
            "prompt",
            "subagent_start",
            "command",
            "command",
            "test_run",
            "ai_response",
            "file_diff",
            "git_action",
            "ai_response",
            _FLEX,
        ),
        (
            "prompt",
            "ai_response",
            "command",
            "test_run",
            "mcp_call",
            "ai_response",
            "file_diff",
            "command",
            "git_action",
            _FLEX,
        ),
    ),
    "wrapup": (
        (
            "prompt",
            "ai_response",
            "file_diff",
            "command",
            "test_run",
            "git_action",
            "ai_response",
            "git_action",
            "ai_response",
            _FLEX,
        ),
    ),
}
_FLEX_DEFAULT = {
    "explore": "command",
    "reproduce": "ai_response",
    "fix": "ai_response",
    "verify": "command",
    "wrapup": "ai_response",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """Turn-level choices shared by the turn's events, so a turn reads as one coherent step."""

    phase: str
    kinds: tuple[str, ...]
    offsets: tuple[float, ...]
    failed: int
    skipped: int
    test_secs: float
    pick: int
    topic: int


def _topic(j: int, cycle_turns: int, phase: str) -> int:
    """How many turns this phase has already run, so prompts advance through the script."""
    pos = j % cycle_turns
    first = pos
    while first > 0 and _phase(first - 1, cycle_turns) == phase:
        first -= 1
    return pos - first + j // cycle_turns


def _phase(j: int, cycle_turns: int) -> str:
    pos = (j % cycle_turns) / cycle_turns
    for limit, name in ((0.15, "explore"), (0.3, "reproduce"), (0.7, "fix"), (0.88, "verify")):
        if pos < limit:
            return name
    return "wrapup"


def is_decision_turn(j: int, decision_every: int) -> bool:
    """Decisions sit at fixed turns so that their count is arithmetic (see decision_count)."""
    return j % decision_every == decision_every // 2


def decision_count(body_events: int, decision_every: int) -> int:
    """How many decision events ``body_events`` body events contain (no generation needed)."""
    full_turns = body_events // TURN_LEN  # turns whose flexible (last) slot exists
    first = decision_every // 2
    if full_turns <= first:
        return 0
    return (full_turns - first + decision_every - 1) // decision_every


def _flex_kind(j: int, phase: str, decision_every: int) -> str:
    if is_decision_turn(j, decision_every):
        return "decision_event"
    if j % 50 == 49:
        return "context_compact"
    if j % 10 == 9:
        return "checkpoint"
    return _FLEX_DEFAULT[phase]


@lru_cache(maxsize=4096)
def turn_plan(seed: int, session_id: str, j: int, cycle_turns: int, decision_every: int) -> Plan:
    """The plan of turn ``j``: its kinds, relative event times and test outcome."""
    rng = random.Random(f"{seed}:{session_id}:turn:{j}")
    phase = _phase(j, cycle_turns)
    template = rng.choice(_TEMPLATES[phase])
    kinds = tuple(_flex_kind(j, phase, decision_every) if k == _FLEX else k for k in template)
    gaps = [rng.expovariate(1.0) for _ in range(TURN_LEN)]
    total = sum(gaps)
    acc = 0.0
    offsets = []
    for gap in gaps:
        offsets.append(0.9 * acc / total)
        acc += gap
    pos = (j % cycle_turns) / cycle_turns
    if phase == "reproduce":
        failed = rng.choice((1, 1, 2))
    elif phase == "fix":
        failed = rng.choice((0, 1, 1, 2)) if pos < 0.5 else rng.choice((0, 0, 0, 1))
    else:
        failed = 1 if rng.random() < 0.08 else 0
    return Plan(
        phase,
        kinds,
        tuple(offsets),
        failed,
        rng.choice((0, 0, 1, 2)),
        round(rng.uniform(0.8, 9.5), 2),
        rng.randrange(1_000_000),
        _topic(j, cycle_turns, phase),
    )
