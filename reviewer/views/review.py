"""Hiring review pages: notes on events, the scorecard, the team decision and its sync,
read positions and the anonymized-review setting (issue 15).

Permission checks live here, never in templates: viewers read, reviewers and admins write
notes and scorecards, only admins decide. Every verdict shown goes through
`reviewer.review.board.Board.sees_verdicts`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from reviewer import access, cache, promptster, timeline
from reviewer.models import AuditEntry, Membership, Organization, Role
from reviewer.review import notes as notes_module
from reviewer.review import scorecards, slots, sync
from reviewer.review.board import Board
from reviewer.review.forms import DecisionForm, NoteEditForm, NoteForm, ScorecardForm
from reviewer.review.models import DIMENSIONS, Decision, Note, ReadPosition, Scorecard
from reviewer.review.rubric import ANCHORS
from reviewer.review.tasks import enqueue_sync
from reviewer.views.common import MemberRequest, member_view

SYNC_RETRY_COUNTDOWN = 5  # seconds before the task tries again after a failed inline write


def _event_url(session_id: str, key: str) -> str:
    base = reverse("session-detail", args=[session_id])
    return f"{base}?open={quote(key, safe='')}#event-{quote(key, safe='')}"


# --- the session page's review panel --------------------------------------------------------


def panel_context(membership: Membership, session_id: str) -> dict[str, Any]:
    """What the session page's review panel needs (called by `session_detail`)."""
    board = Board.for_member(membership, session_id)
    upstream_scores: list[Any] | None = None
    scores_error = ""
    if board.sees_verdicts:
        try:
            upstream_scores = cache.get_scores(membership.organization, session_id).value
        except promptster.PromptsterError as exc:
            scores_error = exc.user_message
    return {
        "review": board,
        "review_rows": board.dimension_rows(),
        "review_notes": notes_module.notes_of(membership.organization, session_id),
        "review_upstream_scores": upstream_scores,
        "review_scores_error": scores_error,
        "review_labels": dict(DIMENSIONS),
    }


# --- notes ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@member_view
def note_create(request: MemberRequest, session_id: str) -> HttpResponse:
    """POST `event_id`, `body`: a note on that event (reviewers and admins). GET with
    `event_id`: the form (inline for htmx, a page without JavaScript)."""
    membership = access.get_membership(request)
    access.require_role(membership, Role.REVIEWER)
    session = access.get_session_for_member(membership, session_id).value
    org = membership.organization
    if request.method == "GET":
        try:
            key = notes_module.resolve_event(
                timeline.get_sync(org, session.id), request.GET.get("event_id", "")[:110]
            )
        except notes_module.UnknownEvent:
            raise Http404("No such event in this session.") from None
        context = {
            "key": key,
            "notes_url": reverse("review-notes", args=[session.id]),
            "position_url": reverse("review-position", args=[session.id]),
            "back": _event_url(session.id, key),
        }
        template = "review/note_form.html#form" if request.htmx else "review/note_form.html"
        return render(request, template, context)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return HttpResponse("A note needs an event and some text.", status=400)
    sync_row = timeline.get_sync(org, session.id)
    try:
        note = notes_module.add_note(
            org, sync_row, form.cleaned_data["event_id"], request.user, form.cleaned_data["body"]
        )
    except notes_module.UnknownEvent:
        return HttpResponse("That event is not in this session's stored timeline.", status=400)
    if request.htmx:
        return _slot_response(request, session.id, note.event_key)
    messages.success(request, "Note saved.")
    return redirect(_event_url(session.id, note.event_key))


def _slot_response(request: MemberRequest, session_id: str, key: str) -> HttpResponse:
    html = f'<div class="ev-notes" data-notes-slot="{key}"></div>'
    filled = slots.fill(html, slots.member_reader(request, session_id))
    return HttpResponse(filled)


def _own_note(request: MemberRequest, session_id: str, note_id: int) -> tuple[Note, Membership]:
    membership = access.get_membership(request)
    access.get_session_for_member(membership, session_id)  # 404 / 410 first
    note = get_object_or_404(
        Note.objects.for_session(membership.organization, session_id), pk=note_id
    )
    if note.author_id != request.user.pk:
        raise PermissionDenied("Only its author can change a note.")
    access.require_role(membership, Role.REVIEWER)
    return note, membership


