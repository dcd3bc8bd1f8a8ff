"""Scripted sessions: timelines played from script files rather than generated turn by turn.

The generated sessions (:mod:`sandbox.generate`) are statistically plausible; these are written
out event by event to look like real Claude Code sessions recorded by Promptster's CLI, and to be
deliberately messy where the real upstream is. They belong to their own acme assessment and live
in ``sandbox/scenarios/api/``:

* ``brief.md``: the assessment's task brief;
* ``<role>.toml``: one session each (``realistic``, ``messy``, ``no_changes``, ``huge_output``).

A script has a ``[session]`` table, the repository's files before the session (``[files]``) and a
list of steps (``[[e]]``). The player keeps a virtual working tree, so edits become real unified
diffs, and a clock, so timestamps follow the work. Step keys (one shorthand per step):

* ``prompt``, ``answer``: a prompt (``meta`` as the CLI sends it) or an AI answer (token counts);
* ``tools``: tool_use events, each ``"<Tool> <argument>"`` (``Read``, ``Grep``, ``Glob``, ...);
* ``write`` + ``content``: a Write (``file_create`` for a new file, a whole-file ``file_diff``
  otherwise); ``edit`` + ``old``/``new`` (or ``replace = [[old, new], ...]``): an Edit, whose
  ``by`` may be ``human`` (a git-poll hand edit) or ``revised`` (AI output edited by hand); an
  ``old`` that is not in the file gives Claude Code's "String to replace not found" failure;
* ``bash`` (+ ``exit``, ``stdout``, ``stderr``, ``ms``, ``by``, ``rejected``, ``stdout_gen``): a
  Bash tool call and its command; ``test`` = ``[passed, failed, skipped]``: a test_run;
* ``diff`` + ``path``: a file_diff given verbatim (header-only and tricky diffs);
* ``todos``: a plan update; ``kind`` + ``data`` (or ``data_json``, JSON text, for strings TOML
  cannot hold, e.g. a lone surrogate): any event verbatim.

Envelope overrides for the messy session: ``ts`` (any string, sent as is), ``same_id_as`` and
``repeat_of`` (a step's ``key``), ``session_of`` (another role: that session's id is sent).
Timing: ``at`` (seconds after the previous event; defaults per kind) and ``idle`` (extra seconds).
A command's ``stdout_gen`` names a generator; ``lazy = true`` defers it until a page holding the
event is served (the huge output), so the stored script stays small.
"""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from sandbox.diffs import _unified, count_changes
from sandbox.stamps import day_ms, event_id, event_prefix, iso, parse_iso_ms, uuid_for

FOLDER = "api"
"""The folder under ``sandbox/scenarios/`` that holds the scripted sessions."""

ROLES = ("realistic", "messy", "no_changes", "huge_output")
"""The scripted sessions' roles, in the order ``special_session_ids()`` lists them."""

ASSESSMENT_KEY = "acme-api"
ORG_ID = "org_acme"
REPO_URL = "https://github.com/acme-hiring/payments-api"

REJECTED = (
    "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it "
    "was a file edit, the new_string was NOT written to the file). STOP what you are doing and "
    "wait for the user to tell you how to proceed."
)
"""Claude Code's own text for a tool call the user rejected."""

_DEFAULT_AT = {
    "prompt": 14.0,
    "ai_response": 4.0,
    "tool_use": 1.6,
    "tool_call": 0.3,
    "command": 0.2,
    "file_diff": 0.3,
    "file_create": 0.3,
    "test_run": 0.2,
    "planning": 0.8,
}


@dataclass
class Played:
    """One scripted session, ready for :class:`sandbox.data.SandboxState`."""

    role: str
    session: dict[str, Any]
    events: list[dict[str, Any]]
    lazy: dict[int, Callable[[dict[str, Any]], None]] = field(default_factory=dict)


def _read(name: str) -> str:
    return files("sandbox").joinpath("scenarios", FOLDER, name).read_bytes().decode("utf-8")


def brief() -> str:
    return _read("brief.md")


