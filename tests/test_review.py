"""Hiring review (issue 15): notes, scorecards, the blind rule, the decision and its sync.

The cast: alice (admin), bob and dave (reviewers), carol (viewer) in org A; charlie in org B.
Upstream is the sandbox over real HTTP; its request counts show what was written.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.asserts import assertContains, assertNotContains

from reviewer import prefetch
from reviewer.models import AuditEntry, Membership, Role, ShareLink, StoredEvent
from reviewer.review import sync
from reviewer.review.models import Decision, Note, NoteRevision, Scorecard
from tests.conftest import ACME

POST_SCORES = "POST /v1/sessions/:id/scores"
GET_SCORES = "GET /v1/sessions/:id/scores"
ASSESSMENT = "asm_review_test"
SHARE_URL = re.compile(r'value="(http://testserver/shared/[^"]+/)"')


@pytest.fixture
def dave(org_a) -> User:
    user = User.objects.create_user(username="dave", password="pw-dave")
    Membership.objects.create(user=user, organization=org_a, role=Role.REVIEWER)
    return user


@pytest.fixture
def as_dave(dave) -> Client:
    client = Client()
    client.force_login(dave)
    return client


@pytest.fixture
def sid(org_a, sandbox) -> str:
    """A small session of A's, stored locally."""
    session_id = sandbox.state.add_session(
        ACME["id"],
        {
            "sourceService": "claude-code",
            "startedAt": "2026-11-02T10:00:00Z",
            "endedAt": "2026-11-02T11:00:00Z",
            "metadata": {"candidateName": "Rev Iewee", "assessmentId": ASSESSMENT},
        },
        [
            {"kind": "prompt", "ts": "2026-11-02T10:00:00Z", "data": {"text": "add a cache"}},
            {
                "kind": "command",
                "ts": "2026-11-02T10:05:00Z",
                "data": {"command": "pytest", "exitCode": 1},
            },
            {"kind": "prompt", "ts": "2026-11-02T10:10:00Z", "data": {"text": "fix the test"}},
        ],
    )
    prefetch.prefetch(org_a, session_id)
    return session_id


def first_event(sid: str) -> str:
    return StoredEvent.objects.filter(sync__session_id=sid).order_by("seq").first().event_id


def card(**overrides: str) -> dict[str, str]:
    data = {
        "score_problem_decomposition": "4",
        "score_ai_orchestration": "3",
        "score_code_quality": "",
        "score_debugging_process": "2",
        "score_communication": "5",
        "notes_problem_decomposition": "planned first",
        "recommendation": "yes",
        "summary": "A solid session.",
    }
    data.update(overrides)
    return data


def decide(**overrides: str) -> dict[str, str]:
    data = {
        "score_problem_decomposition": "4",
        "score_ai_orchestration": "3",
        "score_code_quality": "",
        "score_debugging_process": "2",
        "score_communication": "5",
        "notes_communication": "clear commits",
        "decision": "advance",
    }
    data.update(overrides)
    return data


def posts(sandbox) -> int:
    return sandbox.stats()["by_route"].get(POST_SCORES, 0)


# --- notes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("as_alice", 302), ("as_bob", 302), ("as_carol", 403), ("as_charlie", 404)],
)
def test_note_role_matrix(request, sid, who, status) -> None:
    client = request.getfixturevalue(who)
    response = client.post(f"/sessions/{sid}/notes/", {"event_id": first_event(sid), "body": "x"})
    assert response.status_code == status
    assert Note.objects.count() == (1 if status == 302 else 0)


