"""Deterministic data for the sandbox Promptster API.

The sandbox plays the upstream reviewer API for the demo, the test-suite and the benchmarks, so its
data has to look like real candidate sessions while staying cheap and reproducible:

* Everything derives from ``seed`` through local ``random.Random`` instances keyed by strings (never
  the global RNG, never ``hash()``), so the same seed gives byte-identical JSON in any process.
  The only wall-clock input is the ``live_anchor`` of running sessions (their last activity is
  "a few minutes ago") and the timestamps of events added later by :meth:`SandboxState.grow`.
* Sessions are never materialised. Event ``i`` of a session is generated on demand from
  ``(seed, session, i)``; per-session counts are fixed up front, decision events sit at fixed
  positions (so ``decisionFlagCount`` is arithmetic), and event ids end in the event index (so an
  ``after`` cursor resolves to an index without a lookup table). The 100,000-event session therefore
  costs a few hundred bytes of memory until a page of it is requested.
* The content follows a real bug being worked in a small repository (a scenario, read from the
  files under ``sandbox/scenarios/``): explore, reproduce with a failing test, fix with genuine
  unified diffs, verify, commit. Turns of :data:`TURN_LEN` events
  follow phase templates; the documented contradictions of the upstream API (REFERENCE.md section 7)
  are sprinkled in deterministically so clients must cope with them.

Layout of a generated session: index 0 is ``session_start``; indices ``1..B`` are body events in
turns of :data:`TURN_LEN`; an ended session has one final ``session_end``. Slot ``TURN_LEN - 1`` of
each turn is the flexible slot: a ``decision_event`` every ``decision_every`` turns, otherwise a
checkpoint, a context compaction or an ordinary event.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import json
import random
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from sandbox.hostile import PAYLOADS
from sandbox.scenarios import Scenario, apply_edit
from sandbox.scenarios import load as load_scenario

ORGS: list[dict[str, str]] = [
    {"id": "org_acme", "slug": "acme", "name": "Acme Corp", "token": "psk_live_sandbox_acme"},
    {"id": "org_globex", "slug": "globex", "name": "Globex", "token": "psk_live_sandbox_globex"},
]
"""The sandbox's organisations and their reviewer API tokens."""

REVOKED_TOKEN = "psk_live_sandbox_revoked"
"""A well-formed org key that the sandbox always rejects with 401, as a revoked key would be."""

TURN_LEN = 10
"""Body events per turn. Fixed so that an event index maps to (turn, slot) arithmetically."""

BIG_SESSION_EVENTS = 100_000
"""Exact event count of the large session used for pagination and performance work."""

_FLEX = "*"
_MS_PER_MIN = 60_000
_DAY_MS = 86_400_000
_BASE_MS = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000)
"""Start of the sandbox's fixed calendar: ended sessions happen in October-November 2026."""


class InvalidCursor(ValueError):
    """Raised when a timeline ``after`` id does not belong to the session's timeline."""


def _uuid(seed: int, label: str) -> str:
    """A UUID4-shaped id derived from ``seed`` and ``label`` (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _event_prefix(seed: int, session_id: str) -> str:
    """The first four groups of every event id of a session; the last group is the index."""
    full = _uuid(seed, f"events:{session_id}")
    return full[:23]


def _event_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index:012x}"


def _iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, the format the upstream API uses."""
    sec, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"


def _parse_iso_ms(value: Any) -> int | None:
    """Milliseconds since the epoch for an ISO timestamp, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _sha(rng: random.Random, length: int = 40) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def _day(month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Milliseconds for a date in October/November 2026 (the sandbox's fixed calendar)."""
    start_of_month = _BASE_MS if month == 10 else _BASE_MS + 31 * _DAY_MS
    return start_of_month + (day - 1) * _DAY_MS + hour * 3_600_000 + minute * _MS_PER_MIN


# --------------------------------------------------------------------------------------------
# Unified diffs. All of them are real: correct headers, hunk ranges and line counts.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    """A rendered unified diff and its line counts (``linesAdded``/``linesRemoved``)."""

    path: str
    text: str
    added: int
    removed: int


