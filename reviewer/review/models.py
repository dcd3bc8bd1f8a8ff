"""The rows of hiring review: notes (with their edit history), scorecards, the team's
decision and each reviewer's read position. Imported by `reviewer.models` so Django sees
them; every row carries its organization and the session id, as the store does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

from reviewer.stored import parse_event_key

if TYPE_CHECKING:
    from reviewer.models import Organization

DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("problem_decomposition", "Problem decomposition"),
    ("ai_orchestration", "AI orchestration"),
    ("code_quality", "Code quality"),
    ("debugging_process", "Debugging process"),
    ("communication", "Communication"),
)
"""Promptster's rubric dimensions (REFERENCE.md §1.4, scores endpoints), in its order."""

DIMENSION_KEYS = tuple(key for key, _ in DIMENSIONS)


class Recommendation(models.TextChoices):
    STRONG_NO = "strong_no", "Strong no"
    NO = "no", "No"
    YES = "yes", "Yes"
    STRONG_YES = "strong_yes", "Strong yes"


class Verdict(models.TextChoices):
    ADVANCE = "advance", "Advance"
    HOLD = "hold", "Hold"
    REJECT = "reject", "Reject"


class ReviewQuerySet(models.QuerySet):
    def for_session(self, org: Organization, session_id: str) -> ReviewQuerySet:
        return self.filter(organization=org, session_id=session_id)


class Note(models.Model):
    """A reviewer's note on one stored event (`event_key`: the stored key, `<id>~N` for a
    repeated id). Evidence, not a verdict: every member of the organization sees it."""

    organization = models.ForeignKey("reviewer.Organization", on_delete=models.CASCADE)
    session_id = models.CharField(max_length=100)
    event_key = models.CharField(max_length=110)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=150)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["organization", "session_id", "event_key"], name="note_by_event")
        ]

    def __str__(self) -> str:
        return f"note by {self.author_name} on {self.event_key}"

    @property
    def event_id(self) -> str:
        """The upstream id of the event (its key without a `~N` variant)."""
        return parse_event_key(self.event_key)[0]


class NoteRevision(models.Model):
    """The text a note had before an edit: edits are kept as history."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    replaced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["replaced_at", "id"]

    def __str__(self) -> str:
        return f"earlier text of note {self.note_id}"


class Scorecard(models.Model):
    """One reviewer's scorecard of one session: a draft until `submitted_at`, then frozen.

    `scores` is `{dimension: 1..5}` (a dimension may be missing: unscored) and `notes`
    `{dimension: one line}`."""

    organization = models.ForeignKey("reviewer.Organization", on_delete=models.CASCADE)
    session_id = models.CharField(max_length=100)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer_name = models.CharField(max_length=150)
    scores = models.JSONField(default=dict, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    recommendation = models.CharField(
        max_length=12, choices=Recommendation.choices, blank=True, default=""
    )
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id", "reviewer"], name="one_scorecard_each"
            )
        ]

    def __str__(self) -> str:
        state = "submitted" if self.submitted_at else "draft"
        return f"{state} scorecard by {self.reviewer_name}"

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None


class Decision(models.Model):
    """The team's decision on a session and its final scores, written to Promptster.

    `version` counts changes; `synced_version` is the last one Promptster confirmed, so an
    unchanged decision is never written again. `claim_token` / `claimed_until` is a lease
    taken with a conditional UPDATE: two workers never both write the same version."""

    organization = models.ForeignKey("reviewer.Organization", on_delete=models.CASCADE)
    session_id = models.CharField(max_length=100)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    scores = models.JSONField(default=dict, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by_name = models.CharField(max_length=150)
    decided_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)
    synced_version = models.PositiveIntegerField(default=0)
    synced_at = models.DateTimeField(null=True, blank=True)
    sync_attempts = models.PositiveIntegerField(default=0)
    sync_error = models.CharField(max_length=300, blank=True)
    sync_refused = models.BooleanField(default=False)  # a 400: retrying would not help
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id"], name="one_decision_per_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on {self.session_id} (v{self.version})"

    @property
    def synced(self) -> bool:
        return self.synced_version >= self.version


class ReadPosition(models.Model):
    """How far one reviewer has read a session: the furthest event seen, and an explicit
    "reviewed up to here" marker (either may be empty)."""

    organization = models.ForeignKey("reviewer.Organization", on_delete=models.CASCADE)
    session_id = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    furthest_key = models.CharField(max_length=110, blank=True)
    furthest_seq = models.IntegerField(default=-1)
    marker_key = models.CharField(max_length=110, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id", "user"], name="one_position_each"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.session_id} to {self.furthest_key}"
