"""The timeline: chunks of stored events, one event in full, what followed a prompt, exports.

The same rendering serves members (`/sessions/<id>/…`) and share links (`/shared/<token>/…`);
each view resolves *where* it is (organization, store, URL base) and then calls a shared
`_render_*` helper, so a shared page can only ever reach its own session.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from reviewer import access, cache, highlight, rendering, timeline
from reviewer.converters import KEY_PATTERN
from reviewer.forms import TimelineParams, parse_timeline_params
from reviewer.models import Organization, StoredEvent, TimelineSync
from reviewer.upstream import Session
from reviewer.views.common import HtmxHttpRequest, member_view

CONTEXT_BEFORE_TARGET = 2
KEY_RE = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class Place:
    """Where a timeline is being looked at from: a member's page or a share link."""

    org: Organization
    sync: TimelineSync
    session_id: str
    base: str  # URL prefix for this session's timeline routes, ending with "/"
    shared: bool = False

    @classmethod
    def for_member(cls, org: Organization, session_id: str, sync: TimelineSync) -> Place:
        return cls(org, sync, session_id, reverse("session-detail", args=[session_id]))


def _member_place(request: HtmxHttpRequest, session_id: str) -> tuple[Session, Place]:
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    sync = timeline.get_sync(membership.organization, session.id)
    return session, Place.for_member(membership.organization, session.id, sync)


def _window(place: Place, params: TimelineParams) -> tuple[timeline.Chunk, list[str]]:
    """The chunk the parameters ask for; an unknown cursor starts from the top, with a note."""
    notices = list(params.notices)
    flt = params.filter
    if params.before:
        seq = timeline.seq_of(place.sync, params.before)
        if seq is not None:
            return timeline.chunk(place.sync, flt, before_seq=seq), notices
        notices.append("That position is not in the stored timeline; showing the start.")
    if params.after:
        seq = timeline.seq_of(place.sync, params.after)
        if seq is not None:
            return timeline.chunk(place.sync, flt, after_seq=seq), notices
        notices.append("That position is not in the stored timeline; showing the start.")
    if params.at:
        seq = timeline.seq_of(place.sync, params.at)
        if seq is not None:
            return timeline.chunk(
                place.sync, flt, from_seq=max(0, seq - CONTEXT_BEFORE_TARGET)
            ), notices
        notices.append("That event is not stored (yet); showing the start.")
    return timeline.chunk(place.sync, flt), notices


def chunk_context(place: Place, params: TimelineParams, start: Any) -> dict[str, Any]:
    window, notices = _window(place, params)
    fragment = place.base + "timeline/"
    more = window.has_more and bool(window.events)
    earlier = window.has_earlier and bool(window.events)
    return {
        "place": place,
        "events": rendering.present(window.events, start, base=place.base),
        "chunk": window,
        "params": params,
        "notices": notices,
        "next_url": f"{fragment}?{params.query(after=window.last_id)}" if more else "",
        "earlier_url": f"{fragment}?{params.query(before=window.first_id)}" if earlier else "",
        "page_next_url": f"{place.base}?{params.query(after=window.last_id)}" if more else "",
        "page_earlier_url": f"{place.base}?{params.query(before=window.first_id)}"
        if earlier
        else "",
    }


SHARED_BASE_PLACEHOLDER = "/shared/~link~/"


def cacheable(place: Place) -> Place:
    """The place to render cached HTML for: a share link's token never goes into a cache."""
    return replace(place, base=SHARED_BASE_PLACEHOLDER) if place.shared else place


def personalise(html: str, place: Place) -> str:
    """Cached HTML for this very place (puts a share link's own base back)."""
    return html.replace(SHARED_BASE_PLACEHOLDER, place.base) if place.shared else html


def cached_chunk(place: Place, params: TimelineParams, start: Any) -> dict[str, Any]:
    """The rendered chunk (HTML and its first event id), cached until the store changes.

    Rendering events (markdown, highlighting, diffs) is the costly part of a timeline view;
    the same chunk is asked for again by every reviewer who scrolls past it.
    """
    generic = cacheable(place)
    position = params.query(after=params.after, before=params.before, at=params.at)
    name = repr((generic.base, position, params.notices, str(start)))
    digest = hashlib.sha256(name.encode()).hexdigest()[:20]

    def compute() -> dict[str, Any]:
        context = chunk_context(generic, params, start)
        html: str = render_to_string("sessions/timeline.html#chunk", context)
        if params.filter.q:
            html = highlight.mark_events(html, params.filter.q)
        return {"html": html, "first_id": context["chunk"].first_id}

    chunk = cache.get_derived(
        place.org, place.session_id, f"chunk-{digest}", timeline.store_version(place.sync), compute
    )
    return {**chunk, "html": personalise(chunk["html"], place)}


