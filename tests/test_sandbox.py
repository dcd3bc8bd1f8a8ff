"""The sandbox Promptster API, tested as a black box over HTTP (plus a few in-process checks).

The rest of the suite trusts the sandbox to behave like the documented upstream, so these tests
pin that behaviour down: auth, org isolation, paging and clamping, the timeline cursor over the
100,000-event session, counts that match the timeline, deletion, growth, every fault, rate limits
and determinism. No Django and no database are involved.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.data import ORGS, REVOKED_TOKEN, SandboxState
from sandbox.hostile import PAYLOADS
from sandbox.server import SandboxServer

ACME, GLOBEX = ORGS
ANCHOR = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CANONICAL_KINDS = {
    "prompt", "ai_response", "file_diff", "file_create", "command", "test_run", "git_action",
    "decision_event", "session_start", "session_end", "checkpoint",
}  # fmt: skip
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ACME_SESSIONS = 59  # 55 generated, 4 scripted (sandbox/scripted.py)
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


# ------------------------------------------------------------------------------------------------
# fixtures and helpers
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    srv = SandboxServer(port=0, seed=1, latency_ms=0, rate_limit_per_min=0, live_anchor=ANCHOR)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def srv(server: SandboxServer) -> Iterator[SandboxServer]:
    """The shared server with no pending faults, fresh stats and documented session objects."""
    server.clear_faults()
    server.reset_stats()
    server.session_shape = "wrapped"
    yield server
    server.clear_faults()
    server.session_shape = "wrapped"


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def call(
    http: requests.Session,
    srv: SandboxServer,
    path: str,
    *,
    token: str | None = ACME["token"],
    method: str = "GET",
    timeout: float = 30,
    **params: Any,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.request(
        method, srv.url + path, headers=headers, params=params or None, timeout=timeout
    )


def walk_timeline(
    http: requests.Session, srv: SandboxServer, session_id: str, limit: int = 2000
) -> tuple[list[dict[str, Any]], int]:
    """Every event of a session via the cursor; returns the events and the number of pages."""
    events: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        response = call(http, srv, f"/v1/sessions/{session_id}/timeline", **params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        events += body["events"]
        if not body["hasMore"]:
            return events, pages
        after = body["events"][-1]["id"]


def check_diff(text: str) -> tuple[int, int]:
    """Validate a unified diff's hunk ranges; returns (added, removed)."""
    lines = text.split("\n")
    assert lines[-1] == "", "a diff ends with a newline"
    lines = lines[:-1]
    start = next((k for k, line in enumerate(lines) if line.startswith("@@")), None)
    if start is None:  # header only: a rename, copy, mode change or binary file
        assert lines[0].startswith("diff --git ")
        return 0, 0
    assert any(line.startswith("--- ") for line in lines[:start])
    assert any(line.startswith("+++ ") for line in lines[:start])
    added = removed = 0
    k = start
    while k < len(lines):
        found = HUNK.match(lines[k])
        assert found, lines[k][:80]
        want_old = int(found.group(2)) if found.group(2) is not None else 1
        want_new = int(found.group(4)) if found.group(4) is not None else 1
        old = new = 0
        k += 1
        while k < len(lines) and not lines[k].startswith("@@"):
            line = lines[k]
            if line.startswith("+"):
                new, added = new + 1, added + 1
            elif line.startswith("-"):
                old, removed = old + 1, removed + 1
            elif line.startswith(" "):
                old, new = old + 1, new + 1
            else:
                assert line.startswith("\\"), repr(line[:40])
            k += 1
        assert (old, new) == (want_old, want_new)
    return added, removed


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


# ------------------------------------------------------------------------------------------------
# auth, routing, isolation
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {ACME['token']}"},
        {"Authorization": "Bearer psk_live_not_a_real_key"},
        {"Authorization": f"Bearer {REVOKED_TOKEN}"},
    ],
)
def test_bad_or_missing_token_is_401(srv: SandboxServer, headers: dict[str, str]) -> None:
    for path in ("/v1/sessions", "/v1/assessments", "/v1/nope"):
        response = requests.get(srv.url + path, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid or missing API key"}
        assert response.headers["x-ratelimit-limit"] == "300"


def test_unknown_route_and_wrong_method(http: requests.Session, srv: SandboxServer) -> None:
    response = call(http, srv, "/v1/nope")
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})
    response = call(http, srv, "/v1/sessions", method="POST")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json()
    assert response.headers["Allow"] == "GET"


def test_org_isolation(http: requests.Session, srv: SandboxServer) -> None:
    acme_ids = {s["id"] for s in srv.state.sessions_for(ACME["id"])}
    globex = call(http, srv, "/v1/sessions", token=GLOBEX["token"], limit=100).json()
    assert globex["total"] == 8
    assert {s["orgId"] for s in globex["sessions"]} == {GLOBEX["id"]}
    assert not acme_ids & {s["id"] for s in globex["sessions"]}
    victim = srv.state.big_session_id()
    for path in ("", "/timeline", "/decisions"):
        response = call(http, srv, f"/v1/sessions/{victim}{path}", token=GLOBEX["token"])
        assert (response.status_code, response.json()) == (404, {"error": "Session not found"})
    response = call(http, srv, f"/v1/sessions/{victim}", token=GLOBEX["token"], method="DELETE")
    assert response.status_code == 404
    assert call(http, srv, f"/v1/sessions/{victim}").status_code == 200
    acme_assessment = srv.state.assessments_for(ACME["id"])[0]["id"]
    response = call(http, srv, f"/v1/assessments/{acme_assessment}", token=GLOBEX["token"])
    assert (response.status_code, response.json()) == (404, {"error": "Assessment not found"})


# ------------------------------------------------------------------------------------------------
# sessions list and objects
# ------------------------------------------------------------------------------------------------


def test_list_defaults_shape_and_order(http: requests.Session, srv: SandboxServer) -> None:
    body = call(http, srv, "/v1/sessions").json()
    shape = (body["total"], body["limit"], body["offset"], len(body["sessions"]))
    assert shape == (ACME_SESSIONS, 20, 0, 20)
    started = [s["startedAt"] for s in body["sessions"]]
    assert started == sorted(started, reverse=True)
    required = {"id", "orgId", "sourceService", "startedAt", "endedAt", "metadata", "eventCount"}
    for session in body["sessions"]:
        assert required <= session.keys()
        assert UUID.match(session["id"])
        assert {"assessmentId", "candidateName", "repoUrl"} <= session["metadata"].keys()


