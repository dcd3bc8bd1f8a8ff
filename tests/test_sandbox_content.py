"""The scripted sessions (sandbox/scripted.py), read over real HTTP as the product reads them.

``realistic`` looks like a real Claude Code session recorded by Promptster's CLI; ``messy``,
``no_changes`` and ``huge_output`` are deliberately awkward. The product's fidelity tests rely on
what these tests pin down: the notable events, where they are, and that paging returns every
record exactly once even where ids repeat.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sandbox import scripted
from sandbox.data import ORGS
from sandbox.server import SandboxServer
from sandbox.stamps import parse_iso_ms, uuid_for

ACME, GLOBEX = ORGS
ANCHOR = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OLD_ROLES = [
    "running", "fraction", "data_quirks", "lockfile", "list_source", "empty", "missing_fields",
    "not_computed", "big", "hostile", "wide_line",
]  # fmt: skip
NEW_ROLES = ["realistic", "messy", "no_changes", "huge_output"]


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    server = SandboxServer(port=0, seed=1, latency_ms=0, rate_limit_per_min=0, live_anchor=ANCHOR)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, srv: SandboxServer, path: str, **params: Any) -> requests.Response:
    response = http.get(
        srv.url + path,
        headers={"Authorization": f"Bearer {ACME['token']}"},
        params=params or None,
        timeout=120,
    )
    assert response.status_code == 200, response.text[:200]
    return response


def walk(
    http: requests.Session, srv: SandboxServer, session_id: str, limit: int = 2000
) -> tuple[list[dict[str, Any]], int]:
    events: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        body = get(http, srv, f"/v1/sessions/{session_id}/timeline", **params).json()
        pages += 1
        assert pages <= 10_000, "paging does not terminate"
        events += body["events"]
        if not body["hasMore"]:
            return events, pages
        after = body["events"][-1]["id"]


def role_id(srv: SandboxServer, role: str) -> str:
    return srv.state.special_session_ids()[role]


@pytest.fixture(scope="module")
def realistic(http: requests.Session, srv: SandboxServer) -> list[dict[str, Any]]:
    return walk(http, srv, role_id(srv, "realistic"))[0]


def of_kind(events: list[dict[str, Any]], kind: str) -> list[tuple[int, dict[str, Any]]]:
    return [(k, e) for k, e in enumerate(events) if e["kind"] == kind]


def datas(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["kind"] == kind]


# ------------------------------------------------------------------------------------------------
# the assessment and the roles
# ------------------------------------------------------------------------------------------------


def test_a_new_assessment_after_the_others_and_roles_appended(
    http: requests.Session, srv: SandboxServer
) -> None:
    items = get(http, srv, "/v1/assessments").json()["assessments"]
    assert items[0]["id"] == uuid_for(1, "assessment:acme-pay")
    newest = items[-1]
    assert newest["title"] == "Backend Engineer: payments API hardening"
    assert newest["createdAt"] > max(a["createdAt"] for a in items[:-1])
    assert newest["taskBrief"].startswith("## ")
    roles = srv.state.special_session_ids()
    assert list(roles) == OLD_ROLES + NEW_ROLES
    body = get(http, srv, "/v1/sessions", assessmentId=newest["id"], limit=100).json()
    assert body["total"] == 4
    assert {s["id"] for s in body["sessions"]} == {roles[r] for r in NEW_ROLES}
    assert srv.state.scored_session_ids() and not set(srv.state.scored_session_ids()) & set(
        roles.values()
    )


@pytest.mark.parametrize("role", NEW_ROLES)
def test_session_objects_agree_with_their_timelines(
    http: requests.Session, srv: SandboxServer, role: str
) -> None:
    session_id = role_id(srv, role)
    session = get(http, srv, f"/v1/sessions/{session_id}").json()["session"]
    events, _ = walk(http, srv, session_id)
    assert session["eventCount"] == len(events)
    assert session["sourceService"] == "claude-code"
    assert session["metadata"]["assessmentId"] == srv.state.assessments_for(ACME["id"])[-1]["id"]
    assert session["startedAt"] == events[0]["ts"] and events[0]["kind"] == "session_start"
    assert session["endedAt"] == session["lastActivityAt"] == events[-1]["ts"]
    decisions = get(http, srv, f"/v1/sessions/{session_id}/decisions").json()["decisions"]
    assert decisions == [e for e in events if e["kind"] == "decision_event"]
    assert session["decisionFlagCount"] == len(decisions)


# ------------------------------------------------------------------------------------------------
# realistic
# ------------------------------------------------------------------------------------------------


def test_realistic_shape(realistic: list[dict[str, Any]]) -> None:
    counts = Counter(e["kind"] for e in realistic)
    assert len(realistic) == 392
    assert counts["prompt"] == 29 and counts["tool_use"] == 249
    assert (counts["command"], counts["test_run"]) == (31, 13)
    assert (counts["file_diff"], counts["file_create"]) == (23, 2)
    assert counts["decision_event"] == 3 and counts["tool_call"] == 2
    for kind in ("checkpoint", "subagent_start", "subagent_stop", "context_compact", "git_action"):
        assert counts[kind] == 1, kind
    assert counts["mcp_call"] == 2 and counts["planning"] == 4
    stamps = [parse_iso_ms(e["ts"]) for e in realistic]
    assert all(isinstance(ms, int) for ms in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    minutes = (stamps[-1] - stamps[0]) / 60_000  # type: ignore[operator]
    assert 26 <= minutes <= 28
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]  # type: ignore[operator]
    assert sum(1 for gap in gaps if gap > 5 * 60_000) == 2
    assert {e["sessionId"] for e in realistic} == {realistic[0]["sessionId"]}
    assert len({e["id"] for e in realistic}) == len(realistic)


def test_realistic_tool_calls(realistic: list[dict[str, Any]]) -> None:
    tools = Counter(d["toolName"] for d in datas(realistic, "tool_use"))
    expected = {"Read", "Grep", "Glob", "Edit", "Write", "Bash", "Task", "TodoWrite", "LS"}
    assert expected <= set(tools)
    assert tools["Read"] > 60 and tools["Grep"] > 50
    for data in datas(realistic, "tool_use"):
        assert data["toolUseId"].startswith("toolu_01")
        if len(data["inputPreview"]) < 160:
            assert isinstance(json.loads(data["inputPreview"]), dict)
    failures = of_kind(realistic, "tool_call")
    (rejected_at, rejected), (missing_at, missing) = failures
    assert rejected["data"]["error"] == scripted.REJECTED
    assert rejected["data"]["error"].startswith("The user doesn't want to proceed with this")
    assert realistic[rejected_at - 1]["data"]["toolName"] == "Bash"
    assert realistic[rejected_at - 1]["data"]["ok"] is False
    assert "git stash" in realistic[rejected_at - 1]["data"]["inputPreview"]
    assert realistic[rejected_at + 1]["kind"] == "prompt"  # the user says why
    assert missing["data"]["error"].startswith("<tool_use_error>String to replace not found")
    assert realistic[missing_at - 1]["data"]["toolName"] == "Edit"
    assert realistic[missing_at + 1]["kind"] == "tool_use"  # no file_diff for a failed edit
    assert missing["data"]["toolUseId"] == realistic[missing_at - 1]["data"]["toolUseId"]


def test_realistic_agents_plans_and_decisions(realistic: list[dict[str, Any]]) -> None:
    (start_at, start), (stop_at, stop) = of_kind(realistic, "subagent_start") + of_kind(
        realistic, "subagent_stop"
    )
    assert start["data"]["subagentId"] == stop["data"]["subagentId"] and start_at < stop_at
    assert realistic[start_at - 1]["data"]["toolName"] == "Task"
    inside = realistic[start_at + 1 : stop_at]
    assert len(inside) >= 15 and {e["kind"] for e in inside} == {"tool_use"}
    plans = datas(realistic, "planning")
    done = [sum(t["status"] == "completed" for t in plan["todos"]) for plan in plans]
    assert done == sorted(done) and done[0] == 0 and done[-1] == len(plans[-1]["todos"])
    assert all(plan["itemCount"] == len(plan["todos"]) for plan in plans)
    for decision in datas(realistic, "decision_event"):
        assert isinstance(decision["tradeoffs"], list) and len(decision["tradeoffs"]) >= 3
        assert 1 <= decision["impactScore"] <= 5 and decision["capturedAt"]
    assert datas(realistic, "context_compact")[0]["trigger"] == "auto"
    assert {d["server"] for d in datas(realistic, "mcp_call")} == {"github", "postgres"}


def test_realistic_answers_are_github_flavoured(realistic: list[dict[str, Any]]) -> None:
    answers = [d["lastAssistantMessage"] for d in datas(realistic, "ai_response")]
    joined = "\n".join(answers)
    assert re.search(r"^\|---\|", joined, re.M), "a table"
    assert re.search(r"^- \[ \] ", joined, re.M) and re.search(r"^- \[x\] ", joined, re.M)
    assert re.search(r"^   - .+\n     - ", joined, re.M) or re.search(r"^   - ", joined, re.M)
    assert re.search(r"^     ```(js|python)$", joined, re.M), "a fenced block inside a list item"
    assert "~~" in joined and re.search(r"(?<![(<])https://\S+", joined), "strikethrough, bare URL"
    assert re.search(r"\]\((\.\./)?(docs|scripts)/[^)]+\)", joined), "a relative link"
    for data in datas(realistic, "ai_response"):
        assert data["model"] == "claude-sonnet-4-5" and data["totalCost"] > 0


def test_realistic_pasted_prompts(realistic: list[dict[str, Any]]) -> None:
    prompts = [d["text"] for d in datas(realistic, "prompt")]
    assert "Traceback (most recent call last):" in prompts[0]
    assert "app.processor.ProcessorError" in prompts[0]
    pasted_diff = next(p for p in prompts if "--- a/app/refunds.py" in p)
    lines = pasted_diff.split("--- a/app/refunds.py", 1)[1].split("\n")
    assert len(["--- a/app/refunds.py", *lines[1:]]) == 6
    checklist = next(p for p in prompts if "# must" in p)
    starts = {line[:1] for line in checklist.split("\n") if line[:1] in "#-+" and line}
    assert starts == {"#", "-", "+"}


def test_realistic_commands(realistic: list[dict[str, Any]]) -> None:
    commands = datas(realistic, "command")
    verbose = next(c for c in commands if c["command"] == "pytest -v")
    out = verbose["stdout"].split("\n")
    assert out[-1] == "" and len(out) - 1 == 2026
    assert out[-2].startswith("=") and "1 failed, 1997 passed" in out[-2]
    failed = "FAILED tests/test_api.py::test_refund_twice - AssertionError: assert 2 == 1"
    assert failed in out and verbose["exitCode"] == 1
    coloured = next(c for c in commands if "--color=yes" in c["command"])
    assert "\x1b[31m" in coloured["stdout"] and "\x1b[32m" in coloured["stdout"]
    pip = next(c for c in commands if c["command"].startswith("pip install"))
    assert pip["stdout"].count("\r") == 3
    commit = next(c for c in commands if "--no-verify" in c["command"])
    assert commit["exitCode"] == 0
    push = next(c for c in commands if c["command"] == "git push --force origin refunds-hardening")
    assert push["human"] is True and push["source"] == "terminal"
    assert "forced update" in push["stderr"]
    assert sum(1 for c in commands if c["exitCode"]) >= 6
    runs = datas(realistic, "test_run")
    assert {"passed", "failed", "skipped", "durationMs", "suite"} <= runs[0].keys()
    assert [r["failed"] for r in runs].count(0) >= 7


def _refunds_history(events: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (k, e)
        for k, e in enumerate(events)
        if e["kind"] in ("file_diff", "file_create") and e["data"]["path"] == "app/refunds.py"
    ]


def test_realistic_file_history_for_blame(realistic: list[dict[str, Any]]) -> None:
    history = _refunds_history(realistic)
    (created_at, created), *changes = history
    assert created["kind"] == "file_create"
    assert created["data"]["linesAdded"] == created["data"]["content"].count("\n") == 119
    attributions = [e["provenance"]["attribution"] for _, e in changes]
    assert attributions.count("likely_ai") >= 6
    hand = [e for _, e in changes if e["provenance"]["attribution"] == "likely_human"]
    assert len(hand) == 1 and hand[0]["provenance"]["methods"] == ["git-poll"]
    assert hand[0]["actor"] == {"type": "human"}
    assert hand[0]["data"]["diff"].startswith("diff --git")
    revised = [e for _, e in changes if e["provenance"]["attribution"] == "ai_revised_by_human"]
    assert len(revised) == 1 and revised[0]["data"]["diff"].count("\n@@ ") == 2
    assert revised[0]["provenance"]["methods"] == ["git-poll", "ai-path-ledger"]
    rewrite = [e for _, e in changes if "content" in e["data"]]
    assert len(rewrite) == 1 and rewrite[0]["data"]["linesRemoved"] > 40
    assert changes[-1][1] is rewrite[0]
    # one line rewritten four times before the rewrite
    lock = [
        e
        for _, e in changes[:-1]
        if any(line.startswith("-LOCK_TIMEOUT_S") for line in e["data"]["diff"].split("\n"))
    ]
    assert len(lock) == 4
    assert [e["provenance"]["attribution"] for e in lock] == [
        "likely_ai", "likely_ai", "likely_human", "likely_ai",
    ]  # fmt: skip
    final = "LOCK_TIMEOUT_S = 3.0  # seconds; must stay below the gateway's 5 s timeout\n"
    assert final in rewrite[0]["data"]["content"]
    # the failed edit of that file came after its creation and produced no diff
    failed = [k for k, e in of_kind(realistic, "tool_call") if "not found" in e["data"]["error"]]
    assert failed and created_at < failed[0]


def test_realistic_header_only_and_tricky_diffs(realistic: list[dict[str, Any]]) -> None:
    diffs = {d["path"]: d for d in datas(realistic, "file_diff")}
    png = "docs/refund-flow.png"
    header_only = {
        "scripts/refunds_report.py": (
            "similarity index 100%",
            "rename from scripts/refund_report.py",
            "rename to scripts/refunds_report.py",
        ),
        "tests/fixtures/charge_refunded.json": (
            "similarity index 100%",
            "copy from tests/fixtures/charge.json",
            "copy to tests/fixtures/charge_refunded.json",
        ),
        "scripts/deploy.sh": ("old mode 100644", "new mode 100755"),
        png: (f"Binary files a/{png} and b/{png} differ",),
    }
    for path, wanted in header_only.items():
        data = diffs[path]
        assert "\n@@" not in data["diff"] and (data["linesAdded"], data["linesRemoved"]) == (0, 0)
        lines = data["diff"].split("\n")
        assert lines[0].startswith("diff --git ") and all(w in lines for w in wanted), path
    sql = diffs["migrations/0004_refunds.sql"]
    lines = sql["diff"].split("\n")
    assert "--- refunds: one row per refund attempt" in lines
    assert "--- TODO: add a unique key for idempotency" in lines
    assert "\\ No newline at end of file" in lines
    assert (sql["linesAdded"], sql["linesRemoved"]) == (7, 3)
    js = diffs["static/refund-metrics.js"]
    assert "+++counter;" in js["diff"].split("\n")
    assert (js["linesAdded"], js["linesRemoved"]) == (1, 1)


# ------------------------------------------------------------------------------------------------
# messy
# ------------------------------------------------------------------------------------------------


def test_messy_content(http: requests.Session, srv: SandboxServer) -> None:
    session_id = role_id(srv, "messy")
    raw = get(http, srv, f"/v1/sessions/{session_id}/timeline", limit=100)
    assert b'"text":"fix \\ud83d"' in raw.content
    events = raw.json()["events"]
    assert len(events) == 18
    assert events[1]["data"]["text"] == "fix \ud83d"
    assert events[3]["id"] == events[4]["id"]
    assert (events[3]["data"]["command"], events[3]["data"]["exitCode"]) == ("make", 0)
    assert (events[4]["data"]["command"], events[4]["data"]["exitCode"]) == ("make test", 2)
    assert events[5] == events[6] and events[5]["kind"] == "test_run"
    assert events[7]["sessionId"] == role_id(srv, "realistic")
    assert [e["sessionId"] for e in events].count(session_id) == 17
    assert events[8]["ts"] == "not a time"
    forms = [e["ts"] for e in events[9:15]]
    assert forms == [
        "2026-11-05t10:16:03.123456789z",
        "2026-11-05T15:46:10.000+05:30",
        "2026-11-05T03:16:20.000-07:00",
        "2026-11-05T10:16:30.5Z",
        "2026-11-05 10:16:40.000Z",
        "2026-11-05T10:16:50.000-00:00",
    ]
    assert len({e["id"] for e in events}) == 16


def test_messy_paging_returns_every_record_once_for_every_limit(
    http: requests.Session, srv: SandboxServer
) -> None:
    session_id = role_id(srv, "messy")
    truth = get(http, srv, f"/v1/sessions/{session_id}/timeline", limit=2000).json()["events"]
    for limit in range(1, len(truth) + 1):
        events, pages = walk(http, srv, session_id, limit=limit)
        assert events == truth, limit
        assert pages <= len(truth), limit


def test_a_cursor_naming_a_repeated_id_resolves_to_its_last_record(
    http: requests.Session, srv: SandboxServer
) -> None:
    session_id = role_id(srv, "messy")
    path = f"/v1/sessions/{session_id}/timeline"
    truth = get(http, srv, path).json()["events"]
    repeated = truth[3]["id"]
    after = get(http, srv, path, after=repeated, limit=3).json()
    assert after["events"] == truth[5:8] and after["hasMore"] is True
    # a page never ends on an earlier record of a repeated id: it stops just before it ...
    body = get(http, srv, path, limit=4).json()
    assert body["events"] == truth[:3]
    # ... or, when that would leave it empty, runs on to the last one
    body = get(http, srv, path, after=truth[2]["id"], limit=1).json()
    assert body["events"] == truth[3:5] and body["hasMore"] is True
    body = get(http, srv, path, after=repeated, limit=1).json()
    assert body["events"] == truth[5:7]


# ------------------------------------------------------------------------------------------------
# no_changes and huge_output
# ------------------------------------------------------------------------------------------------


def test_no_changes(http: requests.Session, srv: SandboxServer) -> None:
    session_id = role_id(srv, "no_changes")
    session = get(http, srv, f"/v1/sessions/{session_id}").json()["session"]
    events, _ = walk(http, srv, session_id)
    assert 18 <= len(events) <= 22 and session["aiAttributionPct"] is None
    assert session["endedAt"] is not None
    assert not {"file_diff", "file_create"} & {e["kind"] for e in events}


def test_huge_output_is_built_when_served(http: requests.Session, srv: SandboxServer) -> None:
    session_id = role_id(srv, "huge_output")
    stored = json.dumps(srv.state.events(session_id))
    assert len(stored) < 20_000, "the stored session stays small"
    started = time.perf_counter()
    events = get(http, srv, f"/v1/sessions/{session_id}/timeline").json()["events"]
    elapsed = time.perf_counter() - started
    ((at, command),) = of_kind(events, "command")
    stdout = command["data"]["stdout"]
    assert 45_000_000 <= len(stdout) <= 55_000_000
    assert stdout.count("\n") == scripted.HUGE_LINES
    assert stdout.endswith("\nFINAL: 1 failed, 2047 passed in 913.40s\n")
    assert events[at + 1]["kind"] == "test_run"
    assert (events[at + 1]["data"]["passed"], events[at + 1]["data"]["failed"]) == (2047, 1)
    assert elapsed < 60, f"serving the huge page took {elapsed:.1f}s"
    small = get(http, srv, f"/v1/sessions/{session_id}/timeline", limit=at).json()
    assert len(small["events"]) == at and small["hasMore"] is True
