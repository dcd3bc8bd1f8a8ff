"""Each file the session touched, and one file's story with its reconstructed content."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from reviewer import access, filehistory, fragments, rendering, timeline
from reviewer.models import StoredEvent
from reviewer.review.slots import review_slots
from reviewer.upstream import ATTRIBUTIONS
from reviewer.views.common import MemberRequest, member_view

MAX_PATH = 500
# Line filters of the blame view (`?only=`): the classes each one keeps.
LINE_FILTERS = {
    "hand": ("likely_human", "ai_revised_by_human"),
    **{attribution: (attribution,) for attribution in ATTRIBUTIONS},
}


@require_GET
@member_view
@review_slots
def session_files(request: MemberRequest, session_id: str) -> HttpResponse:
    """`/sessions/<id>/files/`: every file touched; `?path=` one file's story."""
    membership = access.get_membership(request)
    org = membership.organization
    session = access.get_session_for_member(membership, session_id).value
    sync = timeline.get_sync(org, session_id)
    path = request.GET.get("path", "")
    context: dict[str, Any] = {"session": session, "sync": sync, "base": f"/sessions/{session_id}/"}
    if not path:
        context["files"] = fragments.files(org, sync)
        return render(request, "files/list.html", context)
    if len(path) > MAX_PATH or not StoredEvent.objects.for_sync(sync).filter(path=path).exists():
        raise Http404("This session changed no file of that name.")
    only = request.GET.get("only", "")
    only = only if only in LINE_FILTERS else ""
    started = session.started_at.isoformat() if session.started_at else ""
    # A long session's file can have thousands of changes: its story is rendered once per
    # version of the store and filter, not on every view.
    body = fragments.chunk_html(
        org,
        sync,
        f"file|{path}|{only}",
        f"{timeline.store_version(sync)}|{started}",
        lambda: {"html": _story_html(sync, session, path, only, context["base"])},
    )
    context.update({"path": path, "story_body": mark_safe(body["html"])})  # noqa: S308 - ours
    return render(request, "files/story.html", context)


def _story_html(sync: timeline.TimelineSync, session: Any, path: str, only: str, base: str) -> str:
    """One file's changes in order and, where the session holds it whole, its reconstructed
    content with the event that last wrote each line (`only=` keeps some classes)."""
    story = filehistory.story(sync, path)
    wanted = LINE_FILTERS.get(only)
    lines = list(enumerate(story.lines or [], 1))
    if wanted:
        lines = [(n, line) for n, line in lines if line.origin.attribution in wanted]
    remaining = []
    if story.broken_at is not None:
        keys = [s.change.seq for s in story.steps if s.status in ("failed", "skipped")]
        rows = StoredEvent.objects.for_sync(sync).filter(seq__in=keys).for_display().order_by("seq")
        remaining = rendering.present(rows, session.started_at, base=base)
    context = {
        "session": session,
        "base": base,
        "path": path,
        "story": story,
        "lines": lines,
        "only": only,
        "filters": [
            ("", "All lines"),
            ("hand", "Typed by the candidate"),
            *((a, rendering.ATTRIBUTION_LABELS[a]) for a in ATTRIBUTIONS if a in story.mix),
        ],
        "remaining": remaining,
        "attribution_labels": rendering.ATTRIBUTION_LABELS,
    }
    return render_to_string("files/story.html#story-body", context)