def _blob_id(text: str) -> str:
    """The git blob id of ``text``, abbreviated, for realistic ``index`` lines."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()[:7]


def _count_changes(hunk_lines: Iterable[str]) -> tuple[int, int]:
    """Added and removed line counts of hunk lines (file headers already stripped)."""
    added = removed = 0
    for line in hunk_lines:
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def _unified(path: str, before: str, after: str, *, git_header: bool) -> Diff:
    """A ``diff -U3`` of two texts that both end with a newline."""
    body = list(
        difflib.unified_diff(
            before.split("\n")[:-1], after.split("\n")[:-1], f"a/{path}", f"b/{path}", lineterm=""
        )
    )
    added, removed = _count_changes(body[2:])
    head = []
    if git_header:
        head = [
            f"diff --git a/{path} b/{path}",
            f"index {_blob_id(before)}..{_blob_id(after)} 100644",
        ]
    return Diff(path, "\n".join(head + body) + "\n", added, removed)


@cache
def edit_diff(scenario_key: str, index: int, git_header: bool) -> Diff:
    """The diff of one catalogued edit against the pristine file (cached: a handful exist)."""
    scn = load_scenario(scenario_key)
    edit = scn.edits[index]
    before = scn.files[edit.path]
    return _unified(edit.path, before, apply_edit(before, edit.replacements), git_header=git_header)


def _lock_version(k: int, bumped: bool = False) -> str:
    return f"1.{k % 17}.{k % 7 + (1 if bumped else 0)}"


def _lock_block(fmt: str, k: int, bumped: bool = False) -> list[str]:
    """Ten lines describing package ``k`` in a poetry or npm lockfile."""
    version = _lock_version(k, bumped)
    name = f"pkg-{k:05d}-{'abcdefghij'[k % 10]}lib"
    digest = hashlib.sha256(f"{name}{version}".encode()).hexdigest()
    if fmt == "poetry.lock":
        return [
            "[[package]]",
            f'name = "{name}"',
            f'version = "{version}"',
            f'description = "Utilities for {name.replace("-", " ")}"',
            "optional = false",
            'python-versions = ">=3.9"',
            "files = [",
            f'    {{file = "{name.replace("-", "_")}-{version}-py3-none-any.whl", '
            f'hash = "sha256:{digest}"}},',
            "]",
            "",
        ]
    return [
        f'    "node_modules/{name}": {{',
        '      "dev": true,',
        f'      "version": "{version}",',
        f'      "resolved": "https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",',
        f'      "integrity": "sha512-{digest[:43]}==",',
        '      "license": "MIT",',
        '      "engines": {',
        '        "node": ">=18"',
        "      }",
        "    },",
    ]


@lru_cache(maxsize=8)
def lockfile_diff(fmt: str, changed_packages: int) -> Diff:
    """A regenerated lockfile in which every third package bumps its version.

    Built directly rather than with difflib, so a 20,000-line diff costs milliseconds. Blocks are
    ten lines long and package ``k`` starts at line ``10k + 1``; each bump is one ``-U3`` hunk
    whose context reaches into the neighbouring blocks, so the ranges are exact.
    """
    changed = (2, 7) if fmt == "poetry.lock" else (2, 3, 4)
    lo, hi = changed[0] - 3, changed[-1] + 3
    out = [
        f"diff --git a/{fmt} b/{fmt}",
        "index 4c1d9e2..8a07b3f 100644",
        f"--- a/{fmt}",
        f"+++ b/{fmt}",
    ]
    for n in range(changed_packages):
        k = 3 * n + 1
        old, new = _lock_block(fmt, k), _lock_block(fmt, k, bumped=True)
        prev, nxt = _lock_block(fmt, k - 1), _lock_block(fmt, k + 1)
        start, count = 10 * k + lo + 1, hi - lo + 1
        out.append(f"@@ -{start},{count} +{start},{count} @@")
        minus: list[str] = []
        plus: list[str] = []
        for pos in range(lo, hi + 1):
            if pos in changed:
                minus.append("-" + old[pos])
                plus.append("+" + new[pos])
                continue
            out.extend(minus + plus)
            minus, plus = [], []
            line = prev[10 + pos] if pos < 0 else nxt[pos - 10] if pos > 9 else old[pos]
            out.append(" " + line)
        out.extend(minus + plus)
    lines_changed = len(changed) * changed_packages
    return Diff(fmt, "\n".join(out) + "\n", lines_changed, lines_changed)


@lru_cache(maxsize=4)
def minified_diff(path: str, chars: int) -> Diff:
    """A new vendored file that is one minified line of exactly ``chars`` characters."""
    parts: list[str] = [
        '/*! purify 3.1.7 | (c) Cure53 | Apache-2.0 */!function(e,t){"object"==typeof exports&&'
        '"undefined"!=typeof module?module.exports=t():e.DOMPurify=t()}(this,function(){'
    ]
    size = len(parts[0])
    n = 0
    while size < chars:
        piece = (
            f'var a{n}=function(e){{return e&&e.nodeType===1?"{n:x}":null}},'
            f'b{n}=["tag{n}","attr{n % 97}"];'
        )
        parts.append(piece)
        size += len(piece)
        n += 1
    line = "".join(parts)[: chars - 2] + "})"
    text = (
        "\n".join(
            [
                f"diff --git a/{path} b/{path}",
                "new file mode 100644",
                "index 0000000..5e1c0aa",
                "--- /dev/null",
                f"+++ b/{path}",
                "@@ -0,0 +1 @@",
                "+" + line,
                "\\ No newline at end of file",
            ]
        )
        + "\n"
    )
    return Diff(path, text, 1, 0)


def payload_diff(path: str, rng: random.Random) -> Diff:
    """A real diff whose every content line is a hostile string (for the hostile session)."""
    before = [line for p in rng.sample(PAYLOADS, 4) for line in p.split("\n")]
    after = list(before)
    for _ in range(3):
        after.insert(rng.randrange(len(after) + 1), rng.choice(PAYLOADS).split("\n")[0])
    if after:
        after[rng.randrange(len(after))] = rng.choice(PAYLOADS).split("\n")[0]
    body = list(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", lineterm=""))
    added, removed = _count_changes(body[2:])
    return Diff(path, "\n".join(body) + "\n", added, removed)


# --------------------------------------------------------------------------------------------
# Test-runner output, matched to the test_run event of the same turn.
# --------------------------------------------------------------------------------------------


def _pytest_output(scn: Scenario, failed: int, skipped: int, secs: float) -> str:
    total = scn.total_tests
    dots = ["."] * total
    for k in range(failed):
        dots[(k * 37 + 11) % total] = "F"
    for k in range(skipped):
        dots[(k * 53 + 29) % total] = "s"
    rows = []
    for start in range(0, total, 72):
        chunk = "".join(dots[start : start + 72])
        pct = min(100, round(100 * (start + len(chunk)) / total))
        rows.append(f"{chunk:<75}[{pct:>3}%]")
    passed = total - failed - skipped
    summary = [f"{failed} failed"] if failed else []
    summary.append(f"{passed} passed")
    if skipped:
        summary.append(f"{skipped} skipped")
    lines = rows
    if failed:
        lines.append("=" * 35 + " FAILURES " + "=" * 35)
        for name, error in scn.failing_tests[:failed]:
            test = name.split("::")[-1]
            lines += [f"{'_' * 20} {test} {'_' * 20}", "", f"E       {error}", ""]
        lines.append("=" * 27 + " short test summary info " + "=" * 28)
        lines += [f"FAILED {name} - {error}" for name, error in scn.failing_tests[:failed]]
    lines.append(f"{', '.join(summary)} in {secs:.2f}s")
    return "\n".join(lines) + "\n"


def _vitest_output(scn: Scenario, failed: int, skipped: int, secs: float, clock: str) -> str:
    passed = scn.total_tests - failed - skipped
    lines = [f" RUN  v2.1.4 /home/candidate/{scn.repo}", ""]
    lines.append(" ✓ test/middleware.test.ts (9 tests) 31ms")
    if failed:
        lines.append(f" ❯ test/{scn.repo.split('-')[0]}.test.ts (12 tests | {failed} failed) 88ms")
        for name, error in scn.failing_tests[:failed]:
            lines += [f"   × {name}", f"     → {error}"]
    files = "1 failed | 3 passed (4)" if failed else "4 passed (4)"
    tests = f"{failed} failed | {passed} passed" if failed else f"{passed} passed"
    if skipped:
        tests += f" | {skipped} skipped"
    lines += [
        "",
        f" Test Files  {files}",
        f"      Tests  {tests} ({scn.total_tests})",
        f"   Start at  {clock}",
        f"   Duration  {secs:.2f}s",
    ]
    return "\n".join(lines) + "\n"


def runner_output(scn: Scenario, failed: int, skipped: int, secs: float, clock: str) -> str:
    """Console output of a test run with exactly these counts."""
    if scn.language == "python":
        return _pytest_output(scn, failed, skipped, secs)
    return _vitest_output(scn, failed, skipped, secs, clock)


# --------------------------------------------------------------------------------------------
# Turns: fixed-length groups of events following a phase template.
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Sessions and their events.
# --------------------------------------------------------------------------------------------

_MODELS = {
    "claude-code": ("claude-sonnet-4-5", "claude-opus-4-1", "claude-sonnet-4-5"),
    "cursor": ("gpt-5", "claude-4.5-sonnet", "cursor-small"),
    "codex": ("gpt-5-codex", "gpt-5-codex", "o4-mini"),
    "shell": ("claude-sonnet-4-5", "gpt-5"),
}


@dataclass
class SessionSpec:
    """Everything needed to generate a session's events on demand (a few hundred bytes)."""

    id: str
    org_id: str
    assessment_id: str
    scenario: str
    source: str
    source_service: Any
    candidate: str
    repo_url: str
    start_ms: int
    span_ms: int
    base_count: int
    ended: bool
    end_gap_ms: int
    cycle_turns: int
    decision_every: int
    prefix: str
    model: str
    ide_session: str
    created_ms: int
    count: int = 0
    growth: list[tuple[int, int, int]] = field(default_factory=list)
    quirks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    hostile: bool = False
    prompt_key_every: int = 0
    system_provenance: bool = True
    attribution_pct: float | None = None
    cost_usd: float = 0.0
    omit_fields: tuple[str, ...] = ()
    impact_fraction: bool = False
    extra_metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.count:
            self.count = self.base_count


@dataclass
class _Ctx:
    """What an event builder may look at."""

    seed: int
    spec: SessionSpec
    scn: Scenario
    plan: Plan
    i: int
    j: int
    slot: int
    rng: random.Random
    ts_ms: int

    def pick(self, options: tuple[Any, ...] | list[Any], salt: int = 0) -> Any:
        """A turn-stable choice (same turn, same salt, same answer)."""
        return options[(self.plan.pick + salt) % len(options)]

    def occurrence(self) -> int:
        """How many earlier slots of this turn have the same kind (to avoid repeats)."""
        kind = self.plan.kinds[self.slot]
        return sum(1 for k in self.plan.kinds[: self.slot] if k == kind)

    def sibling(self, slot: int) -> tuple[str, dict[str, Any], str]:
        """Kind, data and author of another slot of this turn, exactly as it is generated."""
        i = self.i - self.slot + slot
        ts = event_ts_ms(self.seed, self.spec, i)
        rng = random.Random(f"{self.seed}:{self.spec.id}:{i}")
        ctx = _Ctx(self.seed, self.spec, self.scn, self.plan, i, self.j, slot, rng, ts)
        kind = self.plan.kinds[slot]
        data, who = _BUILDERS[kind](ctx)
        return kind, data, who


def _phase_group(phase: str) -> str:
    return "explore" if phase in ("explore", "reproduce") else "verify"