def test_offset_paging_walks_every_session_once(http: requests.Session, srv: SandboxServer) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        body = call(http, srv, "/v1/sessions", limit=20, offset=offset).json()
        seen += [s["id"] for s in body["sessions"]]
        offset += body["limit"]
        if offset >= body["total"]:
            break
    assert seen == [s["id"] for s in srv.state.sessions_for(ACME["id"])]
    assert len(set(seen)) == ACME_SESSIONS


@pytest.mark.parametrize(
    ("params", "limit", "offset"),
    [
        ({"limit": 0}, 1, 0),
        ({"limit": -7}, 1, 0),
        ({"limit": 1000}, 100, 0),
        ({"offset": -3}, 20, 0),
        ({"limit": "", "offset": ""}, 20, 0),
        ({"limit": 5, "offset": 50}, 5, 50),
    ],
)
def test_limit_and_offset_are_clamped(
    http: requests.Session, srv: SandboxServer, params: dict[str, Any], limit: int, offset: int
) -> None:
    body = call(http, srv, "/v1/sessions", **params).json()
    assert (body["limit"], body["offset"], body["total"]) == (limit, offset, ACME_SESSIONS)
    assert len(body["sessions"]) == min(limit, ACME_SESSIONS - offset)


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"offset": "1.5"}, {"limit": "10x"}])
def test_non_integer_paging_is_400(
    http: requests.Session, srv: SandboxServer, params: dict[str, str]
) -> None:
    response = call(http, srv, "/v1/sessions", **params)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request", "code": "invalid_query"}


def test_offset_past_the_end_is_empty(http: requests.Session, srv: SandboxServer) -> None:
    body = call(http, srv, "/v1/sessions", offset=500).json()
    assert (body["sessions"], body["total"]) == ([], ACME_SESSIONS)


def test_assessment_filter(http: requests.Session, srv: SandboxServer) -> None:
    assessments = srv.state.assessments_for(ACME["id"])
    totals = []
    for assessment in assessments:
        body = call(http, srv, "/v1/sessions", assessmentId=assessment["id"], limit=100).json()
        assert {s["metadata"]["assessmentId"] for s in body["sessions"]} == {assessment["id"]}
        totals.append(body["total"])
    assert sum(totals) == ACME_SESSIONS
    assert max(totals) == 25  # the cohort
    body = call(http, srv, "/v1/sessions", assessmentId="no-such-assessment").json()
    assert body["total"] == 0


def test_source_service_filter_normalises_and_matches_lists(
    http: requests.Session, srv: SandboxServer
) -> None:
    hyphen = call(http, srv, "/v1/sessions", sourceService="claude-code", limit=100).json()
    underscore = call(http, srv, "/v1/sessions", sourceService="claude_code", limit=100).json()
    assert hyphen == underscore
    kinds = {type(s["sourceService"]).__name__ for s in hyphen["sessions"]}
    assert kinds == {"str", "list"}, "both documented shapes are present"
    for session in hyphen["sessions"]:
        value = session["sourceService"]
        names = [value] if isinstance(value, str) else value
        assert "claude-code" in [n.replace("_", "-") for n in names]
    per_service = [
        call(http, srv, "/v1/sessions", sourceService=name, limit=100).json()["total"]
        for name in ("claude-code", "cursor", "codex", "shell")
    ]
    assert sum(per_service) >= 55
    assert call(http, srv, "/v1/sessions", sourceService="emacs").json()["total"] == 0


def test_documented_contradictions_are_present(srv: SandboxServer) -> None:
    sessions = srv.state.sessions_for(ACME["id"])
    pct = [s.get("aiAttributionPct") for s in sessions]
    assert None in pct
    assert any(isinstance(p, float) and 0 < p < 1 for p in pct), "a 0-1 fraction"
    assert sum(1 for p in pct if isinstance(p, float) and p > 1) > 40
    assert any(isinstance(s["sourceService"], list) for s in sessions)
    missing = [s for s in sessions if "lastActivityAt" not in s]
    assert len(missing) == 1 and "totalCostUsd" not in missing[0]
    running = [s for s in sessions if s["endedAt"] is None and s["eventCount"] > 0]
    assert sorted(s["id"] for s in running) == sorted(srv.state.running_session_ids(ACME["id"]))
    assert 2 <= len(running) <= 3
    assert [s["eventCount"] for s in sessions].count(0) == 1
    assert sum(1 for s in sessions if 50 <= s["eventCount"] <= 3000) >= 45


def test_get_session(http: requests.Session, srv: SandboxServer) -> None:
    expected = srv.state.sessions_for(ACME["id"])[3]
    body = call(http, srv, f"/v1/sessions/{expected['id']}").json()
    assert body == {"session": expected}
    response = call(http, srv, "/v1/sessions/00000000-0000-4000-8000-000000000000")
    assert (response.status_code, response.json()) == (404, {"error": "Session not found"})


