"""Review state on the session list: the `review=` filter and the per-request cells.

The list's rows are cached for the whole organization (`reviewer.views.sessions`), so they
carry an empty review cell and a marked candidate name; `fill_rows()` fills both for the
reader on every request (the state is the same for every member, the name may not be).
"""

from __future__ import annotations

import re

from django.template.loader import render_to_string
from django.utils.html import escape

from reviewer import cache, upstream
from reviewer.models import Membership
from reviewer.review import anonymity
from reviewer.review.board import ReviewState, boards_for

FILTER_LIMIT = (
    1000  # sessions read to filter by review state (the upstream list has no such filter)
)

_CELL_RE = re.compile(r'<td class="review-cell" data-review-slot="([^"<>]{1,120})"></td>')
_NAME_RE = re.compile(r'<span data-candidate-of="([^"<>]{1,120})">[^<]*</span>')


def parse_review(value: str | None) -> str:
    """A `review=` value (not_started, scored, decided), or "" for anything else."""
    return value if value in ReviewState.ALL else ""


def reviewed_page(
    membership: Membership,
    review: str,
    *,
    assessment_id: str,
    source_service: str,
    limit: int,
    offset: int,
) -> cache.Fetched[upstream.SessionPage]:
    """A page of the sessions of a filter in one review state, paged here (at most
    `FILTER_LIMIT` sessions are read, through the cached list pages)."""
    listing = cache.list_all_sessions(
        membership.organization,
        assessment_id=assessment_id,
        source_service=source_service,
        limit=FILTER_LIMIT,
    )
    boards = boards_for(membership, [s.id for s in listing.sessions])
    matching = [s for s in listing.sessions if boards[s.id].state == review]
    page = upstream.SessionPage(
        sessions=matching[offset : offset + limit],
        total=len(matching),
        limit=limit,
        offset=offset,
    )
    return cache.Fetched(page, stale=listing.stale)


def fill_rows(html: str, membership: Membership) -> str:
    """Fill the review cells and hide the names this reader may not see."""
    ids = set(_CELL_RE.findall(html)) | set(_NAME_RE.findall(html))
    if not ids:
        return html
    org = membership.organization
    boards = boards_for(membership, ids)
    hidden = anonymity.names_to_hide(org, membership, ids)

    def cell(match: re.Match[str]) -> str:
        board = boards[match.group(1)]
        inner = render_to_string("review/_list_cell.html", {"board": board}).strip()
        return f'<td class="review-cell" data-review-slot="{match.group(1)}">{inner}</td>'

    def name(match: re.Match[str]) -> str:
        sid = match.group(1)
        if sid not in hidden:
            return match.group(0)
        return f'<span data-candidate-of="{sid}">{escape(anonymity.alias(org, sid))}</span>'

    return _NAME_RE.sub(name, _CELL_RE.sub(cell, html))
