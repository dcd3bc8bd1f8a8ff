"""Attribution pages: one session's summary, an assessment's cohort (page and CSV), and two
sessions side by side."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from reviewer import (
    access,
    attribution,
    cache,
    cohort,
    comparison,
    fragments,
    prefetch,
    promptster,
    tasks,
    timeline,
    upstream,
)
from reviewer.models import Membership, TimelineSync
from reviewer.review import anonymity
from reviewer.review import cohort as review_columns
from reviewer.views.common import HtmxHttpRequest, member_view
from reviewer.views.timeline import Place

COMPARE_OPTIONS = 100
COMPARE_FOUND = 20


@require_GET
@member_view
def session_attribution(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """One session's attribution summary; polls itself while its timeline is being fetched."""
    membership = access.get_membership(request)
    org = membership.organization
    fetched = access.get_session_for_member(membership, session_id)
    session = fetched.value
    sync = timeline.get_sync(org, session.id)
    broker_down = False if request.htmx else not tasks.fetch_if_needed(org, sync)
    context = {
        "session": session,
        "stale": fetched.stale,
        "sync": sync,
        "broker_down": broker_down,
        "summary": fragments.summary(org, session, sync),
        "pct_state": attribution.promptster_pct_state(session, sync),
    }
    place = Place.for_member(org, session.id, sync)
    context["place"] = place
    if context["summary"] is not None:
        context["summary_html"] = fragments.summary_html(
            org, session, sync, audience="full", base=place.base
        )
    if request.htmx:
        response = render(request, "attribution/session.html#body", context)
        if not sync.is_active:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "attribution/session.html", context)


# --- cohort -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    url: str
    aria_sort: str  # "ascending", "descending" or "none"
    numeric: bool
    help: str = ""


def _sort_params(query: QueryDict) -> tuple[str, bool, list[str]]:
    """(column, descending, notices); an unknown column or direction falls back with a note."""
    notices = []
    key = query.get("sort", "").strip() or cohort.DEFAULT_SORT
    if key not in cohort.SORT_KEYS:
        notices.append("That column cannot be sorted on; sorted by position instead.")
        key = cohort.DEFAULT_SORT
    direction = query.get("dir", "").strip() or "asc"
    if direction not in ("asc", "desc"):
        notices.append("The sort direction must be “asc” or “desc”; using ascending.")
        direction = "asc"
    return key, direction == "desc", notices


def _columns(current: str, descending: bool) -> list[Column]:
    fixed = [
        ("number", "#", True, ""),
        ("candidate", "Candidate", False, ""),
        ("status", "Status", False, ""),
        ("started", "Started", False, ""),
        ("events", "Events", True, "Events reported by Promptster."),
    ]
    specs = fixed + [(m.key, m.label, True, m.help) for m in cohort.METRICS]
    columns = []
    for key, label, numeric, help_text in specs:
        active = key == current
        next_dir = "asc" if active and descending else ("desc" if active else "asc")
        columns.append(
            Column(
                key=key,
                label=label,
                url="?" + urlencode({"sort": key, "dir": next_dir}),
                aria_sort=("descending" if descending else "ascending") if active else "none",
                numeric=numeric,
                help=help_text,
            )
        )
    return columns


def _assessment_title(membership: Membership, assessment_id: str) -> str:
    try:
        assessments = cache.get_assessments(membership.organization).value
    except promptster.PromptsterError:
        return ""  # the id is title enough; the cohort itself reports real failures
    return next((a.title for a in assessments if a.id == assessment_id), "")


@require_GET
@member_view
def assessment_cohort(request: HtmxHttpRequest, assessment_id: str) -> HttpResponse:
    """Every session of an assessment in one sortable table, with distributions."""
    membership = access.get_membership(request)
    sort, descending, notices = _sort_params(request.GET)
    found = _cohort(membership, assessment_id)
    # Every view, the page's own polls included, queues a bounded batch of what is missing,
    # so the table fills in while it is open and stops polling once nothing is left to fetch.
    queued, broker_down = _fetch_missing(membership, found)
    pending = bool(found.not_fetched or found.partial) and not broker_down
    rows, review_context = review_columns.for_page(
        membership, found.sorted_rows(sort, descending), request.GET.get("review")
    )
    context: dict[str, Any] = {
        "live_url": request.get_full_path() if pending else "",
        "queued": queued,
        "broker_down": broker_down,
        "assessment_id": assessment_id,
        "title": _assessment_title(membership, assessment_id),
        "cohort": found,
        "rows": rows,
        **review_context,
        "columns": _columns(sort, descending),
        "sort": sort,
        "dir": "desc" if descending else "asc",
        "notices": notices,
        "csv_query": urlencode({"sort": sort, "dir": "desc" if descending else "asc"}),
    }
    if request.htmx:
        return render(request, "assessments/cohort.html#table", context)
    return render(request, "assessments/cohort.html", context)