def test_session_shape_bare(http: requests.Session, srv: SandboxServer) -> None:
    expected = srv.state.sessions_for(ACME["id"])[5]
    srv.session_shape = "bare"
    assert call(http, srv, f"/v1/sessions/{expected['id']}").json() == expected
    listed = call(http, srv, "/v1/sessions", limit=100).json()["sessions"]
    assert listed[5] == expected, "list items stay bare"
    missing = call(http, srv, "/v1/sessions/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()) == (404, {"error": "Session not found"})


def test_session_shape_wrapped_items(http: requests.Session, srv: SandboxServer) -> None:
    sessions = srv.state.sessions_for(ACME["id"])
    srv.session_shape = "wrapped_items"
    body = call(http, srv, "/v1/sessions", limit=10, offset=5).json()
    assert body["sessions"] == [{"session": s} for s in sessions[5:15]]
    assert (body["total"], body["limit"], body["offset"]) == (ACME_SESSIONS, 10, 5)
    single = call(http, srv, f"/v1/sessions/{sessions[0]['id']}").json()
    assert single == {"session": sessions[0]}


def test_session_shape_is_set_at_start_over_http_and_checked(http: requests.Session) -> None:
    with SandboxServer(session_shape="bare", live_anchor=ANCHOR) as bare:
        first = bare.state.sessions_for(ACME["id"])[0]
        path = f"/v1/sessions/{first['id']}"
        assert call(http, bare, path).json() == first
        url = f"{bare.url}/_sandbox/config"
        config = http.post(url, json={"sessionShape": "wrapped"}, timeout=10)
        assert config.json() == {"ok": True, "sessionShape": "wrapped"}
        assert call(http, bare, path).json() == {"session": first}
        assert http.get(f"{bare.url}/_sandbox/info", timeout=10).json()["sessionShape"] == "wrapped"
        for body in ({"sessionShape": "flat"}, {"latency": 5}, ["bare"]):
            response = http.post(url, json=body, timeout=10)
            assert (response.status_code, response.json()["code"]) == (400, "invalid_config")
        with pytest.raises(ValueError, match="session shape"):
            bare.session_shape = "flat"
        assert bare.session_shape == "wrapped"
    with pytest.raises(ValueError, match="session shape"):
        SandboxServer(session_shape="unwrapped")


def test_assessments(http: requests.Session, srv: SandboxServer) -> None:
    body = call(http, srv, "/v1/assessments").json()
    items = body["assessments"]
    assert 3 <= len(items) <= 5
    assert [a["createdAt"] for a in items] == sorted(a["createdAt"] for a in items)
    fields = {"id", "orgId", "title", "role", "taskBrief", "repoUrl", "timeLimitMinutes"}
    for item in items:
        assert fields | {"createdAt", "updatedAt"} <= item.keys()
        single = call(http, srv, f"/v1/assessments/{item['id']}").json()
        assert single == {"assessment": item}
    globex = call(http, srv, "/v1/assessments", token=GLOBEX["token"]).json()["assessments"]
    assert not {a["id"] for a in items} & {a["id"] for a in globex}


# ------------------------------------------------------------------------------------------------
# timeline
# ------------------------------------------------------------------------------------------------


def test_big_session_cursor_walk(http: requests.Session, srv: SandboxServer) -> None:
    big = srv.state.big_session_id()
    assert srv.state.session(ACME["id"], big)["eventCount"] == 100_000
    events, pages = walk_timeline(http, srv, big, limit=2000)
    assert pages == 50
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == 100_000
    stamps = [e["ts"] for e in events]
    assert stamps == sorted(stamps)
    assert events[0]["kind"] == "session_start" and events[-1]["kind"] == "session_end"
    decisions = [e for e in events if e["kind"] == "decision_event"]
    assert len(decisions) == srv.state.session(ACME["id"], big)["decisionFlagCount"]
    longest = max(
        e["data"]["diff"].count("\n") for e in events if e["kind"] == "file_diff" and e.get("data")
    )
    assert longest >= 20_000


def test_counts_match_the_timeline(http: requests.Session, srv: SandboxServer) -> None:
    special = srv.state.special_session_ids(ACME["id"])
    small = [s for s in srv.state.sessions_for(ACME["id"]) if s["eventCount"] <= 3000][:6]
    chosen = {s["id"] for s in small} | {
        special[role] for role in ("hostile", "data_quirks", "empty", "running", "wide_line")
    }
    for session_id in chosen:
        session = call(http, srv, f"/v1/sessions/{session_id}").json()["session"]
        events, _ = walk_timeline(http, srv, session_id, limit=500)
        assert len(events) == session["eventCount"], session_id
        decisions = call(http, srv, f"/v1/sessions/{session_id}/decisions").json()["decisions"]
        in_timeline = [e for e in events if e["kind"] == "decision_event"]
        assert decisions == in_timeline
        assert len(decisions) == session["decisionFlagCount"]
        if events:
            assert session["startedAt"] == events[0]["ts"]
            if "lastActivityAt" in session:
                assert session["lastActivityAt"] == events[-1]["ts"]


def test_timeline_limits_and_cursor_errors(http: requests.Session, srv: SandboxServer) -> None:
    big = srv.state.big_session_id()
    path = f"/v1/sessions/{big}/timeline"
    assert len(call(http, srv, path).json()["events"]) == 500
    assert len(call(http, srv, path, limit=0).json()["events"]) == 1
    assert len(call(http, srv, path, limit=50_000).json()["events"]) == 2000
    other = srv.state.events(srv.state.hostile_session_id(), 0, 1)[0]["id"]
    for bad in ("nope", other, big, "8d3b1f2a-0000-4000-8000-0000000fffff"):
        response = call(http, srv, path, after=bad)
        assert response.status_code == 400, bad
        assert response.json() == {"error": "Invalid cursor", "code": "invalid_cursor"}
    last = srv.state.events(big, 99_999)[0]["id"]
    assert call(http, srv, path, after=last).json() == {"events": [], "hasMore": False}
    beyond = last[:-12] + f"{100_000:012x}"
    assert call(http, srv, path, after=beyond).status_code == 400
    response = call(http, srv, path, limit="many")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_query")


def test_event_envelopes_and_content(srv: SandboxServer) -> None:
    state = srv.state
    kinds: set[str] = set()
    provenance_forms: set[str] = set()
    prompt_keys: set[str] = set()
    messy = state.special_session_ids()["messy"]  # deliberately broken envelopes
    for session in state.sessions_for(ACME["id"]):
        if session["eventCount"] > 3000 or session["id"] == messy:
            continue
        for event in state.events(session["id"]):
            assert {"id", "sessionId", "orgId", "kind", "ts", "createdAt"} <= event.keys()
            assert UUID.match(event["id"]) and event["sessionId"] == session["id"]
            assert event["ts"].endswith("Z") and event["createdAt"] > event["ts"]
            kinds.add(event["kind"])
            provenance_forms.add(type(event.get("provenance", None)).__name__)
            data = event.get("data")
            if event["kind"] == "prompt" and isinstance(data, dict):
                prompt_keys |= {"text", "prompt"} & data.keys()
            if event["kind"] == "file_diff" and isinstance(data, dict):
                assert check_diff(data["diff"]) == (data["linesAdded"], data["linesRemoved"])
    assert kinds >= CANONICAL_KINDS
    assert {"tool_use", "mcp_call", "subagent_start"} <= kinds
    assert provenance_forms == {"dict", "str", "NoneType"}
    assert prompt_keys == {"text", "prompt"}
    quirky = state.events(state.special_session_ids()["data_quirks"])
    assert any("data" not in e for e in quirky)
    assert any("data" in e and e["data"] is None for e in quirky)
    wide = state.events(state.special_session_ids()["wide_line"])
    widest = max(
        len(line)
        for e in wide
        if e["kind"] == "file_diff" and e.get("data")
        for line in e["data"]["diff"].split("\n")
    )
    assert widest > 200_000


def test_hostile_session(http: requests.Session, srv: SandboxServer) -> None:
    hostile_id = srv.state.hostile_session_id()
    session = call(http, srv, f"/v1/sessions/{hostile_id}").json()["session"]
    assert session["metadata"]["candidateName"].startswith("<img")
    assert any("<script>" in s for s in session["sourceService"])
    events, _ = walk_timeline(http, srv, hostile_id)
    assert {e["kind"] for e in events} >= CANONICAL_KINDS
    payloads = set(PAYLOADS)
    assert any(e["kind"] in payloads for e in events), "one event has a hostile kind"
    markers = [p for p in PAYLOADS if len(p) >= 8]
    for event in events:
        for text in strings_in(event.get("data")):
            assert text in payloads or any(m in text for m in markers), text[:80]


# ------------------------------------------------------------------------------------------------
# mutations: delete, add, grow
# ------------------------------------------------------------------------------------------------


def _disposable(state: SandboxState, name: str) -> str:
    return state.add_session(
        ACME["id"],
        {"metadata": {"candidateName": name}, "sourceService": "cursor"},
        [
            {"kind": "session_start", "ts": "2026-11-01T10:00:00.000Z", "data": {"cwd": "/w"}},
            {"kind": "prompt", "ts": "2026-11-01T10:00:05.000Z", "data": {"text": "hi"}},
            {"kind": "decision_event", "ts": "2026-11-01T10:01:00.000Z", "data": {"title": "x"}},
            {"kind": "session_end", "ts": "2026-11-01T10:30:00.000Z", "data": {"reason": "done"}},
        ],
    )


def test_add_session_derives_fields(http: requests.Session, srv: SandboxServer) -> None:
    session_id = _disposable(srv.state, "Added Person")
    session = call(http, srv, f"/v1/sessions/{session_id}").json()["session"]
    assert session["eventCount"] == 4 and session["decisionFlagCount"] == 1
    assert session["startedAt"] == "2026-11-01T10:00:00.000Z"
    assert session["endedAt"] == session["lastActivityAt"] == "2026-11-01T10:30:00.000Z"
    first = call(http, srv, f"/v1/sessions/{session_id}/timeline", limit=2).json()
    assert first["hasMore"] is True
    assert all(UUID.match(e["id"]) and e["createdAt"] for e in first["events"])
    rest = call(
        http, srv, f"/v1/sessions/{session_id}/timeline", after=first["events"][-1]["id"]
    ).json()
    assert [e["kind"] for e in rest["events"]] == ["decision_event", "session_end"]
    assert rest["hasMore"] is False
    srv.state.delete_session(ACME["id"], session_id)


def test_lone_surrogates_are_escaped_as_json_stringify_does(
    http: requests.Session, srv: SandboxServer
) -> None:
    # A prompt cut in the middle of an emoji holds half a UTF-16 pair, which UTF-8 cannot encode.
    session_id = srv.state.add_session(
        ACME["id"],
        {"metadata": {"candidateName": "Zo\udc00 ✓"}},
        [{"kind": "prompt", "ts": "2026-11-02T09:00:00.000Z", "data": {"text": "fix \ud83d"}}],
    )
    timeline = call(http, srv, f"/v1/sessions/{session_id}/timeline")
    assert timeline.status_code == 200
    assert b"fix \\ud83d" in timeline.content
    assert json.loads(timeline.content)["events"][0]["data"]["text"] == "fix \ud83d"
    session = call(http, srv, f"/v1/sessions/{session_id}")
    assert b"Zo\\udc00 \xe2\x9c\x93" in session.content, "other text stays unescaped UTF-8"
    assert json.loads(session.content)["session"]["metadata"]["candidateName"] == "Zo\udc00 ✓"
    srv.state.delete_session(ACME["id"], session_id)


def test_delete_is_remembered(http: requests.Session, srv: SandboxServer) -> None:
    session_id = _disposable(srv.state, "Del Etable")
    total = call(http, srv, "/v1/sessions").json()["total"]
    response = call(http, srv, f"/v1/sessions/{session_id}", method="DELETE")
    assert (response.status_code, response.json()) == (200, {"ok": True, "id": session_id})
    for path in ("", "/timeline", "/decisions"):
        assert call(http, srv, f"/v1/sessions/{session_id}{path}").status_code == 404
    assert call(http, srv, "/v1/sessions").json()["total"] == total - 1
    again = call(http, srv, f"/v1/sessions/{session_id}", method="DELETE")
    assert (again.status_code, again.json()) == (404, {"error": "Session not found"})


def test_grow_extends_a_running_session(http: requests.Session, srv: SandboxServer) -> None:
    running = srv.state.running_session_ids(ACME["id"])[0]
    before = call(http, srv, f"/v1/sessions/{running}").json()["session"]
    srv.state.grow(running, 15)
    response = http.post(f"{srv.url}/_sandbox/sessions/{running}/grow?n=10", timeout=10)
    assert response.json()["eventCount"] == before["eventCount"] + 25
    after = call(http, srv, f"/v1/sessions/{running}").json()["session"]
    assert after["eventCount"] == before["eventCount"] + 25
    assert after["lastActivityAt"] > before["lastActivityAt"]
    assert after["endedAt"] is None
    events, _ = walk_timeline(http, srv, running, limit=300)
    assert len(events) == after["eventCount"] == len({e["id"] for e in events})
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert events[-1]["ts"] == after["lastActivityAt"]
    ended = srv.state.big_session_id()
    with pytest.raises(ValueError, match="ended"):
        srv.state.grow(ended, 1)
    assert http.post(f"{srv.url}/_sandbox/sessions/{ended}/grow?n=1", timeout=10).status_code == 409
    assert http.post(f"{srv.url}/_sandbox/sessions/nope/grow", timeout=10).status_code == 404


def test_grow_gives_an_empty_session_its_first_events() -> None:
    state = SandboxState(1, live_anchor=ANCHOR)
    empty = state.special_session_ids()["empty"]
    assert state.events(empty) == []
    state.grow(empty, 3)
    events = state.events(empty)
    assert [e["kind"] for e in events][0] == "session_start" and len(events) == 3
    assert state.session(ACME["id"], empty)["startedAt"] == events[0]["ts"]


# ------------------------------------------------------------------------------------------------
# scores
# ------------------------------------------------------------------------------------------------

DIMENSIONS = [
    "problem_decomposition", "ai_orchestration", "code_quality", "debugging_process",
    "communication",
]  # fmt: skip
SCORE_FIELDS = [
    "id", "sessionId", "orgId", "dimension", "score", "notes", "reviewerId", "createdAt",
    "updatedAt",
]  # fmt: skip


def post_scores(
    http: requests.Session, srv: SandboxServer, session_id: str, body: Any, token: str = ""
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token or ACME['token']}"}
    headers["Content-Type"] = "application/json"
    url = f"{srv.url}/v1/sessions/{session_id}/scores"
    return http.post(url, data=data, headers=headers, timeout=10)


def test_scores_set_elsewhere_are_seeded(http: requests.Session, srv: SandboxServer) -> None:
    scored = srv.state.scored_session_ids(ACME["id"])
    assert len(scored) == 2 and srv.state.scored_session_ids(GLOBEX["id"]) == []
    assert scored == SandboxState(1, live_anchor=ANCHOR).scored_session_ids(ACME["id"])
    counts = []
    for session_id in scored:
        session = srv.state.session(ACME["id"], session_id)
        assert session["endedAt"] is not None
        body = call(http, srv, f"/v1/sessions/{session_id}/scores").json()
        assert body["prompterScore"] is None
        scores = body["scores"]
        counts.append(len(scores))
        assert [s["dimension"] for s in scores] == [
            d for d in DIMENSIONS if d in {s["dimension"] for s in scores}
        ], "listed in the documented order"
        for score in scores:
            assert list(score) == SCORE_FIELDS
            assert UUID.match(score["id"]) and score["sessionId"] == session_id
            assert score["orgId"] == ACME["id"] and score["score"] in range(1, 6)
            assert score["notes"] is None or isinstance(score["notes"], str)
            assert re.fullmatch(r"user_2Nf[A-Za-z0-9]{24}", score["reviewerId"])
            assert session["endedAt"] < score["createdAt"] <= score["updatedAt"]
    assert sorted(counts) == [3, 5]
    info = http.get(f"{srv.url}/_sandbox/info", timeout=10).json()
    assert info["scoredSessionIds"] == {ACME["id"]: scored, GLOBEX["id"]: []}
    unscored = srv.state.big_session_id()
    assert call(http, srv, f"/v1/sessions/{unscored}/scores").json() == {
        "scores": [],
        "prompterScore": None,
    }


def test_post_scores_upserts_per_dimension(http: requests.Session, srv: SandboxServer) -> None:
    session_id = _disposable(srv.state, "Score Me")
    first = post_scores(
        http, srv, session_id, [{"dimension": "code_quality", "score": 4, "notes": "tidy"}]
    )
    assert first.status_code == 201
    [created] = first.json()["scores"]
    assert list(created) == SCORE_FIELDS
    assert (created["dimension"], created["score"], created["notes"]) == ("code_quality", 4, "tidy")
    assert created["reviewerId"] is None and created["createdAt"] == created["updatedAt"]
    assert created["sessionId"] == session_id and created["orgId"] == ACME["id"]
    second = post_scores(
        http,
        srv,
        session_id,
        [{"dimension": "communication", "score": 5.0, "notes": None},
         {"dimension": "code_quality", "score": 2}],
    )  # fmt: skip
    assert second.status_code == 201
    quality, communication = second.json()["scores"]
    assert (quality["id"], quality["createdAt"]) == (created["id"], created["createdAt"])
    assert (quality["score"], quality["notes"]) == (2, None)
    assert quality["updatedAt"] >= created["updatedAt"]
    assert (communication["dimension"], communication["score"]) == ("communication", 5)
    assert communication["id"] != quality["id"]
    listed = call(http, srv, f"/v1/sessions/{session_id}/scores").json()
    assert listed == {"scores": [quality, communication], "prompterScore": None}
    srv.state.delete_session(ACME["id"], session_id)


def _item(**fields: Any) -> dict[str, Any]:
    return {"dimension": "code_quality", "score": 3, **fields}


@pytest.mark.parametrize(
    ("body", "code", "path"),
    [
        (b"not json", "custom", []),
        (b"", "invalid_type", []),
        (b'[{"dimension": "code_quality", "score": NaN}]', "custom", []),
        ({"dimension": "code_quality", "score": 3}, "invalid_type", []),
        ([], "too_small", []),
        ([_item(dimension=d) for d in DIMENSIONS] + [_item()], "too_big", []),
        (["code_quality"], "invalid_type", [0]),
        ([_item(dimension="vibes")], "invalid_enum_value", [0, "dimension"]),
        ([_item(dimension=None)], "invalid_type", [0, "dimension"]),
        ([{"score": 3}], "invalid_type", [0, "dimension"]),
        ([_item(score=True)], "invalid_type", [0, "score"]),
        ([_item(score=3.5)], "invalid_type", [0, "score"]),
        ([_item(score="3")], "invalid_type", [0, "score"]),
        ([_item(score=0)], "too_small", [0, "score"]),
        ([_item(score=6)], "too_big", [0, "score"]),
        ([{"dimension": "code_quality"}], "invalid_type", [0, "score"]),
        ([_item(notes=5)], "invalid_type", [0, "notes"]),
        ([_item(notes=["a"])], "invalid_type", [0, "notes"]),
        ([_item(), _item(score=5)], "custom", [1, "dimension"]),
    ],
)
def test_post_scores_refuses_bad_bodies(
    http: requests.Session, srv: SandboxServer, body: Any, code: str, path: list[Any]
) -> None:
    session_id = srv.state.scored_session_ids(ACME["id"])[0]
    before = srv.state.scores(ACME["id"], session_id)
    response = post_scores(http, srv, session_id, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "Invalid request body"
    [issue] = payload["details"]
    assert (issue["code"], issue["path"]) == (code, path)
    assert isinstance(issue["message"], str) and issue["message"]
    assert srv.state.scores(ACME["id"], session_id) == before, "nothing written"


def test_post_scores_reports_every_issue(http: requests.Session, srv: SandboxServer) -> None:
    session_id = srv.state.scored_session_ids(ACME["id"])[0]
    body = [_item(dimension="vibes", score=9, notes=1), _item(score=3.5)]
    details = post_scores(http, srv, session_id, body).json()["details"]
    assert [(d["code"], d["path"]) for d in details] == [
        ("invalid_enum_value", [0, "dimension"]),
        ("too_big", [0, "score"]),
        ("invalid_type", [0, "notes"]),
        ("invalid_type", [1, "score"]),
    ]
    assert details[1]["message"] == "Number must be less than or equal to 5"
    assert details[3]["message"] == "Expected integer, received float"


def test_scores_of_missing_foreign_and_deleted_sessions() -> None:
    with SandboxServer(live_anchor=ANCHOR) as own, requests.Session() as http:
        scored = own.state.scored_session_ids(ACME["id"])[0]
        good = [_item()]
        not_found = (404, {"error": "Session not found"})
        for token, session_id in ((GLOBEX["token"], scored), (ACME["token"], "no-such-session")):
            got = call(http, own, f"/v1/sessions/{session_id}/scores", token=token)
            posted = post_scores(http, own, session_id, good, token=token)
            assert (got.status_code, got.json()) == not_found
            assert (posted.status_code, posted.json()) == not_found
        for response in (
            call(http, own, f"/v1/sessions/{scored}/scores", token=None),
            post_scores(http, own, scored, good, token=REVOKED_TOKEN),
        ):
            assert response.status_code == 401
        assert call(http, own, f"/v1/sessions/{scored}", method="DELETE").status_code == 200
        assert call(http, own, f"/v1/sessions/{scored}/scores").status_code == 404
        assert post_scores(http, own, scored, good).status_code == 404
        assert scored not in own.state.scored_session_ids(ACME["id"])
        assert own.state.scores(ACME["id"], scored) is None
        response = call(http, own, f"/v1/sessions/{scored}/scores", method="PUT")
        assert (response.status_code, response.headers["Allow"]) == (405, "GET, POST")


def test_scores_routes_are_counted_and_faulted(http: requests.Session, srv: SandboxServer) -> None:
    session_id = _disposable(srv.state, "Faulty Scores")
    path = f"/v1/sessions/{session_id}/scores"
    srv.inject("status", status=503, route="POST /v1/sessions/:id/scores")
    response = post_scores(http, srv, session_id, [_item()])
    assert (response.status_code, response.json()) == (503, {"error": "Service unavailable"})
    assert call(http, srv, path).json()["scores"] == [], "the failed POST wrote nothing"
    srv.inject("disconnect", route="GET /v1/sessions/:id/scores")
    with pytest.raises(requests.ConnectionError):
        call(http, srv, path)
    srv.inject("delay", seconds=0.6, route="POST /v1/sessions/:id/scores")
    with pytest.raises(requests.Timeout):
        http.post(srv.url + path, json=[_item()], headers=_auth(), timeout=0.2)
    assert srv.stats()["by_route"] == {
        "POST /v1/sessions/:id/scores": 2,
        "GET /v1/sessions/:id/scores": 2,
    }
    assert srv.stats()["faulted"] == 3
    srv.state.delete_session(ACME["id"], session_id)


# ------------------------------------------------------------------------------------------------
# faults
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "Internal server error"),
        (502, "Bad gateway"),
        (503, "Service unavailable"),
        (401, "Invalid or missing API key"),
        (404, "Not found"),
    ],
)
def test_status_fault(
    http: requests.Session, srv: SandboxServer, status: int, message: str
) -> None:
    srv.inject("status", status=status, count=2)
    for _ in range(2):
        response = call(http, srv, "/v1/sessions")
        assert (response.status_code, response.json()) == (status, {"error": message})
    assert call(http, srv, "/v1/sessions").status_code == 200
    assert srv.stats()["requests"] == 3