def _who_edits(ctx: _Ctx) -> str:
    weights = {
        "claude-code": (("ai", 75), ("human", 14), ("revised", 8), ("mixed", 3)),
        "cursor": (("ai", 70), ("human", 18), ("revised", 9), ("mixed", 3)),
        "codex": (("ai", 85), ("human", 10), ("revised", 5)),
        "shell": (("human", 70), ("ai", 20), ("mixed", 10)),
    }[ctx.spec.source]
    roll = ctx.rng.randrange(sum(w for _, w in weights))
    for who, weight in weights:
        if roll < weight:
            return who
        roll -= weight
    return "ai"


def _data_session_start(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    spec = ctx.spec
    cwd = f"/home/candidate/{ctx.scn.repo}"
    if spec.source == "cursor":
        data = {
            "cursorSessionId": spec.ide_session,
            "composerMode": "agent",
            "cwd": cwd,
            "model": spec.model,
            "source": "startup",
        }
    else:
        data = {
            "ideSessionId": spec.ide_session,
            "cwd": cwd,
            "model": spec.model,
            "source": "startup",
        }
    data["assessmentId"] = spec.assessment_id
    return data, "system"


def _data_session_end(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    reason = ctx.rng.choice(("done", "done", "done", "prompt_input_exit", "timeout"))
    if ctx.spec.source == "cursor":
        return {
            "cursorSessionId": ctx.spec.ide_session,
            "reason": reason,
            "finalStatus": "completed",
        }, "system"
    return {"ideSessionId": ctx.spec.ide_session, "reason": reason}, "system"


_FOLLOW_UPS = (
    "Looks right. Carry on.",
    "Why did that fail? Show me the assertion before changing anything.",
    "That's more than I asked for. Revert the unrelated formatting changes.",
    "Wait, before you continue: what are you assuming about the existing callers?",
    "OK. Run only the affected tests this time, the full suite is slow.",
    "Good. Can you explain the second hunk? I don't follow why it's needed.",
    "No, keep the public function signature unchanged.",
)


def _data_prompt(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    if ctx.occurrence():
        text = _FOLLOW_UPS[(ctx.plan.pick + ctx.j) % len(_FOLLOW_UPS)]
    else:
        options = ctx.scn.prompts[ctx.plan.phase]
        text = options[ctx.plan.topic % len(options)]
    every = ctx.spec.prompt_key_every
    if every and ctx.j % every == every // 2:
        # Contradiction 3: the API reference example uses `prompt` (and tokenCount).
        return {"prompt": text, "tokenCount": max(1, len(text) // 4)}, "human"
    if ctx.spec.source == "cursor":
        return {
            "text": text,
            "conversationId": ctx.spec.ide_session,
            "generationId": _uuid(ctx.seed, f"gen:{ctx.spec.id}:{ctx.i}"),
            "model": ctx.spec.model,
        }, "human"
    meta = {
        "ideSessionId": ctx.spec.ide_session,
        "model": ctx.spec.model,
        "permissionMode": ctx.pick(("default", "acceptEdits", "acceptEdits", "plan")),
        "cwd": f"/home/candidate/{ctx.scn.repo}",
    }
    return {"text": text, "meta": meta}, "human"


def _first_hunk(diff_text: str, max_lines: int = 14) -> str:
    lines = diff_text.split("\n")
    start = next((k for k, line in enumerate(lines) if line.startswith("@@")), 0)
    return "\n".join(lines[start : start + max_lines])


def _progress_note(ctx: _Ctx) -> str:
    """A short interim assistant message about what the turn just did."""
    for slot in range(ctx.slot - 1, -1, -1):
        kind = ctx.plan.kinds[slot]
        if kind == "test_run":
            return _tests_note(ctx)
        if kind in ("file_diff", "file_create", "command"):
            _, data, _ = ctx.sibling(slot)
            if kind == "file_diff":
                return (
                    f"Updated `{data['path']}` (+{data['linesAdded']} "
                    f"\u2212{data['linesRemoved']}):\n\n```diff\n"
                    f"{_first_hunk(data['diff'])}\n```\n\nRunning the affected tests next."
                )
            if kind == "file_create":
                lang = "python" if data["path"].endswith(".py") else "ts"
                head = "\n".join(data["content"].split("\n")[:8])
                return (
                    f"Created `{data['path']}` ({data['linesAdded']} lines):\n\n"
                    f"```{lang}\n{head}\n```"
                )
            code = data.get("exitCode")
            if code:
                detail = (data.get("stderr") or data.get("stdout") or "").strip().split("\n")[0]
                return (
                    f"`{data['command']}` exited with **{code}**:\n\n```text\n{detail}\n```"
                    "\n\nThat's an environment problem rather than the bug; working around it."
                )
            return f"`{data['command']}` looks as expected. Moving on."
    return "Let me read the relevant code before changing anything."


def _tests_note(ctx: _Ctx) -> str:
    plan = ctx.plan
    total = ctx.scn.total_tests
    if not plan.failed:
        return f"All tests pass: **{total - plan.skipped} passed**, {plan.skipped} skipped."
    lines = [f"Tests: **{plan.failed} failed**, {total - plan.failed - plan.skipped} passed.", ""]
    lines += [f"- `{name}`: {error}" for name, error in ctx.scn.failing_tests[: plan.failed]]
    lines += ["", "Looking at the first failure now."]
    return "\n".join(lines)


def _data_ai_response(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    if ctx.spec.source == "cursor" and rng.random() < 0.15:
        return {"model": ctx.spec.model}, "ai"  # Cursor's stop hook sometimes sends only this.
    if ctx.occurrence():
        message = _progress_note(ctx)
    else:
        options = ctx.scn.responses[ctx.plan.phase]
        message = options[ctx.plan.topic % len(options)]
    input_tokens = rng.randint(2_000, 60_000)
    output_tokens = rng.randint(120, 4_000)
    cache_read = rng.randint(0, input_tokens * 4)
    cost = input_tokens * 3e-6 + output_tokens * 15e-6 + cache_read * 3e-7
    return {
        "lastAssistantMessage": message,
        "stopHookActive": False,
        "stopReason": "end_turn",
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "cacheReadTokens": cache_read,
        "cacheWriteTokens": rng.randint(0, 8_000),
        "totalCost": round(cost, 4),
        "turnDurationMs": rng.randint(1_500, 95_000),
        "model": ctx.spec.model,
    }, "ai"


def _data_file_diff(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    who = _who_edits(ctx)
    wanted = "ai" if who == "ai" else "human"
    indices = [k for k, e in enumerate(ctx.scn.edits) if e.by == wanted] or [0]
    index = indices[(ctx.plan.pick + ctx.occurrence()) % len(indices)]
    git_header = who != "ai" or ctx.spec.source == "codex"
    diff = edit_diff(ctx.scn.key, index, git_header)
    data: dict[str, Any] = {
        "path": diff.path,
        "diff": diff.text,
        "linesAdded": diff.added,
        "linesRemoved": diff.removed,
    }
    if who == "ai" and ctx.spec.source == "claude-code":
        data["attribution"] = "likely_ai"
    return data, who


def _data_file_create(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    path, content = ctx.scn.creates[(ctx.plan.topic + ctx.occurrence()) % len(ctx.scn.creates)]
    data = {
        "path": path,
        "content": content,
        "linesAdded": content.count("\n"),
        "sizeBytes": len(content.encode()),
    }
    return data, "ai" if ctx.rng.random() < 0.85 else "human"


def _test_command(ctx: _Ctx) -> dict[str, Any]:
    plan = ctx.plan
    clock = _iso(ctx.ts_ms)[11:19]
    stdout = runner_output(ctx.scn, plan.failed, plan.skipped, plan.test_secs, clock)
    return {
        "command": ctx.pick(ctx.scn.test_commands),
        "exitCode": 1 if plan.failed else 0,
        "durationMs": int(plan.test_secs * 1000) + ctx.rng.randint(150, 900),
        "stdout": stdout,
        "stderr": "",
    }


def _data_command(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    is_test = ctx.slot + 1 < TURN_LEN and ctx.plan.kinds[ctx.slot + 1] == "test_run"
    if is_test:
        data = _test_command(ctx)
    else:
        cmds = ctx.scn.commands[_phase_group(ctx.plan.phase)]
        cmd = cmds[(ctx.plan.pick + ctx.occurrence()) % len(cmds)]
        data = {
            "command": cmd.command,
            "exitCode": cmd.exit_code,
            "durationMs": rng.randint(*cmd.ms),
            "stdout": cmd.stdout,
            "stderr": cmd.stderr,
        }
    human = ctx.spec.source == "shell" or rng.random() < 0.12
    if ctx.spec.source == "cursor" and not human:
        # Cursor's hook reports no exit code and no stderr.
        return {
            "command": data["command"],
            "stdout": data["stdout"],
            "durationMs": data["durationMs"],
        }, "ai"
    if human:
        data["human"] = True
        data["source"] = "terminal"
        return data, "human"
    return data, "ai"


def _data_test_run(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    plan = ctx.plan
    total = ctx.scn.total_tests
    data = {
        "suite": ctx.scn.suite,
        "passed": total - plan.failed - plan.skipped,
        "failed": plan.failed,
        "skipped": plan.skipped,
        "durationMs": int(plan.test_secs * 1000),
    }
    return data, "system" if ctx.rng.random() < 0.5 else "ai"


def _data_git_action(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    scn = ctx.scn
    action = "commit"
    if ctx.plan.phase == "wrapup" and ctx.slot > 5:
        action = ctx.pick(("push", "push", "rebase"), ctx.slot)
    elif ctx.plan.phase == "verify" and rng.random() < 0.15:
        action = "branch"
    data: dict[str, Any] = {"action": action, "ref": scn.branch}
    if action == "commit":
        data["message"] = ctx.pick(scn.commits, ctx.j)
    elif action == "push":
        data["ref"] = f"origin/{scn.branch}"
    elif action == "rebase":
        data["ref"] = "origin/main"
        data["message"] = "Successfully rebased and updated refs/heads/" + scn.branch
    data["commit"] = _sha(rng)
    return data, "human" if rng.random() < 0.7 else "ai"


def _data_decision(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    decisions = ctx.scn.decisions
    base = decisions[(ctx.j // ctx.spec.decision_every + ctx.plan.pick) % len(decisions)]
    impact = int(base["impactScore"])
    missed = rng.random() < 0.2
    data: dict[str, Any] = {"decisionId": _uuid(ctx.seed, f"decision:{ctx.spec.id}:{ctx.i}")}
    data.update(base)
    data["impactScore"] = round(impact / 5, 2) if ctx.spec.impact_fraction else impact
    data["severity"] = "high" if impact >= 5 else "medium" if impact == 4 else "low"
    data["capturedVia"] = (
        "async-decision-enrichment" if missed else rng.choice(("cli", "mcp", "manual"))
    )
    data["missedDecision"] = missed
    if missed:
        data["rationale"] = None
        data["flagReason"] = "Significant change made without a recorded rationale"
    data["capturedAt"] = _iso(ctx.ts_ms)
    return data, "human"


def _data_checkpoint(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    label, summary = ctx.pick(ctx.scn.checkpoints, ctx.j)
    trigger = ctx.pick(("manual", "auto", "auto"), ctx.j)
    return {"label": label, "trigger": trigger, "summary": summary}, "system"


def _data_context_compact(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    return {"trigger": "auto", "preTokens": ctx.rng.randint(150_000, 198_000)}, "system"


def _data_tool_use(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    name, preview = ctx.pick(ctx.scn.tools, ctx.occurrence())
    return {"toolName": name, "inputPreview": preview, "ok": ctx.rng.random() > 0.06}, "ai"


def _data_mcp_call(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    server, tool, args = ctx.pick(ctx.scn.mcp, ctx.occurrence())
    return {
        "server": server,
        "tool": tool,
        "argsPreview": args,
        "durationMs": ctx.rng.randint(80, 4_000),
    }, "ai"


def _data_subagent_start(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    return {
        "subagentId": _uuid(ctx.seed, f"subagent:{ctx.spec.id}:{ctx.i}"),
        "agentType": ctx.pick(("general-purpose", "Explore", "code-reviewer")),
        "description": ctx.pick(ctx.scn.subagents),
    }, "ai"


def _data_planning(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    done = ctx.j % len(ctx.scn.todos)
    todos = [
        {
            "content": t,
            "status": "completed" if k < done else "in_progress" if k == done else "pending",
        }
        for k, t in enumerate(ctx.scn.todos)
    ]
    return {"todos": todos, "itemCount": len(todos)}, "ai"


_BUILDERS: dict[str, Callable[[_Ctx], tuple[dict[str, Any], str]]] = {
    "session_start": _data_session_start,
    "session_end": _data_session_end,
    "prompt": _data_prompt,
    "ai_response": _data_ai_response,
    "file_diff": _data_file_diff,
    "file_create": _data_file_create,
    "command": _data_command,
    "test_run": _data_test_run,
    "git_action": _data_git_action,
    "decision_event": _data_decision,
    "checkpoint": _data_checkpoint,
    "context_compact": _data_context_compact,
    "tool_use": _data_tool_use,
    "mcp_call": _data_mcp_call,
    "subagent_start": _data_subagent_start,
    "planning": _data_planning,
}

_SYSTEM_KINDS = frozenset({"session_start", "session_end", "checkpoint", "context_compact"})


def _provenance(kind: str, who: str, spec: SessionSpec) -> dict[str, Any] | None:
    """Provenance as the CLI sets it (REFERENCE 4.2); None means the key is left out."""
    if kind in _SYSTEM_KINDS:
        if not spec.system_provenance:
            return None
        return {"attribution": "system_generated", "confidence": 1.0, "observability": "high"}
    if who == "system":
        return {
            "attribution": "system_generated",
            "confidence": 0.9,
            "observability": "high",
            "methods": ["hook"],
        }
    if who == "ai":
        if kind == "file_diff" and spec.source == "codex":
            return {
                "attribution": "likely_ai",
                "confidence": 0.6,
                "observability": "medium",
                "methods": ["git-poll", "codex-turn-window"],
            }
        return {
            "attribution": "likely_ai",
            "confidence": 0.9,
            "observability": "high",
            "methods": ["hook"],
        }
    if who == "revised":
        return {
            "attribution": "ai_revised_by_human",
            "confidence": 0.6,
            "observability": "medium",
            "methods": ["git-poll", "ai-path-ledger"],
        }
    if who == "mixed":
        return {
            "attribution": "mixed",
            "confidence": 0.5,
            "observability": "partial",
            "methods": ["git-poll"],
        }
    if kind == "file_diff":
        return {
            "attribution": "likely_human",
            "confidence": 0.7,
            "observability": "medium",
            "methods": ["git-poll"],
        }
    if kind == "decision_event":
        return {
            "attribution": "likely_human",
            "confidence": 0.8,
            "observability": "medium",
            "methods": ["cli"],
        }
    if kind == "command":
        return {
            "attribution": "likely_human",
            "confidence": 0.8,
            "observability": "medium",
            "methods": ["shell-hook"],
        }
    return {
        "attribution": "likely_human",
        "confidence": 0.8,
        "observability": "medium",
        "methods": ["hook"],
    }


_ACTOR_TYPES = {
    "ai": "ai",
    "human": "human",
    "revised": "human",
    "mixed": "unknown",
    "system": "system",
}


def _hostile_text(rng: random.Random, key: str) -> str:
    """Several payloads arranged as markdown for long free-text fields."""
    picks = rng.sample(PAYLOADS, 4)
    if key in ("lastAssistantMessage", "text", "prompt", "summary", "context", "rationale"):
        return (
            f"## {picks[0]}\n\n- {picks[1]}\n- [{picks[2]}]({picks[3]})\n\n"
            f"```html\n{picks[1]}\n```\n\n> {picks[2]}\n"
        )
    return "\n".join(picks)


def _hostilize(value: Any, rng: random.Random, key: str = "") -> Any:
    """Replace every string inside ``value`` with hostile text, keeping the shape."""
    if isinstance(value, dict):
        out = {k: _hostilize(v, rng, k) for k, v in value.items()}
        if "diff" in value:
            diff = payload_diff(rng.choice(PAYLOADS).split("\n")[0][:80] or "x", rng)
            out.update(diff=diff.text, linesAdded=diff.added, linesRemoved=diff.removed)
        if "content" in value and isinstance(out.get("content"), str):
            out["linesAdded"] = out["content"].count("\n") + 1
            out["sizeBytes"] = len(out["content"].encode())
        return out
    if isinstance(value, list):
        return [_hostilize(v, rng, key) for v in value]
    if isinstance(value, str):
        long_fields = (
            "lastAssistantMessage",
            "text",
            "prompt",
            "content",
            "stdout",
            "stderr",
            "summary",
            "context",
            "tradeoffs",
            "rationale",
        )
        return _hostile_text(rng, key) if key in long_fields else rng.choice(PAYLOADS)
    return value


def _apply_quirk(event: dict[str, Any], quirk: tuple[Any, ...], rng: random.Random) -> None:
    """Special events placed at fixed indices (see SandboxState._place_quirks)."""
    name = quirk[0]
    if name == "no_data":
        del event["data"]
    elif name == "null_data":
        event["data"] = None
    elif name in ("lockfile", "minified"):
        diff = (
            lockfile_diff(quirk[1], quirk[2])
            if name == "lockfile"
            else minified_diff(quirk[1], quirk[2])
        )
        event["data"] = {
            "path": diff.path,
            "diff": diff.text,
            "linesAdded": diff.added,
            "linesRemoved": diff.removed,
        }
    elif name == "hostile_kind":
        event["kind"] = rng.choice(PAYLOADS[:8])


def _layout(seed: int, spec: SessionSpec, i: int) -> tuple[str, Plan, int, int]:
    """Kind, turn plan, turn number and slot of event ``i``."""
    if i == 0:
        return (
            "session_start",
            turn_plan(seed, spec.id, 0, spec.cycle_turns, spec.decision_every),
            0,
            0,
        )
    j, slot = divmod(i - 1, TURN_LEN)
    plan = turn_plan(seed, spec.id, j, spec.cycle_turns, spec.decision_every)
    if spec.ended and i == spec.count - 1:
        return "session_end", plan, j, slot
    return plan.kinds[slot], plan, j, slot


def event_ts_ms(seed: int, spec: SessionSpec, i: int) -> int:
    """Timestamp of event ``i``: strictly from the turn layout, or from a growth segment."""
    if i >= spec.base_count:
        segment = spec.growth[bisect.bisect_right(spec.growth, i, key=lambda g: g[0]) - 1]
        first, base, step = segment
        return base + (i - first) * step
    if i == 0:
        return spec.start_ms
    if spec.ended and i == spec.base_count - 1:
        return event_ts_ms(seed, spec, i - 1) + spec.end_gap_ms
    j, slot = divmod(i - 1, TURN_LEN)
    plan = turn_plan(seed, spec.id, j, spec.cycle_turns, spec.decision_every)
    return spec.start_ms + 1500 + j * spec.span_ms + int(plan.offsets[slot] * spec.span_ms)


def build_event(seed: int, spec: SessionSpec, i: int) -> dict[str, Any]:
    """Event ``i`` of a generated session, exactly as the timeline endpoint returns it."""
    kind, plan, j, slot = _layout(seed, spec, i)
    ts = event_ts_ms(seed, spec, i)
    rng = random.Random(f"{seed}:{spec.id}:{i}")
    ctx = _Ctx(seed, spec, load_scenario(spec.scenario), plan, i, j, slot, rng, ts)
    data, who = _BUILDERS[kind](ctx)
    if spec.hostile:
        data = _hostilize(data, rng)
    event: dict[str, Any] = {
        "id": _event_id(spec.prefix, i),
        "sessionId": spec.id,
        "orgId": spec.org_id,
        "kind": kind,
        "ts": _iso(ts),
    }
    if spec.source in ("claude-code", "shell"):
        event["actor"] = {"type": _ACTOR_TYPES[who]}
    event["data"] = data
    provenance: dict[str, Any] | str | None = _provenance(kind, who, spec)
    if i % 97 == 41:
        # Contradiction 2: one API page shows provenance as a bare string.
        provenance = "claude_code" if who == "ai" and spec.source != "shell" else "shell_hook"
    elif i % 131 == 77:
        provenance = None
    if spec.hostile and isinstance(provenance, dict) and i % 3 == 0:
        provenance["attribution"] = rng.choice(PAYLOADS)
    if provenance is not None:
        event["provenance"] = provenance
    event["createdAt"] = _iso(ts + rng.randint(40, 2500))
    quirk = spec.quirks.get(i)
    if quirk:
        _apply_quirk(event, quirk, rng)
    return event


# --------------------------------------------------------------------------------------------
# The roster: organisations, assessments and who sat them.
# --------------------------------------------------------------------------------------------

_NAMES = (
    "Amara Okafor",
    "Zoë Kowalczyk",
    "Nguyễn Thị Minh",
    "José Álvarez",
    "Aarav Sharma",
    "Olamide Adeyemi",
    "李伟",
    "Søren Madsen",
    "Fatima Zahra El Idrissi",
    "Mateo Rossi",
    "Hannah Schmidt",
    "Kwame Mensah",
    "Priya Natarajan",
    "Lucas Oliveira",
    "Sofia Petrova",
    "Daniel Kim",
    "Aisha Bello",
    "Tomás Ó Briain",
    "Yuki Tanaka",
    "Elif Yılmaz",
    "Noah Müller",
    "Chloé Dubois",
    "Ravi Menon",
    "Isabella García",
    "Mikael Lindqvist",
    "Adaeze Nwosu",
    "Omar Haddad",
    "Grace O'Connell",
    "Wei Chen",
    "Leila Farahani",
    "Jakub Nowak",
    "Maya Levi",
    "Samuel Adjei",
    "Ana Sousa",
    "Henrik Johansson",
    "Ngozi Eze",
    "Arjun Patel",
    "Camille Martin",
    "Diego Fernández",
    "Emma Wilson",
    "Tariq Rahman",
    "Ingrid Berg",
    "Kofi Boateng",
    "Valentina Romano",
    "Hiroshi Sato",
    "Zainab Yusuf",
    "Luca Bianchi",
    "Freya Nielsen",
    "Mohammed Al-Farsi",
    "Sara Cohen",
    "Björn Eriksson",
    "Chidi Okeke",
    "Julia Kowalski",
    "Ethan Brooks",
    "Mei Lin",
    "Rafael Costa",
    "Anya Ivanova",
    "Kiran Rao",
    "Oluwaseun Balogun",
    "Clara Weber",
    "Dmitri Volkov",
    "Nadia Benali",
)


@dataclass(frozen=True)
class _AssessmentDef:
    key: str
    org_id: str
    scenario: str
    title: str
    role: str
    sessions: int
    time_limit: int | None
    budget: float | None
    created_ms: int
    first_day_ms: int
    days: int
    repo_owner: str


_ASSESSMENTS = (
    _AssessmentDef(
        "acme-pay",
        "org_acme",
        "pay",
        "Senior Backend Engineer: duplicate charges on webhook retry",
        "Senior Backend Engineer",
        25,
        120,
        25.0,
        _day(10, 1, 9, 12),
        _day(10, 5),
        45,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-rate",
        "org_acme",
        "rate",
        "Full-stack Engineer: sliding-window rate limiter",
        "Full-stack Engineer",
        16,
        90,
        None,
        _day(10, 3, 14, 40),
        _day(10, 8),
        42,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-inv",
        "org_acme",
        "inv",
        "Staff Engineer: inventory sync drops items",
        "Staff Engineer",
        8,
        None,
        500.0,
        _day(10, 9, 11, 5),
        _day(10, 13),
        36,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-san",
        "org_acme",
        "san",
        "Security Engineer: script injection in the webhook log",
        "Security Engineer",
        6,
        60,
        15.0,
        _day(10, 14, 16, 20),
        _day(10, 20),
        30,
        "acme-hiring",
    ),
    _AssessmentDef(
        "globex-inv",
        "org_globex",
        "inv",
        "Data Platform Engineer: warehouse sync",
        "Data Platform Engineer",
        5,
        150,
        None,
        _day(10, 2, 8, 0),
        _day(10, 6),
        44,
        "globex-eng",
    ),
    _AssessmentDef(
        "globex-rate",
        "org_globex",
        "rate",
        "Platform Engineer: API throttling",
        "Platform Engineer",
        3,
        90,
        20.0,
        _day(10, 11, 10, 30),
        _day(10, 15),
        35,
        "globex-eng",
    ),
)

# Sessions with a special role, by (assessment key, position). Everything else is ordinary.
_ROLES: dict[tuple[str, int], str] = {
    ("acme-pay", 0): "running",
    ("acme-pay", 1): "running",
    ("acme-pay", 2): "fraction",
    ("acme-pay", 3): "data_quirks",
    ("acme-pay", 4): "lockfile",
    ("acme-pay", 5): "list_source",
    ("acme-rate", 0): "running",
    ("acme-rate", 1): "empty",
    ("acme-rate", 2): "missing_fields",
    ("acme-rate", 3): "not_computed",
    ("acme-rate", 4): "list_source",
    ("acme-inv", 0): "big",
    ("acme-inv", 1): "lockfile",
    ("acme-san", 0): "hostile",
    ("acme-san", 1): "wide_line",
    ("globex-inv", 0): "running",
    ("globex-rate", 0): "not_computed",
}

_SOURCE_WEIGHTS = (("claude-code", 50), ("cursor", 25), ("codex", 15), ("shell", 10))
_LIST_FORMS: dict[str, list[str]] = {
    "claude-code": ["claude_code"],
    "cursor": ["cursor"],
    "codex": ["codex"],
    "shell": ["claude_code", "shell"],
}


def _weighted(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    roll = rng.randrange(sum(w for _, w in weights))
    for name, weight in weights:
        if roll < weight:
            return name
        roll -= weight
    return weights[0][0]


def _event_total(rng: random.Random, role: str) -> int:
    """Total events of a session, by role; ordinary ones are log-uniform over 50..3000."""
    if role == "big":
        return BIG_SESSION_EVENTS
    if role == "empty":
        return 0
    if role == "hostile":
        return 240
    if role == "running":
        return rng.randint(300, 900)
    return int(round(50 * (60 ** rng.random())))


@dataclass
class _AddedSession:
    """A session given verbatim through add_session (events held as a list)."""

    session: dict[str, Any]
    events: list[dict[str, Any]]
    index: dict[str, int]


class SandboxState:
    """All sandbox data for one seed: orgs, assessments, sessions, deletions and additions.

    Thread-safe: the HTTP server calls it from many threads. Generated sessions are described by a
    :class:`SessionSpec` and their events are produced on demand; sessions passed to
    :meth:`add_session` are kept verbatim. ``live_anchor`` is the moment running sessions were last
    active shortly before (default: now); pass a fixed datetime for fully reproducible output.
    """

    def __init__(self, seed: int = 1, *, live_anchor: datetime | None = None) -> None:
        self.seed = seed
        self._lock = threading.RLock()
        anchor = live_anchor or datetime.now(UTC)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        self._anchor_ms = int(anchor.timestamp() * 1000)
        self._assessments: dict[str, list[dict[str, Any]]] = {o["id"]: [] for o in ORGS}
        self._specs: dict[str, SessionSpec] = {}
        self._added: dict[str, _AddedSession] = {}
        self._deleted: set[str] = set()
        self._roles: dict[str, dict[str, list[str]]] = {o["id"]: {} for o in ORGS}
        self._build()

    # ---------------------------------------------------------------- construction

    def _build(self) -> None:
        names = {
            o["id"]: random.Random(f"{self.seed}:names:{o['id']}").sample(_NAMES, len(_NAMES))
            for o in ORGS
        }
        used = {o["id"]: 0 for o in ORGS}
        prefixes: set[str] = set()
        for adef in _ASSESSMENTS:
            assessment = self._assessment_dict(adef)
            self._assessments[adef.org_id].append(assessment)
            for n in range(adef.sessions):
                role = _ROLES.get((adef.key, n), "ordinary")
                name = names[adef.org_id][used[adef.org_id] % len(_NAMES)]
                used[adef.org_id] += 1
                spec = self._make_spec(adef, assessment, n, role, name)
                if spec.prefix in prefixes:
                    raise RuntimeError("event id prefix collision")  # astronomically unlikely
                prefixes.add(spec.prefix)
                self._specs[spec.id] = spec
                if role != "ordinary":
                    self._roles[adef.org_id].setdefault(role, []).append(spec.id)

    def _assessment_dict(self, adef: _AssessmentDef) -> dict[str, Any]:
        scn = load_scenario(adef.scenario)
        return {
            "id": _uuid(self.seed, f"assessment:{adef.key}"),
            "orgId": adef.org_id,
            "title": adef.title,
            "role": adef.role,
            "taskBrief": scn.brief,
            "repoUrl": f"https://github.com/{adef.repo_owner}/{scn.repo}",
            "issueId": None,
            "rubricId": None,
            "timeLimitMinutes": adef.time_limit,
            "tokenBudgetUsd": adef.budget,
            "expiresInDays": 7,
            "createdAt": _iso(adef.created_ms),
            "updatedAt": _iso(adef.created_ms + 3 * _MS_PER_MIN + 12_345),
            "issue": None,
        }

    def _make_spec(
        self, adef: _AssessmentDef, assessment: dict[str, Any], n: int, role: str, name: str
    ) -> SessionSpec:
        rng = random.Random(f"{self.seed}:roster:{adef.key}:{n}")
        session_id = _uuid(self.seed, f"session:{adef.key}:{n}")
        total = _event_total(rng, role)
        ended = role not in ("running", "empty")
        body = max(0, total - 1 - (1 if ended else 0))
        turns = max(1, -(-body // TURN_LEN))
        source = (
            "claude-code"
            if role in ("big", "hostile", "data_quirks")
            else _weighted(rng, _SOURCE_WEIGHTS)
        )
        if role == "big":
            duration_ms = 38 * 3_600_000
        else:
            duration_ms = int((rng.uniform(60, 95) + min(85, body / 3000 * 85)) * _MS_PER_MIN)
        span = max(TURN_LEN, duration_ms // turns)
        if role in ("running", "empty"):
            start = self._anchor_ms - turns * span - rng.randint(60_000, 420_000)
        else:
            day = adef.first_day_ms + rng.randrange(adef.days) * _DAY_MS
            start = day + rng.randint(7 * 60, 17 * 60) * _MS_PER_MIN + rng.randrange(60_000)
        cycle = min(int(turns * 1.5) if role == "running" else turns, rng.randint(24, 36))
        spec = SessionSpec(
            id=session_id,
            org_id=adef.org_id,
            assessment_id=assessment["id"],
            scenario=adef.scenario,
            source=source,
            source_service=source,
            candidate=name,
            repo_url=assessment["repoUrl"],
            start_ms=start,
            span_ms=span,
            base_count=total,
            ended=ended,
            end_gap_ms=rng.randint(4_000, 90_000),
            cycle_turns=max(1, cycle),
            decision_every=6 if role == "big" else 3 if role == "hostile" else rng.randint(4, 9),
            prefix=_event_prefix(self.seed, session_id),
            model=rng.choice(_MODELS[source]),
            ide_session=_uuid(self.seed, f"ide:{session_id}"),
            created_ms=start + 350,
            prompt_key_every=7 if n % 4 == 1 else 0,
            system_provenance=rng.random() < 0.6,
            attribution_pct=round(rng.uniform(18, 96), 1),
            cost_usd=0.0 if source == "shell" else round(body * rng.uniform(0.0025, 0.006), 2),
        )
        if rng.random() < 0.15:
            spec.source_service = list(_LIST_FORMS[source])
        if rng.random() < 0.35:
            plain = unicodedata.normalize("NFKD", name.split()[0].lower())
            slug = plain.encode("ascii", "ignore").decode() or "candidate"
            spec.extra_metadata = {
                "submissionsRepo": f"{adef.repo_owner}/submissions",
                "submissionsBranch": f"candidate/{slug}-{session_id[:6]}",
            }
        self._apply_role(spec, role, rng)
        return spec

    def _apply_role(self, spec: SessionSpec, role: str, rng: random.Random) -> None:
        """Give the special sessions their documented quirks (REFERENCE.md section 7)."""
        if role in ("running", "empty", "not_computed"):
            spec.attribution_pct = None  # "null if attribution has not been computed yet"
        if role == "empty":
            spec.cost_usd = 0.0
        elif role == "fraction":
            spec.attribution_pct = round(rng.uniform(0.55, 0.9), 2)  # quickstart's 0-1 form
        elif role == "list_source":
            spec.source_service = list(_LIST_FORMS[spec.source])
        elif role == "missing_fields":
            spec.omit_fields = ("lastActivityAt", "totalCostUsd")
            spec.impact_fraction = True
        elif role == "data_quirks":
            spec.prompt_key_every = 3
            spec.quirks[self._find(spec, "command", 20)] = ("no_data",)
            spec.quirks[self._find(spec, "file_diff", 30)] = ("null_data",)
        elif role == "lockfile":
            lockfile = load_scenario(spec.scenario).lockfile
            spec.quirks[self._find(spec, "file_diff", spec.base_count // 2)] = (
                "lockfile",
                lockfile,
                280,
            )
        elif role == "big":
            spec.quirks[self._find(spec, "file_diff", 20_000)] = (
                "lockfile",
                "package-lock.json",
                200,
            )
            spec.quirks[self._find(spec, "file_diff", 50_000)] = ("lockfile", "poetry.lock", 1400)
            spec.attribution_pct = 81.4
        elif role == "wide_line":
            spec.quirks[self._find(spec, "file_diff", 10)] = (
                "minified",
                "static/vendor/purify.min.js",
                200_000,
            )
        elif role == "hostile":
            self._make_hostile(spec, rng)

    def _make_hostile(self, spec: SessionSpec, rng: random.Random) -> None:
        spec.hostile = True
        spec.source_service = ["claude_code", "<script>alert('sourceService')</script>"]
        spec.candidate = "<img src=x onerror=alert('candidateName')> Robert'); DROP TABLE--"
        spec.repo_url = "javascript:alert(document.domain)"
        spec.extra_metadata = {
            "submissionsRepo": rng.choice(PAYLOADS),
            "submissionsBranch": "\"><script>alert('branch')</script>",
        }
        spec.quirks[self._find(spec, "tool_use", 30)] = ("hostile_kind",)

    def _find(self, spec: SessionSpec, kind: str, start: int) -> int:
        """First index at or after ``start`` whose event has ``kind`` (cheap: plans only)."""
        last = spec.base_count - (2 if spec.ended else 1)
        for i in range(max(1, start), last + 1):
            if _layout(self.seed, spec, i)[0] == kind:
                return i
        raise LookupError(f"no {kind} event after {start} in {spec.id}")

    # ---------------------------------------------------------------- lookups

    @property
    def orgs(self) -> list[dict[str, str]]:
        return [dict(o) for o in ORGS]

    def org_for_token(self, token: str | None) -> dict[str, str] | None:
        """The org a bearer token belongs to; None for unknown or revoked tokens."""
        for org in ORGS:
            if token and token == org["token"]:
                return dict(org)
        return None

    def assessments_for(self, org_id: str) -> list[dict[str, Any]]:
        """The org's assessments, createdAt ascending (as the upstream orders them)."""
        return json.loads(json.dumps(self._assessments.get(org_id, [])))

    def assessment(self, org_id: str, assessment_id: str) -> dict[str, Any] | None:
        for item in self._assessments.get(org_id, []):
            if item["id"] == assessment_id:
                return json.loads(json.dumps(item))
        return None

    def _visible(self, org_id: str, session_id: str) -> SessionSpec | _AddedSession | None:
        if session_id in self._deleted:
            return None
        found: SessionSpec | _AddedSession | None = self._specs.get(session_id) or self._added.get(
            session_id
        )
        if found is None:
            return None
        owner = found.org_id if isinstance(found, SessionSpec) else found.session.get("orgId")
        return found if owner == org_id else None

    def session(self, org_id: str, session_id: str) -> dict[str, Any] | None:
        """The session object, or None when missing, deleted or in another org."""
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            return self._session_dict(found)

    def sessions_for(self, org_id: str) -> list[dict[str, Any]]:
        """Every visible session of the org, startedAt descending (ties by id)."""
        with self._lock:
            items = [
                self._session_dict(s)
                for s in self._specs.values()
                if s.org_id == org_id and s.id not in self._deleted
            ]
            items += [
                self._session_dict(a)
                for sid, a in self._added.items()
                if a.session.get("orgId") == org_id and sid not in self._deleted
            ]
        items.sort(key=lambda s: s["id"])
        items.sort(key=lambda s: _parse_iso_ms(s.get("startedAt")) or 0, reverse=True)
        return items

    def list_sessions(
        self, org_id: str, *, assessment_id: str | None = None, source_service: str | None = None
    ) -> list[dict[str, Any]]:
        """sessions_for() filtered the way GET /v1/sessions filters."""
        items = self.sessions_for(org_id)
        if assessment_id:
            items = [
                s for s in items if (s.get("metadata") or {}).get("assessmentId") == assessment_id
            ]
        if source_service:
            wanted = _norm_service(source_service)
            items = [s for s in items if wanted in _services(s.get("sourceService"))]
        return items

    def _session_dict(self, found: SessionSpec | _AddedSession) -> dict[str, Any]:
        if isinstance(found, _AddedSession):
            return json.loads(json.dumps(found.session))
        return self._spec_session(found)

    def _spec_session(self, spec: SessionSpec) -> dict[str, Any]:
        count = spec.count
        started = event_ts_ms(self.seed, spec, 0) if count else spec.created_ms
        last = event_ts_ms(self.seed, spec, count - 1) if count else None
        body = max(0, count - 1 - (1 if spec.ended else 0))
        if last is None:
            updated = spec.created_ms
        else:
            updated = last + (45_000 + spec.end_gap_ms if spec.ended else 800)
        metadata = {
            "assessmentId": spec.assessment_id,
            "candidateName": spec.candidate,
            "repoUrl": spec.repo_url,
            **spec.extra_metadata,
        }
        service = spec.source_service
        session: dict[str, Any] = {
            "id": spec.id,
            "orgId": spec.org_id,
            "sourceService": list(service) if isinstance(service, list) else service,
            "startedAt": _iso(started),
            "endedAt": _iso(last) if spec.ended and last is not None else None,
            "lastActivityAt": _iso(last) if last is not None else None,
            "metadata": metadata,
            "eventCount": count,
            "decisionFlagCount": decision_count(body, spec.decision_every),
            "aiAttributionPct": spec.attribution_pct,
            "totalCostUsd": spec.cost_usd,
            "createdAt": _iso(spec.created_ms),
            "updatedAt": _iso(updated),
        }
        for key in spec.omit_fields:
            session.pop(key, None)
        return session

    # ---------------------------------------------------------------- timeline

    def timeline(
        self, org_id: str, session_id: str, *, limit: int = 500, after: str | None = None
    ) -> tuple[list[dict[str, Any]], bool] | None:
        """One timeline page ``(events, hasMore)``; None when the session is not visible.

        Raises InvalidCursor when ``after`` is not an event id of this session.
        """
        limit = max(1, min(2000, limit))
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            if isinstance(found, _AddedSession):
                start = 0 if after is None else self._added_cursor(found, after) + 1
                page = found.events[start : start + limit]
                return json.loads(json.dumps(page)), start + len(page) < len(found.events)
            count = found.count
        start = 0 if after is None else self._spec_cursor(found, after, count) + 1
        stop = min(count, start + limit)
        return [build_event(self.seed, found, i) for i in range(start, stop)], stop < count

    @staticmethod
    def _spec_cursor(spec: SessionSpec, after: str, count: int) -> int:
        head, _, tail = after.rpartition("-")
        if head != spec.prefix or len(tail) != 12 or tail != tail.lower():
            raise InvalidCursor(after)
        try:
            index = int(tail, 16)
        except ValueError:
            raise InvalidCursor(after) from None
        if index >= count:
            raise InvalidCursor(after)
        return index

    @staticmethod
    def _added_cursor(added: _AddedSession, after: str) -> int:
        if after not in added.index:
            raise InvalidCursor(after)
        return added.index[after]

    def decisions(self, org_id: str, session_id: str) -> list[dict[str, Any]] | None:
        """The session's decision_event events, ts ascending; None when not visible."""
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            if isinstance(found, _AddedSession):
                return json.loads(
                    json.dumps([e for e in found.events if e.get("kind") == "decision_event"])
                )
            count = found.count
        body = max(0, count - 1 - (1 if found.ended else 0))
        every = found.decision_every
        turns = range(every // 2, body // TURN_LEN, every)
        return [build_event(self.seed, found, 1 + j * TURN_LEN + TURN_LEN - 1) for j in turns]

    def events(
        self, session_id: str, start: int = 0, stop: int | None = None
    ) -> list[dict[str, Any]]:
        """Events ``start:stop`` of any session, ignoring org and deletion (a test helper)."""
        with self._lock:
            if session_id in self._added:
                return json.loads(json.dumps(self._added[session_id].events[start:stop]))
            spec = self._specs[session_id]
            count = spec.count
        stop = count if stop is None else min(stop, count)
        return [build_event(self.seed, spec, i) for i in range(start, stop)]

    # ---------------------------------------------------------------- mutations

    def delete_session(self, org_id: str, session_id: str | None = None) -> bool:
        """Hard-delete (remembered); False when missing, already deleted or in another org.

        Called with a single argument, that argument is the session id and the org is not
        checked: tests use this to simulate a deletion made by someone else.
        """
        with self._lock:
            if session_id is None:
                session_id = org_id
                known = session_id in self._specs or session_id in self._added
                if not known or session_id in self._deleted:
                    return False
            elif self._visible(org_id, session_id) is None:
                return False
            self._deleted.add(session_id)
            return True

    def is_deleted(self, session_id: str) -> bool:
        return session_id in self._deleted

    def grow(self, session_id: str, n: int) -> int:
        """Append ``n`` generated events to a running session; returns the new eventCount.

        The new events are stamped from the wall clock (the last one is "now"), so a live view
        sees fresh activity. Raises KeyError for unknown/deleted sessions and ValueError for ended
        or verbatim (add_session) ones.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            if session_id in self._deleted or session_id not in (*self._specs, *self._added):
                raise KeyError(session_id)
            spec = self._specs.get(session_id)
            if spec is None:
                raise ValueError("sessions added with add_session cannot grow")
            if spec.ended:
                raise ValueError("session has ended")
            if n == 0:
                return spec.count
            step = 700
            last = event_ts_ms(self.seed, spec, spec.count - 1) if spec.count else spec.created_ms
            base = max(last + 1000, int(time.time() * 1000) - (n - 1) * step)
            spec.growth = [*spec.growth, (spec.count, base, step)]
            spec.count += n
            return spec.count

    def add_session(
        self, org_id: str, session: dict[str, Any], events: list[dict[str, Any]]
    ) -> str:
        """Add a hand-built session whose timeline is exactly ``events``; returns its id.

        Missing envelope fields are filled (``id`` as a random uuid4, ``sessionId``, ``orgId``,
        ``createdAt``); events are stable-sorted by ``ts`` as the upstream orders them. Session
        fields not given (eventCount, decisionFlagCount, startedAt, endedAt, lastActivityAt, ...)
        are derived from the events. Explicitly given fields, even odd ones, are kept as given.
        """
        session_id = str(session.get("id") or uuid.uuid4())
        filled = [self._fill_event(dict(e), session_id, org_id) for e in events]
        filled.sort(key=lambda e: _parse_iso_ms(e.get("ts")) or 0)
        index: dict[str, int] = {}
        for k, event in enumerate(filled):
            index.setdefault(str(event.get("id")), k)
        with self._lock:
            if session_id in self._specs or session_id in self._added:
                raise ValueError(f"session {session_id} already exists")
            self._added[session_id] = _AddedSession(
                json.loads(json.dumps(self._derive_session(session, session_id, org_id, filled))),
                json.loads(json.dumps(filled)),
                index,
            )
        return session_id

    @staticmethod
    def _fill_event(event: dict[str, Any], session_id: str, org_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": event.pop("id", None) or str(uuid.uuid4()),
            "sessionId": event.pop("sessionId", session_id),
            "orgId": event.pop("orgId", org_id),
        }
        out.update(event)
        if "createdAt" not in out:
            ts = _parse_iso_ms(out.get("ts"))
            out["createdAt"] = _iso(ts + 500) if ts is not None else out.get("ts")
        return out

    @staticmethod
    def _derive_session(
        given: dict[str, Any], session_id: str, org_id: str, events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        stamps = [ms for ms in (_parse_iso_ms(e.get("ts")) for e in events) if ms is not None]
        first = _iso(min(stamps)) if stamps else _iso(_day(11, 1, 12))
        last = _iso(max(stamps)) if stamps else None
        ended = bool(events) and events[-1].get("kind") == "session_end"
        derived: dict[str, Any] = {
            "id": session_id,
            "orgId": org_id,
            "sourceService": "claude-code",
            "startedAt": first,
            "endedAt": last if ended else None,
            "lastActivityAt": last,
            "metadata": {},
            "eventCount": len(events),
            "decisionFlagCount": sum(1 for e in events if e.get("kind") == "decision_event"),
            "aiAttributionPct": None,
            "totalCostUsd": 0,
            "createdAt": first,
            "updatedAt": last or first,
        }
        derived.update({k: v for k, v in given.items() if k not in ("id", "orgId")})
        return derived

    # ---------------------------------------------------------------- helpers for tests/benches

    def big_session_id(self, org_id: str = "org_acme") -> str:
        """The 100,000-event session (acme only)."""
        return self._special(org_id, "big")

    def hostile_session_id(self, org_id: str = "org_acme") -> str:
        """The session whose every text field is a hostile string (acme only)."""
        return self._special(org_id, "hostile")

    def running_session_ids(self, org_id: str) -> list[str]:
        """Sessions still in progress that have events (endedAt null, eventCount > 0)."""
        with self._lock:
            return [
                s.id
                for s in self._specs.values()
                if s.org_id == org_id and not s.ended and s.count > 0 and s.id not in self._deleted
            ]

    def special_session_ids(self, org_id: str = "org_acme") -> dict[str, str]:
        """The first session of each special role, e.g. "empty", "fraction", "wide_line".

        Roles: running, fraction (aiAttributionPct as 0-1), data_quirks (an event without
        ``data`` and one with ``data: null``, prompts under ``prompt``), lockfile (a diff of
        thousands of lines), list_source (sourceService as a list), empty (zero events),
        missing_fields (no lastActivityAt/totalCostUsd, impactScore as 0-1), not_computed
        (aiAttributionPct null although ended), big, hostile, wide_line (one 200,000-char line).
        """
        return {role: ids[0] for role, ids in self._roles[org_id].items()}

    def _special(self, org_id: str, role: str) -> str:
        ids = self._roles.get(org_id, {}).get(role)
        if not ids:
            raise LookupError(f"{org_id} has no {role} session")
        return ids[0]

    def spec(self, session_id: str) -> SessionSpec:
        """The generator spec of a generated session (for benches that need internals)."""
        return self._specs[session_id]


def _norm_service(value: str) -> str:
    return value.strip().lower().replace("_", "-")


def _services(value: Any) -> list[str]:
    """A sourceService value (string or list) as normalised names."""
    if isinstance(value, str):
        return [_norm_service(value)]
    if isinstance(value, list):
        return [_norm_service(v) for v in value if isinstance(v, str)]
    return []
