"""Accounts: who may join an organization, and how, and login lockouts as admins see them.

Usernames and passwords are checked by Django's own validators wherever they are set (the
settings page and `add_member`). Admins add members by invitation only: the invited user
accepts or declines when they next sign in, so nobody is put in an organization, or has
their working organization changed, without choosing it. The answer an admin gets is the
same whether the username was new or already taken elsewhere.

Login throttling itself is django-axes (see settings); this module audits its lockouts and
lists and lifts them for an organization's admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.signals import user_logged_in
from django.db import models, transaction
from django.db.models import Max, Sum
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from reviewer.models import AuditEntry, Invitation, Membership, Organization

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AlreadyMember(Exception):
    """The user is a member of the organization already (their role can be changed instead)."""


def validate_username(username: str) -> str:
    """The username as Django's user model would accept it; raises ValidationError."""
    user_model = get_user_model()
    field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    assert isinstance(field, models.Field)
    return str(field.clean(user_model.normalize_username(username), None))


def validate_new_password(password: str, username: str) -> None:
    """Django's password validators (settings.AUTH_PASSWORD_VALIDATORS) for this username."""
    user_model = get_user_model()
    password_validation.validate_password(password, user_model(username=username))


def invite(org: Organization, username: str, password: str, role: str, *, actor: User) -> None:
    """Invite `username` to `org` with `role`, creating the user with `password` if new.

    1. A member of `org` already raises AlreadyMember (the admin sees members anyway).
    2. A new username is created with `password` (validated by the caller's form).
    3. Either way an invitation waits for the user; renewing one only changes its role.

    New and existing users take the same path, so the admin learns nothing about usernames
    in other organizations.
    """
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.filter(username=username).first()
        if user is not None and Membership.objects.filter(organization=org, user=user).exists():
            raise AlreadyMember(username)
        if user is None:
            user = user_model.objects.create_user(username=username, password=password)
        else:
            make_password(password)  # the same hashing time either way: no timing tell
        Invitation.objects.update_or_create(
            organization=org, user=user, defaults={"role": role, "invited_by": actor}
        )
        AuditEntry.record(
            org, AuditEntry.Action.MEMBER_INVITED, actor=actor, member=username, role=role
        )


INVITATIONS_SESSION_KEY = "reviewer_invitations"


@receiver(user_logged_in)
def _note_invitations(sender: object, request: HttpRequest | None, user: Any, **_: Any) -> None:
    """At sign-in, remember how many invitations wait, so every page can point to them
    without a query of its own."""
    if request is not None and hasattr(request, "session"):
        request.session[INVITATIONS_SESSION_KEY] = Invitation.objects.filter(user=user).count()


def note_invitations(request: HttpRequest) -> None:
    """Refresh the count of waiting invitations after the user answered one."""
    _note_invitations(None, request, request.user)


def pending_invitations(user: Any) -> list[Invitation]:
    """The invitations waiting for the signed-in `user`."""
    if not user.is_authenticated:
        return []
    return list(Invitation.objects.filter(user=user).select_related("organization"))


def accept(invitation: Invitation) -> Membership:
    """The invited user joins with the offered role; the invitation is used up."""
    with transaction.atomic():
        membership = Membership.objects.grant(
            invitation.organization,
            invitation.user,
            invitation.role,
            actor=invitation.user,
        )
        invitation.delete()
    return membership


def decline(invitation: Invitation) -> None:
    """The invited user says no; the organization's audit log says so."""
    AuditEntry.record(
        invitation.organization,
        AuditEntry.Action.INVITATION_DECLINED,
        actor=invitation.user,
        member=invitation.user.get_username(),
    )
    invitation.delete()


# --- login lockouts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Lockout:
    """A username currently refused at login, and when that ends on its own."""

    username: str
    failures: int
    until: datetime


def _cooloff_start() -> datetime:
    return timezone.now() - settings.AXES_COOLOFF_TIME


def lockouts_for(org: Organization) -> list[Lockout]:
    """Usernames of `org`'s members (and invitees) locked out of login right now."""
    usernames = set(
        Membership.objects.filter(organization=org).values_list("user__username", flat=True)
    ) | set(Invitation.objects.filter(organization=org).values_list("user__username", flat=True))
    rows = (
        AccessAttempt.objects.filter(username__in=usernames, attempt_time__gte=_cooloff_start())
        .values("username")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .order_by("username")
    )
    return [
        Lockout(row["username"], row["failures"], row["last"] + settings.AXES_COOLOFF_TIME)
        for row in rows
        if row["failures"] >= settings.AXES_FAILURE_LIMIT
    ]


def lift_lockout(org: Organization, username: str, *, actor: User) -> bool:
    """Let `username` (a member of `org`) try to log in again now; False if not locked here."""
    if username not in {lockout.username for lockout in lockouts_for(org)}:
        return False
    axes_reset(username=username)
    AuditEntry.record(org, AuditEntry.Action.LOGIN_UNLOCKED, actor=actor, member=username)
    return True


@receiver(user_locked_out)
def _audit_lockout(
    sender: object, request: HttpRequest, username: str | None, ip_address: str | None, **_: Any
) -> None:
    """Every organization the username belongs to records the lockout in its audit log,
    once per lockout: axes signals again on each refused try, which must not flood the log."""
    if not username:
        return
    orgs = Organization.objects.filter(memberships__user__username=username).distinct()
    for org in orgs:
        already = AuditEntry.objects.filter(
            organization=org,
            action=AuditEntry.Action.LOGIN_LOCKED_OUT,
            detail__member=username,
            created_at__gte=_cooloff_start(),
        )
        if already.exists():
            continue
        AuditEntry.record(
            org,
            AuditEntry.Action.LOGIN_LOCKED_OUT,
            via="login throttling",
            member=username,
            client=ip_address or "",
            minutes=int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        )