def test_a_note_shows_under_its_event_on_every_timeline_view(as_bob, as_carol, sid) -> None:
    event_id = first_event(sid)
    body = "Checks the **failing test** first <script>alert(1)</script>"
    as_bob.post(f"/sessions/{sid}/notes/", {"event_id": event_id, "body": body})
    marker = f'data-note-for="{event_id}"'
    page = as_carol.get(f"/sessions/{sid}/?open={event_id}")
    assertContains(page, marker)
    assertContains(page, "<strong>failing test</strong>", html=False)
    assertNotContains(page, "<script>alert(1)")
    assertContains(as_carol.get(f"/sessions/{sid}/timeline/"), marker)
    assertContains(as_carol.get(f"/sessions/{sid}/?view=events"), marker)
    assertContains(as_carol.get(f"/sessions/{sid}/turns/{event_id}/"), marker)
    assertContains(as_carol.get(f"/sessions/{sid}/events/{event_id}/"), marker)
    # The viewer reads notes but gets no form to write one.
    assertNotContains(page, "Add a note")
    assertContains(as_bob.get(f"/sessions/{sid}/?open={event_id}"), "Add a note")


def test_a_note_on_an_event_the_session_does_not_hold_is_refused(as_bob, sid) -> None:
    response = as_bob.post(f"/sessions/{sid}/notes/", {"event_id": "evt_nope", "body": "x"})
    assert response.status_code == 400
    assert as_bob.post(f"/sessions/{sid}/notes/", {"event_id": "", "body": "x"}).status_code == 400


def test_htmx_note_answers_the_filled_slot(as_bob, as_carol, sid) -> None:
    event_id = first_event(sid)
    form = as_bob.get(f"/sessions/{sid}/notes/?event_id={event_id}", HTTP_HX_REQUEST="true")
    assertContains(form, 'name="body"')
    assertNotContains(form, "<html")
    assertContains(as_bob.get(f"/sessions/{sid}/notes/?event_id={event_id}"), "<html")
    assert as_bob.get(f"/sessions/{sid}/notes/?event_id=nope").status_code == 404
    assert as_carol.get(f"/sessions/{sid}/notes/?event_id={event_id}").status_code == 403
    response = as_bob.post(
        f"/sessions/{sid}/notes/", {"event_id": event_id, "body": "hi"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assertContains(response, f'data-notes-slot="{event_id}"')
    assertContains(response, f'data-note-for="{event_id}"')


def test_authors_edit_with_history_and_delete_their_own_notes_only(
    as_bob, as_dave, as_alice, sid
) -> None:
    as_bob.post(f"/sessions/{sid}/notes/", {"event_id": first_event(sid), "body": "first"})
    note = Note.objects.get()
    url = f"/sessions/{sid}/notes/{note.pk}/"
    assert as_dave.post(url + "edit/", {"body": "hijack"}).status_code == 403
    assert as_alice.post(url + "delete/").status_code == 403
    assert as_bob.post(url + "edit/", {"body": "second"}).status_code == 302
    note.refresh_from_db()
    assert note.body == "second" and note.edited_at is not None
    assert list(NoteRevision.objects.values_list("body", flat=True)) == ["first"]
    assertContains(as_bob.get(url + "edit/"), "first")
    assert as_bob.post(url + "delete/").status_code == 302
    assert not Note.objects.exists() and not NoteRevision.objects.exists()


def test_the_session_page_lists_notes_linking_to_their_events(as_bob, sid) -> None:
    event_id = first_event(sid)
    as_bob.post(f"/sessions/{sid}/notes/", {"event_id": event_id, "body": "look here"})
    page = as_bob.get(f"/sessions/{sid}/")
    assertContains(page, f"#event-{event_id}")
    assertContains(page, "bob: look here")
    # The (collapsed) turn holding the event says it has a note.
    assertContains(page, f'data-turn-notes-slot="{event_id}">1 note</span>', html=False)


# --- scorecards -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("as_alice", 302), ("as_bob", 302), ("as_carol", 403), ("as_charlie", 404)],
)
def test_scorecard_role_matrix(request, sid, who, status) -> None:
    client = request.getfixturevalue(who)
    assert client.post(f"/sessions/{sid}/scorecard/", card()).status_code == status
    assert client.get(f"/sessions/{sid}/scorecard/").status_code == (
        404 if who == "as_charlie" else 200
    )


def test_a_draft_is_saved_then_submitted_once(as_bob, sid) -> None:
    assert as_bob.post(f"/sessions/{sid}/scorecard/", card()).status_code == 302
    saved = Scorecard.objects.get()
    assert saved.submitted_at is None
    assert saved.scores == {
        "problem_decomposition": 4,
        "ai_orchestration": 3,
        "debugging_process": 2,
        "communication": 5,
    }
    assertContains(as_bob.get(f"/sessions/{sid}/scorecard/"), "planned first")
    assert as_bob.post(f"/sessions/{sid}/scorecard/", card(submit="1")).status_code == 302
    saved.refresh_from_db()
    assert saved.submitted_at is not None
    again = as_bob.post(f"/sessions/{sid}/scorecard/", card(summary="changed", submit="1"))
    assert again.status_code == 409
    assert as_bob.post(f"/sessions/{sid}/scorecard/", card(summary="draft")).status_code == 409
    saved.refresh_from_db()
    assert saved.summary == "A solid session."
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SCORECARD_SUBMITTED)
    assert entry.actor_name == "bob" and entry.session_id == sid
    assert "4" not in json.dumps(entry.detail) and "yes" not in json.dumps(entry.detail)


