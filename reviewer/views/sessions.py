"""The session list, the session page and its prefetch progress."""

from __future__ import annotations

import contextlib

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from reviewer import access, attribution, cache, promptster, tasks, timeline
from reviewer.forms import PAGE_SIZES, parse_list_params, parse_timeline_params
from reviewer.models import ShareLink
from reviewer.views.common import HtmxHttpRequest, member_view
from reviewer.views.events import timeline_context

KNOWN_TOOLS = ("claude-code", "cursor", "codex", "shell")
PREFETCH_ALL_LIMIT = 500


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
    error = ""
    page = None
    stale = False
    try:
        fetched = cache.get_session_list(
            org,
            assessment_id=params.assessment_id,
            source_service=params.source_service,
            limit=params.limit,
            offset=params.offset,
        )
        page, stale = fetched.value, fetched.stale
    except promptster.PromptsterError as exc:
        error = exc.user_message
    assessments: list[promptster.Assessment] = []
    # Without assessments the filter falls back to a free-text id; the list says what failed.
    with contextlib.suppress(promptster.PromptsterError):
        assessments = cache.get_assessments(org).value
    syncs = {}
    if page is not None:
        syncs = {
            s.session_id: s
            for s in timeline.TimelineSync.objects.for_org(org).filter(
                session_id__in=[s.id for s in page.sessions]
            )
        }
    context = {
        "params": params,
        "page": page,
        "error": error,
        "stale": stale,
        "assessments": assessments,
        "assessment_titles": {a.id: a.title for a in assessments},
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


@require_POST
@member_view
def prefetch_all(request: HtmxHttpRequest) -> HttpResponse:
    """Queue a prefetch of every session matching the list's current filter."""
    membership = access.get_membership(request)
    org = membership.organization
    params = parse_list_params(request.POST)
    queued = failed = 0
    offset = 0
    while offset < PREFETCH_ALL_LIMIT:
        page = cache.get_session_list(
            org,
            assessment_id=params.assessment_id,
            source_service=params.source_service,
            limit=promptster.SESSIONS_MAX_LIMIT,
            offset=offset,
        ).value
        for session in page.sessions:
            sync = timeline.get_sync(org, session.id)
            if not timeline.needs_sync(sync):
                continue
            if tasks.enqueue_prefetch(org, session.id):
                queued += 1
            else:
                failed += 1
        offset += promptster.SESSIONS_MAX_LIMIT
        if offset >= page.total or not page.sessions:
            break
    if failed:
        messages.error(
            request,
            f"Queued {queued} session(s); {failed} could not be queued because the background "
            "worker's queue cannot be reached. Stored timelines are still available.",
        )
    else:
        messages.success(request, f"Queued {queued} session(s) for prefetch.")
    return redirect(reverse("session-list") + "?" + params.query())


@require_GET
@member_view
def session_detail(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """One session: its fields, prefetch progress, timeline and attribution panel."""
    membership = access.get_membership(request)
    org = membership.organization
    fetched = access.get_session_for_member(membership, session_id)
    session = fetched.value
    sync = timeline.get_sync(org, session_id)
    broker_down = False
    if timeline.needs_sync(sync):
        broker_down = not tasks.enqueue_prefetch(org, session_id)
        sync.refresh_from_db()
    params = parse_timeline_params(request.GET)
    context = {
        "session": session,
        "session_id": session.id,
        "shown": sync.events_stored,
        "stale": fetched.stale,
        "sync": sync,
        "broker_down": broker_down,
        "share_links": ShareLink.objects.for_org(org)
        .active()
        .filter(session_id=session_id)
        .select_related("created_by")
        .order_by("-created_at"),
        "summary": attribution.summary_for(org, session, sync),
        **timeline_context(request, membership, session, sync, params),
    }
    if request.htmx and request.htmx.target == "timeline-section":
        return render(request, "sessions/detail.html#timeline-section", context)
    return render(request, "sessions/detail.html", context)


@require_GET
@member_view
def session_progress(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """The prefetch progress bar; stops the htmx polling (286) once the fetch is over."""
    membership = access.get_membership(request)
    access.check_session_id(session_id)
    sync = timeline.find_sync(membership.organization, session_id)
    if sync is None:
        return HttpResponseStopPolling()
    try:
        shown = max(0, int(request.GET.get("shown", "")))
    except ValueError:
        shown = sync.events_stored
    context = {"sync": sync, "session_id": session_id, "shown": shown}
    response = render(request, "sessions/detail.html#progress", context)
    if not sync.is_active:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_POST
@member_view
def session_prefetch(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Start (or resume) fetching this session's timeline now."""
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    if tasks.enqueue_prefetch(membership.organization, session.id):
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