@require_http_methods(["GET", "POST"])
@member_view
def note_edit(request: MemberRequest, session_id: str, note_id: int) -> HttpResponse:
    """GET: the edit form. POST `body`: the new text (the old one is kept as history)."""
    note, _ = _own_note(request, session_id, note_id)
    form = NoteEditForm(request.POST or None, initial={"body": note.body})
    if request.method == "POST":
        if form.is_valid():
            notes_module.edit_note(note, request.user, form.cleaned_data["body"])
            messages.success(request, "Note updated.")
            return redirect(_event_url(session_id, note.event_key))
        status = 400
    else:
        status = 200
    context = {
        "note": note,
        "form": form,
        "session_id": session_id,
        "revisions": note.revisions.all(),
        "back": _event_url(session_id, note.event_key),
    }
    return render(request, "review/note_edit.html", context, status=status)


@require_POST
@member_view
def note_delete(request: MemberRequest, session_id: str, note_id: int) -> HttpResponse:
    note, _ = _own_note(request, session_id, note_id)
    key = note.event_key
    notes_module.delete_note(note, request.user)
    if request.htmx:
        return _slot_response(request, session_id, key)
    messages.success(request, "Note deleted.")
    return redirect(_event_url(session_id, key))


# --- the scorecard ---------------------------------------------------------------------------


def _card_initial(card: Scorecard | None) -> dict[str, Any]:
    if card is None:
        return {}
    initial: dict[str, Any] = {"recommendation": card.recommendation, "summary": card.summary}
    for key, _ in DIMENSIONS:
        initial[f"score_{key}"] = card.scores.get(key)
        initial[f"notes_{key}"] = card.notes.get(key, "")
    return initial


def _rubric_rows(form: Any) -> list[dict[str, Any]]:
    return [
        {"anchor": a, "score": form[f"score_{a.key}"], "notes": form[f"notes_{a.key}"]}
        for a in ANCHORS
    ]


@require_http_methods(["GET", "POST"])
@member_view
def scorecard(request: MemberRequest, session_id: str) -> HttpResponse:
    """The signed-in reviewer's scorecard, and (once allowed) everyone's side by side.

    POST: `score_<dimension>` (1–5 or empty), `notes_<dimension>`, `recommendation`,
    `summary`; `submit=1` submits (a draft otherwise). 409 once submitted."""
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    org = membership.organization
    board = Board.for_member(membership, session.id)
    mine = board.mine
    status = 200
    if request.method == "POST":
        access.require_role(membership, Role.REVIEWER)
        if mine is not None and mine.submitted:
            return HttpResponse("This scorecard was submitted and cannot change.", status=409)
        form = ScorecardForm(request.POST)
        if form.is_valid():
            submit = bool(form.cleaned_data["submit"])
            try:
                scorecards.save_scorecard(
                    org,
                    session.id,
                    request.user,
                    scores=form.scores(),
                    notes=form.dimension_notes(),
                    recommendation=form.cleaned_data["recommendation"],
                    summary=form.cleaned_data["summary"].strip(),
                    submit=submit,
                )
            except scorecards.AlreadySubmitted:
                return HttpResponse("This scorecard was submitted and cannot change.", status=409)
            messages.success(
                request,
                "Scorecard submitted: everyone's submitted scorecards are shown below."
                if submit
                else "Draft saved.",
            )
            return redirect("review-scorecard", session_id=session.id)
        status = 400
    else:
        form = ScorecardForm(initial=_card_initial(mine))
    context = {
        "session": session,
        "board": board,
        "mine": mine,
        "form": form,
        "rubric": _rubric_rows(form),
        "rows": board.dimension_rows(),
        "labels": dict(DIMENSIONS),
        "editable": board.can_score and not (mine and mine.submitted),
        "decision_form": _decision_form(board) if board.can_decide else None,
    }
    template = "review/scorecard.html#card" if request.htmx else "review/scorecard.html"
    return render(request, template, context, status=status)


# --- the decision ----------------------------------------------------------------------------


def _decision_form(board: Board, data: Any = None) -> DecisionForm:
    """The decision form, prefilled with the recorded decision, or else with the median of
    submitted scorecards when the admin may see them."""
    initial: dict[str, Any] = {}
    if board.decision is not None:
        initial["decision"] = board.decision.verdict
        for key, _ in DIMENSIONS:
            initial[f"score_{key}"] = board.decision.scores.get(key)
            initial[f"notes_{key}"] = board.decision.notes.get(key, "")
    else:
        for key, median in board.medians().items():
            initial[f"score_{key}"] = int(median + 0.5)  # halves round up
    return DecisionForm(data, initial=initial)


def _sync_now(org: Organization, session_id: str) -> sync.SyncResult:
    """Write the decision upstream now; a transient failure is left to the task."""
    result = sync.sync_decision(org, session_id)
    if result.retry_later:
        enqueue_sync(org, session_id, countdown=SYNC_RETRY_COUNTDOWN)
    return result