def test_status_404_fault_names_the_resource(http: requests.Session, srv: SandboxServer) -> None:
    big = srv.state.big_session_id()
    srv.inject("status", status=404, route="DELETE /v1/sessions/:id")
    response = call(http, srv, f"/v1/sessions/{big}", method="DELETE")
    assert (response.status_code, response.json()) == (404, {"error": "Session not found"})
    assert call(http, srv, f"/v1/sessions/{big}").status_code == 200, "nothing was deleted"


@pytest.mark.parametrize("status", [502, 503])
def test_html_status_fault(http: requests.Session, srv: SandboxServer, status: int) -> None:
    srv.inject("status", status=status, html=True)
    response = call(http, srv, "/v1/sessions")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text
    with pytest.raises(ValueError):
        response.json()


def test_fault_route_filter(http: requests.Session, srv: SandboxServer) -> None:
    big = srv.state.big_session_id()
    srv.inject("status", status=500, route="GET /v1/sessions/:id/timeline")
    assert call(http, srv, "/v1/sessions").status_code == 200
    assert call(http, srv, f"/v1/sessions/{big}").status_code == 200
    assert call(http, srv, f"/v1/sessions/{big}/timeline").status_code == 500
    assert call(http, srv, f"/v1/sessions/{big}/timeline").status_code == 200
    assert srv.stats()["by_route"] == {
        "GET /v1/sessions": 1,
        "GET /v1/sessions/:id": 1,
        "GET /v1/sessions/:id/timeline": 2,
    }
    with pytest.raises(ValueError):
        srv.inject("status", status=500, route="GET /v1/unknown")
    with pytest.raises(ValueError):
        srv.inject("explode")
    with pytest.raises(ValueError):
        srv.inject("repeat_event", route="GET /v1/sessions")


