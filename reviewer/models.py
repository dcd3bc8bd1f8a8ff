"""Organizations, their members, deletion claims, share links and the audit log; the local
timeline store's models are in `reviewer.stored` and imported here, where Django looks.

Everything a user can reach is owned by an Organization; QuerySets offer `.for_org()` so
that views and helpers never forget the owner.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviewer import crypto
from reviewer.stored import (  # noqa: F401 - the store's models are the app's models too
    EventQuerySet,
    EventText,
    StoredEvent,
    SyncQuerySet,
    TimelineSync,
    event_key,
    parse_event_key,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class OriginNeedsToken(ValueError):
    """A new API origin came without the token meant for it."""


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


_ROLE_RANK = {Role.VIEWER: 0, Role.REVIEWER: 1, Role.ADMIN: 2}


def new_review_secret() -> str:
    return secrets.token_hex(32)


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    api_url = models.URLField(
        "API origin", help_text="e.g. https://api.promptster.ai (the client appends /v1/...)"
    )
    # Set by an operator on the command line (`add_org`): the origin is used as set, private
    # or plain http included. An origin an admin sets in the settings page is not trusted,
    # and must follow `reviewer.origins` (checked again at each connection).
    origin_trusted = models.BooleanField("origin trusted by operator", default=False)
    token_encrypted = models.TextField(blank=True, editable=False)
    token_last4 = models.CharField(max_length=4, blank=True, editable=False)
    # Bumped whenever the token changes: it is part of every cache key, so data fetched
    # with an old token is never served under a new one.
    token_generation = models.PositiveIntegerField(default=1, editable=False)
    token_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Hiring review (reviewer.review): candidates shown under an alias until decided; the
    # alias is an HMAC of the session id under this organization's own secret.
    review_anonymized = models.BooleanField(default=False)
    review_secret = models.CharField(max_length=64, default=new_review_secret, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_token(self, token: str) -> None:
        """Encrypt and store a new API token (call save() afterwards); old cache entries lapse."""
        token = token.strip()
        self.token_encrypted = crypto.encrypt_token(token)
        self.token_last4 = token[-4:] if len(token) >= 12 else ""
        if self.pk:
            self.token_generation = F("token_generation") + 1
        self.token_updated_at = timezone.now()

    def origin_change_needs_token(self, api_url: str) -> bool:
        """A new API origin must come with the token meant for it.

        Otherwise the stored token would be sent to whatever host was typed in, which would
        let anyone who can edit the origin read the token off the wire.
        """
        return bool(self.pk) and api_url.rstrip("/") != self.api_url.rstrip("/")

    def set_origin(self, api_url: str, *, token: str = "", trusted: bool) -> bool:
        """Point the organization at `api_url` (already cleaned by `reviewer.origins`); call
        save() afterwards. True if the origin changed.

        The one place the rule lives: a changed origin needs `token`, entered for it, or
        OriginNeedsToken is raised and nothing changes, so a stored token never travels to an
        origin it was not entered for. `trusted` says whether an operator set it.
        """
        api_url = api_url.rstrip("/")
        changed = self.origin_change_needs_token(api_url)
        if changed and not token.strip():
            raise OriginNeedsToken(api_url)
        self.api_url = api_url
        if changed or trusted or not self.pk:
            self.origin_trusted = trusted  # an admin re-saving the same origin keeps its trust
        if token.strip():
            self.set_token(token)
        return changed

    def replace_token(self, token: str) -> None:
        """Store a new token now; cached data fetched with the old one stops being served."""
        self.set_token(token)
        self.save()
        self.refresh_from_db()

    def get_token(self) -> str:
        if not self.token_encrypted:
            raise crypto.TokenUnreadable("no API token is configured")
        return crypto.decrypt_token(self.token_encrypted)

    @property
    def token_hint(self) -> str:
        return f"…{self.token_last4}" if self.token_last4 else "set"

    @property
    def cache_scope(self) -> str:
        return f"org{self.pk}:g{self.token_generation}"


class MembershipManager(models.Manager["Membership"]):
    def grant(
        self,
        org: Organization,
        user: User,
        role: str,
        *,
        actor: User | None = None,
        via: str = "",
    ) -> Membership:
        """Give `user` `role` in `org` (adding them if needed) and audit it; the one way
        memberships are granted, from the settings page and from `add_member` alike."""
        membership, created = self.update_or_create(
            user=user, organization=org, defaults={"role": role}
        )
        AuditEntry.record(
            org,
            AuditEntry.Action.MEMBER_ADDED if created else AuditEntry.Action.MEMBER_CHANGED,
            actor=actor,
            via=via,
            member=user.get_username(),
            role=role,
        )
        return membership


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org")
        ]
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    def has_role(self, role: str) -> bool:
        return _ROLE_RANK[Role(self.role)] >= _ROLE_RANK[Role(role)]

    @property
    def can_share(self) -> bool:
        return self.has_role(Role.REVIEWER)

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)


class Invitation(models.Model):
    """An offer of a role in an organization, waiting for the invited user to accept it.

    Admins add members only through invitations (see `reviewer.accounts.invite`), so nobody
    joins an organization, or has their working organization changed, without saying so.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_invitation_per_org")
        ]
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"{self.user} invited to {self.organization} ({self.role})"


