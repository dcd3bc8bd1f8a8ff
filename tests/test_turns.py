"""Turns: a prompt and what followed it, counted; plan updates as what changed."""

from __future__ import annotations

import re

import pytest

from reviewer import fragments, prefetch, timeline, turns
from reviewer.models import EventText, StoredEvent, TimelineSync
from tests.test_attribution import _add, _ev, _p

PLAN_1 = [
    {"content": "Write the test", "status": "in_progress"},
    {"content": "Fix it", "status": "pending"},
]
PLAN_2 = [
    {"content": "Write the test", "status": "completed"},
    {"content": "Fix it", "status": "in_progress"},
    {"content": "Update the docs", "status": "pending"},
]
PLAN_3 = [
    {"content": "Write the test", "status": "completed"},
    {"content": "Fix it", "status": "completed"},
]

EVENTS = [
    _ev("session_start", "10:00:00", {}, id="start"),
    _ev(
        "prompt",
        "10:01:00",
        {"text": "Add a refund endpoint\nwith a test\nand docs\nplease"},
        _p("likely_human"),
        id="p1",
    ),
    _ev("planning", "10:01:10", {"todos": PLAN_1}, id="plan1"),
    _ev("tool_use", "10:01:20", {"toolName": "Read", "ok": True}, id="t1"),
    _ev(
        "file_diff",
        "10:02:00",
        {"path": "app.py", "linesAdded": 5, "linesRemoved": 1},
        _p("likely_ai"),
        id="d1",
    ),
    _ev(
        "file_create",
        "10:02:30",
        {"path": "test_app.py", "content": "a\nb\n"},
        _p("likely_human"),
        id="d2",
    ),
    _ev("command", "10:03:00", {"command": "pytest -q", "exitCode": 1}, id="c1"),
    _ev("test_run", "10:03:01", {"passed": 3, "failed": 1}, id="r1"),
    _ev(
        "tool_use",
        "10:03:10",
        {"toolName": "Bash", "ok": False, "error": "Permission to use Bash has been denied."},
        id="t2",
    ),
    _ev("planning", "10:03:20", {"todos": PLAN_2}, id="plan2"),
    _ev("prompt", "10:05:00", {"text": "yes"}, _p("likely_human"), id="p2"),
    _ev("command", "10:05:30", {"command": "npm test", "exitCode": 0}, id="c2"),
    _ev("decision_event", "10:06:00", {"title": "Refunds are idempotent"}, id="dec"),
    _ev("planning", "10:06:10", {"todos": PLAN_3}, id="plan3"),
]


@pytest.fixture
def sync(org_a, sandbox) -> TimelineSync:
    sid = _add(sandbox, EVENTS)
    prefetch.prefetch(org_a, sid)
    return TimelineSync.objects.get(session_id=sid)


def test_turns_count_what_followed_each_prompt(sync) -> None:
    found = turns.with_prompts(sync, turns.turns_of(sync))
    assert [(t.key, t.number, t.events) for t in found] == [
        ("start", 0, 1),
        ("p1", 1, 9),
        ("p2", 2, 4),
    ]
    first = found[1]
    assert first.prompt == "Add a refund endpoint\nwith a test\nand docs" and first.prompt_cut
    assert (first.files, first.added, first.removed) == (2, 7, 1)
    assert (first.commands, first.commands_failed) == (1, 1)
    assert (first.tests, first.tests_failed) == (1, 1)  # pytest and its test_run: one run
    assert (first.tool_calls, first.tool_failed, first.tool_rejected) == (2, 1, 1)
    assert first.failed and first.mix == {"likely_ai": 6, "likely_human": 2}
    assert first.duration.total_seconds() == 140
    second = found[2]
    assert (second.tests, second.tests_failed, second.decisions, second.failed) == (1, 0, 1, False)


def test_a_filter_keeps_the_turns_with_matches(sync) -> None:
    flt = timeline.TimelineFilter(failures_only=True)
    found = fragments.listed_turns(sync.organization, sync, flt, chunk=40)
    assert [t.key for t in found] == ["p1"]


def test_a_plan_update_shows_only_what_changed(sync) -> None:
    seqs = dict(
        StoredEvent.objects.filter(sync=sync, kind="planning").values_list("event_id", "seq")
    )
    changes = turns.plan_updates(sync, seqs.values())
    assert [(i.change, i.text) for i in changes[seqs["plan1"]]] == [
        ("added", "Write the test"),
        ("added", "Fix it"),
    ]
    assert [(i.change, i.text) for i in changes[seqs["plan2"]]] == [
        ("done", "Write the test"),
        ("started", "Fix it"),
        ("added", "Update the docs"),
    ]
    assert [(i.change, i.text) for i in changes[seqs["plan3"]]] == [
        ("done", "Fix it"),
        ("removed", "Update the docs"),
    ]
    only_third = turns.plan_updates(sync, [seqs["plan3"]])
    assert only_third[seqs["plan3"]] == changes[seqs["plan3"]]


