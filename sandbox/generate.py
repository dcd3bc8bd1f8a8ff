"""Event builders: event ``i`` of a generated session, from ``(seed, session spec, i)`` alone.

A :class:`SessionSpec` describes a session in a few hundred bytes; :func:`build_event` produces any
of its events on demand, following the turn plans of :mod:`sandbox.turns` and the content of the
session's scenario (:mod:`sandbox.scenarios`). Provenance, actors and the per-tool quirks of
Claude Code, Cursor, Codex and the shell hook follow REFERENCE.md sections 4 and 7.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.diffs import edit_diff, lockfile_diff, minified_diff
from sandbox.hostile import PAYLOADS, hostilize
from sandbox.scenarios import Scenario
from sandbox.scenarios import load as load_scenario
from sandbox.stamps import event_id, iso, sha_hex, uuid_for
from sandbox.turns import TURN_LEN, Plan, turn_plan

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
# Sessions and their events.
# --------------------------------------------------------------------------------------------


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
            "generationId": uuid_for(ctx.seed, f"gen:{ctx.spec.id}:{ctx.i}"),
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
    clock = iso(ctx.ts_ms)[11:19]
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
    data["commit"] = sha_hex(rng)
    return data, "human" if rng.random() < 0.7 else "ai"


def _data_decision(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    decisions = ctx.scn.decisions
    base = decisions[(ctx.j // ctx.spec.decision_every + ctx.plan.pick) % len(decisions)]
    impact = int(base["impactScore"])
    missed = rng.random() < 0.2
    data: dict[str, Any] = {"decisionId": uuid_for(ctx.seed, f"decision:{ctx.spec.id}:{ctx.i}")}
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
    data["capturedAt"] = iso(ctx.ts_ms)
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
        "subagentId": uuid_for(ctx.seed, f"subagent:{ctx.spec.id}:{ctx.i}"),
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


def layout(seed: int, spec: SessionSpec, i: int) -> tuple[str, Plan, int, int]:
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
    kind, plan, j, slot = layout(seed, spec, i)
    ts = event_ts_ms(seed, spec, i)
    rng = random.Random(f"{seed}:{spec.id}:{i}")
    ctx = _Ctx(seed, spec, load_scenario(spec.scenario), plan, i, j, slot, rng, ts)
    data, who = _BUILDERS[kind](ctx)
    if spec.hostile:
        data = hostilize(data, rng)
    event: dict[str, Any] = {
        "id": event_id(spec.prefix, i),
        "sessionId": spec.id,
        "orgId": spec.org_id,
        "kind": kind,
        "ts": iso(ts),
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
    event["createdAt"] = iso(ts + rng.randint(40, 2500))
    quirk = spec.quirks.get(i)
    if quirk:
        _apply_quirk(event, quirk, rng)
    return event
