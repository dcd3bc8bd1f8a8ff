"""The per-reader parts of cached timeline HTML: notes, edit links, forms, "you were here".

Rendered timeline chunks are cached once for every reader (`reviewer.fragments`), so they
carry only an empty slot per event, `<div class="ev-notes" data-notes-slot="<key>"></div>`.
`fill()` fills every slot of a response for one reader, once per request; every view that
serves rendered events runs its response through `fill_member_response()` (members, via the
`review_slots` decorator) or `fill_shared_response()` (share links).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import reverse

from reviewer.models import (
    Organization,
    Role,
    ShareLink,
    StoredEvent,
    TimelineSync,
    event_key,
    parse_event_key,
)
from reviewer.rendering.markdown import render_markdown
from reviewer.review.models import Note, ReadPosition
from reviewer.turns import START

SLOT_RE = re.compile(r'<div class="ev-notes" data-notes-slot="([^"<>]{1,120})"></div>')
TURN_SLOT_RE = re.compile(
    r'<span class="turn-notes" data-turn-notes-slot="([^"<>]{1,120})"></span>'
)
_PLACEHOLDER = "__slotkey__"


@dataclass
class Reader:
    """Who a response's slots are filled for."""

    org: Organization
    session_id: str
    user_id: int | None = None
    can_write: bool = False
    show_notes: bool = True
    csrf_token: str = ""
    here_key: str = ""  # the member's read position: "you were here"
    notes: dict[str, list[Note]] = field(default_factory=dict)


def _load_notes(reader: Reader) -> None:
    if not reader.show_notes:
        return
    for note in Note.objects.for_session(reader.org, reader.session_id).order_by(
        "created_at", "id"
    ):
        reader.notes.setdefault(note.event_key, []).append(note)


def render_slot(reader: Reader, key: str) -> str:
    """The inside of one event's slot for this reader."""
    notes = reader.notes.get(key, [])
    if not notes and not reader.can_write and key != reader.here_key:
        return ""
    event_id = parse_event_key(key)[0]
    return render_to_string(
        "review/_slot.html",
        {
            "key": key,
            "event_id": event_id,
            "notes": [
                {"note": n, "html": render_markdown(n.body), "own": n.author_id == reader.user_id}
                for n in notes
            ],
            "reader": reader,
            "here": key == reader.here_key,
            "notes_url": reverse("review-notes", args=[reader.session_id]),
            "position_url": reverse("review-position", args=[reader.session_id]),
        },
    )


def _notes_per_turn(reader: Reader) -> dict[str, int]:
    """{turn key: notes on its events}: a collapsed turn says it holds notes."""
    if not reader.notes:
        return {}
    sync = TimelineSync.objects.for_org(reader.org).filter(session_id=reader.session_id).first()
    if sync is None:
        return {}
    wanted = [parse_event_key(k) for k in reader.notes]
    rows = StoredEvent.objects.for_sync(sync).filter(
        event_id__in=[event_id for event_id, _ in wanted]
    )
    turn_of = {
        event_key(r.event_id, r.variant): r.turn for r in rows.only("event_id", "variant", "turn")
    }
    prompts = {
        r.seq: event_key(r.event_id, r.variant)
        for r in StoredEvent.objects.for_sync(sync)
        .filter(seq__in=set(turn_of.values()))
        .only("seq", "event_id", "variant")
    }
    counts: dict[str, int] = {}
    for key, notes in reader.notes.items():
        if key not in turn_of:
            continue
        turn = turn_of[key]
        turn_key = START if turn < 0 else prompts.get(turn, "")
        counts[turn_key] = counts.get(turn_key, 0) + len(notes)
    return counts


def fill(html: str, reader: Reader) -> str:
    """Fill every slot of `html` for `reader`."""
    if "data-notes-slot" not in html and "data-turn-notes-slot" not in html:
        return html
    _load_notes(reader)
    if "data-turn-notes-slot" in html:
        per_turn = _notes_per_turn(reader)

        def turn_slot(match: re.Match[str]) -> str:
            n = per_turn.get(match.group(1), 0)
            inner = f"{n} note{'s' if n != 1 else ''}" if n else ""
            return (
                f'<span class="turn-notes" data-turn-notes-slot="{match.group(1)}">{inner}</span>'
            )

        html = TURN_SLOT_RE.sub(turn_slot, html)
    empty: str | None = None

    def replace(match: re.Match[str]) -> str:
        nonlocal empty
        key = match.group(1)
        if key in reader.notes or key == reader.here_key:
            inner = render_slot(reader, key)
        elif not reader.can_write:
            inner = ""
        else:
            # Most slots are an empty "add a note" form: render it once, then reuse it.
            if empty is None:
                empty = render_slot(reader, _PLACEHOLDER)
            inner = empty.replace(_PLACEHOLDER, key)
        return f'<div class="ev-notes" data-notes-slot="{key}">{inner}</div>'

    return SLOT_RE.sub(replace, html)


def _fill_response(response: HttpResponseBase, reader_for: Callable[[], Reader]) -> None:
    if (
        isinstance(response, HttpResponse)
        and response.status_code == 200
        and response.get("Content-Type", "").startswith("text/html")
        and b"notes-slot" in response.content
    ):
        response.content = fill(response.content.decode(), reader_for()).encode()


def member_reader(request: HttpRequest, session_id: str) -> Reader:
    from reviewer import access

    membership = access.get_membership(request)
    org = membership.organization
    position = ReadPosition.objects.for_session(org, session_id).filter(user=request.user).first()
    return Reader(
        org=org,
        session_id=session_id,
        user_id=request.user.pk,
        can_write=membership.has_role(Role.REVIEWER),
        csrf_token=get_token(request),
        here_key=(position.marker_key or position.furthest_key) if position else "",
    )


def fill_member_response(
    request: HttpRequest, session_id: str, response: HttpResponseBase
) -> HttpResponseBase:
    """Fill a member's response in place and return it."""
    _fill_response(response, lambda: member_reader(request, session_id))
    return response


def fill_shared_response(link: ShareLink, response: HttpResponseBase) -> HttpResponseBase:
    """Fill a share link's response: its notes if the link includes them, never a form."""
    _fill_response(
        response,
        lambda: Reader(
            org=link.organization, session_id=link.session_id, show_notes=link.include_notes
        ),
    )
    return response


def review_slots(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Decorate a member view that serves rendered events (under `member_view`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, session_id: str, *args: Any, **kwargs: Any) -> Any:
        response = view(request, session_id, *args, **kwargs)
        return fill_member_response(request, session_id, response)

    return wrapper
