"""Notes on events (issue 15 §1): written by reviewers and admins, kept with their history,
edited and deleted by their authors only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from reviewer import timeline
from reviewer.models import Organization, StoredEvent, TimelineSync, event_key
from reviewer.review.models import Note, NoteRevision

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class UnknownEvent(Exception):
    """The event is not in the session's stored timeline."""


class NotAuthor(Exception):
    """Only a note's author may change it."""


def resolve_event(sync: TimelineSync, given: str) -> str:
    """The stored key of an event named by its id or its key (`<id>~N` for the Nth record
    of a repeated id); `UnknownEvent` if the store holds no such event."""
    seq = timeline.seq_of(sync, given)
    if seq is None:
        raise UnknownEvent(given)
    row = StoredEvent.objects.for_sync(sync).filter(seq=seq).values("event_id", "variant").first()
    if row is None:
        raise UnknownEvent(given)
    return event_key(row["event_id"], row["variant"])


def add_note(
    org: Organization, sync: TimelineSync, given_event: str, author: User, body: str
) -> Note:
    """A new note on a stored event (`UnknownEvent` if it is not stored)."""
    key = resolve_event(sync, given_event)
    return Note.objects.create(
        organization=org,
        session_id=sync.session_id,
        event_key=key,
        author=author,
        author_name=author.get_username(),
        body=body,
    )


def edit_note(note: Note, user: User, body: str) -> Note:
    """Replace a note's text, keeping the old text as a revision (authors only)."""
    if note.author_id != user.pk:
        raise NotAuthor()
    if body == note.body:
        return note
    with transaction.atomic():
        NoteRevision.objects.create(note=note, body=note.body)
        note.body = body
        note.edited_at = timezone.now()
        note.save(update_fields=["body", "edited_at"])
    return note


def delete_note(note: Note, user: User) -> None:
    """Delete a note and its history (authors only)."""
    if note.author_id != user.pk:
        raise NotAuthor()
    note.delete()


def notes_of(org: Organization, session_id: str) -> list[Note]:
    """Every note of a session, oldest first."""
    return list(Note.objects.for_session(org, session_id).order_by("created_at", "id"))


def purge_review(org: Organization, session_id: str) -> dict[str, int]:
    """Delete every review row of a session (notes and their history, scorecards, the
    decision, read positions) for `reviewer.deletion`; counts by kind, no content."""
    from reviewer.review.models import Decision, ReadPosition, Scorecard

    counts = {}
    for name, model in (
        ("notes", Note),
        ("scorecards", Scorecard),
        ("decisions", Decision),
        ("positions", ReadPosition),
    ):
        counts[name] = model.objects.filter(organization=org, session_id=session_id).delete()[0]
    return counts