def test_a_warm_turns_page_renders_without_the_list_of_turns(as_carol, sync, monkeypatch) -> None:
    """The unfiltered first chunk is rendered once per store version: a long session's page
    must not load (and rebuild) every turn it has to show the first few headers."""
    from reviewer.views import timeline as timeline_views

    url = f"/sessions/{sync.session_id}/"
    first = as_carol.get(url).content.decode()
    assert 'data-turn="start"' in first or "data-turn=" in first

    def unexpected(*args, **kwargs):
        raise AssertionError("the list of turns was loaded for a warm page")

    monkeypatch.setattr(timeline_views, "_turn_list", unexpected)
    again = as_carol.get(url).content.decode()
    assert again.count("data-turn=") == first.count("data-turn=")


def test_turns_from_one_on_are_counted_and_numbered_as_in_the_whole_list(
    org_a, acme_sessions
) -> None:
    session = next(s for s in acme_sessions if s["endedAt"] and 600 < s["eventCount"] < 3000)
    prefetch.prefetch(org_a, session["id"])
    sync = timeline.find_sync(org_a, session["id"])
    whole = turns.turns_of(sync)
    assert len(whole) > 6
    for turn in (whole[1], whole[len(whole) // 2], whole[-1]):
        assert turns.turns_of(sync, since=turn.seq) == [t for t in whole if t.seq >= turn.seq]


def test_a_live_tail_reads_the_turns_it_shows_not_all_of_them(
    as_carol, org_a, acme_sessions, monkeypatch
) -> None:
    """While a long timeline arrives, the tail polls every second and each page stored
    changes the list of turns: a poll counts the turns from its own on, not all of them,
    and still shows the new ones and the last one's grown counts."""
    from reviewer.views import timeline as timeline_views

    session = next(s for s in acme_sessions if s["endedAt"] and 600 < s["eventCount"] < 3000)
    sid = session["id"]
    prefetch.prefetch(org_a, sid, page_size=300, max_pages=1)
    sync = timeline.find_sync(org_a, sid)
    prefetch.mark_queued(sync)
    last = turns.turns_of(sync)[-1]
    prefetch.prefetch(org_a, sid, page_size=300, max_pages=2)  # two more pages stored
    TimelineSync.objects.filter(pk=sync.pk).update(state=TimelineSync.State.RUNNING)
    sync.refresh_from_db()
    whole = turns.turns_of(sync)
    newer = [t for t in whole if t.seq > last.seq][: timeline_views.TURN_CHUNK]
    assert newer

    def unexpected(*args, **kwargs):
        raise AssertionError("the live tail loaded every turn of the session")

    monkeypatch.setattr(fragments, "turns", unexpected)
    poll = as_carol.get(
        f"/sessions/{sid}/turns/",
        {"after_turn": last.seq, "live": 1},
        headers={"HX-Request": "true"},
    ).content.decode()
    shown = re.findall(r'data-turn="([^"]+)"', poll)
    assert [t.key for t in newer] == [k for k in dict.fromkeys(shown) if k != last.key]
    assert [f"Turn {t.number}" for t in newer] == re.findall(r"Turn \d+(?=</span>)", poll)
    assert f'id="turn-sum-{last.key}" hx-swap-oob="true"' in poll  # the last turn's counts


def test_a_search_with_few_matching_turns_counts_only_those(
    as_carol, org_a, acme_sessions, monkeypatch
) -> None:
    """A rare word in a long session: the turns view lists the turns holding it, numbered
    as in the whole list, without loading every turn of the session to find them."""
    session = next(s for s in acme_sessions if s["endedAt"] and 600 < s["eventCount"] < 3000)
    prefetch.prefetch(org_a, session["id"])
    sync = timeline.find_sync(org_a, session["id"])
    whole = turns.turns_of(sync)
    target = whole[len(whole) // 2]
    word = f"needle{target.seq}"
    prompt = StoredEvent.objects.get(sync=sync, seq=target.seq)
    # Found by the scan of rows not yet in the text index, as right after a fetch.
    EventText.objects.filter(event=prompt).update(text=f"a {word} in the text", indexed=False)
    matching = turns.turns_of(sync, only={target.seq})
    assert matching == [target]

    def unexpected(*args, **kwargs):
        raise AssertionError("every turn was loaded for a search with one matching turn")

    monkeypatch.setattr(fragments, "turns", unexpected)
    page = as_carol.get(f"/sessions/{session['id']}/turns/", {"q": word}).content.decode()
    assert re.findall(r'data-turn="([^"]+)"', page)[:1] == [target.key]
    assert f"Turn {target.number}<" in page