def test_bad_scorecards_are_refused(as_bob, sid) -> None:
    assert (
        as_bob.post(f"/sessions/{sid}/scorecard/", card(score_code_quality="6")).status_code == 400
    )
    assert (
        as_bob.post(f"/sessions/{sid}/scorecard/", card(recommendation="maybe")).status_code == 400
    )
    nothing = {k: "" for k in card() if k.startswith("score_")}
    assert (
        as_bob.post(f"/sessions/{sid}/scorecard/", card(submit="1", **nothing)).status_code == 400
    )
    assert not Scorecard.objects.filter(submitted_at__isnull=False).exists()


def test_the_scorecard_shows_the_rubric_anchors(as_bob, sid) -> None:
    page = as_bob.get(f"/sessions/{sid}/scorecard/")
    for name in ("score_problem_decomposition", "score_communication", "recommendation"):
        assertContains(page, f'name="{name}"')
    assertContains(page, "Frames the problem")


# --- the blind rule ---------------------------------------------------------------------------

SECRET = "Bob-thinks-SENTINEL-summary"


def _surfaces(client: Client, sid: str, assessment_id: str) -> dict[str, str]:
    event_id = first_event(sid)
    urls = {
        "page": f"/sessions/{sid}/",
        "events": f"/sessions/{sid}/?view=events",
        "scorecard": f"/sessions/{sid}/scorecard/",
        "scorecard-htmx": f"/sessions/{sid}/scorecard/",
        "timeline": f"/sessions/{sid}/timeline/",
        "turn": f"/sessions/{sid}/turns/{event_id}/",
        "event": f"/sessions/{sid}/events/{event_id}/",
        "attribution": f"/sessions/{sid}/attribution/",
        "files": f"/sessions/{sid}/files/",
        "json": f"/sessions/{sid}/export.json",
        "ndjson": f"/sessions/{sid}/export.ndjson",
        "list": "/sessions/",
        "cohort": f"/assessments/{assessment_id}/",
        "csv": f"/assessments/{assessment_id}/cohort.csv",
        "compare": f"/compare/?a={sid}",
        "search": "/search/?q=cache",
    }
    out = {}
    for name, url in urls.items():
        extra = {"HTTP_HX_REQUEST": "true"} if name.endswith("-htmx") else {}
        response = client.get(url, **extra)
        assert response.status_code == 200, (name, response.status_code)
        body = (
            b"".join(response.streaming_content) if response.streaming else response.content
        ).decode()
        out[name] = body
    return out


