"""The timeline section of a session page: turns (the default) or the flat list of events.

The same rendering serves members (`/sessions/<id>/…`) and share links (`/shared/<token>/…`):
each view resolves *where* it is (a `Place`) and calls the helpers here, so a shared page can
only reach its own session. Rendered chunks use links relative to the session's page, so one
cached rendering serves every place that shows it, and a share token never enters a cache.

While the timeline is being fetched, the last element of the list polls for what has been
stored since, so events appear as they arrive, without a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from reviewer import access, fragments, highlight, rendering, sessionmap, timeline, turns
from reviewer.forms import TimelineParams, parse_timeline_params
from reviewer.models import EventQuerySet, Organization, StoredEvent, TimelineSync
from reviewer.review.slots import review_slots
from reviewer.upstream import Session
from reviewer.views.common import HtmxHttpRequest, member_view

CONTEXT_BEFORE_TARGET = 2
TURN_CHUNK = 40
TURN_EVENTS = 200
MATCHES_PER_TURN = 30
IDLE_GAP = sessionmap.IDLE_GAP


@dataclass(frozen=True)
class Place:
    """Where a timeline is being looked at from: a member's page or a share link."""

    org: Organization
    sync: TimelineSync
    session_id: str
    base: str  # the session page's URL, ending with "/"
    shared: bool = False

    @classmethod
    def for_member(cls, org: Organization, session_id: str, sync: TimelineSync) -> Place:
        return cls(org, sync, session_id, reverse("session-detail", args=[session_id]))


def member_place(request: HtmxHttpRequest, session_id: str) -> tuple[Session, Place]:
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    sync = timeline.get_sync(membership.organization, session_id)
    return session, Place.for_member(membership.organization, session_id, sync)


def start_of(session: Session | None, place: Place) -> datetime | None:
    """Where offsets count from: the session's start, or its first stored event if earlier."""
    first = fragments.first_ts(place.org, place.sync)
    if session is not None and session.started_at and (first is None or session.started_at < first):
        return session.started_at
    return first


# --- the flat list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a chunk starts, resolved to a stored position (never a raw parameter)."""

    how: str  # "top", "after", "before", "from"
    seq: int = -1

    @property
    def name(self) -> str:
        return f"{self.how}:{self.seq}"


def _position(sync: TimelineSync, params: TimelineParams) -> tuple[Position, list[str]]:
    """The position the parameters ask for; an unknown cursor is the top, with a note."""
    notices = list(params.notices)
    for how, key, note in (
        ("before", params.before, "That position is not in the stored timeline"),
        ("after", params.after, "That position is not in the stored timeline"),
        ("at", params.at, "That event is not stored (yet)"),
    ):
        if not key:
            continue
        seq = timeline.seq_of(sync, key)
        if seq is None:
            notices.append(f"{note}; showing the start.")
            break
        if how == "at":
            return Position("from", max(0, seq - CONTEXT_BEFORE_TARGET)), notices
        return Position(how, seq), notices
    return Position("top"), notices


def _previous_ts(sync: TimelineSync, seq: int) -> datetime | None:
    return (
        StoredEvent.objects.for_sync(sync)
        .filter(seq__lt=seq, ts__isnull=False)
        .order_by("-seq")
        .values_list("ts", flat=True)
        .first()
    )


def mark_idle(events: list[rendering.EventView], before: datetime | None) -> None:
    """Set `idle_before` on events that follow a pause longer than `IDLE_GAP`."""
    previous = before
    for event in events:
        if event.ts is not None:
            if previous is not None and event.ts - previous > IDLE_GAP:
                event.idle_before = event.ts - previous
            previous = max(previous, event.ts) if previous else event.ts


def _render_flat(
    place: Place, flt: timeline.TimelineFilter, position: Position, start: datetime | None
) -> dict[str, Any]:
    sync = place.sync
    if position.how == "before":
        window = timeline.chunk(sync, flt, before_seq=position.seq)
    elif position.how == "after":
        window = timeline.chunk(sync, flt, after_seq=position.seq)
    elif position.how == "from":
        window = timeline.chunk(sync, flt, from_seq=position.seq)
    else:
        window = timeline.chunk(sync, flt)
    events = rendering.present(window.events, start, base="")
    if not flt.active and window.events:
        mark_idle(events, _previous_ts(sync, window.events[0].seq))
    html: str = render_to_string("sessions/timeline.html#events", {"events": events})
    if flt.q:
        html = highlight.mark_events(html, flt.q)
    return {
        "html": html,
        "first": window.first_id,
        "last": window.last_id,
        "more": window.has_more and bool(window.events),
        "earlier": window.has_earlier and bool(window.events),
        "count": len(window.events),
    }