def _first_ts(place: Place) -> Any:
    """The store's first timestamp, remembered until the store changes."""
    if not place.sync.events_stored:
        return None
    return cache.get_derived(
        place.org,
        place.session_id,
        "first-ts",
        timeline.store_version(place.sync),
        lambda: timeline.first_ts(place.sync),
    )


def _start_of(session: Session | None, place: Place) -> Any:
    first = _first_ts(place)
    if session is not None and session.started_at and (first is None or session.started_at < first):
        return session.started_at
    return first


def _match_count(place: Place, params: TimelineParams) -> int:
    """How many stored events match the filters; a search scans the store, so it is cached
    like the chunks are, until the store changes."""
    digest = hashlib.sha256(params.query().encode()).hexdigest()[:20]
    return cache.get_derived(
        place.org,
        place.session_id,
        f"count-{digest}",
        timeline.store_version(place.sync),
        lambda: timeline.count_matching(place.sync, params.filter),
    )


def timeline_context(place: Place, session: Session, params: TimelineParams) -> dict[str, Any]:
    """Everything the timeline section of a session page needs."""
    org, sync = place.org, place.sync
    version = timeline.store_version(sync)
    counts, failures = (
        cache.get_derived(
            org,
            session.id,
            "kind-counts",
            version,
            lambda: (
                timeline.kind_counts(sync),
                timeline.count_matching(sync, timeline.TimelineFilter(failures_only=True)),
            ),
        )
        if sync.events_stored
        else ({}, 0)
    )
    chunk = cached_chunk(place, params, _start_of(session, place))
    return {
        "place": place,
        "params": params,
        "chunk_html": mark_safe(chunk["html"]),  # noqa: S308 - rendered by our own template
        "chunk_first_id": chunk["first_id"],
        "store_version": version,
        "kind_counts": counts,
        "kind_labels": {kind: rendering.kind_label(kind) for kind in counts},
        "attribution_labels": rendering.ATTRIBUTION_LABELS,
        "match_count": _match_count(place, params) if params.filter.active else None,
        "failure_count": failures,
    }


def render_chunk(request: HtmxHttpRequest, place: Place, session: Session | None) -> HttpResponse:
    params = parse_timeline_params(request.GET)
    chunk = cached_chunk(place, params, _start_of(session, place))
    return HttpResponse(chunk["html"])


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
    start = _first_ts(place)
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
    start = _first_ts(place)
    events = rendering.present(rows, start, base=place.base)
    context = {"events": events, "place": place, "prompt_id": event_key}
    template = "sessions/followups.html#list" if request.htmx else "sessions/followups.html"
    return render(request, template, context)


# --- member views -------------------------------------------------------------------------------


@require_GET
@member_view
def session_timeline(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """An HTML fragment of events after (or before) a cursor, filtered as the URL says."""
    session, place = _member_place(request, session_id)
    return render_chunk(request, place, session)


@require_GET
@member_view
def event_detail(
    request: HtmxHttpRequest, session_id: str, event_key: str
) -> HttpResponse | StreamingHttpResponse:
    _, place = _member_place(request, session_id)
    return render_event(request, place, event_key)


@require_GET
@member_view
def event_followups(request: HtmxHttpRequest, session_id: str, event_key: str) -> HttpResponse:
    _, place = _member_place(request, session_id)
    return render_followups(request, place, event_key)


@require_GET
@member_view
def jump(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Go to the next (or previous) failed command or failing test run from an event."""
    _, place = _member_place(request, session_id)
    direction = "prev" if request.GET.get("dir") == "prev" else "next"
    origin = request.GET.get("from", "")
    seq = timeline.seq_of(place.sync, origin) if KEY_RE.fullmatch(origin) else None
    if seq is None:
        seq = -1 if direction == "next" else 2**31
    target = timeline.neighbour_failure(place.sync, seq, direction)
    if target is None:
        from django.contrib import messages

        messages.info(request, f"No {'later' if direction == 'next' else 'earlier'} failure.")
        anchor = f"?at={origin}#event-{origin}" if origin and seq not in (-1, 2**31) else ""
        return redirect(place.base + anchor)
    return redirect(f"{place.base}?at={target.key}#event-{target.key}")


@require_GET
@member_view
def export_json(request: HtmxHttpRequest, session_id: str) -> StreamingHttpResponse:
    """The stored timeline as one JSON document, streamed row by row."""
    _, place = _member_place(request, session_id)

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
    _, place = _member_place(request, session_id)
    response = StreamingHttpResponse(
        (raw + "\n" for raw in timeline.iter_raw(place.sync)), content_type="application/x-ndjson"
    )
    response["Content-Disposition"] = f'attachment; filename="session-{place.session_id}.ndjson"'
    return response