def test_blind_until_submitted_on_every_surface(as_bob, as_dave, as_carol, sandbox, sid) -> None:
    assessment_id = ASSESSMENT
    as_bob.post(f"/sessions/{sid}/scorecard/", card(summary=SECRET, submit="1"))
    # dave has a draft, not submitted: nothing of bob's verdict anywhere.
    as_dave.post(f"/sessions/{sid}/scorecard/", card(summary="dave draft"))
    for name, body in _surfaces(as_dave, sid, assessment_id).items():
        assert SECRET not in body, name
        assert 'data-scorecard-of="bob"' not in body, name
    for name, body in _surfaces(as_carol, sid, assessment_id).items():
        assert SECRET not in body, name
    # The count is no secret: everyone sees one scorecard was submitted.
    assertContains(as_dave.get(f"/sessions/{sid}/"), "1 scorecard")
    # Once dave submits, both scorecards side by side, the spread, disagreement marked.
    as_dave.post(f"/sessions/{sid}/scorecard/", card(score_communication="1", submit="1"))
    page = as_dave.get(f"/sessions/{sid}/scorecard/")
    assertContains(page, SECRET)
    assertContains(page, 'data-scorecard-of="bob"')
    assertContains(page, 'data-scorecard-of="dave"')
    assertContains(page, "disagreement")


def test_viewers_see_verdicts_once_decided_and_share_links_never(
    as_bob, as_carol, as_alice, sandbox, sid
) -> None:
    as_bob.post(f"/sessions/{sid}/scorecard/", card(summary=SECRET, submit="1"))
    response = as_bob.post(f"/sessions/{sid}/share/", {"expires_in_hours": 1, "include_notes": "1"})
    shared = SHARE_URL.search(response.content.decode()).group(1).replace("http://testserver", "")
    assertNotContains(as_carol.get(f"/sessions/{sid}/scorecard/"), SECRET)
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    assertContains(as_carol.get(f"/sessions/{sid}/scorecard/"), SECRET)
    page = Client().get(shared)
    assert page.status_code == 200
    assertNotContains(page, SECRET)
    assertNotContains(page, "Final scores")


def test_an_admin_who_decides_without_scoring_then_sees_the_scorecards(
    as_bob, as_alice, sandbox, sid
) -> None:
    as_bob.post(f"/sessions/{sid}/scorecard/", card(summary=SECRET, submit="1"))
    before = as_alice.get(f"/sessions/{sid}/scorecard/")
    assertNotContains(before, SECRET)
    # Not allowed to see the scorecards yet: the form is not prefilled with their median.
    assertNotContains(before, '<option value="4" selected>')
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    assertContains(as_alice.get(f"/sessions/{sid}/scorecard/"), SECRET)


def test_the_decision_form_is_prefilled_with_the_median(as_bob, as_dave, as_alice, sid) -> None:
    as_bob.post(f"/sessions/{sid}/scorecard/", card(score_communication="5", submit="1"))
    as_dave.post(f"/sessions/{sid}/scorecard/", card(score_communication="2", submit="1"))
    as_alice.post(f"/sessions/{sid}/scorecard/", card(score_communication="3", submit="1"))
    page = as_alice.get(f"/sessions/{sid}/decision/").content.decode()
    communication = re.search(r'name="score_communication">(.*?)</select>', page, re.S).group(1)
    assert '<option value="3" selected>' in communication


# --- the decision and its sync ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("as_alice", 302), ("as_bob", 403), ("as_carol", 403), ("as_charlie", 404)],
)
def test_decision_role_matrix(request, sid, sandbox, who, status) -> None:
    client = request.getfixturevalue(who)
    assert client.post(f"/sessions/{sid}/decision/", decide()).status_code == status
    assert Decision.objects.count() == (1 if status == 302 else 0)