def flat_chunk(
    place: Place, params: TimelineParams, start: datetime | None
) -> tuple[dict[str, Any], list[str], Position]:
    """The rendered chunk the parameters ask for (cached unless it is a text search), the
    notices about them, and where it starts."""
    position, notices = _position(place.sync, params)
    flt = params.filter
    if flt.q:
        return _render_flat(place, flt, position, start), notices, position
    name = f"flat|{flt.canonical()}|{position.name}"
    version = f"{timeline.store_version(place.sync)}|{start.isoformat() if start else ''}"
    chunk = fragments.chunk_html(
        place.org, place.sync, name, version, lambda: _render_flat(place, flt, position, start)
    )
    return chunk, notices, position


def chunk_context(
    place: Place, params: TimelineParams, chunk: dict[str, Any], notices: list[str], top: bool
) -> dict[str, Any]:
    """The parts of a chunk rendered per request: notices, the links before and after it, and
    the live tail that polls for events still arriving."""
    fragment = "timeline/"
    live = place.sync.is_active and not chunk["more"]
    return {
        "chunk_events": mark_safe(chunk["html"]),  # noqa: S308 - rendered by our template
        "notices": notices,
        "params": params,
        "empty": top and not chunk["count"],
        "filtered": params.filter.active,
        "next_url": f"{fragment}?{params.query(after=chunk['last'])}" if chunk["more"] else "",
        "page_next_url": f"?{params.query(after=chunk['last'], view='events')}"
        if chunk["more"]
        else "",
        "earlier_url": f"{fragment}?{params.query(before=chunk['first'])}"
        if chunk["earlier"]
        else "",
        "page_earlier_url": f"?{params.query(before=chunk['first'], view='events')}"
        if chunk["earlier"]
        else "",
        # An empty poll keeps polling from the same cursor: the tail must never vanish
        # while the fetch goes on.
        "live_url": f"{fragment}?{params.query(after=chunk['last'] or params.after)}"
        if live
        else "",
        "fetching": place.sync.is_active,
    }


def render_chunk(request: HtmxHttpRequest, place: Place, session: Session | None) -> HttpResponse:
    """A chunk of the flat list (`/timeline/?after=…`), the fragment htmx loads and polls."""
    params = parse_timeline_params(request.GET)
    chunk, notices, position = flat_chunk(place, params, start_of(session, place))
    context = chunk_context(place, params, chunk, notices, position.how == "top")
    return render(request, "sessions/timeline.html#chunk", context)


# --- turns --------------------------------------------------------------------------------------


def _matching(place: Place, flt: timeline.TimelineFilter) -> EventQuerySet:
    return flt.events(place.sync)


def _turn_list(
    place: Place, flt: timeline.TimelineFilter, after_turn: int | None = None
) -> list[turns.Turn]:
    return fragments.listed_turns(place.org, place.sync, flt, after=after_turn, chunk=TURN_CHUNK)


def _turn_of(place: Place, key: str) -> int:
    """The turn (its prompt's position, -1 for turn 0) of an event key; Http404 if unknown."""
    if key == turns.START:
        return -1
    seq = timeline.seq_of(place.sync, key)
    if seq is None:
        raise Http404("No such event in this session.")
    turn = StoredEvent.objects.for_sync(place.sync).filter(seq=seq).values_list("turn", flat=True)
    return int(turn[0])


