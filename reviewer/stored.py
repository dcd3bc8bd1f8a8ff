"""The local timeline store's models: each session's sync state (`TimelineSync`: the prefetch
cursor, counts and lease), its events as upstream sent them (`StoredEvent`, keyed by id and
variant) and their search text (`EventText`). Importing `reviewer.models` loads them.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

if TYPE_CHECKING:
    from reviewer.models import Organization


class SyncQuerySet(models.QuerySet["TimelineSync"]):
    def for_org(self, org: Organization) -> SyncQuerySet:
        return self.filter(organization=org)

    def running_sessions(self) -> SyncQuerySet:
        return self.filter(session_ended=False)


class TimelineSync(models.Model):
    """Prefetch progress and the resume cursor of one session's local timeline.

    The database, not a task result backend, is the source of truth for progress: the page
    polls this row. `claimed_until` is a lease taken with a conditional UPDATE (`claim()`) so
    only one worker fetches a timeline at a time; a dead worker's lease simply expires.

    Besides what was stored, the row counts what upstream sent that was not stored as it came,
    so the page can tell the truth about it: exact repeats of an event (dropped), records that
    share an id with a different one (kept, marked), events of other sessions (left out),
    entries without a usable id (left out) and events the database refused (left out, listed
    in `unstorable`).
    """

    class State(models.TextChoices):
        IDLE = "idle", "Not fetched"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Fetching"
        DONE = "done", "Up to date"
        FAILED = "failed", "Failed"

    UNSTORABLE_LISTED = 20  # how many refused events are listed by id

    organization = models.ForeignKey("reviewer.Organization", on_delete=models.CASCADE)
    session_id = models.CharField(max_length=100)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IDLE)
    expected_events = models.PositiveIntegerField(null=True, blank=True)
    events_stored = models.PositiveIntegerField(default=0)
    pages_fetched = models.PositiveIntegerField(default=0)
    last_event_id = models.CharField(max_length=100, blank=True)
    last_seq = models.IntegerField(default=-1)
    session_ended = models.BooleanField(default=False)
    complete = models.BooleanField(default=False)
    # Bumped when the stored timeline is rebuilt: part of the store's version.
    rebuilds = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True)
    # Set when a whole page could not be stored: automatic retries stop until someone asks.
    blocked_event_id = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=300, blank=True)
    repeats_dropped = models.PositiveIntegerField(default=0)
    id_conflicts = models.PositiveIntegerField(default=0)
    foreign_events = models.PositiveIntegerField(default=0)
    unusable_events = models.PositiveIntegerField(default=0)
    unstorable = models.JSONField(default=list, blank=True)  # [{"id": …, "reason": …}]
    unstorable_count = models.PositiveIntegerField(default=0)
    file_changes = models.PositiveIntegerField(default=0)
    last_prompt_seq = models.IntegerField(default=-1)  # the turn the next stored event joins
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SyncQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id"], name="one_sync_per_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.session_id} ({self.state}, {self.events_stored} events)"

    @property
    def percent(self) -> int:
        if self.complete:
            return 100
        if not self.expected_events:
            return 0
        return min(99, int(self.events_stored * 100 / self.expected_events))

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    @property
    def lease_expired(self) -> bool:
        return self.claimed_until is None or self.claimed_until < timezone.now()

    @property
    def accounted(self) -> int:
        """Events upstream sent for this session: stored, or knowingly left out (exact
        repeats, entries without a usable id, events of another session, events the database
        refused)."""
        return (
            self.events_stored
            + self.repeats_dropped
            + self.unusable_events
            + self.foreign_events
            + self.unstorable_count
        )

    # --- the lease ------------------------------------------------------------------------

    def claim(self, seconds: int) -> str | None:
        """Take the lease with a conditional UPDATE; a claim token, or None if another worker
        holds it. Also marks the row running and clears the last error."""
        token = secrets.token_hex(8)
        now = timezone.now()
        won = (
            TimelineSync.objects.filter(pk=self.pk)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(
                claimed_until=now + timedelta(seconds=seconds),
                claim_token=token,
                state=self.State.RUNNING,
                started_at=now,
                last_error="",
            )
        )
        return token if won else None

    def release(self, token: str, **fields: Any) -> None:
        """Give the lease back (only if it is still ours), setting `fields` on the way."""
        TimelineSync.objects.filter(pk=self.pk, claim_token=token).update(
            claimed_until=None, claim_token="", **fields
        )


class EventQuerySet(models.QuerySet["StoredEvent"]):
    def for_sync(self, sync: TimelineSync) -> EventQuerySet:
        return self.filter(sync=sync)

    def after(self, seq: int) -> EventQuerySet:
        return self.filter(seq__gt=seq)

    def failures(self) -> EventQuerySet:
        return self.filter(failed=True)

    def for_display(self) -> EventQuerySet:
        """Rows as the timeline renders them: `display` is the cut copy when there is one,
        else the full JSON; the large columns themselves stay in the database."""
        return self.defer("raw", "preview").annotate(
            display=models.Case(models.When(preview="", then=F("raw")), default=F("preview")),
            display_is_copy=models.Case(
                models.When(preview="", then=models.Value(False)),
                default=models.Value(True),
                output_field=models.BooleanField(),
            ),
        )


class StoredEvent(models.Model):
    """One upstream timeline event, kept verbatim (`raw`) with the columns the views filter on.

    Upstream may send two different records under one id: both are kept, the later one with
    `variant` 1, 2 … and a `key` of `<id>~2`, `<id>~3` … that cursors and anchors use.
    """

    # Every index of this table starts with the sync: a separate one would only slow writes.
    sync = models.ForeignKey(
        TimelineSync, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    seq = models.IntegerField()
    event_id = models.CharField(max_length=100)
    variant = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=60)
    ts = models.DateTimeField(null=True)
    attribution = models.CharField(max_length=24)
    confidence = models.FloatField(null=True)
    observability = models.CharField(max_length=16, blank=True)
    path = models.CharField(max_length=500, blank=True)
    lines_added = models.PositiveIntegerField(default=0)
    lines_removed = models.PositiveIntegerField(default=0)
    failed = models.BooleanField(default=False)
    failure = models.CharField(max_length=12, blank=True)  # an upstream.Failure value
    is_test = models.BooleanField(default=False)  # a test_run, or a command running tests
    subject = models.CharField(max_length=60, blank=True)  # a tool's name, a git action …
    # The seq of the prompt that opened this event's turn (-1 before the first prompt).
    turn = models.IntegerField(default=-1)
    raw = models.TextField()
    # For a large event: its JSON with long fields cut to their head, which chunks render.
    preview = models.TextField(blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sync", "event_id", "variant"], name="event_record_once"
            ),
            # Positions are gapless and unique: paging by position can never skip an event.
            models.UniqueConstraint(fields=["sync", "seq"], name="event_position"),
        ]
        indexes = [
            models.Index(fields=["sync", "kind", "seq"], name="event_kind_order"),
            models.Index(fields=["sync", "turn", "seq"], name="event_turn_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"

    @property
    def key(self) -> str:
        return event_key(self.event_id, self.variant)


def event_key(event_id: str, variant: int) -> str:
    """The unique name of a stored record: its id, or `<id>~N` for the Nth record of an id."""
    return event_id if variant == 0 else f"{event_id}~{variant + 1}"


def parse_event_key(key: str) -> tuple[str, int]:
    """(event id, variant) of a key made by `event_key`."""
    event_id, sep, number = key.rpartition("~")
    if sep and number.isdigit() and 2 <= int(number) <= 10_000:
        return event_id, int(number) - 1
    return key, 0


class EventText(models.Model):
    """The folded text of one stored event, for search (see `reviewer.search`).

    Written with the event; `indexed` turns true when the database's own text index
    (PostgreSQL pg_trgm, SQLite FTS5) has taken it in, which happens after the prefetch so
    that indexing never slows the fetch. Rows not indexed yet are searched by a scan.
    """

    event = models.OneToOneField(
        StoredEvent, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    sync = models.ForeignKey(
        TimelineSync, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    text = models.TextField()
    indexed = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["sync", "indexed"], name="eventtext_by_sync"),
        ]

    def __str__(self) -> str:
        return f"text of event {self.event_id}"