def assessment(seed: int) -> dict[str, Any]:
    """The scripted sessions' assessment, created after every other acme assessment."""
    created = day_ms(10, 27, 9, 30)
    return {
        "id": uuid_for(seed, f"assessment:{ASSESSMENT_KEY}"),
        "orgId": ORG_ID,
        "title": "Backend Engineer: payments API hardening",
        "role": "Backend Engineer",
        "taskBrief": brief(),
        "repoUrl": REPO_URL,
        "issueId": None,
        "rubricId": None,
        "timeLimitMinutes": 45,
        "tokenBudgetUsd": 10.0,
        "expiresInDays": 7,
        "createdAt": iso(created),
        "updatedAt": iso(created + 4 * 60_000 + 2_210),
        "issue": None,
    }


def session_ids(seed: int) -> dict[str, str]:
    return {role: uuid_for(seed, f"session:{ASSESSMENT_KEY}:{n}") for n, role in enumerate(ROLES)}


def play_all(seed: int) -> list[Played]:
    """Every scripted session, in :data:`ROLES` order."""
    ids = session_ids(seed)
    return [_Player(seed, role, ids).play() for role in ROLES]


# ------------------------------------------------------------------------------------------------
# Output generators (command stdout too long to keep in a script)
# ------------------------------------------------------------------------------------------------


def pytest_verbose(lines: int = 2026) -> str:
    """A ``pytest -v`` run of exactly ``lines`` lines: one failure, the verdict last."""
    modules = ("test_api", "test_refunds", "test_ledger", "test_idempotency", "test_webhooks")
    head = [
        "============================= test session starts ==============================",
        "platform linux -- Python 3.12.7, pytest-8.3.3, pluggy-1.5.0 -- /home/candidate/"
        "payments-api/.venv/bin/python",
        "cachedir: .pytest_cache",
        "rootdir: /home/candidate/payments-api",
        "configfile: pyproject.toml",
        "plugins: anyio-4.6.2, cov-5.0.0",
        "collected 1998 items",
        "",
    ]
    failure = "AssertionError: assert 2 == 1"
    tail = [
        "",
        "=================================== FAILURES ===================================",
        "______________________________ test_refund_twice _______________________________",
        "",
        "client = <FlaskClient <Flask 'app'>>, charge = <Charge ch_3QK1 captured 4900>",
        "db = <sqlalchemy.orm.session.Session object at 0x7f3a1c2e9b50>",
        "",
        "    def test_refund_twice(client, charge, db):",
        '        client.post(f"/charges/{charge.id}/refunds", json={"amount": 4900})',
        '        client.post(f"/charges/{charge.id}/refunds", json={"amount": 4900})',
        "        refunds = db.query(Refund).filter_by(charge_id=charge.id).all()",
        ">       assert len(refunds) == 1",
        "E       " + failure,
        "E        +  where 2 = len([<Refund 1 4900 pending>, <Refund 1 4900 succeeded>])",
        "",
        "tests/test_api.py:38: AssertionError",
        "=========================== short test summary info ============================",
        f"FAILED tests/test_api.py::test_refund_twice - {failure}",
        "================== 1 failed, 1997 passed, 3 warnings in 41.27s ==================",
    ]
    body_len = lines - len(head) - len(tail)
    body = []
    for k in range(body_len):
        module = modules[k % len(modules)]
        name = "test_refund_twice" if k == 417 else f"test_case_{k:04d}"
        verdict = "FAILED" if k == 417 else "PASSED"
        pct = (k + 1) * 100 // body_len
        body.append(f"tests/{module}.py::{name} {verdict}".ljust(72) + f"[{pct:>3}%]")
    body[417] = body[417].replace("tests/test_refunds.py", "tests/test_api.py")
    return "\n".join(head + body + tail) + "\n"


HUGE_LINES = 700_000


