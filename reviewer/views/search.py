"""Search across every stored session of the organization ("who ran `git push --force`?")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from reviewer import access, cache, highlight, promptster, rendering, search, text, upstream
from reviewer.forms import SearchParams, parse_search_params
from reviewer.models import (
    AuditEntry,
    EventQuerySet,
    Organization,
    StoredEvent,
    TimelineSync,
)
from reviewer.review.listing import fill_rows
from reviewer.views.common import HtmxHttpRequest, member_view

GROUPS_PER_PAGE = 20
HITS_PER_GROUP = 5
MAX_SESSIONS = 1000
NOT_STORED_LISTED = 12


@dataclass
class Hit:
    event: rendering.EventView
    url: str
    snippet: SafeString | None


@dataclass
class Group:
    """The matches of one session."""

    session_id: str
    count: int
    session: upstream.Session | None  # from the session list, when it could be read
    assessment: str
    hits: list[Hit] = field(default_factory=list)

    @property
    def candidate(self) -> str:
        return self.session.candidate_name if self.session else ""


@require_GET
@member_view
def org_search(request: HtmxHttpRequest) -> HttpResponse:
    """Every stored event of the organization's sessions whose text contains `q`, grouped by
    session, with the sessions of the filter that are not stored yet."""
    membership = access.get_membership(request)
    org = membership.organization
    params = parse_search_params(request.GET)
    context: dict[str, Any] = {"params": params, "notices": list(params.notices)}
    assessments = _assessments(org)
    context["assessments"] = assessments
    context["kind_labels"] = rendering.KIND_LABELS
    if params.q:
        context.update(_results(org, params, {a.id: a.title for a in assessments}, context))
    template = "search.html#results" if request.htmx else "search.html"
    response = render(request, template, context)
    response.content = fill_rows(response.content.decode(), membership).encode()
    return response


def _assessments(org: Organization) -> list[upstream.Assessment]:
    try:
        return cache.get_assessments(org).value
    except promptster.PromptsterError:
        return []


def _first_hits(events: EventQuerySet, sync_ids: list[int]) -> dict[int, list[StoredEvent]]:
    """The first `HITS_PER_GROUP` matching events of each of these sessions, in one query (the
    text match runs once, not once per session)."""
    ranked = (
        events.filter(sync__in=sync_ids)
        .for_display()
        .annotate(rank=Window(RowNumber(), partition_by=[F("sync")], order_by=F("seq").asc()))
        .filter(rank__lte=HITS_PER_GROUP)
        .order_by("sync", "seq")
    )
    found: dict[int, list[StoredEvent]] = {}
    for event in ranked:
        found.setdefault(event.sync_id, []).append(event)
    return found


def _results(
    org: Organization, params: SearchParams, titles: dict[str, str], context: dict[str, Any]
) -> dict[str, Any]:
    """1. The filter's sessions from upstream (names, and which are not stored yet).
    2. The organization's stores, minus deleted sessions, narrowed to the filter.
    3. Matching events grouped by session, a page of groups, the first hits of each."""
    listing = None
    try:
        listing = cache.list_all_sessions(
            org, assessment_id=params.assessment_id, limit=MAX_SESSIONS
        )
    except promptster.PromptsterError as exc:
        context["notices"].append(
            f"The session list could not be read ({exc.user_message}), so candidate names "
            "are missing and sessions not stored yet cannot be listed."
        )
    listed = {s.id: s for s in listing.sessions} if listing else {}
    deleted = AuditEntry.objects.for_org(org).deletions().values_list("session_id", flat=True)
    syncs = TimelineSync.objects.for_org(org).exclude(session_id__in=deleted)
    if params.assessment_id:
        # Without the list, which stored sessions belong to the assessment is unknown.
        syncs = syncs.filter(session_id__in=list(listed))
    by_pk = {s.pk: s for s in syncs}

    events: EventQuerySet = StoredEvent.objects.filter(sync__in=list(by_pk))
    if params.kinds:
        events = events.filter(kind__in=params.kinds)
    events = search.filter_matching(events, params.q, list(by_pk))
    counts = list(events.values("sync").annotate(n=Count("id")).order_by("-n", "sync"))
    page = Paginator(counts, GROUPS_PER_PAGE).get_page(params.page)
    hits_of = _first_hits(events, [row["sync"] for row in page.object_list])
    groups = []
    for row in page.object_list:
        sync = by_pk[row["sync"]]
        session = listed.get(sync.session_id)
        assessment_id = session.assessment_id if session else ""
        group = Group(
            session_id=sync.session_id,
            count=row["n"],
            session=session,
            assessment=titles.get(assessment_id, assessment_id),
        )
        hits = hits_of.get(sync.pk, [])
        base = f"/sessions/{sync.session_id}/"
        for view in rendering.present(hits, None, base=base):
            group.hits.append(
                Hit(
                    event=view,
                    url=f"{base}?at={view.key}#event-{view.key}",
                    snippet=_snippet(view, params.q),
                )
            )
        groups.append(group)

    complete = {s.session_id for s in by_pk.values() if s.complete}
    not_stored = [s for s in (listing.sessions if listing else []) if s.id not in complete]
    return {
        "page": page,
        "groups": groups,
        "total_hits": sum(r["n"] for r in counts),
        "sessions_searched": len(by_pk),
        "not_stored": not_stored[:NOT_STORED_LISTED],
        "not_stored_count": len(not_stored),
        "listing": listing,
        "indexing": search.pending_count(list(by_pk)) if by_pk else 0,
    }


def _snippet(view: rendering.EventView, query: str) -> SafeString | None:
    """The first match in the event's shown text, with text around it."""
    for value in text.strings_in(view.data):
        found = highlight.snippet(text.strip_escapes(value), query)
        if found is not None:
            return found
    return None