def test_rate_limit_fault(http: requests.Session, srv: SandboxServer) -> None:
    srv.inject("rate_limit", retry_after=7)
    response = call(http, srv, "/v1/sessions")
    assert (response.status_code, response.json()) == (429, {"error": "Rate limit exceeded"})
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["Retry-After"] == "7"
    assert int(response.headers["x-ratelimit-reset"]) > time.time() - 1
    assert call(http, srv, "/v1/sessions").status_code == 200


def test_delay_fault_causes_client_timeout(http: requests.Session, srv: SandboxServer) -> None:
    srv.inject("delay", seconds=0.6, route="GET /v1/sessions")
    started = time.perf_counter()
    with pytest.raises(requests.Timeout):
        call(http, srv, "/v1/sessions", timeout=0.2)
    assert call(http, srv, "/v1/sessions", timeout=5).status_code == 200
    assert time.perf_counter() - started < 0.6, "other requests are not blocked by the delay"


def test_truncated_and_malformed(http: requests.Session, srv: SandboxServer) -> None:
    full = call(http, srv, "/v1/sessions").content
    srv.inject("truncated")
    response = call(http, srv, "/v1/sessions")
    assert response.status_code == 200 and response.content == full[: len(full) // 2]
    with pytest.raises(ValueError):
        response.json()
    srv.inject("truncated", short_read=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        call(http, srv, "/v1/sessions")
    srv.inject("malformed")
    response = call(http, srv, "/v1/sessions")
    assert response.status_code == 200 and response.content == b"not json at all"
    assert response.headers["content-type"].startswith("application/json")


def test_disconnect(http: requests.Session, srv: SandboxServer) -> None:
    srv.inject("disconnect")
    with pytest.raises(requests.ConnectionError):
        call(http, srv, "/v1/sessions")
    assert call(http, srv, "/v1/sessions").status_code == 200
    assert srv.stats()["requests"] == 2


def test_repeat_and_skip_event(http: requests.Session, srv: SandboxServer) -> None:
    session_id = srv.state.big_session_id()
    path = f"/v1/sessions/{session_id}/timeline"
    truth = call(http, srv, path, limit=10).json()["events"]
    srv.inject("repeat_event")  # route None still only hits the timeline
    assert call(http, srv, "/v1/sessions").status_code == 200
    repeated = call(http, srv, path, limit=10).json()["events"]
    assert repeated[0]["id"] == repeated[1]["id"] == truth[0]["id"]
    assert repeated[2:] == truth[1:]
    srv.inject("skip_event", route="GET /v1/sessions/:id/timeline")
    skipped = call(http, srv, path, limit=10).json()["events"]
    assert len(skipped) == 9 and skipped[-1] == truth[-1]
    assert {e["id"] for e in truth} - {e["id"] for e in skipped} == {truth[5]["id"]}
    assert call(http, srv, path, limit=10).json()["events"] == truth


def test_delete_fails_after(http: requests.Session, srv: SandboxServer) -> None:
    session_id = _disposable(srv.state, "Lost Response")
    srv.inject("delete_fails_after")
    assert call(http, srv, "/v1/sessions").status_code == 200  # not a DELETE: unaffected
    response = call(http, srv, f"/v1/sessions/{session_id}", method="DELETE")
    assert (response.status_code, response.json()) == (503, {"error": "Service unavailable"})
    assert call(http, srv, f"/v1/sessions/{session_id}").status_code == 404


HOSTILE_ID = "evil\r\nX-Injected: 1/../x"


def test_patch_fault_makes_upstream_echo_another_session_id(
    http: requests.Session, srv: SandboxServer
) -> None:
    session = srv.state.sessions_for(ACME["id"])[4]
    path = f"/v1/sessions/{session['id']}"
    srv.inject("patch", route="GET /v1/sessions/:id", fields={"id": HOSTILE_ID}, count=2)
    assert call(http, srv, "/v1/sessions").json()["sessions"][4] == session, "other routes as-is"
    for shape in ("wrapped", "bare"):
        srv.session_shape = shape
        response = call(http, srv, path)
        body = response.json()
        got = body["session"] if shape == "wrapped" else body
        assert got == {**session, "id": HOSTILE_ID}, shape
        assert int(response.headers["Content-Length"]) == len(response.content)
    assert call(http, srv, path).json() == session, "used up after count requests"
    assert srv.stats()["faulted"] == 2


def test_patch_fault_on_other_routes_merges_into_the_top_level(
    http: requests.Session, srv: SandboxServer
) -> None:
    srv.inject("patch", route="GET /v1/sessions", fields={"total": 3, "extra": [1]})
    body = call(http, srv, "/v1/sessions").json()
    assert (body["total"], body["extra"], len(body["sessions"])) == (3, [1], 20)
    big = srv.state.big_session_id()
    http.post(
        f"{srv.url}/_sandbox/faults",
        json={"fault": "patch", "route": "GET /v1/sessions/:id/timeline", "fields": {"hasMore": 0}},
        timeout=10,
    ).raise_for_status()
    page = call(http, srv, f"/v1/sessions/{big}/timeline", limit=5).json()
    assert page["hasMore"] == 0 and len(page["events"]) == 5
    srv.inject("patch", fields={"error": "patched"})  # any route, even an error answer
    missing = call(http, srv, "/v1/assessments/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "patched"})
    with pytest.raises(ValueError, match="fields"):
        srv.inject("patch", route="GET /v1/sessions/:id")
    with pytest.raises(ValueError, match="fields"):
        srv.inject("patch", fields=["id"])


def test_faults_over_http_control_routes(http: requests.Session, srv: SandboxServer) -> None:
    url = f"{srv.url}/_sandbox/faults"
    created = http.post(url, json={"fault": "status", "status": 503, "count": 3}, timeout=10)
    assert created.json()["pending"] == [
        {"fault": "status", "count": 3, "route": None, "status": 503}
    ]
    assert call(http, srv, "/v1/sessions").status_code == 503
    assert http.delete(url, timeout=10).json() == {"ok": True}
    assert call(http, srv, "/v1/sessions").status_code == 200
    assert http.post(url, json={"fault": "nope"}, timeout=10).status_code == 400
    stats = http.get(f"{srv.url}/_sandbox/stats", timeout=10).json()
    assert stats["requests"] == 2 and stats["by_route"] == {"GET /v1/sessions": 2}
    assert http.post(f"{srv.url}/_sandbox/reset-stats", timeout=10).json() == {"ok": True}
    assert srv.stats()["requests"] == 0


def test_info_route(http: requests.Session, srv: SandboxServer) -> None:
    info = http.get(f"{srv.url}/_sandbox/info", timeout=10).json()
    assert [o["token"] for o in info["orgs"]] == [ACME["token"], GLOBEX["token"]]
    assert info["bigSessionId"] == srv.state.big_session_id()
    assert info["hostileSessionId"] == srv.state.hostile_session_id()
    assert info["runningSessionIds"][ACME["id"]] == srv.state.running_session_ids(ACME["id"])
    assert info["runningSessionIds"][GLOBEX["id"]]
    assert srv.stats()["requests"] == 0, "control routes are not counted"


def test_concurrent_requests_are_served_in_parallel(
    http: requests.Session, srv: SandboxServer
) -> None:
    srv.inject("delay", seconds=1.0, count=4, route="GET /v1/sessions")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [
            pool.submit(requests.get, f"{srv.url}/v1/sessions", headers=_auth(), timeout=10)
            for _ in range(12)
        ]
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200] * 12
    assert time.perf_counter() - started < 2.5


def _auth(token: str = ACME["token"]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------------------------------
# rate limits, latency, random failures
# ------------------------------------------------------------------------------------------------


def test_rate_limit_headers_and_429() -> None:
    if 60 - time.time() % 60 < 2:  # don't straddle a window boundary
        time.sleep(2.1)
    with SandboxServer(rate_limit_per_min=5) as limited:
        remaining = []
        for _ in range(5):
            response = requests.get(f"{limited.url}/v1/sessions", headers=_auth(), timeout=10)
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "5"
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        response = requests.get(f"{limited.url}/v1/sessions", headers=_auth(), timeout=10)
        assert (response.status_code, response.json()) == (429, {"error": "Rate limit exceeded"})
        reset = int(response.headers["x-ratelimit-reset"])
        assert time.time() - 1 <= reset <= time.time() + 61
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert limited.stats()["requests"] == 6


def test_rate_limit_off_still_sends_headers(http: requests.Session, srv: SandboxServer) -> None:
    for _ in range(3):
        response = call(http, srv, "/v1/assessments")
        assert response.headers["x-ratelimit-limit"] == "300"
        assert response.headers["x-ratelimit-remaining"] == "299"
        assert int(response.headers["x-ratelimit-reset"]) % 60 == 0


def test_latency_and_fail_rate() -> None:
    with SandboxServer(latency_ms=150) as slow:
        started = time.perf_counter()
        assert requests.get(f"{slow.url}/v1/sessions", headers=_auth(), timeout=10).ok
        assert time.perf_counter() - started >= 0.15
    with SandboxServer(fail_rate=1.0) as failing:
        response = requests.get(f"{failing.url}/v1/sessions", headers=_auth(), timeout=10)
        assert (response.status_code, response.json()) == (503, {"error": "Service unavailable"})
        assert requests.get(f"{failing.url}/_sandbox/info", timeout=10).ok


# ------------------------------------------------------------------------------------------------
# determinism and the CLI
# ------------------------------------------------------------------------------------------------


def _fingerprint(state: SandboxState) -> str:
    digest = hashlib.sha256()
    for org in ORGS:
        digest.update(json.dumps(state.assessments_for(org["id"])).encode())
        for session in state.sessions_for(org["id"]):
            digest.update(json.dumps(session).encode())
            page = state.timeline(org["id"], session["id"], limit=200)
            digest.update(json.dumps(page).encode())
    return digest.hexdigest()


def test_same_seed_same_data_different_seed_different_data() -> None:
    one, two = SandboxState(1, live_anchor=ANCHOR), SandboxState(1, live_anchor=ANCHOR)
    assert _fingerprint(one) == _fingerprint(two)
    other = SandboxState(2, live_anchor=ANCHOR)
    assert _fingerprint(other) != _fingerprint(one)
    assert not {s["id"] for s in other.sessions_for(ACME["id"])} & {
        s["id"] for s in one.sessions_for(ACME["id"])
    }


def test_deterministic_across_processes() -> None:
    code = (
        "from datetime import UTC, datetime\n"
        "from sandbox.data import SandboxState\n"
        "from tests.test_sandbox import _fingerprint\n"
        "print(_fingerprint(SandboxState(1, live_anchor=datetime(2026, 11, 22, 12, 0, "
        "tzinfo=UTC))))\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == _fingerprint(SandboxState(1, live_anchor=ANCHOR))


def test_byte_identical_responses() -> None:
    with (
        SandboxServer(seed=1, live_anchor=ANCHOR) as one,
        SandboxServer(seed=1, live_anchor=ANCHOR) as two,
    ):
        hostile = one.state.hostile_session_id()
        for path in ("/v1/sessions", f"/v1/sessions/{hostile}/timeline", "/v1/assessments"):
            mine = requests.get(one.url + path, headers=_auth(), timeout=10).content
            theirs = requests.get(two.url + path, headers=_auth(), timeout=10).content
            assert mine == theirs, path


def test_cli_main_serves_and_prints_tokens() -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--rate-limit", "0"]
        + ["--session-shape", "bare"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        found = re.fullmatch(r"Sandbox API on (http://127\.0\.0\.1:\d+)", first)
        assert found, first
        lines = [proc.stdout.readline() for _ in range(3)]
        assert ACME["token"] in lines[0] and GLOBEX["token"] in lines[1]
        info = requests.get(found.group(1) + "/_sandbox/info", timeout=10).json()
        assert info["rateLimitPerMin"] == 0 and len(info["orgs"]) == 2
        assert info["sessionShape"] == "bare"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
