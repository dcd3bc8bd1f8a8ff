"""What is stored and counted from real-world timelines: nothing lost, nothing counted twice.

Each input is the kind of thing real sessions and public bug reports of similar tools contain:
lone surrogates, repeated ids, events of other sessions, odd timestamps, tool calls the
candidate refused. Every test goes through the sandbox over real HTTP and the real database.
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from pytest_django.asserts import assertContains, assertNotContains

from reviewer import diffs, lenient, prefetch, store, timeline, upstream
from reviewer.models import StoredEvent, TimelineSync
from tests.conftest import ACME
from tests.test_attribution import _add, _ev, _p

EVENT = re.compile(r'data-event-id="([^"]+)"')


def _stored(org, sid: str) -> list[StoredEvent]:
    return list(
        StoredEvent.objects.filter(sync__organization=org, sync__session_id=sid).order_by("seq")
    )


def _sync(org, sid: str) -> TimelineSync:
    return TimelineSync.objects.get(organization=org, session_id=sid)


# --- one bad event never blocks a session ------------------------------------------------------


def test_a_lone_surrogate_is_stored_shown_and_exported_as_sent(as_carol, org_a, sandbox) -> None:
    sid = _add(
        sandbox,
        [
            _ev("prompt", "10:00:00", {"text": "fix \ud83d the parser"}, _p("likely_human")),
            _ev("command", "10:01:00", {"command": "echo \udc00", "exitCode": 0}),
            _ev("session_end", "10:02:00"),
        ],
    )
    assert prefetch.prefetch(org_a, sid).status == "done"
    assert len(_stored(org_a, sid)) == 3

    page = as_carol.get(f"/sessions/{sid}/")
    assert page.status_code == 200
    assertContains(page, "fix \ufffd the parser")  # shown, with the replacement character
    event_id = _stored(org_a, sid)[0].event_id
    assert as_carol.get(f"/sessions/{sid}/events/{event_id}/").status_code == 200

    exported = as_carol.get(f"/sessions/{sid}/export.ndjson")
    body = b"".join(exported.streaming_content).decode()
    assert "\\ud83d" in body  # faithful to what upstream sent
    assert json.loads(body.splitlines()[0])["data"]["text"] == "fix \ud83d the parser"
    found = as_carol.get(f"/sessions/{sid}/timeline/?q=the+parser")
    assert EVENT.findall(found.content.decode()) == [event_id]


def test_nul_characters_never_reach_a_column(org_a, sandbox) -> None:
    sid = _add(sandbox, [_ev("file_diff", "10:00:00", {"path": "a\x00b.py", "diff": "+x\x00"})])
    prefetch.prefetch(org_a, sid)
    assert [e.path for e in _stored(org_a, sid)] == ["ab.py"]


def test_the_same_id_with_different_content_is_kept_and_marked(as_carol, org_a, sandbox) -> None:
    sid = _add(
        sandbox,
        [
            _ev("prompt", "10:00:00", {"text": "build it"}, id="p-1"),
            _ev("command", "10:01:00", {"command": "make", "exitCode": 0}, id="e-7"),
            _ev("command", "10:02:00", {"command": "make test", "exitCode": 2}, id="e-7"),
            _ev("command", "10:02:00", {"command": "make test", "exitCode": 2}, id="e-7"),
            _ev("session_end", "10:03:00", id="end"),
        ],
        pct=None,
    )
    assert prefetch.prefetch(org_a, sid).status == "done"
    stored = _stored(org_a, sid)
    assert [(e.event_id, e.variant) for e in stored] == [
        ("p-1", 0),
        ("e-7", 0),
        ("e-7", 1),
        ("end", 0),
    ]
    sync = _sync(org_a, sid)
    assert (sync.repeats_dropped, sync.id_conflicts) == (1, 1)
    assert sync.note == ""  # 4 of 5 stored, the exact repeat accounted for: not "short"

    page = as_carol.get(f"/sessions/{sid}/?view=events")
    assertContains(page, "same id as an earlier event", count=2)  # the pill and the note
    assertContains(page, 'id="event-e-7~2"')
    assertContains(page, "1 exact repeat of events already received was left out")
    assert as_carol.get(f"/sessions/{sid}/events/e-7~2/").status_code == 200
    assertContains(as_carol.get(f"/sessions/{sid}/events/e-7~2/"), "make test")

    summary = as_carol.get(f"/sessions/{sid}/attribution/").content.decode()
    assert "<strong>2</strong> commands</a>" in summary
    assert "<strong>1</strong> failed</a> (50%)" in summary


@pytest.mark.parametrize("ids_kept", [False, True], ids=["looked-up", "kept-across-pages"])
def test_a_redelivered_page_writes_nothing_twice_even_with_shared_ids(
    org_a, sandbox, ids_kept
) -> None:
    """Whether the writer looks every id up or keeps the stored ids across pages (as a walk
    does, loaded from the store when it starts), a record already stored is not stored again."""
    sid = _add(
        sandbox,
        [
            _ev("command", "10:01:00", {"command": "make"}, id="e-7"),
            _ev("command", "10:02:00", {"command": "make test"}, id="e-7"),
        ],
    )
    sync = prefetch.get_sync(org_a, sid)
    token = sync.claim(60)
    page = next(iter(prefetch.promptster.Client(sandbox.url, ACME["token"]).iter_timeline(sid)))
    prefetch._store_page(sync, token, page)
    seen = store.stored_ids(sync.pk) if ids_kept else None
    prefetch._store_page(sync, token, page, seen=seen)  # a redelivery after a crash
    assert [(e.event_id, e.variant) for e in _stored(org_a, sid)] == [("e-7", 0), ("e-7", 1)]
    sync.refresh_from_db()
    assert sync.repeats_dropped == 2 and sync.id_conflicts == 1


@pytest.mark.parametrize(
    ("ids", "page_size"),
    [
        (["e-1", "not an id!", "e-3", "e-4", "e-5"], 2),  # last of a page, sent again
        (["e-1", "a/b", "x" * 101, "e-4", "e-5", "e-6"], 3),  # two at the end of a page
        (["e-1", "e-2", "e-3", "-starts-with-dash"], 2),  # the last of the whole timeline
        (["bad id", "e-2", "e-3", "e-4"], 2),  # the first of all
    ],
    ids=["end-of-page", "two-at-end-of-page", "end-of-timeline", "first"],
)
def test_paging_goes_on_past_entries_without_a_usable_id(org_a, sandbox, ids, page_size) -> None:
    """The next page's cursor is the last entry with a usable id: an entry without one is
    left out and counted once, though one at the end of a page comes again at the head of
    the next, and paging neither stops there nor skips what follows it."""
    events = [
        _ev("prompt", f"10:0{i}:00", {"text": f"prompt {i}"}, id=event_id)
        for i, event_id in enumerate(ids)
    ]
    sid = _add(sandbox, events)
    prefetch.prefetch(org_a, sid, page_size=page_size)
    usable = [i for i in ids if upstream.usable_id(i)]
    assert [e.event_id for e in _stored(org_a, sid)] == usable
    assert timeline.find_sync(org_a, sid).unusable_events == len(ids) - len(usable)


def test_events_of_another_session_are_left_out_and_reported(as_carol, org_a, sandbox) -> None:
    sid = _add(
        sandbox,
        [
            _ev("prompt", "10:00:00", {"text": "mine"}),
            _ev("prompt", "10:01:00", {"text": "SOMEONE ELSES"}, sessionId="other-session-1"),
            _ev("prompt", "10:02:00", {"text": "also mine"}),
        ],
    )
    prefetch.prefetch(org_a, sid)
    assert [json.loads(e.raw)["data"]["text"] for e in _stored(org_a, sid)] == ["mine", "also mine"]
    page = as_carol.get(f"/sessions/{sid}/")
    assertNotContains(page, "SOMEONE ELSES")
    assertContains(page, "1 event of other sessions came with this timeline and was left out")


@pytest.fixture
def refusing_db(db):
    """The database itself refuses events of kind "poison" (a real trigger, not a mock)."""
    table = StoredEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} "
                "WHEN NEW.kind = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by a test'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                "IF NEW.kind = 'poison' THEN RAISE EXCEPTION 'refused by a test'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER IF EXISTS refuse_poison"
            + ("" if connection.vendor == "sqlite" else f" ON {table}")
        )
        if connection.vendor != "sqlite":
            cursor.execute("DROP FUNCTION IF EXISTS refuse_poison()")


def test_an_event_the_database_refuses_is_named_and_the_rest_stored(
    as_carol, org_a, sandbox, refusing_db
) -> None:
    sid = _add(
        sandbox,
        [
            _ev("prompt", "10:00:00", {"text": "before"}),
            _ev("poison", "10:01:00", {}, id="bad-event-1"),
            _ev("prompt", "10:02:00", {"text": "after"}),
            _ev("session_end", "10:03:00"),
        ],
    )
    assert prefetch.prefetch(org_a, sid).status == "done"
    stored = _stored(org_a, sid)
    assert [e.kind for e in stored] == ["prompt", "prompt", "session_end"]
    assert [e.seq for e in stored] == [0, 1, 2]  # positions stay gapless
    page = as_carol.get(f"/sessions/{sid}/")
    assertContains(page, "1 event could not be stored")
    assertContains(page, "<code>bad-event-1</code>")
    assert _sync(org_a, sid).note == ""  # accounted for, so not "came up short"


def test_a_page_that_cannot_be_stored_stops_with_the_event_id_and_no_retry_loop(
    as_carol, org_a, sandbox, refusing_db
) -> None:
    sid = _add(sandbox, [_ev("poison", f"10:0{i}:00", {}, id=f"poison-{i}") for i in range(3)])
    result = prefetch.prefetch(org_a, sid)
    assert result.status == "blocked"
    sync = _sync(org_a, sid)
    assert sync.state == "failed" and sync.blocked_event_id == "poison-0"
    assert not prefetch.needs_sync(sync)  # views and beat never queue it again on their own
    page = as_carol.get(f"/sessions/{sid}/")
    assertContains(page, "Event poison-0 could not be stored")
    assertContains(page, "Try again now")
    prefetch.mark_queued(sync, unblock=True)  # what "Try again now" does
    sync.refresh_from_db()
    assert sync.blocked_event_id == ""


def test_absurd_counts_are_clamped_instead_of_failing_the_insert(org_a, sandbox) -> None:
    sid = _add(
        sandbox,
        [_ev("file_diff", "10:00:00", {"path": "x.py", "linesAdded": 1e20, "linesRemoved": -5})],
    )
    prefetch.prefetch(org_a, sid)
    (event,) = _stored(org_a, sid)
    assert (event.lines_added, event.lines_removed) == (lenient.MAX_COUNT, 0)


# --- failures and counts ------------------------------------------------------------------------

REJECTION = "Permission to use Bash has been denied because the user declined it."


@pytest.fixture
def tools_session(sandbox, org_a) -> str:
    sid = _add(
        sandbox,
        [
            _ev("prompt", "10:00:00", {"text": "run the migration"}, id="p1"),
            _ev(
                "tool_use",
                "10:01:00",
                {"toolName": "Bash", "ok": False, "error": REJECTION},
                id="t-rej",
            ),
            _ev(
                "tool_use",
                "10:02:00",
                {"toolName": "Edit", "ok": False, "error": "old_string not found"},
                id="t-err",
            ),
            _ev(
                "tool_call",
                "10:03:00",
                {"tool": "Read", "ok": False, "error": "This command requires approval"},
                id="t-appr",
            ),
            _ev("tool_use", "10:04:00", {"toolName": "Read", "ok": True}, id="t-ok"),
            _ev("command", "10:05:00", {"command": "pytest -q", "exitCode": 1}, id="c-test"),
            _ev("test_run", "10:05:01", {"passed": 3, "failed": 1}, id="r-test"),
            _ev("command", "10:06:00", {"command": "npm test", "exitCode": 0}, id="c-lone"),
            _ev("prompt", "10:07:00", {"text": "next"}, id="p2"),
            _ev("session_end", "10:08:00"),
        ],
    )
    prefetch.prefetch(org_a, sid)
    return sid


def test_failed_tool_calls_are_failures_told_apart(as_carol, org_a, tools_session) -> None:
    sid = tools_session
    by_id = {e.event_id: e for e in _stored(org_a, sid)}
    assert by_id["t-rej"].failure == upstream.Failure.REJECTED
    assert by_id["t-appr"].failure == upstream.Failure.REJECTED
    assert by_id["t-err"].failure == upstream.Failure.TOOL_ERROR
    assert not by_id["t-ok"].failed

    failures = as_carol.get(f"/sessions/{sid}/timeline/?failures=1").content.decode()
    assert EVENT.findall(failures) == ["t-rej", "t-err", "t-appr", "c-test", "r-test"]
    assert failures.count("rejected by the user") == 2
    assert "tool error" in failures
    jump = as_carol.get(f"/sessions/{sid}/jump/?dir=next&from=p1")
    assert jump["Location"].endswith("#event-t-rej")
    followed = as_carol.get(f"/sessions/{sid}/events/p1/followups/").content.decode()
    assert {"t-rej", "t-err", "t-appr"} <= set(EVENT.findall(followed))
    assert "t-ok" not in EVENT.findall(followed)


def test_a_test_command_and_its_test_run_count_once(as_carol, tools_session) -> None:
    summary = as_carol.get(f"/sessions/{tools_session}/attribution/").content.decode()
    assert "<strong>1</strong> test run</a>" in summary
    assert "plus 1 test command (pytest, npm test…) with no test run of its own" in summary
    assert "<strong>4</strong> tool calls</a>" in summary
    assert "<strong>3</strong> failed</a> (2 rejected by the user)" in summary


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2025-06-01t10:00:00.123456789z", "2025-06-01T10:00:00.123456+00:00"),
        ("2025-06-01T10:00:00Z", "2025-06-01T10:00:00+00:00"),
        ("2025-06-01T12:30:00.5+02:30", "2025-06-01T12:30:00.500000+02:30"),
        ("2025-06-01 10:00:00z", "2025-06-01T10:00:00+00:00"),
        ("2025-06-01T10:00:00.1-07:00", "2025-06-01T10:00:00.100000-07:00"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59+00:00"),
        ("2025-06-01T10:00:00", "2025-06-01T10:00:00+00:00"),
        ("yesterday", None),
        ("2025-13-01T10:00:00Z", None),
    ],
)
def test_every_rfc3339_form_parses(sent: str, expected: str | None) -> None:
    parsed = lenient.parse_ts(sent)
    assert (parsed.isoformat() if parsed else None) == expected


def test_an_unreadable_timestamp_shows_what_was_sent(as_carol, org_a, sandbox) -> None:
    event = _ev("prompt", None, {"text": "when?"})
    sid = _add(sandbox, [{**event, "ts": "last tuesday-ish"}])
    prefetch.prefetch(org_a, sid)
    page = as_carol.get(f"/sessions/{sid}/?view=events")
    assertContains(page, "last tuesday-ish")
    assertNotContains(page, ">no time<")


def test_a_diffs_dash_content_lines_are_counted_as_content() -> None:
    diff = "--- a/q.sql\n+++ b/q.sql\n@@ -1,3 +1,3 @@\n--- old comment\n+++ new comment\n keep\n"
    assert diffs.counts(diff) == (1, 1)


def test_an_ended_session_without_changes_reads_no_file_changes(as_carol, org_a, sandbox) -> None:
    quiet = _add(
        sandbox,
        [_ev("prompt", "10:00:00", {"text": "explain"}), _ev("session_end", "10:05:00")],
        pct=None,
    )
    running = _add(sandbox, [_ev("prompt", "10:00:00", {"text": "hi"})], pct=None, ended=False)
    prefetch.prefetch(org_a, quiet)
    prefetch.prefetch(org_a, running)
    assertContains(as_carol.get(f"/sessions/{quiet}/"), "no file changes")
    assertContains(as_carol.get(f"/sessions/{running}/"), "pending")
    assertNotContains(as_carol.get(f"/sessions/{quiet}/"), ">pending<")


# --- the API's shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["bare", "wrapped", "wrapped_items"])
def test_every_session_shape_is_read(as_alice, as_bob, org_a, sandbox, acme_sessions, shape):
    sandbox.session_shape = shape
    session = next(s for s in acme_sessions if s["endedAt"] and 50 < s["eventCount"] < 400)
    listing = as_bob.get("/sessions/", {"limit": 100})
    assert listing.status_code == 200
    assertContains(listing, f'data-session-id="{session["id"]}"')
    page = as_bob.get(f"/sessions/{session['id']}/")  # stores its first events at once
    assert page.status_code == 200
    assert prefetch.prefetch(org_a, session["id"]).status in ("done", "up-to-date")
    assert _sync(org_a, session["id"]).events_stored == session["eventCount"]
    share = as_bob.post(f"/sessions/{session['id']}/share/", {"expires_in_hours": 24})
    assert share.status_code == 200
    deleted = as_alice.post(f"/sessions/{session['id']}/delete/", {"confirm": session["id"][:8]})
    assert deleted.status_code == 302
    assert as_alice.get(f"/sessions/{session['id']}/").status_code == 410


def test_the_url_session_id_is_used_whatever_upstream_echoes(
    as_carol, org_a, sandbox, acme_sessions
):
    session = next(s for s in acme_sessions if s["endedAt"] and 50 < s["eventCount"] < 400)
    hostile = "evil\r\nX-Injected: 1/../../etc"
    sandbox.inject("patch", count=20, route="GET /v1/sessions/:id", fields={"id": hostile})
    page = as_carol.get(f"/sessions/{session['id']}/")
    assert page.status_code == 200
    assertNotContains(page, "X-Injected")
    prefetch.prefetch(org_a, session["id"])
    exported = as_carol.get(f"/sessions/{session['id']}/export.json")
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == f'attachment; filename="session-{session["id"]}.json"'
    assert TimelineSync.objects.filter(session_id=hostile).count() == 0


@pytest.mark.parametrize("status", [404, 403, 500, 503])
def test_a_failing_optional_call_is_remembered(as_carol, sandbox, status) -> None:
    sandbox.inject("status", status=status, count=50, route="GET /v1/assessments")
    first = as_carol.get("/sessions/")
    assert first.status_code == 200
    assertContains(first, 'placeholder="Assessment id"')  # the filter falls back to an id
    calls = sandbox.stats()["requests"]
    for _ in range(3):
        assert as_carol.get("/sessions/").status_code == 200
    assert sandbox.stats()["requests"] == calls  # a warm list: no upstream call at all


def test_each_event_knows_its_turn_across_pages(org_a, sandbox) -> None:
    sid = _add(
        sandbox,
        [
            _ev("session_start", "10:00:00"),
            _ev("prompt", "10:01:00", {"text": "one"}),
            _ev("tool_use", "10:01:10", {"toolName": "Read", "ok": True}),
            _ev("git_action", "10:01:20", {"action": "commit", "message": "wip"}),
            _ev("prompt", "10:02:00", {"text": "two"}),
            _ev("command", "10:02:10", {"command": "ls"}),
        ],
    )
    client = prefetch.promptster.Client(sandbox.url, ACME["token"])
    prefetch.prefetch(org_a, sid, client=client, page_size=2)
    stored = _stored(org_a, sid)
    assert [(e.kind, e.turn) for e in stored] == [
        ("session_start", -1),
        ("prompt", 1),
        ("tool_use", 1),
        ("git_action", 1),
        ("prompt", 4),
        ("command", 4),
    ]
    assert [e.subject for e in stored][2:4] == ["Read", "commit"]


def test_stored_json_is_compact_and_keeps_what_a_fast_writer_refuses() -> None:
    """The raw copy is written by orjson; a lone surrogate or a huge integer, which it
    refuses, still comes out as JSON.stringify would write it."""
    from reviewer import text

    assert text.dumps({"a": "é\n", "b": [1, 2.5, None]}) == '{"a":"é\\n","b":[1,2.5,null]}'
    assert text.dumps({"t": "fix \ud83d"}) == '{"t":"fix \\ud83d"}'
    assert text.dumps({"n": 2**70}) == f'{{"n":{2**70}}}'
