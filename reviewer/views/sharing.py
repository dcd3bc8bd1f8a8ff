"""Share links: creating and revoking them, and the read-only page they open."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reviewer import access, attribution, cache, fragments, promptster, timeline, upstream
from reviewer.forms import ShareForm, parse_timeline_params
from reviewer.models import AuditEntry, Role, ShareLink, hash_share_token, session_is_deleted
from reviewer.review import anonymity
from reviewer.review.slots import fill_shared_response
from reviewer.views.common import HtmxHttpRequest, MemberRequest, member_view
from reviewer.views.events import render_event, render_followups, render_jump
from reviewer.views.timeline import (
    Place,
    map_of,
    render_chunk,
    render_turn,
    render_turns,
    timeline_context,
    view_of,
)


def _links_context(membership: Any, session_id: str) -> dict[str, Any]:
    links = (
        ShareLink.objects.for_org(membership.organization)
        .filter(session_id=session_id)
        .select_related("created_by", "revoked_by")
        .order_by("-created_at")
    )
    return {"links": links, "now": timezone.now(), "session_id": session_id}


@require_http_methods(["GET", "POST"])
@member_view
def session_share(request: MemberRequest, session_id: str) -> HttpResponse:
    """GET: the session's share links. POST: create one (reviewers and admins)."""
    membership = access.get_membership(request)
    session = access.get_session_for_member(membership, session_id).value
    form = ShareForm(request.POST or None)
    context: dict[str, Any] = {"session": session, "form": form, "membership": membership}
    status = 200
    if request.method == "POST":
        access.require_role(membership, Role.REVIEWER)
        if form.is_valid():
            link, token = ShareLink.create(
                org=membership.organization,
                session_id=session.id,
                user=request.user,
                hours=form.cleaned_data["expires_in_hours"],
                note=form.cleaned_data["note"],
                include_notes=form.cleaned_data["include_notes"],
            )
            AuditEntry.record(
                membership.organization,
                AuditEntry.Action.SHARE_CREATED,
                actor=request.user,
                session_id=session.id,
                link=link.pk,
                expires_at=link.expires_at.isoformat(),
                include_notes=link.include_notes,
            )
            context["created"] = link
            context["share_url"] = request.build_absolute_uri(
                reverse("shared-session", args=[token])
            )
            context["form"] = ShareForm()
            status = 200
        else:
            status = 400
    context.update(_links_context(membership, session.id))
    template = "sessions/share.html#panel" if request.htmx else "sessions/share.html"
    response = render(request, template, context, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_POST
@member_view
def share_revoke(request: MemberRequest, session_id: str, link_id: int) -> HttpResponse:
    membership = access.get_membership(request)
    access.require_role(membership, Role.REVIEWER)
    link = get_object_or_404(
        ShareLink.objects.for_org(membership.organization), pk=link_id, session_id=session_id
    )
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.revoked_by = request.user
        link.save(update_fields=["revoked_at", "revoked_by"])
        AuditEntry.record(
            membership.organization,
            AuditEntry.Action.SHARE_REVOKED,
            actor=request.user,
            session_id=session_id,
            link=link.pk,
        )
        messages.success(request, "The share link was revoked; it stops working at once.")
    if request.htmx:
        context = {
            "membership": membership,
            "form": ShareForm(),
            **_links_context(membership, session_id),
        }
        context["session"] = access.get_session_for_member(membership, session_id).value
        return render(request, "sessions/share.html#panel", context)
    return redirect("session-share", session_id=session_id)


# --- the shared (logged-out) side ------------------------------------------------------------


class ShareUnavailable(Exception):
    pass


class ShareRateLimited(Exception):
    """More anonymous requests for one link this minute than settings allow."""


def _resolve_share(token: str) -> tuple[ShareLink, upstream.Session, Place]:
    """The link, its session and its place; 404 for unknown tokens, 410 once it has ended."""
    if not (20 <= len(token) <= 100):
        raise Http404("No such share link.")
    link = (
        ShareLink.objects.select_related("organization")
        .filter(token_hash=hash_share_token(token))
        .first()
    )
    if link is None:
        raise Http404("No such share link.")
    if not cache.take_share_request(link):
        raise ShareRateLimited()
    if not link.is_active or session_is_deleted(link.organization, link.session_id):
        raise ShareUnavailable()
    try:
        session = cache.get_session(link.organization, link.session_id).value
    except promptster.NotFound:
        raise ShareUnavailable() from None
    session = anonymity.present(link.organization, None, session)
    sync = timeline.get_sync(link.organization, link.session_id)
    base = reverse("shared-session", args=[token])
    return link, session, Place(link.organization, sync, session.id, base, shared=True)


def _gone(request: HtmxHttpRequest) -> HttpResponse:
    response = render(request, "shared/gone.html", status=410)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _shared_response(response: HttpResponseBase) -> HttpResponseBase:
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    return response


def _shared(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Resolve the share token first; a view then only ever sees its link's session."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, token: str, **kwargs: Any) -> HttpResponseBase:
        try:
            link, session, place = _resolve_share(token)
        except ShareUnavailable:
            return _gone(request)
        except ShareRateLimited:
            response = HttpResponse(
                "Too many requests for this share link. Try again in a minute.",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = "60"
            return _shared_response(response)
        return _shared_response(
            fill_shared_response(link, view(request, link, session, place, **kwargs))
        )

    return require_GET(never_cache(wrapper))


@_shared
def shared_session(
    request: HtmxHttpRequest, link: ShareLink, session: upstream.Session, place: Place
) -> HttpResponse:
    """The read-only page a share link opens: timeline and attribution, nothing else."""
    if not request.htmx:
        # Every opening of the page counts, whatever its query string; htmx requests
        # within the page do not. The audit log gets one row per link per interval.
        link.record_view()
    params = parse_timeline_params(request.GET)
    context = {
        "session": session,
        "link": link,
        "sync": place.sync,
        "pct_state": attribution.promptster_pct_state(session, place.sync),
        "panel_html": fragments.summary_html(
            link.organization, session, place.sync, audience="shared"
        ),
        "map": map_of(place),
        **timeline_context(
            place, session, params, view=view_of(request), open_key=request.GET.get("open", "")
        ),
    }
    return render(request, "shared/detail.html", context)


@_shared
def shared_timeline(
    request: HtmxHttpRequest, link: ShareLink, session: upstream.Session, place: Place
) -> HttpResponse:
    return render_chunk(request, place, session)


@_shared
def shared_turns(
    request: HtmxHttpRequest, link: ShareLink, session: upstream.Session, place: Place
) -> HttpResponse:
    return render_turns(request, place, session)


@_shared
def shared_turn(
    request: HtmxHttpRequest,
    link: ShareLink,
    session: upstream.Session,
    place: Place,
    turn_key: str,
) -> HttpResponse:
    return render_turn(request, place, session, turn_key)


@_shared
def shared_jump(
    request: HtmxHttpRequest, link: ShareLink, session: upstream.Session, place: Place
) -> HttpResponse:
    return render_jump(request, place)


@_shared
def shared_event(
    request: HtmxHttpRequest,
    link: ShareLink,
    session: upstream.Session,
    place: Place,
    event_key: str,
) -> HttpResponse | StreamingHttpResponse:
    return render_event(request, place, event_key)


@_shared
def shared_followups(
    request: HtmxHttpRequest,
    link: ShareLink,
    session: upstream.Session,
    place: Place,
    event_key: str,
) -> HttpResponse:
    return render_followups(request, place, event_key)