def test_the_decision_is_written_upstream_once(as_alice, sandbox, sid) -> None:
    assert as_alice.post(f"/sessions/{sid}/decision/", decide()).status_code == 302
    assert posts(sandbox) == 1
    stored = sandbox.state.scores(ACME["id"], sid)
    assert [(s["dimension"], s["score"], s["notes"]) for s in stored] == [
        ("problem_decomposition", 4, None),
        ("ai_orchestration", 3, None),
        ("debugging_process", 2, None),
        ("communication", 5, "clear commits"),
    ]
    decision = Decision.objects.get()
    assert decision.synced and decision.verdict == "advance"
    # Unchanged: nothing written again, by the form or by a redelivered task.
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    assert sync.sync_decision(decision.organization, sid).outcome == sync.Outcome.UNCHANGED
    assert posts(sandbox) == 1
    # Changed: written once more.
    as_alice.post(f"/sessions/{sid}/decision/", decide(score_code_quality="4", decision="hold"))
    assert posts(sandbox) == 2
    assert Decision.objects.get().version == 2
    page = as_alice.get(f"/sessions/{sid}/")
    assertContains(page, "Synced to Promptster")
    assertContains(page, "data-upstream-scores")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {AuditEntry.Action.DECISION_RECORDED, AuditEntry.Action.DECISION_SYNCED} <= actions
    for entry in AuditEntry.objects.filter(action__startswith="review."):
        assert "advance" not in json.dumps(entry.detail) and "hold" not in json.dumps(entry.detail)


def test_a_503_keeps_the_decision_and_the_retry_writes_it(as_alice, sandbox, sid) -> None:
    sandbox.inject("status", status=503, count=1, route=POST_SCORES)
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    decision = Decision.objects.get()
    assert not decision.synced and decision.sync_error
    assert posts(sandbox) == 1
    page = as_alice.get(f"/sessions/{sid}/")
    assertContains(page, "Not synced yet")
    assertContains(page, f"/sessions/{sid}/decision/sync/")
    assert as_alice.post(f"/sessions/{sid}/decision/sync/").status_code == 302
    assert Decision.objects.get().synced
    assert posts(sandbox) == 2
    assert sandbox.stats()["by_route"].get(GET_SCORES, 0) >= 1  # read before writing again
    assert len(sandbox.state.scores(ACME["id"], sid)) == 4


def test_a_lost_answer_is_read_back_not_posted_again(as_alice, sandbox, sid) -> None:
    sandbox.inject("truncated", count=1, route=POST_SCORES)  # written, answer cut off
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    assert Decision.objects.get().synced
    assert posts(sandbox) == 1


def test_a_retry_finds_an_earlier_write_and_posts_nothing(org_a, alice, sandbox, sid) -> None:
    decision, _ = sync.record_decision(
        org_a, sid, alice, verdict="advance", scores={"code_quality": 4}, notes={}
    )
    Decision.objects.filter(pk=decision.pk).update(sync_attempts=1)  # an attempt happened
    sandbox.state.put_scores(
        ACME["id"], sid, [{"dimension": "code_quality", "score": 4, "notes": None}]
    )
    assert sync.sync_decision(org_a, sid).outcome == sync.Outcome.ALREADY_THERE
    assert posts(sandbox) == 0


def test_a_refused_write_is_shown_and_not_retried(as_alice, org_a, sandbox, sid) -> None:
    sandbox.inject("status", status=400, count=1, route=POST_SCORES)
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    decision = Decision.objects.get()
    assert decision.sync_refused and not decision.synced
    assert sync.sync_decision(org_a, sid).outcome == sync.Outcome.REFUSED
    assert posts(sandbox) == 1
    assertContains(as_alice.get(f"/sessions/{sid}/"), "Not synced yet")


def test_a_claim_held_elsewhere_means_no_second_write(org_a, alice, sandbox, sid) -> None:
    from datetime import timedelta

    from django.utils import timezone

    decision, _ = sync.record_decision(
        org_a, sid, alice, verdict="reject", scores={"communication": 2}, notes={}
    )
    Decision.objects.filter(pk=decision.pk).update(
        claim_token="other", claimed_until=timezone.now() + timedelta(seconds=30)
    )
    assert sync.sync_decision(org_a, sid).outcome == sync.Outcome.BUSY
    assert posts(sandbox) == 0


def test_the_sandbox_refuses_bad_score_bodies(sandbox, sid) -> None:
    import requests

    url = f"{sandbox.url}/v1/sessions/{sid}/scores"
    headers = {"Authorization": f"Bearer {ACME['token']}"}
    for body in ([], [{"dimension": "charm", "score": 3}], [{"dimension": "code_quality"}]):
        assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 400
    ok = requests.post(
        url, json=[{"dimension": "code_quality", "score": 5}], headers=headers, timeout=5
    )
    assert ok.status_code == 201
    assert requests.get(url, headers=headers, timeout=5).json()["scores"][0]["score"] == 5


