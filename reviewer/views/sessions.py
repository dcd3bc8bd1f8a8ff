"""The session list, the session page and its prefetch progress."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from reviewer import (
    access,
    attribution,
    cache,
    fragments,
    prefetch,
    promptster,
    tasks,
    timeline,
    upstream,
)
from reviewer.forms import PAGE_SIZES, parse_list_params, parse_timeline_params
from reviewer.models import Organization, ShareLink, session_is_deleted
from reviewer.rendering import date_label, visible_controls
from reviewer.review import listing as review_listing
from reviewer.review.slots import review_slots
from reviewer.templatetags.reviewer_tags import duration
from reviewer.views import review
from reviewer.views.common import HtmxHttpRequest, member_view
from reviewer.views.timeline import Place, map_of, timeline_context, view_of

KNOWN_TOOLS = ("claude-code", "cursor", "codex", "shell")


_upstream_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upstream")


def _assessments(org: Organization) -> list[upstream.Assessment]:
    """Without assessments the filter falls back to a free-text id; the list says what failed."""
    try:
        return cache.get_assessments(org).value
    except promptster.PromptsterError:
        return []


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect("session-list")


@require_GET
@member_view
def session_list(request: HtmxHttpRequest) -> HttpResponse:
    """The organization's sessions, filtered and paged exactly as the URL says."""
    membership = access.get_membership(request)
    org = membership.organization
    params = parse_list_params(request.GET)
    # The filter's assessment names come from a second upstream call: ask for both at once.
    assessments_future = _upstream_pool.submit(_assessments, org)
    error = ""
    page = None
    stale = False
    fetched_at = 0.0
    try:
        if params.review:
            fetched = review_listing.reviewed_page(
                membership,
                params.review,
                assessment_id=params.assessment_id,
                source_service=params.source_service,
                limit=params.limit,
                offset=params.offset,
            )
        else:
            fetched = cache.get_session_list(
                org,
                assessment_id=params.assessment_id,
                source_service=params.source_service,
                limit=params.limit,
                offset=params.offset,
            )
        page, stale, fetched_at = fetched.value, fetched.stale, fetched.fetched_at
    except promptster.PromptsterError as exc:
        error = exc.user_message
    assessments = assessments_future.result()
    syncs = {}
    if page is not None:
        syncs = {
            s.session_id: s
            for s in timeline.TimelineSync.objects.for_org(org).filter(
                session_id__in=[s.id for s in page.sessions]
            )
        }
    titles = {a.id: a.title for a in assessments}
    context = {
        "params": params,
        "page": page,
        "rows_html": mark_safe(  # noqa: S308 - our rows, filled by our template
            review_listing.fill_rows(
                _rows_html(org, params.query(), page, fetched_at, syncs, titles), membership
            )
        )
        if page
        else "",
        "review_states": review_listing.ReviewState.LABELS,
        "error": error,
        "stale": stale,
        "assessments": assessments,
        "tools": KNOWN_TOOLS,
        "page_sizes": PAGE_SIZES,
        "syncs": syncs,
        "prev_query": params.query(offset=max(0, params.offset - params.limit))
        if params.offset > 0
        else None,
        "next_query": params.query(offset=params.offset + params.limit)
        if page is not None and params.offset + params.limit < page.total
        else None,
        "first_query": params.query(offset=0),
        "last_shown": min(page.total, params.offset + len(page.sessions)) if page else 0,
    }
    template = "sessions/list.html#results" if request.htmx else "sessions/list.html"
    return render(request, template, context)


def _progress(sync: timeline.TimelineSync) -> tuple[object, ...]:
    return (sync.state, sync.events_stored, sync.expected_events, sync.complete)


def _rows_html(
    org: Organization,
    query: str,
    page: upstream.SessionPage,
    fetched_at: float,
    syncs: dict[str, timeline.TimelineSync],
    titles: dict[str, str],
) -> SafeString:
    """The table rows, rendered once per distinct content (upstream answer + local state)."""
    state = [(s.id, *_progress(syncs[s.id])) if s.id in syncs else (s.id,) for s in page.sessions]
    used = sorted({(s.assessment_id, titles.get(s.assessment_id, "")) for s in page.sessions})
    version = hashlib.sha256(repr((fetched_at, state, used)).encode()).hexdigest()[:24]
    name = hashlib.sha256(query.encode()).hexdigest()[:24]  # one entry per list view

    def render_rows() -> str:
        rows = [_row(s, syncs.get(s.id), titles) for s in page.sessions]
        return render_to_string("sessions/list.html#rows", {"rows": rows})

    html = fragments.org_derived(org, f"rows-{name}", version, render_rows)
    return mark_safe(html)  # noqa: S308 - rendered by our own template, escaped there