def _sync_message(request: MemberRequest, result: sync.SyncResult) -> None:
    if result.outcome in (sync.Outcome.SYNCED, sync.Outcome.ALREADY_THERE):
        messages.success(request, "The final scores were written to Promptster.")
    elif result.outcome == sync.Outcome.REFUSED:
        messages.error(request, f"Promptster refused the final scores: {result.error}")
    elif result.outcome == sync.Outcome.BUSY:
        messages.info(request, "The final scores are being written to Promptster.")
    elif result.outcome == sync.Outcome.FAILED:
        messages.warning(
            request,
            "The decision is recorded but not synced to Promptster yet; it is retried in the "
            "background.",
        )


@require_http_methods(["GET", "POST"])
@member_view
def decision(request: MemberRequest, session_id: str) -> HttpResponse:
    """Admins: POST `score_<dimension>`, `notes_<dimension>`, `decision`. Recorded here,
    then written to Promptster with POST /v1/sessions/:id/scores."""
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    access.require_role(membership, Role.ADMIN)
    board = Board.for_member(membership, session.id)
    form = _decision_form(board, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        _, changed = sync.record_decision(
            membership.organization,
            session.id,
            request.user,
            verdict=form.cleaned_data["decision"],
            scores=form.scores(),
            notes=form.dimension_notes(),
        )
        messages.success(request, "Decision recorded." if changed else "Decision unchanged.")
        _sync_message(request, _sync_now(membership.organization, session.id))
        return redirect("review-scorecard", session_id=session.id)
    context = {"session": session, "board": board, "decision_form": form}
    status = 400 if request.method == "POST" else 200
    return render(request, "review/decision.html", context, status=status)


@require_POST
@member_view
def decision_sync(request: MemberRequest, session_id: str) -> HttpResponse:
    """The Retry button: write the decision to Promptster again (admins)."""
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    access.require_role(membership, Role.ADMIN)
    found = Decision.objects.for_session(membership.organization, session.id).first()
    if found is None:
        raise Http404("No decision is recorded for this session.")
    sync.ask_again(found)
    _sync_message(request, _sync_now(membership.organization, session.id))
    return redirect("review-scorecard", session_id=session.id)


# --- read position ---------------------------------------------------------------------------


@require_POST
@member_view
def position(request: MemberRequest, session_id: str) -> HttpResponse:
    """POST `event_id`: the furthest event seen (kept only if further than before);
    with `mark=1`, the explicit "reviewed up to here" marker."""
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    org = membership.organization
    sync_row = timeline.get_sync(org, session.id)
    try:
        key = notes_module.resolve_event(sync_row, request.POST.get("event_id", "")[:110])
    except notes_module.UnknownEvent:
        return HttpResponse("That event is not in this session's stored timeline.", status=400)
    seq = timeline.seq_of(sync_row, key)
    assert seq is not None
    row, _ = ReadPosition.objects.get_or_create(
        organization=org, session_id=session.id, user=request.user
    )
    if request.POST.get("mark"):
        row.marker_key = key
    if seq > row.furthest_seq:
        row.furthest_seq, row.furthest_key = seq, key
    row.save()
    if request.htmx or request.headers.get("X-Requested-With") == "fetch":
        return HttpResponse(status=204)
    messages.success(request, "Marked as reviewed up to this event.")
    return redirect(_event_url(session.id, key))


def position_key(membership: Membership, user_id: int | None, session_id: str) -> str:
    """Where a member's session page reopens: the marker, else the furthest event seen."""
    row = (
        ReadPosition.objects.for_session(membership.organization, session_id)
        .filter(user_id=user_id)
        .first()
    )
    return (row.marker_key or row.furthest_key) if row else ""


# --- the organization setting ----------------------------------------------------------------


@require_POST
@member_view
def anonymized_setting(request: MemberRequest) -> HttpResponse:
    """POST `anonymized` = "1" or "0": show candidates under an alias until decided (admins)."""
    membership = access.get_membership(request)
    access.require_role(membership, Role.ADMIN)
    org = membership.organization
    wanted = request.POST.get("anonymized") == "1"
    if org.review_anonymized != wanted:
        Organization.objects.filter(pk=org.pk).update(review_anonymized=wanted)
        AuditEntry.record(
            org, AuditEntry.Action.ANONYMIZED_CHANGED, actor=request.user, anonymized=wanted
        )
        cache.invalidate_session_lists(org)
    messages.success(request, "Anonymized review is on." if wanted else "Anonymized review is off.")
    return redirect("org-settings")