def _fetch_missing(membership: Membership, found: cohort.Cohort) -> tuple[int, bool]:
    """Queue some of the timelines the cohort's statistics still lack; (queued, broker
    down). A page view queues a bounded batch (and an organization a bounded number per
    minute), so opening a page never queues unbounded work; "Prefetch all" fetches the rest."""
    org = membership.organization
    missing = [
        row.session.id
        for row in found.rows
        if not row.session.is_running
        # No store row yet means never fetched; creating one per row just to ask would cost
        # a query per session on every poll of a large cohort.
        and (row.sync is None or prefetch.needs_sync(row.sync))
    ]
    return tasks.enqueue_some(org, missing)


def _cohort(membership: Membership, assessment_id: str) -> cohort.Cohort:
    """The cohort as this member may see it (aliases under anonymized review)."""
    org = membership.organization
    return cohort.cohort_for(
        org,
        assessment_id,
        present=lambda sessions: anonymity.present_many(org, membership, sessions),
    )


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer yields strings."""

    def write(self, value: str) -> str:
        return value


@require_GET
@member_view
def cohort_csv(request: HtmxHttpRequest, assessment_id: str) -> HttpResponse:
    """The cohort table as CSV, in the page's sort order; formula-like cells are neutralised."""
    membership = access.get_membership(request)
    sort, descending, _ = _sort_params(request.GET)
    found = _cohort(membership, assessment_id)
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_ALL)
    lines = [writer.writerow(cohort.csv_header() + review_columns.csv_header())]
    sorted_rows, _context = review_columns.for_page(
        membership, found.sorted_rows(sort, descending), request.GET.get("review")
    )
    extra = review_columns.csv_cells(membership, sorted_rows)
    rows = cohort.csv_rows(sorted_rows)
    lines += [writer.writerow(row + more) for row, more in zip(rows, extra, strict=True)]
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cohort-{assessment_id}.csv"'
    return response


# --- compare ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    key: str  # "a" or "b"
    session: upstream.Session
    summary: attribution.SessionSummary | None
    sync: TimelineSync
    place: Place

    @property
    def pct_state(self) -> str:
        return attribution.promptster_pct_state(self.session, self.sync)


def _side(membership: Membership, key: str, session_id: str) -> Side:
    session = access.get_session_for_member(membership, session_id).value
    org = membership.organization
    sync = timeline.get_sync(org, session.id)
    tasks.fetch_if_needed(org, sync)  # the summary fills in as it is stored
    return Side(
        key=key,
        session=session,
        summary=fragments.summary(org, session, sync),
        sync=sync,
        place=Place.for_member(membership.organization, session.id, sync),
    )


def _compare_options(membership: Membership, sides: list[Side]) -> list[upstream.Session]:
    """Sessions to offer in the picker: the same assessment as a chosen one, else recent ones."""
    assessment_id = next((s.session.assessment_id for s in sides if s.session.assessment_id), "")
    try:
        page = cache.get_session_list(
            membership.organization, assessment_id=assessment_id, limit=COMPARE_OPTIONS
        ).value
    except promptster.PromptsterError:
        return []  # the picker still takes ids pasted into the address
    return anonymity.present_many(membership.organization, membership, page.sessions)


def _assessment_titles(membership: Membership) -> dict[str, str]:
    try:
        return {a.id: a.title for a in cache.get_assessments(membership.organization).value}
    except promptster.PromptsterError:
        return {}


@require_GET
@member_view
def compare(request: HtmxHttpRequest) -> HttpResponse:
    """Two sessions' summaries side by side, their metrics with the differences that matter
    marked; until both are chosen, a picker of candidates by name (`find=` narrows it)."""
    membership = access.get_membership(request)
    problems = []
    sides = []
    for key in ("a", "b"):
        value = request.GET.get(key, "").strip()[:200]
        if value and not upstream.ID_RE.fullmatch(value):
            problems.append(f"Session {key.upper()} is not a valid session id.")
        elif value:
            sides.append(_side(membership, key, value))  # 404 for unknown or foreign ids
    if len(sides) == 2 and sides[0].session.id == sides[1].session.id:
        problems.append("Both sides show the same session: choose another for B.")
    find = request.GET.get("find", "").strip()[:100]
    titles = _assessment_titles(membership)
    options = _compare_options(membership, sides)
    chosen = {s.key: s.session.id for s in sides}
    context = {
        "sides": sides,
        "problems": problems,
        "chosen": chosen,
        "find": find,
        "titles": titles,
        "groups": _by_assessment(options, titles),
        "found": comparison.find_candidates(options, find, titles)[:COMPARE_FOUND],
        "pairs": _pairs(sides) if len(sides) == 2 and not problems else [],
    }
    if request.htmx and request.htmx.target == "compare-found":
        return render(request, "compare.html#found", context)
    return render(request, "compare.html", context)


def _by_assessment(
    sessions: list[upstream.Session], titles: dict[str, str]
) -> list[tuple[str, list[upstream.Session]]]:
    """Picker options grouped under their assessment's title, in upstream order."""
    groups: dict[str, list[upstream.Session]] = {}
    for s in sessions:
        title = titles.get(s.assessment_id, s.assessment_id or "No assessment")
        groups.setdefault(title, []).append(s)
    return list(groups.items())


def _pairs(sides: list[Side]) -> list[comparison.MetricPair]:
    a, b = (comparison.values_of(side.session, side.summary) for side in sides)
    return comparison.pairs(a, b)