# --- delete and share -------------------------------------------------------------------------


def test_deleting_a_session_deletes_its_review(as_alice, as_bob, sid, sandbox) -> None:
    as_bob.post(f"/sessions/{sid}/notes/", {"event_id": first_event(sid), "body": "evidence"})
    as_bob.post(f"/sessions/{sid}/scorecard/", card(submit="1"))
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    response = as_alice.post(f"/sessions/{sid}/delete/", {"confirm": sid[:8]})
    assert response.status_code in (200, 302)
    assert not Note.objects.exists() and not Scorecard.objects.exists()
    assert not Decision.objects.exists()
    tombstone = AuditEntry.objects.get(action=AuditEntry.Action.SESSION_DELETED)
    assert "evidence" not in json.dumps(tombstone.detail)
    assert as_bob.get(f"/sessions/{sid}/scorecard/").status_code == 410
    assert as_bob.post(f"/sessions/{sid}/notes/", {"event_id": "x", "body": "y"}).status_code == 410


def test_share_links_include_notes_only_when_ticked(as_bob, sid) -> None:
    event_id = first_event(sid)
    as_bob.post(f"/sessions/{sid}/notes/", {"event_id": event_id, "body": "shared evidence"})
    urls = {}
    for ticked in (False, True):
        data = {"expires_in_hours": 1, **({"include_notes": "1"} if ticked else {})}
        response = as_bob.post(f"/sessions/{sid}/share/", data)
        urls[ticked] = SHARE_URL.search(response.content.decode()).group(1)
    assert list(ShareLink.objects.order_by("pk").values_list("include_notes", flat=True)) == [
        False,
        True,
    ]
    visitor = Client()
    without = visitor.get(urls[False] + f"?open={event_id}")
    assertNotContains(without, "shared evidence")
    with_notes = visitor.get(urls[True] + f"?open={event_id}")
    assertContains(with_notes, "shared evidence")
    assertContains(with_notes, f'data-note-for="{event_id}"')
    assertNotContains(with_notes, "Add a note")
    assertNotContains(with_notes, "csrfmiddlewaretoken")


# --- review state, cohort columns, read position ------------------------------------------------


def test_the_list_shows_and_filters_by_review_state(as_bob, as_alice, sid) -> None:
    as_bob.post(f"/sessions/{sid}/notes/", {"event_id": first_event(sid), "body": "n"})
    page = as_bob.get(f"/sessions/?assessmentId={ASSESSMENT}&limit=100")
    assertContains(page, 'data-review-state="not_started"')
    assertContains(page, "1 note")
    as_bob.post(f"/sessions/{sid}/scorecard/", card(submit="1"))
    assertContains(as_bob.get(f"/sessions/?assessmentId={ASSESSMENT}&limit=100"), "1 scorecard")
    scored = as_bob.get(f"/sessions/?assessmentId={ASSESSMENT}&limit=100&review=scored")
    assertContains(scored, f'data-session-id="{sid}"')
    assertNotContains(
        as_bob.get(f"/sessions/?assessmentId={ASSESSMENT}&limit=100&review=decided"),
        f'data-session-id="{sid}"',
    )
    as_alice.post(f"/sessions/{sid}/decision/", decide(decision="hold"))
    decided = as_bob.get(f"/sessions/?assessmentId={ASSESSMENT}&limit=100&review=decided")
    assertContains(decided, f'data-session-id="{sid}"')
    assertContains(decided, "Decided: hold")


def csv_row(text: str, sid: str) -> str:
    return next(line for line in text.splitlines() if f'"{sid}"' in line)