def _turn_events(
    place: Place,
    turn: int,
    flt: timeline.TimelineFilter,
    start: datetime | None,
    *,
    after_seq: int | None = None,
    from_seq: int | None = None,
    limit: int = TURN_EVENTS,
) -> dict[str, Any]:
    """The events of one turn (its prompt's position, -1 for turn 0; filtered), rendered:
    cards for what matters, one line for tool calls, reads and plan updates (as what changed
    since the previous plan)."""
    qs = _matching(place, flt) if flt.active else StoredEvent.objects.for_sync(place.sync)
    qs = qs.filter(turn=turn)
    if after_seq is not None:
        qs = qs.filter(seq__gt=after_seq)
    if from_seq is not None:
        qs = qs.filter(seq__gte=from_seq)
    rows = list(qs.for_display().order_by("seq")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    events = rendering.present(rows, start, base="")
    plans = turns.plan_updates(place.sync, [e.seq for e in events if e.kind == "planning"])
    for event in events:
        event.compact = event.kind in turns.LOW_SIGNAL_KINDS
        event.plan = plans.get(event.seq)
    if not flt.active and rows:
        mark_idle(events, _previous_ts(place.sync, rows[0].seq))
    html: str = render_to_string("sessions/turns.html#turn-events", {"events": events})
    if flt.q:
        html = highlight.mark_events(html, flt.q)
    return {"html": html, "last": events[-1].key if events else "", "more": more}


def _turn_context(
    place: Place,
    params: TimelineParams,
    found: list[turns.Turn],
    chunk: list[turns.Turn],
    *,
    opened: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    previous_end = None
    if chunk:
        index = next(i for i, t in enumerate(found) if t.seq == chunk[0].seq)
        previous_end = found[index - 1].end if index > 0 else None
    rows = []
    for turn in turns.with_prompts(place.sync, chunk):
        idle = None
        if previous_end and turn.start and turn.start - previous_end > IDLE_GAP:
            idle = turn.start - previous_end
        previous_end = turn.end or previous_end
        body = opened.get(turn.seq)
        rows.append(
            {
                "turn": turn,
                "idle_before": idle,
                "body": mark_safe(body["html"]) if body else "",  # noqa: S308 - ours
                "body_more": body["more"] if body else False,
                "body_last": body["last"] if body else "",
            }
        )
    return {"rows": rows, "filter_query": params.query(), "filtered": params.filter.active}


def turn_chunk(
    place: Place,
    params: TimelineParams,
    start: datetime | None,
    *,
    after_turn: int | None = None,
    open_key: str = "",
) -> tuple[SafeString, list[str], dict[str, Any]]:
    """A chunk of turn headers: the first `TURN_CHUNK`, those after `after_turn`, or those
    around the turn holding `params.at` / `open_key` (opened). With a filter, only the turns
    holding a match, each opened on its matches. Unfiltered chunks are rendered once per
    version of the store, so a warm page never loads the whole list of turns."""
    notices = list(params.notices)
    target_key = params.at or open_key
    if not params.filter.active and not target_key:
        version = f"{timeline.store_version(place.sync)}|{start.isoformat() if start else ''}"
        data = fragments.chunk_html(
            place.org,
            place.sync,
            f"turns|{after_turn}",
            version,
            lambda: _turn_rows(place, params, start, after_turn, None),
        )
    else:
        target = None
        if target_key:
            try:
                target = _turn_of(place, target_key)
            except Http404:
                notices.append("That event is not stored (yet); showing the start.")
        data = _turn_rows(place, params, start, after_turn, target)
    last = data["last"]
    tail = {
        "more_url": f"turns/?{params.query(after_turn=last)}" if data["more"] else "",
        "live_url": f"turns/?{params.query(after_turn=last, live=1)}"
        if place.sync.is_active and not data["more"]
        else "",
        "empty": after_turn is None and not data["total"],
        "total": data["total"],
    }
    return mark_safe(data["html"]), notices, tail  # noqa: S308 - rendered by our template


def _turn_rows(
    place: Place,
    params: TimelineParams,
    start: datetime | None,
    after_turn: int | None,
    target: int | None,
) -> dict[str, Any]:
    """The chunk's rendered rows and where it ends: {html, more, last, total} (`total` is
    of the turns `fragments.listed_turns` read)."""
    flt = params.filter
    found = _turn_list(place, flt, after_turn)
    if after_turn is not None:
        chunk = [t for t in found if t.seq > after_turn][:TURN_CHUNK]
    elif target is not None and any(t.seq == target for t in found):
        index = next(i for i, t in enumerate(found) if t.seq == target)
        lo = max(0, index - 2)
        chunk = found[lo : lo + TURN_CHUNK]
    else:
        chunk = found[:TURN_CHUNK]
    opened: dict[int, dict[str, Any]] = {}
    for turn in chunk:
        if flt.active:
            opened[turn.seq] = _turn_events(place, turn.seq, flt, start, limit=MATCHES_PER_TURN)
        elif turn.seq == target:
            at_seq = timeline.seq_of(place.sync, params.at) if params.at else None
            from_seq = max(turn.first_seq, at_seq - CONTEXT_BEFORE_TARGET) if at_seq else None
            opened[turn.seq] = _turn_events(place, turn.seq, flt, start, from_seq=from_seq)
    context = _turn_context(place, params, found, chunk, opened=opened)
    return {
        "html": render_to_string("sessions/turns.html#turn-rows", context),
        "more": bool(chunk) and found[-1].seq != chunk[-1].seq,
        "last": chunk[-1].seq if chunk else (after_turn if after_turn is not None else -2),
        "total": len(found),
    }


def render_turns(request: HtmxHttpRequest, place: Place, session: Session | None) -> HttpResponse:
    """More turn headers (`/turns/?after=<turn>`); with `live=1`, also the last turn's
    counts again (out of band), as it grows while the timeline is being fetched."""
    params = parse_timeline_params(request.GET)
    try:
        after = int(request.GET.get("after_turn", ""))
    except ValueError:
        after = None
    html, notices, tail = turn_chunk(place, params, start_of(session, place), after_turn=after)
    refreshed = None
    if request.GET.get("live") and after is not None and after >= -1:
        listed = _turn_list(place, params.filter, after)
        refreshed = next((t for t in listed if t.seq == after), None)
    context = {"turns_html": html, "notices": notices, "tail": tail, "refreshed": refreshed}
    return render(request, "sessions/turns.html#turn-chunk", context)


def render_turn(
    request: HtmxHttpRequest, place: Place, session: Session | None, turn_key: str
) -> HttpResponse:
    """One turn's events (`/turns/<prompt key>/`, `start` for turn 0), filtered as asked."""
    params = parse_timeline_params(request.GET)
    seq = _turn_of(place, turn_key)
    # One turn's events by their turn column: the list of every turn is not needed for it.
    if not StoredEvent.objects.for_sync(place.sync).filter(turn=seq).exists():
        raise Http404("No such turn in this session.")
    after_seq = timeline.seq_of(place.sync, params.after) if params.after else None
    body = _turn_events(place, seq, params.filter, start_of(session, place), after_seq=after_seq)
    key = quote(turn_key, safe="")
    context = {
        "body": mark_safe(body["html"]),  # noqa: S308 - rendered by our template
        "more_url": f"turns/{key}/?{params.query(after=body['last'])}" if body["more"] else "",
    }
    return render(request, "sessions/turns.html#turn-body", context)


# --- the section ------------------------------------------------------------------------------


def timeline_context(
    place: Place, session: Session, params: TimelineParams, *, view: str, open_key: str = ""
) -> dict[str, Any]:
    """Everything the timeline section of a session page needs, in either view."""
    counts, failures = fragments.kind_counts(place.org, place.sync)
    start = start_of(session, place)
    context: dict[str, Any] = {
        "place": place,
        "params": params,
        "view": view,
        "kind_counts": counts,
        "kind_labels": {kind: rendering.kind_label(kind) for kind in counts},
        "attribution_labels": rendering.ATTRIBUTION_LABELS,
        "match_count": fragments.match_count(place.org, place.sync, params.filter)
        if params.filter.active
        else None,
        "failure_count": failures,
    }
    if view == "turns":
        html, notices, tail = turn_chunk(place, params, start, open_key=open_key)
        context.update({"turns_html": html, "notices": notices, "tail": tail})
    else:
        chunk, notices, position = flat_chunk(place, params, start)
        context.update(chunk_context(place, params, chunk, notices, position.how == "top"))
        context["chunk_first_id"] = chunk["first"]
    return context


def map_of(place: Place) -> Any:
    """The session map of what is stored (None while nothing is)."""
    return fragments.session_map(place.org, place.sync) if place.sync.events_stored else None


def view_of(request: HtmxHttpRequest) -> str:
    """ "events" for the flat list (`?view=events`), else "turns" (the default)."""
    return "events" if request.GET.get("view") == "events" else "turns"


# --- member views -------------------------------------------------------------------------------


@require_GET
@member_view
@review_slots
def session_timeline(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """An HTML fragment of events after (or before) a cursor, filtered as the URL says."""
    session, place = member_place(request, session_id)
    return render_chunk(request, place, session)


@require_GET
@member_view
@review_slots
def session_turns(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    session, place = member_place(request, session_id)
    return render_turns(request, place, session)


@require_GET
@member_view
@review_slots
def session_turn(request: HtmxHttpRequest, session_id: str, turn_key: str) -> HttpResponse:
    session, place = member_place(request, session_id)
    return render_turn(request, place, session, turn_key)