class DeletionClaim(models.Model):
    """A delete of a session under way: the row's uniqueness lets one request through,
    whatever state the cache is in (see `reviewer.deletion`). It lapses after a crash."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    session_id = models.CharField(max_length=100)
    claimed_until = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id"], name="one_delete_at_a_time"
            )
        ]

    def __str__(self) -> str:
        return f"deleting {self.session_id} until {self.claimed_until:%H:%M:%S}"


class ShareLinkQuerySet(models.QuerySet["ShareLink"]):
    def for_org(self, org: Organization) -> ShareLinkQuerySet:
        return self.filter(organization=org)

    def active(self) -> ShareLinkQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


def hash_share_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ShareLink(models.Model):
    """A read-only link to one session. Only the SHA-256 of its token is stored."""

    MIN_HOURS = 1
    MAX_HOURS = 24 * 30

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    session_id = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    view_count = models.PositiveIntegerField(default=0)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    include_notes = models.BooleanField(default=False)  # reviewers' notes on events, if ticked

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["organization", "session_id"], name="share_by_session")]

    def __str__(self) -> str:
        return f"share of {self.session_id} until {self.expires_at:%Y-%m-%d %H:%M}"

    @classmethod
    def create(
        cls,
        *,
        org: Organization,
        session_id: str,
        user: User,
        hours: int,
        note: str = "",
        include_notes: bool = False,
    ) -> tuple[ShareLink, str]:
        """Create a link and return it with its clear-text token (shown once, never stored)."""
        token = secrets.token_urlsafe(32)  # 256 bits
        link = cls.objects.create(
            organization=org,
            session_id=session_id,
            token_hash=hash_share_token(token),
            note=note,
            created_by=user,
            expires_at=timezone.now() + timedelta(hours=hours),
            include_notes=include_notes,
        )
        return link, token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    AUDIT_INTERVAL = timedelta(hours=1)

    def record_view(self) -> None:
        """Count an opening of the link. The audit log gets one row per link per
        AUDIT_INTERVAL, counting the views in it, however many anonymous views come."""
        now = timezone.now()
        ShareLink.objects.filter(pk=self.pk).update(
            view_count=F("view_count") + 1, last_viewed_at=now
        )
        ShareView.objects.create(link=self, viewed_at=now)
        with transaction.atomic():
            entry = (
                AuditEntry.objects.select_for_update()
                .filter(
                    organization_id=self.organization_id,
                    action=AuditEntry.Action.SHARE_VIEWED,
                    session_id=self.session_id,
                    detail__link=self.pk,
                    created_at__gte=now - self.AUDIT_INTERVAL,
                )
                .order_by("-created_at")
                .first()
            )
            if entry is None:
                AuditEntry.record(
                    self.organization,
                    AuditEntry.Action.SHARE_VIEWED,
                    via="share link visitor",
                    session_id=self.session_id,
                    link=self.pk,
                    views=1,
                )
                return
            entry.detail["views"] = int(entry.detail.get("views", 1)) + 1
            entry.detail["last"] = now.strftime("%Y-%m-%d %H:%M:%S")
            entry.save(update_fields=["detail"])


class ShareView(models.Model):
    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="views")
    viewed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"view of link {self.link_id} at {self.viewed_at:%Y-%m-%d %H:%M}"


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    def for_org(self, org: Organization) -> AuditQuerySet:
        return self.filter(organization=org)

    def deletions(self) -> AuditQuerySet:
        return self.filter(action__in=[AuditEntry.Action.SESSION_DELETED])


class AuditEntry(models.Model):
    """What happened in an organization, newest first. Never holds candidate content."""

    class Action(models.TextChoices):
        SESSION_DELETED = "session.deleted", "Session deleted"
        SHARE_CREATED = "share.created", "Share link created"
        SHARE_REVOKED = "share.revoked", "Share link revoked"
        SHARE_VIEWED = "share.viewed", "Share link viewed"
        TOKEN_CHANGED = "org.token_changed", "API token changed"
        ORG_CHANGED = "org.changed", "Organization changed"
        MEMBER_ADDED = "member.added", "Member added"
        MEMBER_CHANGED = "member.changed", "Member role changed"
        MEMBER_REMOVED = "member.removed", "Member removed"
        SCORECARD_SUBMITTED = "review.scorecard_submitted", "Scorecard submitted"
        DECISION_RECORDED = "review.decision_recorded", "Decision recorded"
        DECISION_SYNCED = "review.decision_synced", "Decision written to Promptster"
        DECISION_SYNC_FAILED = "review.decision_sync_failed", "Decision not written to Promptster"
        ANONYMIZED_CHANGED = "org.review_anonymized", "Anonymized review turned on or off"
        MEMBER_INVITED = "member.invited", "Member invited"
        INVITATION_DECLINED = "member.declined", "Invitation declined"
        INVITATION_CANCELLED = "member.uninvited", "Invitation cancelled"
        LOGIN_LOCKED_OUT = "login.locked_out", "Login locked out"
        LOGIN_UNLOCKED = "login.unlocked", "Login lockout lifted"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    session_id = models.CharField(max_length=100, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="audit_newest"),
            models.Index(fields=["organization", "session_id"], name="audit_by_session"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_name or 'system'}"

    @classmethod
    def record(
        cls,
        org: Organization,
        action: str,
        *,
        actor: User | None = None,
        via: str = "",
        session_id: str = "",
        **detail: object,
    ) -> AuditEntry:
        """Record `action`. The actor is a signed-in user, or else what acted: `via` names
        it ("command line", "share link visitor", "background task")."""
        signed_in = actor is not None and actor.is_authenticated
        return cls.objects.create(
            organization=org,
            actor=actor if signed_in else None,
            actor_name=actor.get_username() if signed_in else via,  # type: ignore[union-attr]
            action=action,
            session_id=session_id,
            detail=detail,
        )


def session_is_deleted(org: Organization, session_id: str) -> bool:
    """A session deleted through this product stays gone, whatever any cache still holds."""
    return AuditEntry.objects.filter(
        Q(organization=org, session_id=session_id, action=AuditEntry.Action.SESSION_DELETED)
    ).exists()


from reviewer.review.models import (  # noqa: E402,F401 - hiring review's rows, seen by Django
    Decision,
    Note,
    NoteRevision,
    ReadPosition,
    Scorecard,
)