def huge_log(lines: int = HUGE_LINES) -> str:
    """About 50 MB of verbose test-run output, the verdict last (built only when served).

    Built as blocks of 10,000 lines from one template (only the clock, batch and row numbers
    change between blocks), so 700,000 lines cost a fraction of a second.
    """
    block = 10_000
    template = "\n".join(
        f"\0T{r // 200:02d}.{r % 200 * 5:03d} DEBUG ledger.sync batch=\0B row=\0R{r:04d} "
        f"ok crc={r * 2654435761 % 2**32:08x}"
        for r in range(block)
    )
    log_lines = lines - 1
    blocks = -(-log_lines // block)
    parts = []
    for b in range(blocks):
        text = template.replace("\0T", f"{9 + b // 60:02d}:{b % 60:02d}:")
        text = text.replace("\0B", f"{b:05d}").replace("\0R", f"{b:03d}")
        if b == blocks - 1:
            text = "\n".join(text.split("\n")[: log_lines - b * block])
        parts.append(text)
    parts.append("FINAL: 1 failed, 2047 passed in 913.40s\n")
    return "\n".join(parts)


_GENERATORS: dict[str, Callable[[], str]] = {"pytest_verbose": pytest_verbose, "huge_log": huge_log}


# ------------------------------------------------------------------------------------------------
# The player
# ------------------------------------------------------------------------------------------------


def _provenance(kind: str, who: str) -> dict[str, Any] | None:
    """Provenance as Promptster's CLI sets it (REFERENCE.md section 4.2)."""
    if kind in ("session_start", "session_end"):
        return None
    if who == "system":
        return {"attribution": "system_generated", "confidence": 1.0, "observability": "high"}
    if who == "ai":
        return _labelled("likely_ai", 0.9, "high", "hook")
    if who == "revised":
        return _labelled("ai_revised_by_human", 0.6, "medium", "git-poll", "ai-path-ledger")
    method = {"file_diff": "git-poll", "command": "shell-hook", "decision_event": "cli"}
    confidence = 0.7 if kind == "file_diff" else 0.8
    return _labelled("likely_human", confidence, "medium", method.get(kind, "hook"))


def _labelled(
    attribution: str, confidence: float, observability: str, *methods: str
) -> dict[str, Any]:
    return {
        "attribution": attribution,
        "confidence": confidence,
        "observability": observability,
        "methods": list(methods),
    }


_ACTOR = {"ai": "ai", "human": "human", "revised": "human", "system": "system"}


def _tool_input(tool: str, arg: str) -> dict[str, Any]:
    """The input Claude Code sends for ``<tool> <arg>`` (arg split on " :: " where it has parts)."""
    parts = arg.split(" :: ")
    if tool == "Read":
        out: dict[str, Any] = {"file_path": parts[0]}
        if len(parts) > 1:
            out["offset"], out["limit"] = (int(x) for x in parts[1].split(","))
        return out
    if tool == "Grep":
        out = {"pattern": parts[0], "output_mode": "content", "-n": True}
        if len(parts) > 1:
            out["path"] = parts[1]
        return out
    if tool == "Glob":
        return {"pattern": parts[0]}
    if tool == "LS":
        return {"path": parts[0]}
    if tool == "WebFetch":
        return {"url": parts[0], "prompt": parts[1] if len(parts) > 1 else "Summarise this page"}
    if tool == "Task":
        return {"description": parts[0], "subagent_type": parts[1] if len(parts) > 1 else "Explore"}
    if tool == "Bash":
        return {"command": parts[0], "description": parts[1] if len(parts) > 1 else ""}
    return {"input": arg}


def _preview(value: dict[str, Any]) -> str:
    """``inputPreview``: the tool input as JSON, cut at 160 characters as the CLI cuts it."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 160 else text[:160]


def _diff_counts(text: str) -> tuple[int, int]:
    """Added and removed lines of a single-file diff, counted inside hunks only."""
    lines = text.split("\n")
    start = next((k for k, line in enumerate(lines) if line.startswith("@@")), len(lines))
    return count_changes(line for line in lines[start:] if not line.startswith("@@"))


class _Player:
    def __init__(self, seed: int, role: str, ids: dict[str, str]) -> None:
        self.seed = seed
        self.role = role
        self.ids = ids
        self.session_id = ids[role]
        self.prefix = event_prefix(seed, self.session_id)
        self.spec = tomllib.loads(_read(f"{role}.toml"))
        meta = self.spec["session"]
        self.meta = meta
        self.pace = float(meta.get("pace", 1.0))
        self.clock = _parse_start(meta["start"])
        self.tree: dict[str, str] = dict(self.spec.get("files", {}))
        self.events: list[dict[str, Any]] = []
        self.lazy: dict[int, Callable[[dict[str, Any]], None]] = {}
        self.keys: dict[str, int] = {}
        self.ide = uuid_for(seed, f"ide:{self.session_id}")
        self.tool_n = 0

    # -------------------------------------------------------------- emitting

    def emit(
        self,
        kind: str,
        data: dict[str, Any] | None,
        who: str,
        *,
        at: float | None = None,
    ) -> dict[str, Any]:
        seconds = at if at is not None else _DEFAULT_AT.get(kind, 1.0)
        self.clock += int(1000 * seconds * self.pace)
        index = len(self.events)
        rng = random.Random(f"{self.seed}:scripted:{self.role}:{index}")
        event: dict[str, Any] = {
            "id": event_id(self.prefix, index),
            "sessionId": self.session_id,
            "orgId": ORG_ID,
            "kind": kind,
            "ts": iso(self.clock),
            "actor": {"type": _ACTOR[who]},
            "data": data,
        }
        provenance = _provenance(kind, who)
        if provenance is not None:
            event["provenance"] = provenance
        event["createdAt"] = iso(self.clock + rng.randint(40, 1800))
        self.events.append(event)
        return event

    def tool(
        self, name: str, value: dict[str, Any], ok: bool = True, at: float | None = None
    ) -> str:
        self.tool_n += 1
        tool_id = (
            "toolu_01"
            + uuid_for(self.seed, f"tool:{self.session_id}:{self.tool_n}").replace("-", "")[:22]
        )
        self.emit(
            "tool_use",
            {"toolName": name, "toolUseId": tool_id, "inputPreview": _preview(value), "ok": ok},
            "ai",
            at=at,
        )
        return tool_id

    def failed(self, name: str, error: str, tool_id: str) -> None:
        self.emit(
            "tool_call", {"tool": name, "toolUseId": tool_id, "ok": False, "error": error}, "ai"
        )

    # -------------------------------------------------------------- steps

    def play(self) -> Played:
        meta = self.meta
        self.emit(
            "session_start",
            {
                "ideSessionId": self.ide,
                "cwd": meta["cwd"],
                "model": meta["model"],
                "source": "startup",
                "assessmentId": uuid_for(self.seed, f"assessment:{ASSESSMENT_KEY}"),
            },
            "system",
            at=0,
        )
        for step in self.spec.get("e", []):
            self.clock += int(1000 * step.get("idle", 0))
            start = len(self.events)
            self.step(step)
            if "key" in step:
                self.keys[step["key"]] = start
        if meta.get("end", True):
            self.emit(
                "session_end",
                {"ideSessionId": self.ide, "reason": "done"},
                "system",
                at=meta.get("end_at", 20),
            )
        return Played(self.role, self.session(), self.events, self.lazy)

    def step(self, step: dict[str, Any]) -> None:  # noqa: C901 - one branch per shorthand
        at = step.get("at")
        who = step.get("by", "ai")
        if "prompt" in step:
            self.emit(
                "prompt",
                {
                    "text": step["prompt"],
                    "meta": {
                        "ideSessionId": self.ide,
                        "model": self.meta["model"],
                        "permissionMode": step.get("mode", "default"),
                        "cwd": self.meta["cwd"],
                    },
                },
                "human",
                at=at,
            )
        elif "answer" in step:
            self.answer(step["answer"], at)
        elif "tools" in step:
            for item in step["tools"]:
                name, _, arg = item.partition(" ")
                self.tool(name, _tool_input(name, arg), at=at)
        elif "write" in step:
            self.write(step, who, at)
        elif "edit" in step:
            self.edit(step, who, at)
        elif "bash" in step:
            self.bash(step, who, at)
        elif "test" in step:
            passed, failed, skipped = step["test"]
            self.emit(
                "test_run",
                {
                    "suite": step.get("suite", "tests"),
                    "passed": passed,
                    "failed": failed,
                    "skipped": skipped,
                    "durationMs": step.get("ms", 1000),
                },
                step.get("by", "system"),
                at=at,
            )
        elif "diff" in step:
            added, removed = _diff_counts(step["diff"])
            diff = {"path": step["path"], "diff": step["diff"]}
            self.emit(
                "file_diff", {**diff, "linesAdded": added, "linesRemoved": removed}, who, at=at
            )
        elif "todos" in step:
            todos = [{"content": c, "status": s} for c, s in step["todos"]]
            self.tool("TodoWrite", {"todos": todos}, at=at)
            self.emit("planning", {"todos": todos, "itemCount": len(todos)}, "ai")
        elif "repeat_of" in step:
            self.events.append(json.loads(json.dumps(self.events[self.keys[step["repeat_of"]]])))
        elif "kind" in step:
            data = json.loads(step["data_json"]) if "data_json" in step else step.get("data")
            event = self.emit(step["kind"], data, who, at=at)
            if "ts" in step:
                event["ts"] = step["ts"]
                parsed = parse_iso_ms(step["ts"])
                if parsed is not None:
                    self.clock = parsed  # later steps count from the stated instant
            if step["kind"] == "decision_event" and isinstance(data, dict):
                data.setdefault("capturedAt", event["ts"])
            if "same_id_as" in step:
                event["id"] = self.events[self.keys[step["same_id_as"]]]["id"]
            if "session_of" in step:
                event["sessionId"] = self.ids[step["session_of"]]
            if step.get("no_data"):
                del event["data"]
        else:
            raise ValueError(f"{self.role}: a step with nothing to play: {sorted(step)}")

    def answer(self, text: str, at: float | None) -> None:
        rng = random.Random(f"{self.seed}:scripted-tokens:{self.role}:{len(self.events)}")
        input_tokens = rng.randint(8_000, 70_000)
        output_tokens = max(60, len(text) // 3 + rng.randint(40, 400))
        cache_read = rng.randint(input_tokens, input_tokens * 3)
        cost = input_tokens * 3e-6 + output_tokens * 15e-6 + cache_read * 3e-7
        self.emit(
            "ai_response",
            {
                "lastAssistantMessage": text.removesuffix("\n"),
                "stopHookActive": False,
                "stopReason": "end_turn",
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "cacheReadTokens": cache_read,
                "cacheWriteTokens": rng.randint(200, 6_000),
                "totalCost": round(cost, 4),
                "turnDurationMs": rng.randint(4_000, 60_000),
                "model": self.meta["model"],
            },
            "ai",
            at=at,
        )

    def write(self, step: dict[str, Any], who: str, at: float | None) -> None:
        path, content = step["write"], step["content"]
        self.tool("Write", {"file_path": path, "content": content}, at=at)
        before = self.tree.get(path)
        self.tree[path] = content
        if before is None:
            data = {
                "path": path,
                "content": content,
                "linesAdded": content.count("\n"),
                "sizeBytes": len(content.encode()),
            }
            self.emit("file_create", data, who)
            return
        diff = _unified(path, before, content, git_header=False)
        self.emit(
            "file_diff",
            {
                "path": path,
                "diff": diff.text,
                "linesAdded": diff.added,
                "linesRemoved": diff.removed,
                "content": content,
                "contentLength": len(content),
                "attribution": "likely_ai",
            },
            who,
        )

    def edit(self, step: dict[str, Any], who: str, at: float | None) -> None:
        path = step["edit"]
        pairs = step.get("replace") or [[step["old"], step["new"]]]
        before = self.tree[path]
        after = before
        missing = next((old for old, _ in pairs if old not in after), None)
        if who == "ai":
            first_old, first_new = pairs[0]
            tool_id = self.tool(
                "Edit",
                {"file_path": path, "old_string": first_old, "new_string": first_new},
                ok=missing is None,
                at=at,
            )
            if missing is not None:
                self.failed(
                    "Edit",
                    "<tool_use_error>String to replace not found in file.\n"
                    f"String: {missing}</tool_use_error>",
                    tool_id,
                )
                return
        elif missing is not None:
            raise ValueError(f"{self.role}: a hand edit of {path} that does not apply")
        for old, new in pairs:
            after = after.replace(old, new, 1)
        self.tree[path] = after
        diff = _unified(path, before, after, git_header=who != "ai")
        data: dict[str, Any] = {
            "path": path,
            "diff": diff.text,
            "linesAdded": diff.added,
            "linesRemoved": diff.removed,
        }
        if who == "ai":
            data.update(attribution="likely_ai", oldString=pairs[0][0], newString=pairs[0][1])
        self.emit("file_diff", data, who, at=at if who != "ai" else None)

    def bash(self, step: dict[str, Any], who: str, at: float | None) -> None:
        command = step["bash"]
        if who == "ai":
            tool_id = self.tool(
                "Bash",
                {"command": command, "description": step.get("description", "")},
                ok=not step.get("rejected"),
                at=at,
            )
            if step.get("rejected"):
                self.failed("Bash", REJECTED, tool_id)
                return
        ms = int(step.get("ms", 400))
        data: dict[str, Any] = {
            "command": command,
            "exitCode": step.get("exit", 0),
            "durationMs": ms,
            "stdout": step.get("stdout", ""),
            "stderr": step.get("stderr", ""),
        }
        if who != "ai":
            data["human"] = True
            data["source"] = "terminal"
        generator = step.get("stdout_gen")
        self.clock += ms
        event = self.emit(
            "command", data, "human" if who != "ai" else "ai", at=at if who != "ai" else None
        )
        if generator and step.get("lazy"):
            make = _GENERATORS[generator]

            def fill(ev: dict[str, Any], make: Callable[[], str] = make) -> None:
                ev["data"]["stdout"] = make()

            self.lazy[len(self.events) - 1] = fill
        elif generator:
            event["data"]["stdout"] = _GENERATORS[generator]()

    # -------------------------------------------------------------- the session object

    def session(self) -> dict[str, Any]:
        meta = self.meta
        stamps = [parse_iso_ms(e.get("ts")) for e in self.events]
        first = self.events[0]["ts"]
        last = iso(max(ms for ms in stamps if ms is not None))
        ai = human = 0
        for e in self.events:
            data = e.get("data")
            if e.get("kind") in ("file_diff", "file_create") and isinstance(data, dict):
                lines = int(data.get("linesAdded") or 0) + int(data.get("linesRemoved") or 0)
                if (e.get("provenance") or {}).get("attribution") == "likely_ai":
                    ai += lines
                else:
                    human += lines
        pct = round(100 * ai / (ai + human), 1) if ai + human else None
        cost = sum(
            float((e.get("data") or {}).get("totalCost") or 0)
            for e in self.events
            if e.get("kind") == "ai_response"
        )
        ended = self.events[-1]["kind"] == "session_end"
        return {
            "id": self.session_id,
            "orgId": ORG_ID,
            "sourceService": "claude-code",
            "startedAt": first,
            "endedAt": last if ended else None,
            "lastActivityAt": last,
            "metadata": {
                "assessmentId": uuid_for(self.seed, f"assessment:{ASSESSMENT_KEY}"),
                "candidateName": meta["candidate"],
                "repoUrl": REPO_URL,
            },
            "eventCount": len(self.events),
            "decisionFlagCount": sum(1 for e in self.events if e.get("kind") == "decision_event"),
            "aiAttributionPct": pct,
            "totalCostUsd": round(cost, 2),
            "createdAt": iso(_parse_start(first) + 350),
            "updatedAt": iso(_parse_start(last) + 45_000),
        }


def _parse_start(value: str) -> int:
    ms = parse_iso_ms(value)
    if ms is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return ms