def test_the_cohort_medians_are_blind_aware_on_the_page_and_in_the_csv(
    as_bob, as_dave, as_carol, sid
) -> None:
    as_bob.post(f"/sessions/{sid}/scorecard/", card(score_communication="5", submit="1"))
    as_dave.post(f"/sessions/{sid}/scorecard/", card(score_communication="2"))
    hidden = as_dave.get(f"/assessments/{ASSESSMENT}/")
    assertNotContains(hidden, 'data-median="communication"')
    csv_hidden = as_dave.get(f"/assessments/{ASSESSMENT}/cohort.csv").content.decode()
    assert csv_hidden.splitlines()[0].endswith('"median_communication"')
    assert csv_row(csv_hidden, sid).endswith('"scored","","","","","",""')
    shown = as_bob.get(f"/assessments/{ASSESSMENT}/")
    assertContains(shown, '<td class="num" data-median="communication">5</td>', html=False)
    csv_shown = as_bob.get(f"/assessments/{ASSESSMENT}/cohort.csv").content.decode()
    assert csv_row(csv_shown, sid).endswith('"scored","","4","3","","2","5"')
    row = f'data-session-id="{sid}"'
    assertContains(as_carol.get(f"/assessments/{ASSESSMENT}/?review=scored"), row)
    assertNotContains(as_carol.get(f"/assessments/{ASSESSMENT}/?review=decided"), row)


def test_the_session_reopens_where_the_reviewer_stopped(as_bob, as_dave, sid) -> None:
    events = list(
        StoredEvent.objects.filter(sync__session_id=sid)
        .order_by("seq")
        .values_list("event_id", flat=True)
    )
    assert as_bob.post(f"/sessions/{sid}/position/", {"event_id": events[2]}).status_code == 302
    as_bob.post(f"/sessions/{sid}/position/", {"event_id": events[0]})  # not further: kept
    page = as_bob.get(f"/sessions/{sid}/")
    assertContains(page, "You were here")
    assertContains(page, f'id="turn-{events[2]}"')
    assert (
        'class="turn open" id="turn-' + events[2]
        in page.content.decode().replace('class="turn open"', 'class="turn open"')
        or f'data-notes-slot="{events[2]}"><p class="you-were-here"' in page.content.decode()
    )
    assertNotContains(as_dave.get(f"/sessions/{sid}/"), "You were here")
    as_bob.post(f"/sessions/{sid}/position/", {"event_id": events[1], "mark": "1"})
    assertContains(
        as_bob.get(f"/sessions/{sid}/?open={events[1]}"),
        f'data-notes-slot="{events[1]}"><p class="you-were-here"',
        html=False,
    )
    assert as_bob.post(f"/sessions/{sid}/position/", {"event_id": "nope"}).status_code == 400


# --- anonymized review ------------------------------------------------------------------------


def test_anonymized_review_hides_names_from_reviewers_until_decided(
    as_alice, as_bob, as_carol, org_a, sid
) -> None:
    from reviewer.review import anonymity

    assert as_bob.post("/org/settings/review/", {"anonymized": "1"}).status_code == 403
    assert as_alice.post("/org/settings/review/", {"anonymized": "1"}).status_code == 302
    org_a.refresh_from_db()
    alias = anonymity.alias(org_a, sid)
    assert alias.startswith("Candidate ") and alias == anonymity.alias(org_a, sid)
    surfaces = [
        f"/sessions/{sid}/",
        f"/sessions/?assessmentId={ASSESSMENT}&limit=100",
        f"/assessments/{ASSESSMENT}/",
        f"/assessments/{ASSESSMENT}/cohort.csv",
        f"/compare/?a={sid}",
        f"/sessions/{sid}/files/",
        f"/sessions/{sid}/attribution/",
        "/search/?q=cache",
    ]
    for url in surfaces:
        for client in (as_bob, as_carol):
            body = client.get(url).content.decode()
            assert "Rev Iewee" not in body, url
        assertContains(as_alice.get(url), "Rev Iewee")
    assertContains(as_bob.get(f"/sessions/{sid}/"), alias)
    assertContains(as_bob.get(f"/sessions/?assessmentId={ASSESSMENT}&limit=100"), alias)
    response = as_bob.post(f"/sessions/{sid}/share/", {"expires_in_hours": 1})
    shared = SHARE_URL.search(response.content.decode()).group(1)
    assertNotContains(Client().get(shared), "Rev Iewee")
    as_alice.post(f"/sessions/{sid}/decision/", decide())
    assertContains(as_bob.get(f"/sessions/{sid}/"), "Rev Iewee")
    as_alice.post("/org/settings/review/", {"anonymized": "0"})
    changes = AuditEntry.objects.filter(action=AuditEntry.Action.ANONYMIZED_CHANGED)
    assert [e.detail["anonymized"] for e in changes.order_by("id")] == [True, False]


