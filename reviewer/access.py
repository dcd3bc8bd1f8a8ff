"""Who may see what: the only way views reach an organization and its sessions.

Every lookup is scoped to the signed-in user's organization; an id from another
organization looks exactly like an id that does not exist (404).
"""

from __future__ import annotations

from dataclasses import replace

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from reviewer import cache, promptster, upstream
from reviewer.models import Membership, Role, TimelineSync, session_is_deleted
from reviewer.review import anonymity

_ORG_SESSION_KEY = "reviewer_org"


class SessionGone(Exception):
    """The session was deleted through this product: answer 410, whatever caches hold."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


def memberships_of(request: HttpRequest) -> list[Membership]:
    # An error page rendered before authentication ran (a disallowed Host header) has no user.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(request, "_memberships", None)
    if cached is None:
        cached = list(
            Membership.objects.filter(user=user)
            .select_related("organization")
            .order_by("organization__name")
        )
        request._memberships = cached  # type: ignore[attr-defined]
    return cached


def get_membership(request: HttpRequest) -> Membership:
    """The membership the user is working in: the one they chose in the header, else their
    oldest, so that joining another organization never moves them without their choice."""
    memberships = memberships_of(request)
    if not memberships:
        raise PermissionDenied("You are not a member of any organization yet. Ask an admin.")
    chosen = request.session.get(_ORG_SESSION_KEY)
    for membership in memberships:
        if membership.organization_id == chosen:
            return membership
    return min(memberships, key=lambda m: (m.created_at, m.pk))


def choose_organization(request: HttpRequest, org_id: int) -> bool:
    if any(m.organization_id == org_id for m in memberships_of(request)):
        request.session[_ORG_SESSION_KEY] = org_id
        return True
    return False


def require_role(membership: Membership, role: Role) -> None:
    if not membership.has_role(role):
        raise PermissionDenied(
            f"This needs the {role.label.lower()} role in {membership.organization}."
        )


def get_session_for_member(
    membership: Membership, session_id: str
) -> cache.Fetched[upstream.Session]:
    """The session, fetched with the member's organization token (never another's).

    Unknown ids, other organizations' ids and sessions Promptster no longer has answer 404;
    sessions deleted through this product answer 410. Under anonymized review the candidate
    is shown under an alias to those who may not see the name (`reviewer.review.anonymity`).
    """
    fetched = _session_for_member(membership, session_id)
    shown = anonymity.present(membership.organization, membership, fetched.value)
    return fetched if shown is fetched.value else replace(fetched, value=shown)


def _session_for_member(membership: Membership, session_id: str) -> cache.Fetched[upstream.Session]:
    org = membership.organization
    if session_is_deleted(org, session_id):
        raise SessionGone(session_id)
    try:
        return cache.get_session(org, session_id)
    except promptster.NotFound:
        if session_is_deleted(org, session_id):  # deleted here meanwhile: upstream goes first
            raise SessionGone(session_id) from None
        stored = TimelineSync.objects.for_org(org).filter(session_id=session_id).first()
        if stored is None or (stored.events_stored == 0 and not stored.complete):
            raise Http404("No such session in this organization.") from None
    # Upstream lost it, but this organization stored its timeline: show what is stored
    # (an admin can still delete it here).
    return cache.Fetched(_stored_only(stored), gone_upstream=True)


def _stored_only(sync: TimelineSync) -> upstream.Session:
    """A session as far as the local store knows it, for one upstream no longer has."""
    ended = sync.finished_at.isoformat() if sync.session_ended and sync.finished_at else None
    return upstream.parse_session(
        {"eventCount": sync.events_stored, "endedAt": ended}, session_id=sync.session_id
    )
