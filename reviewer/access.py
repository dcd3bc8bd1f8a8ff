"""Who may see what: the only way views reach an organization and its sessions.

Every lookup is scoped to the signed-in user's organization; an id from another
organization looks exactly like an id that does not exist (404).
"""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from reviewer import cache, promptster, upstream
from reviewer.models import Membership, Role, session_is_deleted

SESSION_ID_RE = re.compile(rf"^{upstream.ID_RE.pattern}$")
_ORG_SESSION_KEY = "reviewer_org"


class SessionGone(Exception):
    """The session was deleted through this product: answer 410, whatever caches hold."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


def memberships_of(request: HttpRequest) -> list[Membership]:
    if not request.user.is_authenticated:
        return []
    cached = getattr(request, "_memberships", None)
    if cached is None:
        cached = list(
            Membership.objects.filter(user=request.user)
            .select_related("organization")
            .order_by("organization__name")
        )
        request._memberships = cached  # type: ignore[attr-defined]
    return cached


def get_membership(request: HttpRequest) -> Membership:
    """The membership the user is working in (chosen in the header when they have several)."""
    memberships = memberships_of(request)
    if not memberships:
        raise PermissionDenied("You are not a member of any organization yet. Ask an admin.")
    chosen = request.session.get(_ORG_SESSION_KEY)
    for membership in memberships:
        if membership.organization_id == chosen:
            return membership
    return memberships[0]


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


def check_session_id(session_id: str) -> str:
    if not SESSION_ID_RE.match(session_id):
        raise Http404("No such session.")
    return session_id


def get_session_for_member(
    membership: Membership, session_id: str
) -> cache.Fetched[upstream.Session]:
    """The session, fetched with the member's organization token (never another's).

    Unknown ids, other organizations' ids and sessions Promptster no longer has answer 404;
    sessions deleted through this product answer 410.
    """
    org = membership.organization
    check_session_id(session_id)
    if session_is_deleted(org, session_id):
        raise SessionGone(session_id)
    try:
        return cache.get_session(org, session_id)
    except promptster.NotFound:
        raise Http404("No such session in this organization.") from None
