"""The product on the sandbox's real-shaped sessions: a Claude Code session played from a
script, a messy one (lone surrogate, a shared id, an exact repeat, another session's event,
odd timestamps) and one whose command printed 50 MB. What is stored, counted and found."""

from __future__ import annotations

import json

import pytest
from pytest_django.asserts import assertContains

from reviewer import fragments, prefetch, search, timeline
from reviewer.models import StoredEvent


def _role(sandbox, role: str) -> str:
    return sandbox.state.special_session_ids()[role]


def _timeline_calls(sandbox) -> int:
    return sandbox.stats()["by_route"].get("GET /v1/sessions/:id/timeline", 0)


@pytest.fixture
def messy(org_a, sandbox) -> str:
    sid = _role(sandbox, "messy")
    sandbox.reset_stats()
    result = prefetch.prefetch(org_a, sid, page_size=100)
    assert result.status == "done"
    return sid


def test_a_messy_session_is_stored_once_and_accounted_for(org_a, sandbox, messy) -> None:
    """18 records: one exact repeat dropped, one of another session left out, the differing
    record under a shared id kept: 16 stored, and the session counts as complete, so nobody
    walks it again."""
    sync = timeline.find_sync(org_a, messy)
    assert sync.events_stored == 16
    assert (sync.repeats_dropped, sync.foreign_events, sync.id_conflicts) == (1, 1, 1)
    assert sync.complete and sync.accounted == 18
    assert _timeline_calls(sandbox) == 1  # one walk: no "came up short" second walk
    sandbox.reset_stats()
    assert prefetch.prefetch(org_a, messy).status == "up-to-date"
    assert _timeline_calls(sandbox) == 0


def test_a_messy_session_reads_as_upstream_sent_it(as_carol, org_a, messy) -> None:
    page = as_carol.get(f"/sessions/{messy}/?view=events")
    assertContains(page, "fix \ufffd")  # the lone surrogate, readable
    assertContains(page, "same id as an earlier event")
    sync = timeline.find_sync(org_a, messy)
    commands = StoredEvent.objects.for_sync(sync).filter(kind="command")
    assert sorted(json.loads(e.raw)["data"]["command"] for e in commands).count("make") == 1
    assert {"make", "make test"} <= {json.loads(e.raw)["data"]["command"] for e in commands}
    undated = StoredEvent.objects.for_sync(sync).filter(ts__isnull=True).count()
    assert undated == 1  # "not a time"; every other RFC 3339 form was read
    export = as_carol.get(f"/sessions/{messy}/export.ndjson")
    body = b"".join(export.streaming_content)
    assert b'"fix \\ud83d"' in body  # the export stays faithful to what upstream sent


@pytest.fixture
def huge(org_a, sandbox) -> str:
    sid = _role(sandbox, "huge_output")
    assert prefetch.prefetch(org_a, sid).status == "done"
    search.index_all_pending()
    return sid


def test_a_50_mb_output_shows_its_verdict_and_its_last_line_is_found(as_carol, org_a, huge) -> None:
    page = as_carol.get(f"/sessions/{huge}/?view=events")
    assertContains(page, "FINAL: 1 failed, 2047 passed in 913.40s")  # the tail is kept
    found = as_carol.get(f"/sessions/{huge}/timeline/", {"q": "1 failed, 2047 passed"})
    assert b"data-event-id" in found.content
    org_wide = as_carol.get("/search/", {"q": "2047 passed in 913.40s"})
    assertContains(org_wide, f'data-session-id="{huge}"')


@pytest.fixture
def realistic(org_a, sandbox) -> str:
    sid = _role(sandbox, "realistic")
    assert prefetch.prefetch(org_a, sid).status == "done"
    search.index_all_pending()
    return sid


@pytest.mark.parametrize(
    "query",
    ["test_refund_twice", "--no-verify", "git push --force", "String to replace not found"],
)
def test_what_a_reviewer_looks_for_is_found_across_the_organization(
    as_carol, realistic, query
) -> None:
    response = as_carol.get("/search/", {"q": query})
    assertContains(response, f'data-session-id="{realistic}"')


def test_a_real_session_folds_into_its_prompts(org_a, realistic) -> None:
    """29 prompts: 29 turns and the events before the first; every event is in one turn."""
    sync = timeline.find_sync(org_a, realistic)
    found = fragments.turns(org_a, sync)
    prompts = StoredEvent.objects.for_sync(sync).filter(kind="prompt").count()
    assert prompts == 29
    assert len([t for t in found if t.number]) == prompts
    assert sum(t.events for t in found) == sync.events_stored
    assert any(t.failed for t in found)