# --- the task on a real worker ----------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_sync_task_retries_a_503_with_backoff_on_a_real_worker(org_a, alice, sandbox) -> None:
    import time

    from celery.contrib.testing.worker import start_worker

    from reviewer.celery import app
    from reviewer.review.tasks import enqueue_sync

    session_id = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-03T10:00:00Z", "endedAt": "2026-11-03T11:00:00Z"},
        [{"kind": "prompt", "ts": "2026-11-03T10:00:00Z", "data": {"text": "go"}}],
    )
    sync.record_decision(
        org_a,
        session_id,
        alice,
        verdict="advance",
        scores={"code_quality": 5, "communication": 4},
        notes={"code_quality": "tidy"},
    )
    sandbox.inject("status", status=503, count=1, route=POST_SCORES)
    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
    ):
        assert enqueue_sync(org_a, session_id)
        assert enqueue_sync(org_a, session_id)  # a duplicate delivery writes nothing more
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not Decision.objects.get().synced:
            time.sleep(0.2)
        time.sleep(1)  # let the duplicate finish
    decision = Decision.objects.get()
    assert decision.synced and decision.sync_error == ""
    assert posts(sandbox) == 2  # the refused 503, then one write
    assert {
        (s["dimension"], s["score"], s["notes"])
        for s in sandbox.state.scores(ACME["id"], session_id)
    } == {
        ("code_quality", 5, "tidy"),
        ("communication", 4, None),
    }


def test_notes_key_on_the_stored_record_of_a_repeated_id(org_a, as_bob, sandbox) -> None:
    session_id = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-05T10:00:00Z", "endedAt": "2026-11-05T11:00:00Z"},
        [
            {
                "id": "evt_twice",
                "kind": "prompt",
                "ts": "2026-11-05T10:00:00Z",
                "data": {"text": "a"},
            },
            {
                "id": "evt_twice",
                "kind": "prompt",
                "ts": "2026-11-05T10:01:00Z",
                "data": {"text": "b"},
            },
        ],
    )
    prefetch.prefetch(org_a, session_id)
    keys = [e.key for e in StoredEvent.objects.filter(sync__session_id=session_id).order_by("seq")]
    assert keys == ["evt_twice", "evt_twice~2"]
    as_bob.post(f"/sessions/{session_id}/notes/", {"event_id": "evt_twice~2", "body": "second"})
    assert Note.objects.get().event_key == "evt_twice~2"
    page = as_bob.get(f"/sessions/{session_id}/?view=events").content.decode()
    slot = page.index('data-notes-slot="evt_twice~2"')
    assert page.index('data-note-for="evt_twice"', slot) > slot
    assert (
        'data-notes-slot="evt_twice"></div>' not in page
        or "second" not in page.split('data-notes-slot="evt_twice~2"')[0]
    )


def test_a_changed_decision_while_another_writer_holds_the_lease_is_written_later(
    org_a, alice, sandbox, sid
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    sync.record_decision(org_a, sid, alice, verdict="hold", scores={"communication": 3}, notes={})
    Decision.objects.update(
        claim_token="other", claimed_until=timezone.now() + timedelta(seconds=30)
    )
    result = sync.sync_decision(org_a, sid)
    assert result.outcome == sync.Outcome.BUSY and result.retry_later
    Decision.objects.update(claim_token="", claimed_until=None)  # the other writer died
    assert sync.sync_decision(org_a, sid).outcome == sync.Outcome.SYNCED
    assert posts(sandbox) == 1