@dataclass(frozen=True)
class SessionRow:
    """One list row, formatted once in Python: the list is the most viewed page."""

    id: str
    short_id: str
    url: str
    candidate: str
    assessment: str
    tool: str
    started_iso: str
    started_title: str
    started_label: str
    running: bool
    duration: str
    events: int
    decisions: int
    ai_pct: int | None
    ai_pct_state: str
    stored: str
    stored_known: bool


def stored_label(sync: timeline.TimelineSync | None) -> str:
    """The "Stored" column in one vocabulary: Not fetched, Queued, Fetching n%, Stored,
    Partly stored n% (a running session, or one upstream still reports more of), Failed at n%."""
    State = timeline.TimelineSync.State
    if sync is None or (sync.state == State.IDLE and not sync.events_stored):
        return "Not fetched"
    if sync.complete:
        return "Stored"
    share = f" {sync.percent}%" if sync.expected_events else ""
    if sync.state == State.QUEUED:
        return "Queued"
    if sync.state == State.RUNNING:
        return f"Fetching{share}"
    if sync.state == State.FAILED:
        return f"Failed at{share}" if share else "Failed"
    return f"Partly stored{share}"


def _row(
    session: upstream.Session, sync: timeline.TimelineSync | None, titles: dict[str, str]
) -> SessionRow:
    started = session.started_at.astimezone(UTC) if session.started_at else None
    assessment = titles.get(session.assessment_id, session.assessment_id)
    return SessionRow(
        id=session.id,
        short_id=session.short_id,
        url=f"{reverse('session-list')}{quote(session.id, safe='')}/",
        candidate=visible_controls(session.candidate_name) or "—",
        assessment=Truncator(assessment).chars(40),
        tool=visible_controls(session.source_label),
        started_iso=started.isoformat() if started else "",
        started_title=f"{started:%Y-%m-%d %H:%M:%S} UTC" if started else "",
        started_label=date_label(started) if started else "",
        running=session.is_running,
        duration=duration(session.duration) or "—",
        events=session.event_count,
        decisions=session.decision_count,
        ai_pct=None if session.ai_pct is None else round(session.ai_pct),
        ai_pct_state=attribution.promptster_pct_state(session, sync),
        stored=stored_label(sync),
        stored_known=sync is not None and sync.complete is False,
    )


@require_POST
@member_view
def prefetch_all(request: HtmxHttpRequest) -> HttpResponse:
    """Fetch every session matching a filter, in the background: one task pages the list
    and queues each session that needs it (the request itself does no paging)."""
    membership = access.get_membership(request)
    org = membership.organization
    params = parse_list_params(request.POST)
    if tasks.enqueue_prefetch_filter(org, params.assessment_id, params.source_service):
        messages.success(
            request,
            "Fetching the timelines of every session of this filter in the background; "
            "each appears as it is stored.",
        )
    else:
        messages.error(
            request,
            "The background worker's queue cannot be reached right now. "
            "Stored timelines are still available.",
        )
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, {request.get_host()}):
        return redirect(back)
    return redirect(reverse("session-list") + "?" + params.query())


