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

from reviewer.models import Organization, Role, ShareLink, parse_event_key
from reviewer.rendering.markdown import render_markdown
from reviewer.review.models import Note, ReadPosition

SLOT_RE = re.compile(r'<div class="ev-notes" data-notes-slot="([^"<>]{1,120})"></div>')
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


def fill(html: str, reader: Reader) -> str:
    """Fill every slot of `html` for `reader`."""
    if "data-notes-slot" not in html:
        return html
    _load_notes(reader)
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
        and b"data-notes-slot" in response.content
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
