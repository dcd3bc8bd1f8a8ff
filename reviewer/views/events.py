"""One event in full (paged or downloaded when huge), what followed a prompt, the jump to the
next failure, and exports of the stored timeline.

The same rendering serves members (`/sessions/<id>/…`) and share links (`/shared/<token>/…`)
through the `render_*` helpers, given a `Place` (see `reviewer.views.timeline`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from django.contrib import messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from reviewer import rendering, timeline
from reviewer.converters import KEY_PATTERN
from reviewer.models import StoredEvent
from reviewer.review.slots import review_slots
from reviewer.views.common import HtmxHttpRequest, member_view
from reviewer.views.timeline import Place, member_place, start_of

KEY_RE = re.compile(KEY_PATTERN)


def render_event(
    request: HtmxHttpRequest, place: Place, event_key: str
) -> HttpResponse | StreamingHttpResponse:
    """One event in full, with no truncation (the 'show all' of a long payload)."""
    seq = timeline.seq_of(place.sync, event_key)
    row = (
        StoredEvent.objects.for_sync(place.sync).filter(seq=seq).first()
        if seq is not None
        else None
    )
    if row is None:
        raise Http404("No such event in this session.")
    start = start_of(None, place)
    event = rendering.present([row], start, full=True, base=place.base)[0]
    if "download" in request.GET:
        return _download_field(event, request.GET["download"])
    # A field too large for one page is shown a window at a time (?field=…&page=…).
    event.pages = rendering.page_fields(
        event.data,
        event.url,
        request.GET.get("field", ""),
        request.GET.get("page", ""),
        kind=event.kind,
    )
    template = "sessions/event.html#full" if request.htmx else "sessions/event.html"
    return render(request, template, {"event": event, "place": place, "full": True})


def _download_field(event: rendering.EventView, name: str) -> StreamingHttpResponse:
    """One text field of an event, whole, as a plain-text download streamed in chunks."""
    value = event.data.get(name)
    if not isinstance(value, str):
        raise Http404("No such text field in this event.")
    response = StreamingHttpResponse(
        rendering.stream_text(value), content_type="text/plain; charset=utf-8"
    )
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{event.key}-{name}")[:150] + ".txt"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def render_followups(request: HtmxHttpRequest, place: Place, event_key: str) -> HttpResponse:
    seq = timeline.seq_of(place.sync, event_key)
    if seq is None:
        raise Http404("No such event in this session.")
    rows = timeline.followups(place.sync, seq)
    start = start_of(None, place)
    events = rendering.present(rows, start, base=place.base)
    context = {"events": events, "place": place, "prompt_id": event_key}
    template = "sessions/followups.html#list" if request.htmx else "sessions/followups.html"
    return render(request, template, context)


# --- member views -------------------------------------------------------------------------------


@require_GET
@member_view
@review_slots
def event_detail(
    request: HtmxHttpRequest, session_id: str, event_key: str
) -> HttpResponse | StreamingHttpResponse:
    _, place = member_place(request, session_id)
    return render_event(request, place, event_key)


@require_GET
@member_view
@review_slots
def event_followups(request: HtmxHttpRequest, session_id: str, event_key: str) -> HttpResponse:
    _, place = member_place(request, session_id)
    return render_followups(request, place, event_key)


def render_jump(request: HtmxHttpRequest, place: Place) -> HttpResponse:
    """Go to the next (or previous) failure from an event (`?dir=next|prev&from=<key>`)."""
    direction = "prev" if request.GET.get("dir") == "prev" else "next"
    origin = request.GET.get("from", "")
    seq = timeline.seq_of(place.sync, origin) if KEY_RE.fullmatch(origin) else None
    if seq is None:
        seq = -1 if direction == "next" else 2**31
    target = timeline.neighbour_failure(place.sync, seq, direction)
    view = "&view=events" if request.GET.get("view") == "events" else ""
    if target is None:
        if not place.shared:
            messages.info(request, f"No {'later' if direction == 'next' else 'earlier'} failure.")
        anchor = f"?at={origin}{view}#event-{origin}" if origin and seq not in (-1, 2**31) else ""
        return redirect(place.base + (anchor or view.replace("&", "?")))
    return redirect(f"{place.base}?at={target.key}{view}#event-{target.key}")


@require_GET
@member_view
def jump(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    _, place = member_place(request, session_id)
    return render_jump(request, place)


@require_GET
@member_view
def export_json(request: HtmxHttpRequest, session_id: str) -> StreamingHttpResponse:
    """The stored timeline as one JSON document, streamed row by row."""
    _, place = member_place(request, session_id)

    def body() -> Iterator[str]:
        yield '{"sessionId":' + json.dumps(place.session_id) + ',"events":['
        first = True
        for raw in timeline.iter_raw(place.sync):
            yield raw if first else "," + raw
            first = False
        yield "]}\n"

    response = StreamingHttpResponse(body(), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="session-{place.session_id}.json"'
    return response


@require_GET
@member_view
def export_ndjson(request: HtmxHttpRequest, session_id: str) -> StreamingHttpResponse:
    """The stored timeline as newline-delimited JSON, one event a line, streamed."""
    _, place = member_place(request, session_id)
    response = StreamingHttpResponse(
        (raw + "\n" for raw in timeline.iter_raw(place.sync)), content_type="application/x-ndjson"
    )
    response["Content-Disposition"] = f'attachment; filename="session-{place.session_id}.ndjson"'
    return response