@require_GET
@member_view
@review_slots
def session_detail(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """One session: its fields, prefetch progress, timeline and attribution panel."""
    membership = access.get_membership(request)
    org = membership.organization
    early = _read_first_page(org, session_id)  # while the session's own fields are read
    fetched = access.get_session_for_member(membership, session_id)
    session = fetched.value
    sync = timeline.get_sync(org, session_id)
    if not fetched.gone_upstream and _never_fetched(sync):
        _first_page(org, session, sync, early)
    broker_down = False if fetched.gone_upstream else not tasks.fetch_if_needed(org, sync)
    params = parse_timeline_params(request.GET)
    place = Place.for_member(org, session.id, sync)
    # The map and the summary describe the whole stored timeline: while it is still
    # arriving they follow the fetch, and the map (the costlier) loads after the page, so
    # the first events are not kept waiting for it.
    deferred = _arriving(sync)
    context = {
        "session": session,
        "session_id": session.id,
        "stale": fetched.stale,
        "gone_upstream": fetched.gone_upstream,
        "sync": sync,
        "pct_state": attribution.promptster_pct_state(session, sync),
        "broker_down": broker_down,
        "share_links": ShareLink.objects.for_org(org)
        .active()
        .filter(session_id=session_id)
        .select_related("created_by")
        .order_by("-created_at"),
        "panel_html": fragments.summary_html(org, session, sync, audience="member"),
        "map": None if deferred else map_of(place),
        "map_poll": "load" if deferred else "",
        "summary_poll": SUMMARY_POLL if deferred else "",
        **review.panel_context(membership, session.id),
        **timeline_context(
            place,
            session,
            params,
            view=view_of(request),
            open_key=request.GET.get("open", "")
            or review.position_key(membership, request.user.pk, session.id),
        ),
    }
    if request.htmx and request.htmx.target == "timeline-section":
        return render(request, "sessions/detail.html#timeline-section", context)
    return render(request, "sessions/detail.html", context)


def _arriving(sync: timeline.TimelineSync) -> bool:
    return sync.is_active and not sync.complete


# How a deferred map or summary follows the fetch: now and then, as each is computed over
# all that is stored so far on the machine that is storing it (the summary costs the most),
# and once more as soon as the progress bar sees the fetch end.
STORED_EVENT = "timeline-stored"
MAP_POLL = f"every 10s, {STORED_EVENT} from:body"
SUMMARY_POLL = f"every 30s, {STORED_EVENT} from:body"


@require_GET
@member_view
def session_map(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """The session map of what is stored so far, polling while the timeline arrives
    (stopped with 286 once the fetch is over)."""
    membership = access.get_membership(request)
    sync = timeline.find_sync(membership.organization, session_id)
    if sync is None:
        return HttpResponseStopPolling()
    place = Place.for_member(membership.organization, session_id, sync)
    arriving = _arriving(sync)
    context = {
        "session_id": session_id,
        "map": map_of(place),
        "map_so_far": sync.events_stored if arriving else None,
        "map_poll": MAP_POLL if arriving else "",
    }
    response = render(request, "sessions/detail.html#map-slot", context)
    if not arriving:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
@member_view
def session_summary(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """The sidebar's attribution summary of what is stored so far, polling while the
    timeline arrives (stopped with 286 once the fetch is over)."""
    membership = access.get_membership(request)
    org = membership.organization
    session = access.get_session_for_member(membership, session_id).value
    sync = timeline.find_sync(org, session.id)
    arriving = sync is not None and _arriving(sync)
    context = {
        "session_id": session.id,
        "panel_html": fragments.summary_html(org, session, sync, audience="member"),
        "summary_poll": SUMMARY_POLL if arriving else "",
    }
    response = render(request, "sessions/detail.html#summary-slot", context)
    if not arriving:
        response.status_code = HttpResponseStopPolling.status_code
    return response


FIRST_PAGE = 200  # events a never-fetched session's page stores and shows at once


def _never_fetched(sync: timeline.TimelineSync) -> bool:
    return sync.events_stored == 0 and sync.state == timeline.TimelineSync.State.IDLE


def _read_first_page(org: Organization, session_id: str) -> Future[upstream.TimelinePage] | None:
    """For a session nothing is stored of yet, ask upstream for its first timeline page in
    the background, so that request and the session's own are under way at once. Nothing is
    stored or shown before the session is known to be this organization's (the caller's
    access check); an abandoned answer (a foreign id's 404) is dropped."""
    sync = timeline.find_sync(org, session_id)
    if sync is not None and not _never_fetched(sync):
        return None
    if session_is_deleted(org, session_id):
        return None
    client = promptster.client_for(org)
    return _upstream_pool.submit(client.timeline_page, session_id, limit=FIRST_PAGE)


def _first_page(
    org: Organization,
    session: upstream.Session,
    sync: timeline.TimelineSync,
    early: Future[upstream.TimelinePage] | None,
) -> None:
    """Store the first events of a session nobody has opened yet, within this request, so
    its page shows them at once; the worker then fetches the rest from there. An upstream
    failure here is the worker's to retry: the page opens either way."""
    try:
        prefetch.prefetch(
            org,
            session.id,
            client=promptster.client_for(org),
            page_size=FIRST_PAGE,
            max_pages=1,
            session=session,
            first_page=early.result() if early is not None else None,
        )
    except promptster.PromptsterError:
        # Not a failed fetch: the worker is asked at once, with its patient retries.
        timeline.TimelineSync.objects.filter(pk=sync.pk, state="failed").update(
            state=timeline.TimelineSync.State.IDLE
        )
    sync.refresh_from_db()


@require_GET
@member_view
def session_progress(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """The prefetch progress bar; stops the htmx polling (286) once the fetch is over."""
    membership = access.get_membership(request)
    sync = timeline.find_sync(membership.organization, session_id)
    if sync is None:
        return HttpResponseStopPolling()
    context = {"sync": sync, "session_id": session_id}
    response = render(request, "sessions/detail.html#progress", context)
    if not sync.is_active:
        response.status_code = HttpResponseStopPolling.status_code
        # The map and the summary that followed the fetch draw their final state now.
        trigger_client_event(response, STORED_EVENT)
    return response


@require_POST
@member_view
def session_prefetch(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Start (or resume) fetching this session's timeline now."""
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    if tasks.enqueue_prefetch(membership.organization, session.id, asked=True):
        messages.success(request, "Fetching the timeline in the background.")
    else:
        messages.error(request, "The background worker's queue cannot be reached right now.")
    return redirect("session-detail", session_id=session.id)


@require_POST
@member_view
def switch_organization(request: HtmxHttpRequest) -> HttpResponse:
    try:
        org_id = int(request.POST.get("organization", ""))
    except ValueError:
        org_id = -1
    if not access.choose_organization(request, org_id):
        messages.error(request, "You are not a member of that organization.")
    return redirect("session-list")
