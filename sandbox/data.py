"""Deterministic data for the sandbox Promptster API.

The sandbox plays the upstream reviewer API for the demo, the test-suite and the benchmarks, so its
data has to look like real candidate sessions while staying cheap and reproducible:

* Everything derives from ``seed`` through local ``random.Random`` instances keyed by strings (never
  the global RNG, never ``hash()``), so the same seed gives byte-identical JSON in any process.
  The only wall-clock input is the ``live_anchor`` of running sessions (their last activity is
  "a few minutes ago") and the timestamps of events added later by :meth:`SandboxState.grow`.
* Sessions are never materialised. Event ``i`` of a session is generated on demand from
  ``(seed, session, i)``; per-session counts are fixed up front, decision events sit at fixed
  positions (so ``decisionFlagCount`` is arithmetic), and event ids end in the event index (so an
  ``after`` cursor resolves to an index without a lookup table). The 100,000-event session therefore
  costs a few hundred bytes of memory until a page of it is requested.
* The content follows a real bug being worked in a small repository: explore, reproduce with a
  failing test, fix with genuine unified diffs, verify, commit. Turns of :data:`TURN_LEN` events
  follow phase templates; the documented contradictions of the upstream API (REFERENCE.md section 7)
  are sprinkled in deterministically so clients must cope with them.

Layout of a generated session: index 0 is ``session_start``; indices ``1..B`` are body events in
turns of :data:`TURN_LEN`; an ended session has one final ``session_end``. Slot ``TURN_LEN - 1`` of
each turn is the flexible slot: a ``decision_event`` every ``decision_every`` turns, otherwise a
checkpoint, a context compaction or an ordinary event.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import json
import random
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from sandbox.hostile import PAYLOADS

ORGS: list[dict[str, str]] = [
    {"id": "org_acme", "slug": "acme", "name": "Acme Corp", "token": "psk_live_sandbox_acme"},
    {"id": "org_globex", "slug": "globex", "name": "Globex", "token": "psk_live_sandbox_globex"},
]
"""The sandbox's organisations and their reviewer API tokens."""

REVOKED_TOKEN = "psk_live_sandbox_revoked"
"""A well-formed org key that the sandbox always rejects with 401, as a revoked key would be."""

TURN_LEN = 10
"""Body events per turn. Fixed so that an event index maps to (turn, slot) arithmetically."""

BIG_SESSION_EVENTS = 100_000
"""Exact event count of the large session used for pagination and performance work."""

_FLEX = "*"
_MS_PER_MIN = 60_000
_DAY_MS = 86_400_000
_BASE_MS = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000)
"""Start of the sandbox's fixed calendar: ended sessions happen in October-November 2026."""


class InvalidCursor(ValueError):
    """Raised when a timeline ``after`` id does not belong to the session's timeline."""


def _uuid(seed: int, label: str) -> str:
    """A UUID4-shaped id derived from ``seed`` and ``label`` (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _event_prefix(seed: int, session_id: str) -> str:
    """The first four groups of every event id of a session; the last group is the index."""
    full = _uuid(seed, f"events:{session_id}")
    return full[:23]


def _event_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index:012x}"


def _iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, the format the upstream API uses."""
    sec, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"


def _parse_iso_ms(value: Any) -> int | None:
    """Milliseconds since the epoch for an ISO timestamp, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _sha(rng: random.Random, length: int = 40) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def _day(month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Milliseconds for a date in October/November 2026 (the sandbox's fixed calendar)."""
    start_of_month = _BASE_MS if month == 10 else _BASE_MS + 31 * _DAY_MS
    return start_of_month + (day - 1) * _DAY_MS + hour * 3_600_000 + minute * _MS_PER_MIN


# --------------------------------------------------------------------------------------------
# Scenario content: four small repositories, each with a real bug worked end to end.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """A change to one file: ``(old, new)`` replacements applied to the pristine file text.

    ``by`` says who typically makes it ("ai" or "human"); it steers provenance so that manual
    edits look like small follow-up tweaks rather than whole features.
    """

    path: str
    replacements: tuple[tuple[str, str], ...]
    by: str = "ai"


@dataclass(frozen=True)
class Cmd:
    """A shell command with its canned outcome."""

    command: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    ms: tuple[int, int] = (40, 900)


@dataclass(frozen=True)
class Scenario:
    """Everything the generator needs to narrate one repository's bug fix."""

    key: str
    repo: str
    language: str
    title: str
    role: str
    brief: str
    files: dict[str, str]
    edits: tuple[Edit, ...]
    creates: tuple[tuple[str, str], ...]
    prompts: dict[str, tuple[str, ...]]
    responses: dict[str, tuple[str, ...]]
    commands: dict[str, tuple[Cmd, ...]]
    test_commands: tuple[str, ...]
    suite: str
    total_tests: int
    failing_tests: tuple[tuple[str, str], ...]
    decisions: tuple[dict[str, Any], ...]
    commits: tuple[str, ...]
    branch: str
    tools: tuple[tuple[str, str], ...]
    mcp: tuple[tuple[str, str, str], ...]
    subagents: tuple[str, ...]
    checkpoints: tuple[tuple[str, str], ...]
    todos: tuple[str, ...]
    lockfile: str


_PAY_WEBHOOKS = '''"""Webhook endpoint for payment provider callbacks."""
from __future__ import annotations

import hmac
import json
import logging
from hashlib import sha256

from flask import Blueprint, abort, current_app, request

from ledgerly.db import get_session
from ledgerly.models import Charge
from ledgerly.service import capture_charge, fail_charge

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


def _verify_signature(payload: bytes, header: str) -> bool:
    secret = current_app.config["WEBHOOK_SECRET"].encode()
    expected = hmac.new(secret, payload, sha256).hexdigest()
    return header == expected


@bp.post("/webhooks/provider")
def provider_webhook():
    payload = request.get_data()
    if not _verify_signature(payload, request.headers.get("X-Signature", "")):
        abort(401)
    event = json.loads(payload)
    kind = event["type"]
    if kind == "charge.succeeded":
        with get_session() as db:
            charge = db.get(Charge, event["data"]["charge_id"])
            capture_charge(db, charge, amount=event["data"]["amount"])
    elif kind == "charge.failed":
        with get_session() as db:
            charge = db.get(Charge, event["data"]["charge_id"])
            fail_charge(db, charge, reason=event["data"].get("failure_code"))
    else:
        log.debug("ignoring webhook type %s", kind)
    return {"ok": True}
'''

_PAY_SERVICE = '''"""Charge lifecycle operations."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from ledgerly.models import Charge, ChargeStatus, LedgerEntry

log = logging.getLogger(__name__)


def capture_charge(db: Session, charge: Charge, amount: int) -> Charge:
    """Mark a charge captured and write the ledger entry."""
    charge.status = ChargeStatus.CAPTURED
    charge.captured_at = datetime.now(UTC)
    db.add(
        LedgerEntry(
            charge_id=charge.id,
            account_id=charge.account_id,
            amount=Decimal(amount) / 100,
            kind="capture",
        )
    )
    db.commit()
    log.info("captured charge %s", charge.id)
    return charge


def fail_charge(db: Session, charge: Charge, reason: str | None) -> Charge:
    """Record a failed charge; nothing is written to the ledger."""
    charge.status = ChargeStatus.FAILED
    charge.failure_code = reason or "unknown"
    db.commit()
    return charge


def refund_charge(db: Session, charge: Charge, amount: int | None = None) -> Charge:
    """Refund all or part of a captured charge."""
    if charge.status is not ChargeStatus.CAPTURED:
        raise ValueError(f"cannot refund charge in status {charge.status}")
    refund = Decimal(amount if amount is not None else charge.amount) / 100
    db.add(
        LedgerEntry(
            charge_id=charge.id,
            account_id=charge.account_id,
            amount=-refund,
            kind="refund",
        )
    )
    charge.status = ChargeStatus.REFUNDED
    db.commit()
    return charge
'''

_PAY_MODELS = '''"""ORM models for charges and the ledger."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ChargeStatus(enum.Enum):
    PENDING = "pending"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    FAILED = "failed"


class Charge(Base):
    __tablename__ = "charges"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    status: Mapped[ChargeStatus] = mapped_column(default=ChargeStatus.PENDING)
    captured_at: Mapped[datetime | None]
    failure_code: Mapped[str | None] = mapped_column(String(64))


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[str] = mapped_column(ForeignKey("charges.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    kind: Mapped[str] = mapped_column(String(16))
'''

_PAY_IDEMPOTENCY = '''"""Remember which provider events were applied, so that retries are no-ops."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerly.models import ProcessedWebhook


def already_processed(db: Session, event_id: str) -> bool:
    """True when this provider event id was applied before."""
    stmt = select(ProcessedWebhook.event_id).where(ProcessedWebhook.event_id == event_id)
    return db.scalar(stmt) is not None


def record_processed(db: Session, event_id: str) -> None:
    """Record the event in the caller's transaction so it commits with the ledger write."""
    db.add(ProcessedWebhook(event_id=event_id))
'''

_PAY_TEST = """import threading

from ledgerly.models import LedgerEntry
from tests.factories import charge_succeeded, signed


def test_duplicate_delivery_captures_once(client, db):
    payload = signed(charge_succeeded("ch_1", amount=4900))
    first = client.post("/webhooks/provider", **payload)
    second = client.post("/webhooks/provider", **payload)
    assert first.status_code == second.status_code == 200
    assert second.json == {"ok": True, "duplicate": True}
    assert db.query(LedgerEntry).filter_by(charge_id="ch_1").count() == 1


def test_concurrent_deliveries_capture_once(app, db):
    payload = signed(charge_succeeded("ch_2", amount=1200))

    def deliver():
        with app.test_client() as c:
            c.post("/webhooks/provider", **payload)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.query(LedgerEntry).filter_by(charge_id="ch_2").count() == 1


def test_unknown_charge_is_404_so_provider_retries(client):
    payload = signed(charge_succeeded("ch_missing", amount=100))
    assert client.post("/webhooks/provider", **payload).status_code == 404
"""

_PAY_MIGRATION = '''"""processed_webhooks: provider event ids already applied.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "processed_webhooks",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_unique_constraint(
        "uq_ledger_charge_kind", "ledger_entries", ["charge_id", "kind"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_ledger_charge_kind", "ledger_entries")
    op.drop_table("processed_webhooks")
'''

_PAY_CAPTURE_OLD = """        with get_session() as db:
            charge = db.get(Charge, event["data"]["charge_id"])
            capture_charge(db, charge, amount=event["data"]["amount"])
"""

_PAY_CAPTURE_NEW = """        with get_session() as db:
            if already_processed(db, event["id"]):
                log.info("skipping duplicate webhook %s", event["id"])
                return {"ok": True, "duplicate": True}
            charge = db.get(Charge, event["data"]["charge_id"])
            if charge is None:
                abort(404)
            record_processed(db, event["id"])
            capture_charge(db, charge, amount=event["data"]["amount"])
"""

_PAY_CAPTURE_INTEGRITY = """        with get_session() as db:
            charge = db.get(Charge, event["data"]["charge_id"])
            if charge is None:
                abort(404)
            try:
                record_processed(db, event["id"])
                capture_charge(db, charge, amount=event["data"]["amount"])
            except IntegrityError:
                db.rollback()
                log.info("duplicate delivery of %s lost the race; ignoring", event["id"])
                return {"ok": True, "duplicate": True}
"""

PAY = Scenario(
    key="pay",
    repo="ledgerly",
    language="python",
    title="Duplicate charge on webhook retry",
    role="Senior Backend Engineer",
    brief="""## Duplicate charges on webhook retry

Customers are occasionally charged twice. Support traced it to the payment provider **retrying**
`charge.succeeded` webhooks when our endpoint is slow.

### Your task
1. Find out why a retried webhook captures the charge again.
2. Make webhook handling idempotent. A retry must return `200` and change nothing.
3. Add a regression test. Bonus: show it holds for two deliveries that arrive at the same time.

### Notes
- The service is Flask + SQLAlchemy 2.0 on Postgres; tests use `pytest` with a real database.
- Run `make test` to run everything. Don't touch `ledgerly/provider_client.py`.
- Timebox: 2 hours. Use whichever AI tools you like; we review *how* you work, not just the diff.
""",
    files={
        "ledgerly/webhooks.py": _PAY_WEBHOOKS,
        "ledgerly/service.py": _PAY_SERVICE,
        "ledgerly/models.py": _PAY_MODELS,
    },
    edits=(
        Edit(
            "ledgerly/webhooks.py",
            (
                (
                    "from ledgerly.db import get_session\n",
                    "from ledgerly.db import get_session\n"
                    "from ledgerly.idempotency import already_processed, record_processed\n",
                ),
                (_PAY_CAPTURE_OLD, _PAY_CAPTURE_NEW),
            ),
        ),
        Edit(
            "ledgerly/webhooks.py",
            (
                (
                    "    return header == expected\n",
                    "    return hmac.compare_digest(header, expected)\n",
                ),
            ),
            by="human",
        ),
        Edit(
            "ledgerly/webhooks.py",
            (
                (
                    "from flask import Blueprint, abort, current_app, request\n",
                    "from flask import Blueprint, abort, current_app, request\n"
                    "from sqlalchemy.exc import IntegrityError\n",
                ),
                (
                    "from ledgerly.db import get_session\n",
                    "from ledgerly.db import get_session\n"
                    "from ledgerly.idempotency import record_processed\n",
                ),
                (_PAY_CAPTURE_OLD, _PAY_CAPTURE_INTEGRITY),
            ),
        ),
        Edit(
            "ledgerly/service.py",
            (
                (
                    '    """Mark a charge captured and write the ledger entry."""\n',
                    '    """Capture the charge and write its ledger entry (no-op if captured)."""\n'
                    "    if charge.status is ChargeStatus.CAPTURED:\n"
                    '        log.warning("charge %s already captured; ignoring", charge.id)\n'
                    "        return charge\n",
                ),
            ),
        ),
        Edit(
            "ledgerly/service.py",
            (
                (
                    '    log.info("captured charge %s", charge.id)\n',
                    '    log.info("captured charge %s amount=%s", charge.id, amount)\n',
                ),
            ),
            by="human",
        ),
        Edit(
            "ledgerly/models.py",
            (
                (
                    "from sqlalchemy import ForeignKey, Numeric, String\n",
                    "from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint, func\n",
                ),
                (
                    '    __tablename__ = "ledger_entries"\n',
                    '    __tablename__ = "ledger_entries"\n'
                    "    __table_args__ = (\n"
                    '        UniqueConstraint("charge_id", "kind", name="uq_ledger_charge_kind"),\n'
                    "    )\n",
                ),
                (
                    "    kind: Mapped[str] = mapped_column(String(16))\n",
                    "    kind: Mapped[str] = mapped_column(String(16))\n"
                    "\n\n"
                    "class ProcessedWebhook(Base):\n"
                    '    """Provider event ids already applied; retries hit the primary key."""\n'
                    "\n"
                    '    __tablename__ = "processed_webhooks"\n'
                    "\n"
                    "    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)\n"
                    "    received_at: Mapped[datetime] = "
                    "mapped_column(server_default=func.now())\n",
                ),
            ),
        ),
        Edit(
            "ledgerly/models.py",
            (
                (
                    "    failure_code: Mapped[str | None] = mapped_column(String(64))\n",
                    "    failure_code: Mapped[str | None] = "
                    "mapped_column(String(64), default=None)\n",
                ),
            ),
            by="human",
        ),
    ),
    creates=(
        ("tests/test_webhook_retries.py", _PAY_TEST),
        ("ledgerly/idempotency.py", _PAY_IDEMPOTENCY),
        ("migrations/versions/0007_processed_webhooks.py", _PAY_MIGRATION),
    ),
    prompts={
        "explore": (
            "We get occasional double charges in prod. From the support ticket:\n\n"
            "> Customer acct_8812 was charged $49.00 twice on 12 Oct, 40 seconds apart.\n\n"
            "Read `ledgerly/webhooks.py` and `ledgerly/service.py` and tell me where a retried "
            "`charge.succeeded` could capture twice. Don't change any code yet.",
            "Give me a short map of the repo first: entry points, where the DB session comes "
            "from, and how tests get a database.",
            "How does the provider decide to retry? Look in docs/ for their webhook notes — I "
            "think it's any non-2xx or a response slower than 10s.",
            "Is there anything at the database level that stops two ledger entries for the same "
            "charge? Check the models and the latest migrations.",
        ),
        "reproduce": (
            "Write a failing test first: post the same signed `charge.succeeded` payload twice "
            "through the Flask test client and assert there is exactly one ledger entry.",
            "The new test passes on main, which is suspicious. I think the `db` fixture wraps "
            "each request in its own savepoint. Make the test use the real session scope.",
            "Run just the new test file with `-x` and show me the failure output.",
        ),
        "fix": (
            "OK, let's fix it. I'd like:\n\n"
            "1. a `processed_webhooks` table keyed by the provider event id\n"
            "2. the check and the insert in the **same transaction** as the capture\n"
            "3. `200` for duplicates so the provider stops retrying\n\n"
            "Keep the diff small and don't touch the refund path.",
            "Use `hmac.compare_digest` for the signature check while you're in there.",
            "Don't swallow a missing charge: a 404 is fine, the provider retries and we get "
            "an alert.",
            "A check-then-insert still races. Can we rely on the primary key and catch "
            "`IntegrityError` instead of taking a row lock?",
            "That test is flaky for me locally:\n\n```\nE   sqlalchemy.exc.PendingRollbackError: "
            "This Session's transaction has been rolled back\n```\n\n"
            "Why, and what's the minimal fix?",
        ),
        "verify": (
            "Run the full suite and ruff. Then summarise the change in a few bullets I can paste "
            "into the PR description.",
            "Add a test where eight threads deliver the same event at once. I want to see the "
            "unique constraint doing the work, not the Python check.",
            "Double-check the migration's downgrade actually works against a copy of the dev db.",
        ),
        "wrapup": (
            "Commit with a good message. Then write a short note for the reviewer about what "
            "I'd do next: backfilling the duplicate ledger rows that already exist.",
            "Squash the fixups into one commit and push the branch.",
        ),
    },
    responses={
        "explore": (
            """## Where the double capture comes from

`provider_webhook()` does three things for `charge.succeeded`:

1. verifies the HMAC signature,
2. loads the `Charge` by id,
3. calls `capture_charge()`, which **unconditionally** inserts a `LedgerEntry` and commits.

Nothing remembers that a provider event was already applied, so a retry (same `event["id"]`)
runs step 3 again:

```python
with get_session() as db:
    charge = db.get(Charge, event["data"]["charge_id"])
    capture_charge(db, charge, amount=event["data"]["amount"])  # runs on every retry
```

### Why retries happen at all
The provider retries on any non-2xx **or** when we take longer than 10 s. `capture_charge` calls
`db.commit()` inside a request that can be slow under load, so a slow first delivery can still
succeed *and* be retried.

### Nothing in the database stops it
`ledger_entries` has no unique constraint on `(charge_id, kind)`.

I haven't changed anything yet. Next step: a failing regression test?""",
            """Here's a quick map of the repository:

| area | file | notes |
|---|---|---|
| HTTP entry | `ledgerly/app.py` | Flask app factory, registers `webhooks.bp` |
| webhooks | `ledgerly/webhooks.py` | signature check + dispatch by `type` |
| domain | `ledgerly/service.py` | `capture_charge`, `fail_charge`, `refund_charge` |
| persistence | `ledgerly/db.py` | `get_session()` is a context manager around `Session` |
| tests | `tests/conftest.py` | a Postgres schema per run; the `db` fixture uses savepoints |

The `db` fixture matters for the reproduction: each test runs inside a transaction that is rolled
back at the end, so a double insert inside one test *is* visible to the assertion.""",
            """The provider notes in `docs/provider-webhooks.md` say:

- deliveries are retried with backoff for up to **3 days**;
- a delivery counts as failed on any non-`2xx` status **or** after a 10 s timeout;
- every delivery of the same event carries the same `id` (`evt_...`).

So the stable `event["id"]` is the natural idempotency key. The charge id alone isn't enough,
because a `charge.refunded` event for the same charge is legitimate.""",
        ),
        "reproduce": (
            """Added `tests/test_webhook_retries.py` with a regression test:

```python
def test_duplicate_delivery_captures_once(client, db):
    payload = signed(charge_succeeded("ch_1", amount=4900))
    client.post("/webhooks/provider", **payload)
    client.post("/webhooks/provider", **payload)
    assert db.query(LedgerEntry).filter_by(charge_id="ch_1").count() == 1
```

It fails as expected:

```text
E       AssertionError: assert 2 == 1
```

That confirms the bug is in the webhook path, not in the provider client.""",
            """You're right that it passed for the wrong reason. The `client` fixture used its own
app context, and `get_session()` opened a **different** connection that never saw the fixture's
savepoint. I switched the test to the `app` fixture's session factory; now it fails:

```text
FAILED tests/test_webhook_retries.py::test_duplicate_delivery_captures_once - assert 2 == 1
```""",
        ),
        "fix": (
            """## Change

- New table `processed_webhooks(event_id PRIMARY KEY, received_at)` plus an Alembic migration.
- `ledgerly/idempotency.py` with `already_processed()` / `record_processed()`.
- The webhook records the event **in the same session** before capturing, so both commit together:

```python
with get_session() as db:
    if already_processed(db, event["id"]):
        return {"ok": True, "duplicate": True}
    charge = db.get(Charge, event["data"]["charge_id"])
    if charge is None:
        abort(404)
    record_processed(db, event["id"])
    capture_charge(db, charge, amount=event["data"]["amount"])
```

Duplicates get `200` so the provider stops retrying. The regression test passes now.""",
            """Switched the signature check to a constant-time comparison:

```diff
-    return header == expected
+    return hmac.compare_digest(header, expected)
```

`==` on strings short-circuits at the first differing byte, which leaks timing. It is unlikely to
be exploitable over the network here, but it's a one-line fix.""",
            """`db.get()` returns `None` for an unknown charge and the old code then crashed with an
`AttributeError` (a 500). Now it's an explicit `404`:

```python
charge = db.get(Charge, event["data"]["charge_id"])
if charge is None:
    abort(404)
```

The provider retries a 404 as well. That's what we want: the charge row is created by the checkout
flow, which can lag the webhook by a few seconds. I did **not** record the event as processed in
this case, so the retry will apply it.""",
            """Good call. A check-then-insert can still race between two workers. Both can see "not
processed" before either commits. The primary key on `processed_webhooks.event_id` already
guarantees uniqueness, so:

```python
try:
    record_processed(db, event["id"])
    capture_charge(db, charge, amount=event["data"]["amount"])
except IntegrityError:
    db.rollback()
    return {"ok": True, "duplicate": True}
```

`capture_charge` commits once at the end, so the ledger row and the processed marker land in the
same transaction. If the insert loses the race, **neither** is written.""",
            """The `PendingRollbackError` happens because after the `IntegrityError` the session is
in a
failed transaction, and the test's teardown tries to use it. The fix is the `db.rollback()` in the
`except` branch before returning. I also made the test use a fresh session per thread.

Suite status:

- `tests/test_webhook_retries.py`: 3 passed
- everything else unchanged""",
        ),
        "verify": (
            """All green:

```text
67 passed in 3.12s
All checks passed!
```

### PR summary
- Webhook processing is idempotent on the provider's event id (`processed_webhooks` table).
- The marker and the ledger write commit in **one** transaction; concurrent duplicates lose on the
  primary key and return `200`.
- Unknown charges return `404` (the provider retries, and we alert on it).
- Signature comparison is constant-time.
- Regression tests cover sequential and concurrent duplicate deliveries.""",
            """The concurrent test starts eight threads that post the same payload. With the
Python-side
check removed, the primary key alone keeps it at exactly one ledger row. I ran it 50 times in a loop
with no failures:

```bash
for i in $(seq 50); do pytest tests/test_webhook_retries.py -q -k concurrent || break; done
```""",
            """Ran `upgrade → downgrade → upgrade` against a copy of the dev database:

```text
INFO  [alembic.runtime.migration] Running upgrade 0006 -> 0007, processed_webhooks
INFO  [alembic.runtime.migration] Running downgrade 0007 -> 0006
INFO  [alembic.runtime.migration] Running upgrade 0006 -> 0007, processed_webhooks
```

The downgrade drops the constraint **before** the table, so it works. One catch: on the copy, the
unique constraint failed the first time because of 14 historic duplicate captures. That is the
backfill problem again, so the migration needs to ship with the cleanup.""",
        ),
        "wrapup": (
            """Committed on `fix/idempotent-webhooks`.

**Note for the reviewer — follow-up work**

1. *Backfill*: this query finds the existing duplicate captures:

```sql
SELECT charge_id, count(*)
FROM ledger_entries
WHERE kind = 'capture'
GROUP BY charge_id
HAVING count(*) > 1;
```

2. The new unique constraint on `(charge_id, kind)` will fail to apply while those rows exist, so
   the migration must run **after** finance signs off on the reversal entries.
3. Consider pruning `processed_webhooks` rows older than the provider's 3-day retry window.""",
            """Squashed into a single commit and pushed:

```text
To github.com:acme-hiring/ledgerly-candidate.git
 * [new branch]      fix/idempotent-webhooks -> fix/idempotent-webhooks
```""",
        ),
    },
    commands={
        "explore": (
            Cmd(
                'rg -n "capture_charge" ledgerly tests',
                0,
                "ledgerly/service.py:15:def capture_charge(db: Session, charge: Charge, "
                "amount: int) "
                "-> Charge:\nledgerly/webhooks.py:13:from ledgerly.service import capture_charge, "
                "fail_charge\nledgerly/webhooks.py:33:            capture_charge(db, charge, "
                'amount=event["data"]["amount"])\ntests/test_service.py:22:    capture_charge(db, '
                "charge, amount=4900)\n",
            ),
            Cmd(
                "ls ledgerly tests",
                0,
                "ledgerly:\n__init__.py\napp.py\ndb.py\nmodels.py\nprovider_client.py\nservice.py\n"
                "webhooks.py\n\ntests:\n__init__.py\nconftest.py\nfactories.py\ntest_models.py\n"
                "test_service.py\ntest_webhooks.py\n",
            ),
            Cmd(
                "git log --oneline -5",
                0,
                "9c1e2f4 Log provider failures with failure_code\n51ab0d2 Add refund endpoint\n"
                "e07c3a9 Bump SQLAlchemy to 2.0.35\n3f9d8b1 Verify webhook signatures\n"
                "a22c7e0 Initial import\n",
            ),
            Cmd(
                "cat docs/provider-webhooks.md | head -40",
                0,
                "# Provider webhooks\n\nDeliveries are retried with exponential backoff for up to "
                "3 days.\nA delivery is considered failed on any non-2xx status or after 10 "
                "seconds.\nEvery delivery of the same event carries the same `id`.\n",
            ),
            Cmd(
                "psql ledgerly_dev -c '\\d ledger_entries'",
                2,
                "",
                'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" '
                "failed: No such file or directory\n\tIs the server running locally and accepting "
                "connections on that socket?\n",
            ),
            Cmd(
                "docker compose up -d db", 0, "", " Container ledgerly-db-1  Started\n", (800, 4000)
            ),
        ),
        "verify": (
            Cmd("ruff check ledgerly tests", 0, "All checks passed!\n", "", (90, 400)),
            Cmd(
                "ruff check ledgerly tests",
                1,
                "ledgerly/webhooks.py:9:1: I001 [*] Import block is un-sorted or un-formatted\n"
                "Found 1 error.\n[*] 1 fixable with the `--fix` option.\n",
                "",
                (90, 400),
            ),
            Cmd(
                "mypy ledgerly", 0, "Success: no issues found in 9 source files\n", "", (2000, 7000)
            ),
            Cmd(
                "alembic upgrade head && alembic downgrade -1 && alembic upgrade head",
                0,
                "",
                "INFO  [alembic.runtime.migration] Running upgrade 0006 -> 0007, "
                "processed_webhooks\n"
                "INFO  [alembic.runtime.migration] Running downgrade 0007 -> 0006\n"
                "INFO  [alembic.runtime.migration] Running upgrade 0006 -> 0007, "
                "processed_webhooks\n",
                (900, 3000),
            ),
            Cmd(
                "git status --short",
                0,
                " M ledgerly/models.py\n M ledgerly/webhooks.py\n"
                "?? ledgerly/idempotency.py\n?? tests/test_webhook_retries.py\n",
            ),
        ),
    },
    test_commands=(
        "pytest -q",
        "pytest tests/test_webhook_retries.py -x -q",
        "make test",
        "pytest -q -k webhook",
    ),
    suite="tests",
    total_tests=67,
    failing_tests=(
        (
            "tests/test_webhook_retries.py::test_duplicate_delivery_captures_once",
            "AssertionError: assert 2 == 1",
        ),
        (
            "tests/test_webhook_retries.py::test_concurrent_deliveries_capture_once",
            "sqlalchemy.exc.PendingRollbackError: This Session's transaction has been rolled back",
        ),
        (
            "tests/test_webhooks.py::test_unknown_charge_is_404",
            "AttributeError: 'NoneType' object has no attribute 'status'",
        ),
    ),
    decisions=(
        {
            "title": "Where to store idempotency keys",
            "chosenOption": "A processed_webhooks table keyed by the provider event id",
            "context": "The provider retries for up to 3 days and reuses the event id on every "
            "delivery.",
            "tradeoffs": "One extra insert per webhook, against a Redis set with a TTL: faster, "
            "but lost on a flush and not transactional with the ledger.",
            "rationale": "It has to commit atomically with the ledger write, otherwise a crash "
            "between the two brings the bug back.",
            "impactScore": 4,
            "category": "architecture",
        },
        {
            "title": "Status code for duplicate deliveries",
            "chosenOption": '200 with {"duplicate": true}',
            "context": "The provider treats any non-2xx as a failed delivery and retries it.",
            "tradeoffs": "A 409 is more 'correct' REST, but it would make the provider retry "
            "for 3 days and page on-call.",
            "rationale": "Idempotent success is what the provider contract expects.",
            "impactScore": 2,
            "category": "api",
        },
        {
            "title": "Concurrency control for simultaneous deliveries",
            "chosenOption": "Rely on the primary key and catch IntegrityError",
            "context": "Two workers can receive the same event within milliseconds.",
            "tradeoffs": "SELECT ... FOR UPDATE on the charge serialises all webhooks for that "
            "charge and needs the row to exist first; the constraint is simpler but needs a "
            "rollback path.",
            "rationale": "The database already enforces uniqueness, so the Python check is only "
            "an optimisation.",
            "impactScore": 3,
            "category": "data",
        },
        {
            "title": "Backfilling existing duplicate ledger rows",
            "chosenOption": "Out of scope: documented a detection query and the rollout order",
            "context": "Historic duplicates block the new unique constraint.",
            "tradeoffs": "Fixing the data in this PR would need finance sign-off and would delay "
            "the fix.",
            "rationale": "Ship the prevention first and handle reversals with finance.",
            "impactScore": 3,
            "category": "process",
        },
        {
            "title": "Constant-time signature comparison",
            "chosenOption": "hmac.compare_digest",
            "context": "Noticed while reading the handler.",
            "tradeoffs": "None really; one line.",
            "rationale": "Removes a timing side channel at no cost.",
            "impactScore": 1,
            "category": "security",
        },
    ),
    commits=(
        "Make provider webhooks idempotent on event id",
        "Add regression tests for duplicate and concurrent deliveries",
        "Use constant-time comparison for webhook signatures",
        "Return 404 for webhooks about unknown charges",
        "fixup! Make provider webhooks idempotent on event id",
    ),
    branch="fix/idempotent-webhooks",
    tools=(
        ("Read", '{"file_path": "ledgerly/webhooks.py"}'),
        ("Read", '{"file_path": "ledgerly/service.py"}'),
        ("Grep", '{"pattern": "capture_charge", "path": "ledgerly"}'),
        ("Glob", '{"pattern": "migrations/versions/*.py"}'),
        ("Read", '{"file_path": "tests/conftest.py", "limit": 120}'),
        ("Edit", '{"file_path": "ledgerly/webhooks.py", "old_string": "        with get_session'),
        ("Bash", '{"command": "pytest tests/test_webhook_retries.py -x -q"}'),
        ("TodoWrite", '{"todos": [{"content": "Reproduce double capture", "status": "completed"}'),
    ),
    mcp=(
        ("github", "search_issues", '{"repo": "acme-hiring/ledgerly", "q": "double charge"}'),
        ("postgres", "query", '{"sql": "SELECT charge_id, count(*) FROM ledger_entries GROUP BY 1'),
        ("sentry", "get_issue", '{"issue_id": "LEDGERLY-3F1"}'),
    ),
    subagents=(
        "Review the diff for transaction-safety issues in the webhook path",
        "Find every caller of capture_charge and check whether it can run twice",
        "Explore how tests/conftest.py sets up database sessions",
    ),
    checkpoints=(
        (
            "Reproduced double capture",
            "Failing regression test added; root cause is missing idempotency on event id.",
        ),
        ("Fix passes tests", "processed_webhooks table and IntegrityError handling in place."),
        ("Ready for review", "Suite and lint green; PR summary drafted."),
    ),
    todos=(
        "Reproduce the double capture with a test",
        "Add processed_webhooks table + migration",
        "Handle concurrent deliveries",
        "Run full suite and ruff",
        "Write PR summary",
    ),
    lockfile="poetry.lock",
)


_RATE_LIMITER = """import type { Store } from "./store";

export interface LimiterOptions {
  limit: number;
  windowMs: number;
  now?: () => number;
}

export interface Decision {
  allowed: boolean;
  remaining: number;
  resetAt: number;
}

export class SlidingWindowLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    opts: LimiterOptions,
  ) {
    this.limit = opts.limit;
    this.windowMs = opts.windowMs;
    this.now = opts.now ?? Date.now;
  }

  async consume(key: string): Promise<Decision> {
    const now = this.now();
    const windowStart = now - this.windowMs;
    await this.store.trim(key, windowStart);
    const count = await this.store.count(key);
    if (count > this.limit) {
      return { allowed: false, remaining: 0, resetAt: windowStart + this.windowMs };
    }
    await this.store.add(key, now);
    return { allowed: true, remaining: this.limit - count, resetAt: now + this.windowMs };
  }
}
"""

_RATE_REDIS = """import type { Redis } from "ioredis";
import type { Store } from "../store";

export class RedisStore implements Store {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = "rl:",
  ) {}

  async trim(key: string, before: number): Promise<void> {
    await this.redis.zremrangebyscore(this.prefix + key, 0, before);
  }

  async count(key: string): Promise<number> {
    return this.redis.zcard(this.prefix + key);
  }

  async add(key: string, at: number): Promise<void> {
    await this.redis.zadd(this.prefix + key, at, `${at}`);
  }
}
"""

_RATE_STORE = """export interface Store {
  /** Remove entries at or before `before` (ms since epoch). */
  trim(key: string, before: number): Promise<void>;
  /** Number of entries currently in the window. */
  count(key: string): Promise<number>;
  /** Record one request at `at`. */
  add(key: string, at: number): Promise<void>;
}
"""

_RATE_TEST = """import { describe, expect, it } from "vitest";
import { SlidingWindowLimiter } from "../src/limiter";
import { MemoryStore } from "../src/store/memory";

function limiterAt(times: number[], limit = 3, windowMs = 1000) {
  let i = 0;
  return new SlidingWindowLimiter(new MemoryStore(), {
    limit,
    windowMs,
    now: () => times[Math.min(i++, times.length - 1)],
  });
}

describe("SlidingWindowLimiter", () => {
  it("allows exactly `limit` requests in one window", async () => {
    const limiter = limiterAt([0, 1, 2, 3]);
    const results = [];
    for (let n = 0; n < 4; n++) results.push((await limiter.consume("k")).allowed);
    expect(results).toEqual([true, true, true, false]);
  });

  it("rejects the (limit+1)th request in the same window", async () => {
    const limiter = limiterAt([5, 5, 5, 5]);
    for (let n = 0; n < 3; n++) await limiter.consume("k");
    expect((await limiter.consume("k")).allowed).toBe(false);
  });

  it("counts two requests in the same millisecond separately", async () => {
    const limiter = limiterAt([7, 7, 7, 7], 2);
    await limiter.consume("k");
    await limiter.consume("k");
    expect((await limiter.consume("k")).allowed).toBe(false);
  });

  it("frees capacity once the oldest request leaves the window", async () => {
    const limiter = limiterAt([0, 10, 20, 1001], 3);
    for (let n = 0; n < 3; n++) await limiter.consume("k");
    expect((await limiter.consume("k")).allowed).toBe(true);
  });
});
"""

_RATE_MEMORY = """import type { Store } from "../store";

/** In-memory store for tests: a sorted array of timestamps per key. */
export class MemoryStore implements Store {
  private readonly entries = new Map<string, number[]>();

  async trim(key: string, before: number): Promise<void> {
    this.entries.set(key, (this.entries.get(key) ?? []).filter((t) => t > before));
  }

  async count(key: string): Promise<number> {
    return (this.entries.get(key) ?? []).length;
  }

  async add(key: string, at: number): Promise<void> {
    const list = this.entries.get(key) ?? [];
    list.push(at);
    this.entries.set(key, list);
  }
}
"""

_RATE_LUA = """-- KEYS[1] = bucket key; ARGV = limit, windowMs, member
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call("ZREMRANGEBYSCORE", KEYS[1], 0, now - window)
local count = redis.call("ZCARD", KEYS[1])
if count >= limit then
  local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
  return {0, 0, tonumber(oldest[2]) + window}
end
redis.call("ZADD", KEYS[1], now, ARGV[3])
redis.call("PEXPIRE", KEYS[1], window)
return {1, limit - count - 1, now + window}
"""

RATE = Scenario(
    key="rate",
    repo="ratelimit-kit",
    language="typescript",
    title="Sliding-window rate limiter",
    role="Full-stack Engineer",
    brief="""## The rate limiter lets one request too many through

`SlidingWindowLimiter` (in `src/limiter.ts`) guards our public API. Two bug reports:

* At the window boundary the limiter allows **limit + 1** requests.
* Under load, requests that arrive in the same millisecond are sometimes counted once.

### What we want
- Fix both bugs and explain the root cause of each.
- Tests that pin down the boundary semantics (use the in-memory store; Redis is optional).
- If you change the Redis data model, say how existing keys behave during a deploy.

`npm test` runs vitest and `npm run lint` runs eslint + tsc. You have 90 minutes.
""",
    files={
        "src/limiter.ts": _RATE_LIMITER,
        "src/store/redis.ts": _RATE_REDIS,
        "src/store.ts": _RATE_STORE,
    },
    edits=(
        Edit(
            "src/limiter.ts",
            (
                ("    if (count > this.limit) {\n", "    if (count >= this.limit) {\n"),
                (
                    "    return { allowed: true, remaining: this.limit - count, resetAt: now + "
                    "this.windowMs };\n",
                    "    return { allowed: true, remaining: this.limit - count - 1, resetAt: now + "
                    "this.windowMs };\n",
                ),
            ),
        ),
        Edit(
            "src/store/redis.ts",
            (
                (
                    "    await this.redis.zadd(this.prefix + key, at, `${at}`);\n",
                    "    // Members must be unique: two requests in the same millisecond are two "
                    "entries.\n"
                    "    const member = `${at}-${Math.random().toString(36).slice(2, 10)}`;\n"
                    "    await this.redis\n"
                    "      .multi()\n"
                    "      .zadd(this.prefix + key, at, member)\n"
                    "      .pexpire(this.prefix + key, 60_000)\n"
                    "      .exec();\n",
                ),
            ),
        ),
        Edit(
            "src/store/redis.ts",
            (
                (
                    "    await this.redis.zremrangebyscore(this.prefix + key, 0, before);\n",
                    "    // Exclusive upper bound: an entry exactly at `before` is still in the "
                    "window.\n"
                    "    await this.redis.zremrangebyscore(this.prefix + key, 0, `(${before}`);\n",
                ),
            ),
            by="human",
        ),
        Edit(
            "src/store.ts",
            (
                (
                    "  add(key: string, at: number): Promise<void>;\n",
                    "  add(key: string, at: number): Promise<void>;\n"
                    "  /** Timestamp of the oldest entry, or null when the window is empty. */\n"
                    "  oldest(key: string): Promise<number | null>;\n",
                ),
            ),
        ),
        Edit(
            "src/limiter.ts",
            (
                (
                    "      return { allowed: false, remaining: 0, resetAt: windowStart + "
                    "this.windowMs };\n",
                    "      const oldest = (await this.store.oldest(key)) ?? now;\n"
                    "      return { allowed: false, remaining: 0, "
                    "resetAt: oldest + this.windowMs };\n",
                ),
            ),
        ),
        Edit(
            "src/limiter.ts",
            (
                (
                    "    this.now = opts.now ?? Date.now;\n",
                    "    this.now = opts.now ?? (() => Date.now());\n",
                ),
            ),
            by="human",
        ),
    ),
    creates=(
        ("test/limiter.test.ts", _RATE_TEST),
        ("src/store/memory.ts", _RATE_MEMORY),
        ("src/store/sliding.lua", _RATE_LUA),
    ),
    prompts={
        "explore": (
            "Read `src/limiter.ts` and `src/store/redis.ts`. Walk me through what happens on the "
            "`limit`-th and `limit+1`-th request inside one window. No code changes yet.",
            "Why would two requests in the same millisecond be counted once? Look at how members "
            "are added to the sorted set.",
            "Is `trim` inclusive or exclusive at the window start? What does ZREMRANGEBYSCORE do "
            "with a plain number as max?",
            "List the existing tests and tell me which behaviours they actually pin down.",
        ),
        "reproduce": (
            "Write vitest cases with an injected clock:\n"
            "- exactly `limit` requests allowed in one window\n"
            "- two requests at the same ms count twice\n"
            "- capacity frees up when the oldest leaves the window\n\n"
            "Use the memory store so we don't need Redis.",
            "The memory store doesn't exist yet; create a minimal one that matches the `Store` "
            "interface.",
            "Run only the limiter tests and show me which fail.",
        ),
        "fix": (
            "Fix the off-by-one. I think `count > limit` should be `>=` and `remaining` is off by "
            "one as well. Check both.",
            "Make sorted-set members unique. A random suffix is fine, but explain why not a "
            "counter.",
            "resetAt is wrong when we reject: it should be when the *oldest* entry expires. Add "
            "`oldest()` to the store interface.",
            "We have clock skew between app servers. Would moving the whole thing into a Lua "
            "script using `redis.call('TIME')` fix it? Sketch it, don't wire it in yet.",
            "`this.now = opts.now ?? Date.now` loses `this` in some runtimes; make it an arrow.",
        ),
        "verify": (
            "Run `npm test` and `npm run lint`. Then summarise both root causes in two short "
            "paragraphs.",
            "Add a property-style test: for random arrival times, the limiter never allows more "
            "than `limit` in any window of `windowMs`.",
            "What happens to existing Redis keys during a rolling deploy with the new member "
            "format?",
        ),
        "wrapup": (
            "Commit on a branch and write a PR description with the deploy note.",
            "Clean up the history into two commits: tests, then the fix.",
        ),
    },
    responses={
        "explore": (
            """### Request `limit` and `limit + 1`

`consume()` trims, then **counts before adding**:

```ts
const count = await this.store.count(key); // entries already in the window
if (count > this.limit) { /* reject */ }
await this.store.add(key, now);
```

With `limit = 3`: requests 1–3 see `count` 0, 1, 2 and are allowed. Request 4 sees `count = 3`;
`3 > 3` is false, so it is **allowed** as well. That's the off-by-one: the comparison should be
`>=` because `count` doesn't include the current request.

`remaining` has the same problem: it reports `limit - count` before this request is added.""",
            """The same-millisecond bug is in `RedisStore.add`:

```ts
await this.redis.zadd(this.prefix + key, at, `${at}`);
```

In a sorted set the **member** is the identity. Two requests at `at = 1730000000123` both use the
member `"1730000000123"`, so the second `ZADD` just updates the score of the existing member. The
set still holds a single entry. Under load, with many requests per ms, the limiter undercounts.""",
            """`ZREMRANGEBYSCORE key 0 before` is **inclusive** on both ends, so an entry exactly at
`now - windowMs` is removed. Whether that's right depends on the semantics we choose:

| semantics | window | trim bound |
|---|---|---|
| half-open `(now - w, now]` | entry at `now - w` is out | inclusive (current) |
| closed `[now - w, now]` | entry at `now - w` is in | exclusive: `(${before}` |

The memory store I'd write for tests uses `t > before`, which is the half-open form, so the
current Redis behaviour matches it. I'd keep it and document it.""",
            """Existing tests:

- `test/middleware.test.ts` (9 tests): the `X-RateLimit-*` headers and the 429 body. It mocks the
  limiter entirely, so it says **nothing** about counting.
- `test/redis.test.ts` (6 tests): skipped unless `REDIS_URL` is set, which CI doesn't set.

So no test exercises the window boundary or same-millisecond requests. That's how both bugs got
in.""",
        ),
        "reproduce": (
            """Created `test/limiter.test.ts` and `src/store/memory.ts`. Results:

```text
 ❯ test/limiter.test.ts (4 tests | 2 failed)
   × allows exactly `limit` requests in one window
     → expected [ true, true, true, true ] to deeply equal [ true, true, true, false ]
   × rejects the (limit+1)th request in the same window
     → expected true to be false
```

The same-millisecond test passes against the memory store, as expected: that bug only exists in
the Redis member encoding. I'll cover it with a Redis integration test behind `REDIS_URL`.""",
            """Here's the minimal `MemoryStore`. It matches the `Store` interface exactly:

```ts
async trim(key: string, before: number) {
  this.entries.set(key, (this.entries.get(key) ?? []).filter((t) => t > before));
}
```""",
        ),
        "fix": (
            """Fixed both off-by-ones in `src/limiter.ts`:

```ts
if (count >= this.limit) {
  return { allowed: false, remaining: 0, resetAt: oldest + this.windowMs };
}
await this.store.add(key, now);
return { allowed: true, remaining: this.limit - count - 1, resetAt: now + this.windowMs };
```

- `count` is the number of *earlier* requests in the window, so the current one is allowed only
  while `count < limit`.
- `remaining` now accounts for the request being admitted.""",
            """Members are now `${at}-${random}`. Why not a counter (`INCR`)?

1. It needs an extra round trip or a script, and
2. the counter key needs its own expiry and cleanup.

Eight random base-36 characters give about 2.8e12 combinations per millisecond per key, so
collisions are not a practical concern. I also wrapped `ZADD` and `PEXPIRE` in `MULTI` so idle keys
expire.""",
            """`resetAt` on rejection was `windowStart + windowMs`, which is just `now`. That tells
the
client to retry immediately. It should be when the **oldest** entry leaves the window:

```ts
const oldest = (await this.store.oldest(key)) ?? now;
return { allowed: false, remaining: 0, resetAt: oldest + this.windowMs };
```

Added `oldest()` to the `Store` interface: `ZRANGE key 0 0 WITHSCORES` in Redis, `list[0]` in
memory.""",
            """Sketch of the Lua version (not wired in):

```lua
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], 0, now - window)
local count = redis.call("ZCARD", KEYS[1])
```

Using Redis's clock removes skew between app servers **and** makes trim+count+add atomic. Today
two servers can both read `count = limit - 1` and both admit. Trade-off: scripts are harder to test
and need `EVALSHA` caching.""",
            """Changed the default clock to an arrow function:

```ts
this.now = opts.now ?? (() => Date.now());
```

`Date.now` doesn't actually use `this`, so it works today. But some test runners stub it on the
instance, and the arrow makes the intent explicit. No behaviour change.""",
        ),
        "verify": (
            """```text
 Test Files  4 passed (4)
      Tests  41 passed (41)
```

`tsc --noEmit` and eslint are clean.

**Root cause 1: boundary.** The limiter compared the count of *previous* requests with `>`, which
admitted a `limit + 1`-th request.

**Root cause 2: same-millisecond requests.** Redis sorted-set members were the timestamp itself,
so concurrent requests in one millisecond collapsed into a single member.""",
            """Added a property-style test with `fast-check`:

```ts
fc.assert(
  fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 200 }), async (ts) => {
    const times = [...ts].sort((a, b) => a - b);
    const allowed = await admitted(times, { limit: 5, windowMs: 1000 });
    expect(maxInAnyWindow(allowed, 1000)).toBeLessThanOrEqual(5);
  }),
);
```

It found the off-by-one on the first run of the *old* code in 3 shrinks, and passes on the new
code over 1,000 runs.""",
            """Rolling deploy: old members look like `"1730000000123"` and new ones like
`"1730000000123-k3j9x0qa"`. Both sort by **score**, not by member, so trim and count treat them
the same. Old keys age out within one window (60 s). No migration is needed.""",
        ),
        "wrapup": (
            """Pushed `fix/limiter-boundary` with two commits:

1. `test: pin sliding-window boundary semantics`
2. `fix: off-by-one at limit and same-ms member collisions`

The PR description includes the deploy note and the Lua follow-up as a separate issue.""",
        ),
    },
    commands={
        "explore": (
            Cmd(
                'rg -n "zadd|zremrangebyscore" src',
                0,
                "src/store/redis.ts:11:    await this.redis.zremrangebyscore(this.prefix + key, 0, "
                "before);\nsrc/store/redis.ts:19:    await this.redis.zadd(this.prefix + key, at, "
                "`${at}`);\n",
            ),
            Cmd(
                "ls src src/store test",
                0,
                "src:\nindex.ts\nlimiter.ts\nmiddleware.ts\nstore\n"
                "store.ts\n\nsrc/store:\nredis.ts\n\ntest:\nmiddleware.test.ts\nredis.test.ts\n",
            ),
            Cmd(
                "cat package.json | jq .scripts",
                0,
                '{\n  "build": "tsc -p .",\n  "test": '
                '"vitest run",\n  "lint": "eslint . && tsc --noEmit"\n}\n',
            ),
            Cmd(
                "redis-cli ping",
                1,
                "",
                "Could not connect to Redis at 127.0.0.1:6379: Connection refused\n",
            ),
            Cmd(
                "git log --oneline -4",
                0,
                "4be1c0a Add X-RateLimit headers to middleware\n"
                "d5a2f19 Move store behind an interface\n71c0e3b Sliding window limiter\n"
                "0aa91de Initial commit\n",
            ),
        ),
        "verify": (
            Cmd(
                "npm run lint",
                0,
                "\n> ratelimit-kit@1.4.0 lint\n> eslint . && tsc --noEmit\n\n",
                "",
                (1500, 6000),
            ),
            Cmd(
                "npm run lint",
                1,
                "\n> ratelimit-kit@1.4.0 lint\n> eslint . && tsc --noEmit\n\n"
                "src/limiter.ts(38,38): "
                "error TS2339: Property 'oldest' does not exist on type 'Store'.\n",
                "",
                (1500, 6000),
            ),
            Cmd("npx tsc --noEmit", 0, "", "", (1200, 4000)),
            Cmd(
                "git diff --stat",
                0,
                " src/limiter.ts     |  9 +++++----\n"
                " src/store.ts       |  2 ++\n"
                " src/store/redis.ts | 10 ++++++++--\n 3 files changed, 15 insertions(+), 6 "
                "deletions(-)\n",
            ),
        ),
    },
    test_commands=(
        "npm test",
        "npx vitest run test/limiter.test.ts",
        "npm test -- --reporter=dot",
    ),
    suite="vitest",
    total_tests=41,
    failing_tests=(
        (
            "SlidingWindowLimiter > allows exactly `limit` requests in one window",
            "expected [ true, true, true, true ] to deeply equal [ true, true, true, false ]",
        ),
        (
            "SlidingWindowLimiter > rejects the (limit+1)th request in the same window",
            "expected true to be false // Object.is equality",
        ),
        (
            "RedisStore > counts two requests in the same millisecond separately",
            "expected 1 to be 2 // Object.is equality",
        ),
    ),
    decisions=(
        {
            "title": "Window boundary semantics",
            "chosenOption": "Half-open window (now - w, now]",
            "context": "The Redis trim is inclusive and the memory store must match it exactly.",
            "tradeoffs": "A closed window admits slightly less; half-open matches the existing "
            "Redis behaviour, so no data migration.",
            "rationale": "Keep production semantics and make the tests say them out loud.",
            "impactScore": 2,
            "category": "api",
        },
        {
            "title": "Making sorted-set members unique",
            "chosenOption": "Timestamp plus a random suffix",
            "context": "Same-millisecond requests collapse into one member.",
            "tradeoffs": "An INCR counter is collision-free but costs a round trip and another "
            "key to expire.",
            "rationale": "Collision odds are negligible and it keeps one key per bucket.",
            "impactScore": 3,
            "category": "data",
        },
        {
            "title": "Clock source for the window",
            "chosenOption": "Keep the app clock now; propose a Lua script with redis TIME next",
            "context": "App servers drift by up to 200 ms.",
            "tradeoffs": "Lua fixes skew and atomicity but is harder to test, and out of the "
            "timebox.",
            "rationale": "Fix the reported bugs first and file the atomicity race separately.",
            "impactScore": 4,
            "category": "architecture",
        },
        {
            "title": "Test store",
            "chosenOption": "An in-memory Store implementation",
            "context": "CI has no Redis.",
            "tradeoffs": "It can drift from Redis semantics; mitigated by one Redis "
            "integration test behind REDIS_URL.",
            "rationale": "Fast, deterministic boundary tests matter most here.",
            "impactScore": 2,
            "category": "testing",
        },
    ),
    commits=(
        "test: pin sliding-window boundary semantics",
        "fix: off-by-one at limit and same-ms member collisions",
        "feat(store): expose oldest() for accurate resetAt",
        "chore: arrow function for default clock",
    ),
    branch="fix/limiter-boundary",
    tools=(
        ("Read", '{"file_path": "src/limiter.ts"}'),
        ("Read", '{"file_path": "src/store/redis.ts"}'),
        ("Grep", '{"pattern": "consume\\\\(", "path": "src"}'),
        ("Glob", '{"pattern": "test/**/*.test.ts"}'),
        ("Edit", '{"file_path": "src/limiter.ts", "old_string": "if (count > this.limit)"}'),
        ("Bash", '{"command": "npx vitest run test/limiter.test.ts"}'),
        ("WebFetch", '{"url": "https://redis.io/docs/latest/commands/zremrangebyscore/"}'),
    ),
    mcp=(
        ("github", "get_pull_request", '{"repo": "acme-hiring/ratelimit-kit", "number": 42}'),
        ("redis", "zrange", '{"key": "rl:user:1842", "start": 0, "stop": -1, "withscores": true}'),
        ("context7", "get-library-docs", '{"library": "ioredis", "topic": "multi exec"}'),
    ),
    subagents=(
        "Check every Store implementation for the same member-collision bug",
        "Write a property test for the limiter invariant",
        "Review the PR for rolling-deploy compatibility",
    ),
    checkpoints=(
        ("Boundary bug reproduced", "Two failing vitest cases against the memory store."),
        ("Both fixes in", "Comparison and member encoding fixed; tests green."),
        ("Deploy note written", "Old and new members coexist; no migration needed."),
    ),
    todos=(
        "Reproduce limit+1 with an injected clock",
        "Write MemoryStore for tests",
        "Fix comparison and remaining",
        "Unique sorted-set members",
        "Deploy note for existing keys",
    ),
    lockfile="package-lock.json",
)


_INV_CLIENT = '''"""Thin client for the warehouse inventory API."""
from __future__ import annotations

import os

import aiohttp

BASE_URL = os.environ.get("WAREHOUSE_URL", "https://warehouse.internal/api/v2")
PAGE_SIZE = 200


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['WAREHOUSE_TOKEN']}"}


async def fetch_items(session: aiohttp.ClientSession, since: str) -> list[dict]:
    """Return every item updated since ``since`` (an ISO timestamp)."""
    items: list[dict] = []
    page = 1
    while True:
        params = {"updated_since": since, "page": page, "page_size": PAGE_SIZE}
        async with session.get(f"{BASE_URL}/items", params=params, headers=_headers()) as resp:
            resp.raise_for_status()
            body = await resp.json()
        batch = [item for item in body["items"] if not item.get("deleted")]
        items.extend(batch)
        if len(batch) < PAGE_SIZE:
            break
        page += 1
    return items
'''

_INV_SYNC = '''"""Nightly job: pull changed items from the warehouse and upsert them locally."""
from __future__ import annotations

import asyncio
import logging

import aiohttp

from inventory_sync.client import fetch_items
from inventory_sync.db import connect

log = logging.getLogger(__name__)


async def run(since: str) -> int:
    async with aiohttp.ClientSession() as session:
        items = await fetch_items(session, since)
    conn = await connect()
    for item in items:
        await conn.execute(
            "UPDATE items SET qty = $2, updated_at = $3 WHERE sku = $1",
            item["sku"],
            item["qty"],
            item["updated_at"],
        )
    log.info("synced %d items", len(items))
    return len(items)


if __name__ == "__main__":
    asyncio.run(run(since="1970-01-01T00:00:00Z"))
'''

_INV_LOOP_OLD = """    page = 1
    while True:
        params = {"updated_since": since, "page": page, "page_size": PAGE_SIZE}
        async with session.get(f"{BASE_URL}/items", params=params, headers=_headers()) as resp:
            resp.raise_for_status()
            body = await resp.json()
        batch = [item for item in body["items"] if not item.get("deleted")]
        items.extend(batch)
        if len(batch) < PAGE_SIZE:
            break
        page += 1
    return items
"""

_INV_LOOP_NEW = """    cursor: str | None = None
    while True:
        params = {"updated_since": since, "page_size": PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        async with session.get(f"{BASE_URL}/items", params=params, headers=_headers()) as resp:
            resp.raise_for_status()
            body = await resp.json()
        # Keep tombstones: the caller must apply deletes, and filtering them here made a
        # short page look like the last page.
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return items
"""

_INV_UPSERT_OLD = """    for item in items:
        await conn.execute(
            "UPDATE items SET qty = $2, updated_at = $3 WHERE sku = $1",
            item["sku"],
            item["qty"],
            item["updated_at"],
        )
"""

_INV_UPSERT_NEW = '''    live = [i for i in items if not i.get("deleted")]
    gone = [i["sku"] for i in items if i.get("deleted")]
    await conn.executemany(
        """
        INSERT INTO items (sku, qty, updated_at) VALUES ($1, $2, $3)
        ON CONFLICT (sku) DO UPDATE
            SET qty = EXCLUDED.qty, updated_at = EXCLUDED.updated_at
            WHERE items.updated_at < EXCLUDED.updated_at
        """,
        [(i["sku"], i["qty"], i["updated_at"]) for i in live],
    )
    if gone:
        await conn.execute("DELETE FROM items WHERE sku = ANY($1::text[])", gone)
'''

_INV_STATE = '''"""Persist the sync cursor so an interrupted run resumes where it stopped."""
from __future__ import annotations

from asyncpg import Connection


async def load_cursor(conn: Connection, job: str) -> str | None:
    return await conn.fetchval("SELECT cursor FROM sync_state WHERE job = $1", job)


async def save_cursor(conn: Connection, job: str, cursor: str | None) -> None:
    await conn.execute(
        """
        INSERT INTO sync_state (job, cursor, updated_at) VALUES ($1, $2, now())
        ON CONFLICT (job) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()
        """,
        job,
        cursor,
    )
'''

_INV_TEST = """import pytest
from aioresponses import aioresponses

from inventory_sync.client import BASE_URL, PAGE_SIZE, fetch_items


def page(n, deleted=0, cursor=None):
    items = [{"sku": f"SKU-{i}", "qty": i, "updated_at": "2026-10-01T00:00:00Z"} for i in range(n)]
    for item in items[:deleted]:
        item["deleted"] = True
    return {"items": items, "next_cursor": cursor}


@pytest.mark.asyncio
async def test_short_page_with_tombstones_is_not_the_last_page(http):
    with aioresponses() as m:
        m.get(f"{BASE_URL}/items?page_size={PAGE_SIZE}&updated_since=x", payload=page(200, 3, "c2"))
        m.get(f"{BASE_URL}/items?cursor=c2&page_size={PAGE_SIZE}&updated_since=x", payload=page(50))
        items = await fetch_items(http, "x")
    assert len(items) == 250
"""

_INV_MIGRATION = """-- 003: resumable sync state and an index for the upsert.
CREATE TABLE IF NOT EXISTS sync_state (
    job        text PRIMARY KEY,
    cursor     text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX IF NOT EXISTS items_sku_key ON items (sku);
"""

INV = Scenario(
    key="inv",
    repo="inventory-sync",
    language="python",
    title="Inventory sync drops items",
    role="Staff Engineer",
    brief="""## The nightly inventory sync silently drops items

Since the warehouse moved to **cursor pagination** and started returning tombstones
(`"deleted": true`), some nights we import only a fraction of the changed SKUs. Nothing errors.

### Your task
- Find out why items go missing and fix the client.
- Apply deletes properly; new SKUs must be inserted, not only updated.
- Make the job **resumable**: if it dies halfway, the next run should continue from where it
  stopped.
- Write whatever tests you need to be confident.

There's no time limit for this one. We care about judgement on a real-world-sized change, so feel
free to restructure. Keep a log of decisions with `promptster explain`.
""",
    files={
        "inventory_sync/client.py": _INV_CLIENT,
        "inventory_sync/sync.py": _INV_SYNC,
    },
    edits=(
        Edit("inventory_sync/client.py", ((_INV_LOOP_OLD, _INV_LOOP_NEW),)),
        Edit("inventory_sync/sync.py", ((_INV_UPSERT_OLD, _INV_UPSERT_NEW),)),
        Edit(
            "inventory_sync/sync.py",
            (
                (
                    '    log.info("synced %d items", len(items))\n',
                    '    log.info("synced %d items (since=%s)", len(items), since)\n',
                ),
            ),
            by="human",
        ),
        Edit(
            "inventory_sync/client.py",
            (("PAGE_SIZE = 200\n", "PAGE_SIZE = 500  # the warehouse maximum\n"),),
            by="human",
        ),
        Edit(
            "inventory_sync/sync.py",
            (
                (
                    "from inventory_sync.db import connect\n",
                    "from inventory_sync.db import connect\n"
                    "from inventory_sync.state import load_cursor, save_cursor\n",
                ),
                (
                    "    conn = await connect()\n",
                    "    conn = await connect()\n"
                    '    resume_from = await load_cursor(conn, "items")\n'
                    '    log.info("resuming from cursor %s", resume_from)\n',
                ),
                (
                    "    return len(items)\n",
                    '    await save_cursor(conn, "items", None)\n    return len(items)\n',
                ),
            ),
        ),
    ),
    creates=(
        ("tests/test_pagination.py", _INV_TEST),
        ("inventory_sync/state.py", _INV_STATE),
        ("migrations/003_sync_state.sql", _INV_MIGRATION),
    ),
    prompts={
        "explore": (
            "Read `inventory_sync/client.py` and the warehouse API notes in `docs/warehouse.md`. "
            "Why would we import only part of the changed items without an error?",
            "What does the warehouse return now: page numbers, cursors, or both? Check a recorded "
            "response in `tests/fixtures/`.",
            "Map out the sync job end to end. Where would a crash leave us in a half-synced state?",
            "How many items changed last night according to the warehouse audit endpoint vs what "
            "we stored? Use the MCP postgres tool for our side.",
        ),
        "reproduce": (
            "Write a test with two mocked pages: the first has 200 items of which 3 are "
            "tombstones, the second has 50. Assert we get all 250.",
            "Also reproduce the 'new SKU never appears' bug: the job only runs UPDATE.",
        ),
        "fix": (
            "Switch the client to cursor pagination and keep tombstones in the result; the "
            "caller decides what to do with them.",
            "Replace the UPDATE loop with a bulk upsert. Don't let an older update overwrite a "
            "newer one.",
            "Now make it resumable: persist the cursor in a `sync_state` table after each page.",
            "I want deletes applied in the same transaction as the upserts for a page. Is that "
            "feasible with asyncpg?",
            "The lockfile needs regenerating after adding aioresponses; do that and check nothing "
            "else moved.",
        ),
        "verify": (
            "Run the whole suite, then a dry run against the staging warehouse with "
            "`--since 2026-10-01` and compare counts.",
            "Spin up a subagent to review the diff for anything that could double-apply a page "
            "after a crash.",
        ),
        "wrapup": (
            "Write the decision log entry for the pagination change and commit.",
            "Draft a rollout note: the migration must run before the new job version.",
        ),
    },
    responses={
        "explore": (
            """## Why items go missing

`fetch_items()` stops when a page has **fewer than `PAGE_SIZE` items *after* filtering tombstones**:

```python
batch = [item for item in body["items"] if not item.get("deleted")]
items.extend(batch)
if len(batch) < PAGE_SIZE:
    break
```

When a full page of 200 contains even one tombstone, `len(batch)` is 199 and the loop stops,
even though more pages exist. The warehouse also moved to cursors (`next_cursor`), and
`page=N` is now ignored after page 1. So even without tombstones we would refetch page 1
forever... except we never get that far.

Two more problems are visible in `sync.py`:
- it only runs `UPDATE`, so **new SKUs are never inserted**;
- deletes are dropped entirely.""",
            """From `tests/fixtures/warehouse_items_page1.json`:

```json
{"items": ["... 200 items ..."], "next_cursor": "eyJvZmZzZXQiOjIwMH0", "page": 1}
```

The response still echoes `page`, but the docs say it's deprecated and that `cursor` is
authoritative. The cursor is opaque (base64 JSON). We shouldn't parse it.""",
            """The job in one picture:

1. `run(since)` → `fetch_items()` loads **everything** into memory
2. opens one connection, loops over items, one `UPDATE` per row
3. logs the count

A crash in step 2 leaves an arbitrary prefix applied and no record of how far we got. Because
the next run uses the same `since`, it re-applies the whole set. That's idempotent for updates,
but only by accident.""",
            """Last night (2026-10-20):

| source | changed items |
|---|---|
| warehouse `/audit` | **48,112** |
| our `items` table (`updated_at` in the window) | **6,400** |

So we're missing about 87%. That matches the short-page theory: 32 pages fetched out of ~241.""",
        ),
        "reproduce": (
            """Added `tests/test_pagination.py`:

```python
async def test_short_page_with_tombstones_is_not_the_last_page(http):
    ...
    assert len(items) == 250
```

```text
E       assert 197 == 250
```

197 = 200 − 3 tombstones, and the second page was never requested.""",
            """Reproduced the insert bug with a fixture SKU that doesn't exist locally. After
`run()` the
row count is unchanged. `UPDATE ... WHERE sku = $1` matches zero rows and asyncpg returns
`UPDATE 0` without complaint.""",
        ),
        "fix": (
            """Client now follows `next_cursor` and returns tombstones too:

```python
cursor = body.get("next_cursor")
if not cursor:
    break
```

The caller splits them:

```python
live = [i for i in items if not i.get("deleted")]
gone = [i["sku"] for i in items if i.get("deleted")]
```""",
            """Bulk upsert with a guard against stale writes:

```sql
INSERT INTO items (sku, qty, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (sku) DO UPDATE
    SET qty = EXCLUDED.qty, updated_at = EXCLUDED.updated_at
    WHERE items.updated_at < EXCLUDED.updated_at
```

`executemany` sends the rows in one round trip per batch. On the 40k-row fixture it runs in about
1.8 s, against 31 s for the old loop.""",
            """Resumability:

- `sync_state(job PRIMARY KEY, cursor, updated_at)` (migration `003`)
- after each page commits, `save_cursor(conn, "items", next_cursor)`
- on start, `load_cursor()` resumes from where the last run stopped

Each page's upserts, deletes **and** the cursor update share one transaction, so a crash can't
save a cursor past data that was never written.""",
            """Yes. asyncpg transactions are explicit, so the page loop becomes:

```python
async with conn.transaction():
    await upsert(conn, live)
    if gone:
        await conn.execute("DELETE FROM items WHERE sku = ANY($1::text[])", gone)
    await save_cursor(conn, "items", next_cursor)
```

If anything in the block raises, all three roll back together. The next run resumes from the
previous cursor and replays the page, which the stale-write guard makes harmless.""",
            """Added `aioresponses` as a dev dependency and ran `poetry lock --no-update`:

- `aioresponses` 0.7.6 added
- **no other package changed version**; the diff is large only because Poetry rewrote the
  `files` hashes section for the dev group

I checked with `poetry show --outdated` before and after: same output.""",
        ),
        "verify": (
            """Suite: **118 passed, 2 skipped** (the two Redis-backed tests).

Dry run against staging (`--since 2026-10-01 --dry-run`):

| | warehouse audit | would apply |
|---|---|---|
| upserts | 48,112 | 48,112 |
| deletes | 1,907 | 1,907 |

Counts match. Before the fix, the same window applied 6,400.""",
            """The review subagent found one issue: if the process dies **after** commit but
**before** the
log line, that's fine. But `save_cursor(conn, "items", None)` at the end ran outside the last
page's transaction, so it's possible to reset the cursor without the final page being applied. I
moved it inside.""",
        ),
        "wrapup": (
            """Committed as three logical commits and recorded the decision with `promptster
explain`.

Rollout order:
1. apply `migrations/003_sync_state.sql` (creates `sync_state`, unique index on `items.sku`)
2. deploy the new job
3. run once with `--since` set to the last known-good night to backfill""",
        ),
    },
    commands={
        "explore": (
            Cmd(
                'rg -n "page" inventory_sync',
                0,
                "inventory_sync/client.py:9:PAGE_SIZE = 200\n"
                "inventory_sync/client.py:20:    page = 1\ninventory_sync/client.py:22:        "
                'params = {"updated_since": since, "page": page, "page_size": PAGE_SIZE}\n',
            ),
            Cmd(
                "python -m inventory_sync.sync --since 2026-10-20 --dry-run",
                0,
                "fetched 6400 items in 32 pages\nwould update 6400 rows\n",
                "",
                (4000, 20000),
            ),
            Cmd(
                "jq '.next_cursor, (.items | length)' tests/fixtures/warehouse_items_page1.json",
                0,
                '"eyJvZmZzZXQiOjIwMH0"\n200\n',
            ),
            Cmd(
                'curl -s -H "Authorization: Bearer $WAREHOUSE_TOKEN" '
                "'https://warehouse.staging.internal/api/v2/audit?date=2026-10-20' | jq .changed",
                0,
                "48112\n",
                "",
                (300, 1500),
            ),
            Cmd(
                "poetry install",
                0,
                "Installing dependencies from lock file\n\nNo dependencies to "
                "install or update\n\nInstalling the current project: inventory-sync (0.9.2)\n",
                "",
                (2000, 9000),
            ),
        ),
        "verify": (
            Cmd(
                "ruff check . && mypy inventory_sync",
                0,
                "All checks passed!\nSuccess: no issues found in 7 source files\n",
                "",
                (2000, 8000),
            ),
            Cmd(
                "poetry lock --no-update",
                0,
                "Resolving dependencies... (3.4s)\n\nWriting lock file\n",
                "",
                (3000, 12000),
            ),
            Cmd(
                "psql inventory_dev -f migrations/003_sync_state.sql",
                0,
                "CREATE TABLE\nCREATE INDEX\n",
            ),
            Cmd(
                "python -m inventory_sync.sync --since 2026-10-01 --dry-run",
                1,
                "fetched 50019 items in 101 pages\n",
                'Traceback (most recent call last):\n  File "<frozen '
                'runpy>", line 198, in _run_module_as_main\nasyncpg.exceptions.'
                'UndefinedTableError: relation "sync_state" does not exist\n',
                (5000, 30000),
            ),
        ),
    },
    test_commands=(
        "pytest -q",
        "pytest tests/test_pagination.py -q",
        "pytest -q -x --asyncio-mode=auto",
    ),
    suite="tests",
    total_tests=120,
    failing_tests=(
        (
            "tests/test_pagination.py::test_short_page_with_tombstones_is_not_the_last_page",
            "assert 197 == 250",
        ),
        ("tests/test_sync.py::test_new_sku_is_inserted", "assert 0 == 1"),
        (
            "tests/test_sync.py::test_resume_after_crash",
            'asyncpg.exceptions.UndefinedTableError: relation "sync_state" does not exist',
        ),
    ),
    decisions=(
        {
            "title": "Pagination strategy",
            "chosenOption": "Follow next_cursor and ignore page numbers",
            "context": "The warehouse deprecated page numbers; the cursor is opaque and "
            "authoritative.",
            "tradeoffs": "Cursor pages can't be fetched in parallel; page numbers could, but are "
            "no longer reliable.",
            "rationale": "Correctness over speed: the bug was a silently wrong page walk.",
            "impactScore": 4,
            "category": "architecture",
        },
        {
            "title": "Handling tombstones",
            "chosenOption": "Return them from the client and apply deletes in the job",
            "context": "Filtering in the client is what broke the short-page check.",
            "tradeoffs": "The client's return type is less convenient for other callers.",
            "rationale": "The client should report what the API said; policy lives in the job.",
            "impactScore": 3,
            "category": "data",
        },
        {
            "title": "Resumability",
            "chosenOption": "Persist the cursor per page in sync_state, in the page's transaction",
            "context": "Crashes mid-run re-applied everything and logged nothing useful.",
            "tradeoffs": "One more table and a migration ordering constraint.",
            "rationale": "Atomic cursor and data means a crash never skips a page.",
            "impactScore": 5,
            "category": "reliability",
        },
        {
            "title": "Stale-write guard on upsert",
            "chosenOption": "ON CONFLICT ... WHERE items.updated_at < EXCLUDED.updated_at",
            "context": "Pages can overlap when the warehouse re-sorts under concurrent edits.",
            "tradeoffs": "Equal timestamps are not applied twice, which is what we want.",
            "rationale": "Makes replays harmless.",
            "impactScore": 3,
            "category": "data",
        },
        {
            "title": "Adding aioresponses as a dev dependency",
            "chosenOption": "Add it and regenerate poetry.lock without updating other packages",
            "context": "Mocking aiohttp by hand was brittle.",
            "tradeoffs": "A new dependency, against a hand-rolled fake transport.",
            "rationale": "It's the standard tool for this, and it's dev-only.",
            "impactScore": 1,
            "category": "dependency",
        },
    ),
    commits=(
        "Follow next_cursor and keep tombstones in fetch_items",
        "Bulk upsert items and apply deletes",
        "Persist sync cursor for resumable runs",
        "Add aioresponses and pagination regression tests",
    ),
    branch="fix/cursor-pagination",
    tools=(
        ("Read", '{"file_path": "inventory_sync/client.py"}'),
        ("Read", '{"file_path": "docs/warehouse.md"}'),
        ("Grep", '{"pattern": "fetch_items", "path": "."}'),
        ("Glob", '{"pattern": "tests/fixtures/*.json"}'),
        ("Edit", '{"file_path": "inventory_sync/sync.py", "old_string": "    for item in items:"}'),
        ("Bash", '{"command": "pytest tests/test_pagination.py -q"}'),
        ("Task", '{"subagent_type": "general-purpose", "description": "Review crash safety"}'),
    ),
    mcp=(
        (
            "postgres",
            "query",
            '{"sql": "SELECT count(*) FROM items WHERE updated_at >= now() - interval \'1 day\'"}',
        ),
        ("github", "search_code", '{"q": "next_cursor repo:globex/warehouse-api"}'),
        ("datadog", "query_metrics", '{"query": "sum:inventory_sync.items{*}.as_count()"}'),
    ),
    subagents=(
        "Review the diff for anything that could double-apply a page after a crash",
        "Compare warehouse audit counts with local row counts for the last 7 nights",
        "Find other callers of fetch_items that relied on tombstones being filtered",
    ),
    checkpoints=(
        (
            "Root cause found",
            "Tombstone filtering made full pages look short; page numbers deprecated.",
        ),
        ("Client fixed", "Cursor pagination with tombstones; regression test green."),
        ("Resumable", "sync_state table and per-page transactions."),
    ),
    todos=(
        "Reproduce missing items with mocked pages",
        "Cursor pagination in client",
        "Bulk upsert and deletes",
        "Resumable cursor",
        "Staging dry run",
    ),
    lockfile="poetry.lock",
)


_SAN_PREVIEW = """import { marked } from "marked";

/** Render a webhook payload for the admin log: markdown if it looks like it, else a <pre>. */
export function renderPreview(payload: unknown): string {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload, null, 2);
  if (text.trim().startsWith("#")) {
    return marked.parse(text) as string;
  }
  return `<pre class="payload">${text}</pre>`;
}
"""

_SAN_ROUTE = """import { Router } from "express";
import { db } from "../db";
import { renderPreview } from "../render/preview";

export const webhookLog = Router();

webhookLog.get("/admin/webhooks", async (req, res) => {
  const rows = await db.webhookDeliveries.recent({ limit: 50 });
  const body = rows
    .map(
      (row) =>
        `<tr><td>${row.receivedAt.toISOString()}</td>` +
        `<td>${row.endpoint}</td>` +
        `<td>${renderPreview(row.payload)}</td></tr>`,
    )
    .join("\\n");
  res.send(`<table class="log">${body}</table>`);
});
"""

_SAN_ESCAPE = """const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escape text for an HTML text node or a quoted attribute value. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ENTITIES[ch]);
}
"""

_SAN_TEST = """import { describe, expect, it } from "vitest";
import { renderPreview } from "../src/render/preview";

const payloads = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  "# Title\\n\\n[x](javascript:alert(1))",
  "# Title\\n\\n<iframe src=//evil></iframe>",
];

describe("renderPreview", () => {
  it.each(payloads)("never emits executable markup for %s", (p) => {
    const html = renderPreview(p);
    expect(html).not.toMatch(/<script|onerror=|javascript:|<iframe/i);
  });

  it("still renders markdown headings", () => {
    expect(renderPreview("# Hello")).toContain("<h1>Hello</h1>");
  });
});
"""

SAN = Scenario(
    key="san",
    repo="webhook-console",
    language="typescript",
    title="Script injection in the webhook log",
    role="Security Engineer",
    brief="""## Script injection in the admin webhook log

A customer showed us that a webhook payload containing `<img src=x onerror=...>` executes in our
admin console's **webhook log** page.

### Your task
- Fix the injection in `src/render/preview.ts` and anywhere else it exists.
- Markdown previews (payloads starting with `#`) must keep working.
- Add tests that would have caught this; consider a Content-Security-Policy.

Timebox: 60 minutes. Think out loud; we're interested in your threat model.
""",
    files={
        "src/render/preview.ts": _SAN_PREVIEW,
        "src/routes/webhookLog.ts": _SAN_ROUTE,
    },
    edits=(
        Edit(
            "src/render/preview.ts",
            (
                (
                    'import { marked } from "marked";\n',
                    'import DOMPurify from "isomorphic-dompurify";\nimport { marked } from '
                    '"marked";\nimport { escapeHtml } from "./escape";\n',
                ),
                (
                    "    return marked.parse(text) as string;\n",
                    "    const html = marked.parse(text, { async: false }) as string;\n"
                    "    return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });\n",
                ),
                (
                    '  return `<pre class="payload">${text}</pre>`;\n',
                    '  return `<pre class="payload">${escapeHtml(text)}</pre>`;\n',
                ),
            ),
        ),
        Edit(
            "src/routes/webhookLog.ts",
            (
                (
                    'import { renderPreview } from "../render/preview";\n',
                    'import { escapeHtml } from "../render/escape";\nimport { renderPreview } from '
                    '"../render/preview";\n',
                ),
                (
                    "        `<td>${row.endpoint}</td>` +\n",
                    "        `<td>${escapeHtml(row.endpoint)}</td>` +\n",
                ),
            ),
            by="human",
        ),
        Edit(
            "src/routes/webhookLog.ts",
            (
                (
                    '  res.send(`<table class="log">${body}</table>`);\n',
                    '  res.set("Content-Security-Policy", '
                    "\"default-src 'self'; script-src 'self'; "
                    "object-src 'none'; base-uri 'none'\");\n"
                    '  res.send(`<table class="log">${body}</table>`);\n',
                ),
            ),
        ),
    ),
    creates=(
        ("test/preview.test.ts", _SAN_TEST),
        ("src/render/escape.ts", _SAN_ESCAPE),
    ),
    prompts={
        "explore": (
            "Find every place the admin console puts webhook data into HTML. List them with the "
            "escaping each one uses (if any).",
            "Threat model first: who controls `payload` and `endpoint`, and who views this page?",
            "Does `marked` sanitise HTML by default in the version we use? Check package-lock.",
        ),
        "reproduce": (
            "Write failing tests with the classic payloads (script tag, img onerror, "
            "javascript: link inside markdown, iframe inside markdown).",
        ),
        "fix": (
            "Escape the `<pre>` branch, and sanitise the markdown branch with DOMPurify. Don't "
            "hand-roll a sanitiser.",
            "The endpoint column is also interpolated raw. Fix it the same way.",
            "Add a strict CSP on this route. What breaks if we forbid inline scripts?",
        ),
        "verify": (
            "Run the tests and `npm audit --omit=dev`. Anything we need to care about?",
            "Try the original customer payload against the dev server with curl and show the "
            "rendered HTML.",
        ),
        "wrapup": ("Commit and write a short security note for the changelog.",),
    },
    responses={
        "explore": (
            """### Sinks for webhook data

| location | value | escaping |
|---|---|---|
| `src/render/preview.ts` `<pre>` branch | `payload` | **none** |
| `src/render/preview.ts` markdown branch | `payload` | `marked` output, **not sanitised** |
| `src/routes/webhookLog.ts` | `row.endpoint` | **none** |
| `src/routes/webhookLog.ts` | `row.receivedAt` | safe (ISO string we generate) |

`marked` has not sanitised since v0.7 (the `sanitize` option was removed), so raw HTML in
markdown passes straight through.""",
            """Threat model:

- **Who controls the data?** Any customer who can register a webhook endpoint controls `endpoint`
  and the `payload` bodies we log.
- **Who views it?** Our support staff, with admin sessions.
- **Impact:** stored XSS running as an admin, which gives account takeover across tenants.

So this is high severity. Output encoding must be contextual, and we want defence in depth with a
CSP.""",
        ),
        "reproduce": (
            """Added `test/preview.test.ts` with four payloads. All four fail:

```text
 × never emits executable markup for <script>alert(1)</script>
 × never emits executable markup for <img src=x onerror=alert(1)>
 × never emits executable markup for # Title\\n\\n[x](javascript:alert(1))
 × never emits executable markup for # Title\\n\\n<iframe src=//evil></iframe>
```""",
        ),
        "fix": (
            """```ts
if (text.trim().startsWith("#")) {
  const html = marked.parse(text, { async: false }) as string;
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}
return `<pre class="payload">${escapeHtml(text)}</pre>`;
```

- `escapeHtml` covers `& < > " '`, which is enough for text nodes and quoted attributes.
- DOMPurify's html profile drops `script`, event handlers, `javascript:` URLs and `iframe`.""",
            """`row.endpoint` is customer-controlled too (it's the URL they registered), so it gets
the
same treatment:

```ts
`<td>${escapeHtml(row.endpoint)}</td>` +
```

I checked the other columns: `receivedAt` is a `Date` we format ourselves, so it's safe.""",
            """CSP for the route:

```text
default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'
```

The page has no inline scripts, and the only script is `/static/admin.js`, so nothing breaks.
`base-uri 'none'` blocks a `<base href>` injection from redirecting relative script URLs.""",
        ),
        "verify": (
            """```text
 Test Files  6 passed (6)
      Tests  29 passed (29)
```

`npm audit --omit=dev` reports one moderate advisory in `marked` < 4.0.10 (ReDoS). We're on
4.3.0, so it doesn't apply; it's a stale advisory on a transitive copy in `docs-tools`.""",
            """Replayed the customer's payload against the dev server:

```html
<tr>
  <td>2026-10-21T09:14:02.113Z</td>
  <td>https://hooks.example.com/in</td>
  <td><pre class="payload">&lt;img src=x onerror=alert(document.cookie)&gt;</pre></td>
</tr>
```

It is rendered as text, and the response carries the new `Content-Security-Policy` header.""",
        ),
        "wrapup": (
            """**Security note:** Stored XSS in the admin webhook log (payload and endpoint
columns) is
fixed with contextual escaping, DOMPurify for markdown previews, and a strict CSP on the route.
Regression tests cover script tags, event-handler attributes, `javascript:` URLs and iframes.""",
        ),
    },
    commands={
        "explore": (
            Cmd(
                'rg -n "\\$\\{" src/routes src/render',
                0,
                "src/render/preview.ts:9:  return "
                '`<pre class="payload">${text}</pre>`;\nsrc/routes/webhookLog.ts:13:        '
                "`<tr><td>${row.receivedAt.toISOString()}</td>` +\n",
            ),
            Cmd(
                "npm ls marked",
                0,
                "webhook-console@2.3.1 /home/candidate/webhook-console\n└── marked@4.3.0\n",
            ),
            Cmd("curl -s localhost:3000/admin/webhooks | head -5", 7, "", ""),
        ),
        "verify": (
            Cmd(
                "npm audit --omit=dev",
                1,
                "# npm audit report\n\nmarked  <4.0.10\nSeverity: "
                "moderate\nInefficient Regular Expression Complexity in marked - "
                "https://github.com/advisories/GHSA-rrrm-qjm4-v8hf\nfix available via `npm audit "
                "fix --force`\nnode_modules/docs-tools/node_modules/marked\n\n1 moderate severity "
                "vulnerability\n",
                "",
                (1500, 5000),
            ),
            Cmd(
                "npm install isomorphic-dompurify@2",
                0,
                "\nadded 41 packages, and audited 389 packages in 6s\n\nfound 0 vulnerabilities\n",
                "",
                (4000, 15000),
            ),
            Cmd(
                "npm run lint",
                0,
                "\n> webhook-console@2.3.1 lint\n> eslint . && tsc --noEmit\n\n",
                "",
                (1500, 6000),
            ),
        ),
    },
    test_commands=("npm test", "npx vitest run test/preview.test.ts"),
    suite="vitest",
    total_tests=29,
    failing_tests=(
        (
            "renderPreview > never emits executable markup for <img src=x onerror=alert(1)>",
            "expected '<pre class=\"payload\"><img src=x onerror=alert(1)></pre>' not to match "
            "/<script|onerror=|javascript:|<iframe/i",
        ),
        (
            "renderPreview > never emits executable markup for # Title [x](javascript:alert(1))",
            "expected '<h1>Title</h1><p><a href=\"javascript:alert(1)\">x</a></p>' not to match",
        ),
    ),
    decisions=(
        {
            "title": "Sanitiser for markdown previews",
            "chosenOption": "DOMPurify via isomorphic-dompurify",
            "context": "marked no longer sanitises; payloads are attacker-controlled.",
            "tradeoffs": "Adds jsdom on the server (about 3 MB) versus disabling raw HTML in "
            "markdown, which breaks existing previews.",
            "rationale": "A maintained allow-list sanitiser beats a hand-rolled regex every time.",
            "impactScore": 4,
            "category": "security",
        },
        {
            "title": "Add a Content-Security-Policy",
            "chosenOption": "Strict CSP on the admin webhook route",
            "context": "Defence in depth in case a sink is missed.",
            "tradeoffs": "Could break inline scripts; there are none on this page.",
            "rationale": "Cheap and it limits the blast radius of the next bug.",
            "impactScore": 3,
            "category": "security",
        },
        {
            "title": "Escape at render time instead of at ingest",
            "chosenOption": "Store raw payloads, encode on output",
            "context": "The same payloads feed a JSON API.",
            "tradeoffs": "Every sink must escape, whereas escaping at ingest corrupts the data for "
            "the API.",
            "rationale": "Encoding is context-specific; only the output knows the context.",
            "impactScore": 3,
            "category": "architecture",
        },
    ),
    commits=(
        "Escape webhook payloads and endpoints in the admin log",
        "Sanitise markdown previews with DOMPurify",
        "Add CSP to the webhook log route",
    ),
    branch="fix/webhook-log-xss",
    tools=(
        ("Read", '{"file_path": "src/render/preview.ts"}'),
        ("Grep", '{"pattern": "renderPreview|innerHTML|res.send", "path": "src"}'),
        ("Read", '{"file_path": "src/routes/webhookLog.ts"}'),
        ("Edit", '{"file_path": "src/render/preview.ts", "old_string": "return marked.parse"}'),
        ("Bash", '{"command": "npx vitest run test/preview.test.ts"}'),
    ),
    mcp=(
        ("github", "list_security_advisories", '{"package": "marked", "ecosystem": "npm"}'),
        ("browser", "navigate", '{"url": "http://localhost:3000/admin/webhooks"}'),
    ),
    subagents=(
        "Search the whole admin console for other unescaped template interpolation",
        "Review the CSP for anything the admin bundle needs",
    ),
    checkpoints=(
        ("Sinks mapped", "Three unescaped sinks; marked does not sanitise."),
        ("Fix + tests", "Escaping, DOMPurify and regression tests."),
    ),
    todos=(
        "Map every HTML sink for webhook data",
        "Failing tests with classic payloads",
        "Escape + DOMPurify",
        "CSP",
    ),
    lockfile="package-lock.json",
)

SCENARIOS: dict[str, Scenario] = {s.key: s for s in (PAY, RATE, INV, SAN)}


# --------------------------------------------------------------------------------------------
# Unified diffs. All of them are real: correct headers, hunk ranges and line counts.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    """A rendered unified diff and its line counts (``linesAdded``/``linesRemoved``)."""

    path: str
    text: str
    added: int
    removed: int


def _blob_id(text: str) -> str:
    """The git blob id of ``text``, abbreviated, for realistic ``index`` lines."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()[:7]


def _count_changes(hunk_lines: Iterable[str]) -> tuple[int, int]:
    """Added and removed line counts of hunk lines (file headers already stripped)."""
    added = removed = 0
    for line in hunk_lines:
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def _unified(path: str, before: str, after: str, *, git_header: bool) -> Diff:
    """A ``diff -U3`` of two texts that both end with a newline."""
    body = list(
        difflib.unified_diff(
            before.split("\n")[:-1], after.split("\n")[:-1], f"a/{path}", f"b/{path}", lineterm=""
        )
    )
    added, removed = _count_changes(body[2:])
    head = []
    if git_header:
        head = [
            f"diff --git a/{path} b/{path}",
            f"index {_blob_id(before)}..{_blob_id(after)} 100644",
        ]
    return Diff(path, "\n".join(head + body) + "\n", added, removed)


def _apply(text: str, replacements: tuple[tuple[str, str], ...]) -> str:
    for old, new in replacements:
        if old not in text:
            raise ValueError(f"edit does not apply: {old[:60]!r}")
        text = text.replace(old, new, 1)
    return text


@cache
def edit_diff(scenario_key: str, index: int, git_header: bool) -> Diff:
    """The diff of one catalogued edit against the pristine file (cached: a handful exist)."""
    scn = SCENARIOS[scenario_key]
    edit = scn.edits[index]
    before = scn.files[edit.path]
    return _unified(edit.path, before, _apply(before, edit.replacements), git_header=git_header)


def _lock_version(k: int, bumped: bool = False) -> str:
    return f"1.{k % 17}.{k % 7 + (1 if bumped else 0)}"


def _lock_block(fmt: str, k: int, bumped: bool = False) -> list[str]:
    """Ten lines describing package ``k`` in a poetry or npm lockfile."""
    version = _lock_version(k, bumped)
    name = f"pkg-{k:05d}-{'abcdefghij'[k % 10]}lib"
    digest = hashlib.sha256(f"{name}{version}".encode()).hexdigest()
    if fmt == "poetry.lock":
        return [
            "[[package]]",
            f'name = "{name}"',
            f'version = "{version}"',
            f'description = "Utilities for {name.replace("-", " ")}"',
            "optional = false",
            'python-versions = ">=3.9"',
            "files = [",
            f'    {{file = "{name.replace("-", "_")}-{version}-py3-none-any.whl", '
            f'hash = "sha256:{digest}"}},',
            "]",
            "",
        ]
    return [
        f'    "node_modules/{name}": {{',
        '      "dev": true,',
        f'      "version": "{version}",',
        f'      "resolved": "https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",',
        f'      "integrity": "sha512-{digest[:43]}==",',
        '      "license": "MIT",',
        '      "engines": {',
        '        "node": ">=18"',
        "      }",
        "    },",
    ]


@lru_cache(maxsize=8)
def lockfile_diff(fmt: str, changed_packages: int) -> Diff:
    """A regenerated lockfile in which every third package bumps its version.

    Built directly rather than with difflib, so a 20,000-line diff costs milliseconds. Blocks are
    ten lines long and package ``k`` starts at line ``10k + 1``; each bump is one ``-U3`` hunk
    whose context reaches into the neighbouring blocks, so the ranges are exact.
    """
    changed = (2, 7) if fmt == "poetry.lock" else (2, 3, 4)
    lo, hi = changed[0] - 3, changed[-1] + 3
    out = [
        f"diff --git a/{fmt} b/{fmt}",
        "index 4c1d9e2..8a07b3f 100644",
        f"--- a/{fmt}",
        f"+++ b/{fmt}",
    ]
    for n in range(changed_packages):
        k = 3 * n + 1
        old, new = _lock_block(fmt, k), _lock_block(fmt, k, bumped=True)
        prev, nxt = _lock_block(fmt, k - 1), _lock_block(fmt, k + 1)
        start, count = 10 * k + lo + 1, hi - lo + 1
        out.append(f"@@ -{start},{count} +{start},{count} @@")
        minus: list[str] = []
        plus: list[str] = []
        for pos in range(lo, hi + 1):
            if pos in changed:
                minus.append("-" + old[pos])
                plus.append("+" + new[pos])
                continue
            out.extend(minus + plus)
            minus, plus = [], []
            line = prev[10 + pos] if pos < 0 else nxt[pos - 10] if pos > 9 else old[pos]
            out.append(" " + line)
        out.extend(minus + plus)
    lines_changed = len(changed) * changed_packages
    return Diff(fmt, "\n".join(out) + "\n", lines_changed, lines_changed)


@lru_cache(maxsize=4)
def minified_diff(path: str, chars: int) -> Diff:
    """A new vendored file that is one minified line of exactly ``chars`` characters."""
    parts: list[str] = [
        '/*! purify 3.1.7 | (c) Cure53 | Apache-2.0 */!function(e,t){"object"==typeof exports&&'
        '"undefined"!=typeof module?module.exports=t():e.DOMPurify=t()}(this,function(){'
    ]
    size = len(parts[0])
    n = 0
    while size < chars:
        piece = (
            f'var a{n}=function(e){{return e&&e.nodeType===1?"{n:x}":null}},'
            f'b{n}=["tag{n}","attr{n % 97}"];'
        )
        parts.append(piece)
        size += len(piece)
        n += 1
    line = "".join(parts)[: chars - 2] + "})"
    text = (
        "\n".join(
            [
                f"diff --git a/{path} b/{path}",
                "new file mode 100644",
                "index 0000000..5e1c0aa",
                "--- /dev/null",
                f"+++ b/{path}",
                "@@ -0,0 +1 @@",
                "+" + line,
                "\\ No newline at end of file",
            ]
        )
        + "\n"
    )
    return Diff(path, text, 1, 0)


def payload_diff(path: str, rng: random.Random) -> Diff:
    """A real diff whose every content line is a hostile string (for the hostile session)."""
    before = [line for p in rng.sample(PAYLOADS, 4) for line in p.split("\n")]
    after = list(before)
    for _ in range(3):
        after.insert(rng.randrange(len(after) + 1), rng.choice(PAYLOADS).split("\n")[0])
    if after:
        after[rng.randrange(len(after))] = rng.choice(PAYLOADS).split("\n")[0]
    body = list(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", lineterm=""))
    added, removed = _count_changes(body[2:])
    return Diff(path, "\n".join(body) + "\n", added, removed)


# --------------------------------------------------------------------------------------------
# Test-runner output, matched to the test_run event of the same turn.
# --------------------------------------------------------------------------------------------


def _pytest_output(scn: Scenario, failed: int, skipped: int, secs: float) -> str:
    total = scn.total_tests
    dots = ["."] * total
    for k in range(failed):
        dots[(k * 37 + 11) % total] = "F"
    for k in range(skipped):
        dots[(k * 53 + 29) % total] = "s"
    rows = []
    for start in range(0, total, 72):
        chunk = "".join(dots[start : start + 72])
        pct = min(100, round(100 * (start + len(chunk)) / total))
        rows.append(f"{chunk:<75}[{pct:>3}%]")
    passed = total - failed - skipped
    summary = [f"{failed} failed"] if failed else []
    summary.append(f"{passed} passed")
    if skipped:
        summary.append(f"{skipped} skipped")
    lines = rows
    if failed:
        lines.append("=" * 35 + " FAILURES " + "=" * 35)
        for name, error in scn.failing_tests[:failed]:
            test = name.split("::")[-1]
            lines += [f"{'_' * 20} {test} {'_' * 20}", "", f"E       {error}", ""]
        lines.append("=" * 27 + " short test summary info " + "=" * 28)
        lines += [f"FAILED {name} - {error}" for name, error in scn.failing_tests[:failed]]
    lines.append(f"{', '.join(summary)} in {secs:.2f}s")
    return "\n".join(lines) + "\n"


def _vitest_output(scn: Scenario, failed: int, skipped: int, secs: float, clock: str) -> str:
    passed = scn.total_tests - failed - skipped
    lines = [f" RUN  v2.1.4 /home/candidate/{scn.repo}", ""]
    lines.append(" ✓ test/middleware.test.ts (9 tests) 31ms")
    if failed:
        lines.append(f" ❯ test/{scn.repo.split('-')[0]}.test.ts (12 tests | {failed} failed) 88ms")
        for name, error in scn.failing_tests[:failed]:
            lines += [f"   × {name}", f"     → {error}"]
    files = "1 failed | 3 passed (4)" if failed else "4 passed (4)"
    tests = f"{failed} failed | {passed} passed" if failed else f"{passed} passed"
    if skipped:
        tests += f" | {skipped} skipped"
    lines += [
        "",
        f" Test Files  {files}",
        f"      Tests  {tests} ({scn.total_tests})",
        f"   Start at  {clock}",
        f"   Duration  {secs:.2f}s",
    ]
    return "\n".join(lines) + "\n"


def runner_output(scn: Scenario, failed: int, skipped: int, secs: float, clock: str) -> str:
    """Console output of a test run with exactly these counts."""
    if scn.language == "python":
        return _pytest_output(scn, failed, skipped, secs)
    return _vitest_output(scn, failed, skipped, secs, clock)


# --------------------------------------------------------------------------------------------
# Turns: fixed-length groups of events following a phase template.
# --------------------------------------------------------------------------------------------

_TEMPLATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "explore": (
        (
            "prompt",
            "tool_use",
            "tool_use",
            "ai_response",
            "command",
            "mcp_call",
            "tool_use",
            "ai_response",
            "command",
            _FLEX,
        ),
        (
            "prompt",
            "planning",
            "tool_use",
            "ai_response",
            "command",
            "tool_use",
            "command",
            "subagent_start",
            "ai_response",
            _FLEX,
        ),
    ),
    "reproduce": (
        (
            "prompt",
            "ai_response",
            "file_create",
            "command",
            "test_run",
            "tool_use",
            "ai_response",
            "command",
            "ai_response",
            _FLEX,
        ),
        (
            "prompt",
            "tool_use",
            "ai_response",
            "file_create",
            "command",
            "test_run",
            "ai_response",
            "prompt",
            "ai_response",
            _FLEX,
        ),
    ),
    "fix": (
        (
            "prompt",
            "ai_response",
            "file_diff",
            "tool_use",
            "file_diff",
            "command",
            "test_run",
            "ai_response",
            "file_diff",
            _FLEX,
        ),
        (
            "prompt",
            "tool_use",
            "ai_response",
            "file_diff",
            "file_diff",
            "file_diff",
            "command",
            "test_run",
            "ai_response",
            _FLEX,
        ),
        (
            "prompt",
            "ai_response",
            "file_diff",
            "command",
            "test_run",
            "file_diff",
            "command",
            "test_run",
            "ai_response",
            _FLEX,
        ),
    ),
    "verify": (
        (
            "prompt",
            "subagent_start",
            "command",
            "command",
            "test_run",
            "ai_response",
            "file_diff",
            "git_action",
            "ai_response",
            _FLEX,
        ),
        (
            "prompt",
            "ai_response",
            "command",
            "test_run",
            "mcp_call",
            "ai_response",
            "file_diff",
            "command",
            "git_action",
            _FLEX,
        ),
    ),
    "wrapup": (
        (
            "prompt",
            "ai_response",
            "file_diff",
            "command",
            "test_run",
            "git_action",
            "ai_response",
            "git_action",
            "ai_response",
            _FLEX,
        ),
    ),
}
_FLEX_DEFAULT = {
    "explore": "command",
    "reproduce": "ai_response",
    "fix": "ai_response",
    "verify": "command",
    "wrapup": "ai_response",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """Turn-level choices shared by the turn's events, so a turn reads as one coherent step."""

    phase: str
    kinds: tuple[str, ...]
    offsets: tuple[float, ...]
    failed: int
    skipped: int
    test_secs: float
    pick: int
    topic: int


def _topic(j: int, cycle_turns: int, phase: str) -> int:
    """How many turns this phase has already run, so prompts advance through the script."""
    pos = j % cycle_turns
    first = pos
    while first > 0 and _phase(first - 1, cycle_turns) == phase:
        first -= 1
    return pos - first + j // cycle_turns


def _phase(j: int, cycle_turns: int) -> str:
    pos = (j % cycle_turns) / cycle_turns
    for limit, name in ((0.15, "explore"), (0.3, "reproduce"), (0.7, "fix"), (0.88, "verify")):
        if pos < limit:
            return name
    return "wrapup"


def is_decision_turn(j: int, decision_every: int) -> bool:
    """Decisions sit at fixed turns so that their count is arithmetic (see decision_count)."""
    return j % decision_every == decision_every // 2


def decision_count(body_events: int, decision_every: int) -> int:
    """How many decision events ``body_events`` body events contain (no generation needed)."""
    full_turns = body_events // TURN_LEN  # turns whose flexible (last) slot exists
    first = decision_every // 2
    if full_turns <= first:
        return 0
    return (full_turns - first + decision_every - 1) // decision_every


def _flex_kind(j: int, phase: str, decision_every: int) -> str:
    if is_decision_turn(j, decision_every):
        return "decision_event"
    if j % 50 == 49:
        return "context_compact"
    if j % 10 == 9:
        return "checkpoint"
    return _FLEX_DEFAULT[phase]


@lru_cache(maxsize=4096)
def turn_plan(seed: int, session_id: str, j: int, cycle_turns: int, decision_every: int) -> Plan:
    """The plan of turn ``j``: its kinds, relative event times and test outcome."""
    rng = random.Random(f"{seed}:{session_id}:turn:{j}")
    phase = _phase(j, cycle_turns)
    template = rng.choice(_TEMPLATES[phase])
    kinds = tuple(_flex_kind(j, phase, decision_every) if k == _FLEX else k for k in template)
    gaps = [rng.expovariate(1.0) for _ in range(TURN_LEN)]
    total = sum(gaps)
    acc = 0.0
    offsets = []
    for gap in gaps:
        offsets.append(0.9 * acc / total)
        acc += gap
    pos = (j % cycle_turns) / cycle_turns
    if phase == "reproduce":
        failed = rng.choice((1, 1, 2))
    elif phase == "fix":
        failed = rng.choice((0, 1, 1, 2)) if pos < 0.5 else rng.choice((0, 0, 0, 1))
    else:
        failed = 1 if rng.random() < 0.08 else 0
    return Plan(
        phase,
        kinds,
        tuple(offsets),
        failed,
        rng.choice((0, 0, 1, 2)),
        round(rng.uniform(0.8, 9.5), 2),
        rng.randrange(1_000_000),
        _topic(j, cycle_turns, phase),
    )


# --------------------------------------------------------------------------------------------
# Sessions and their events.
# --------------------------------------------------------------------------------------------

_MODELS = {
    "claude-code": ("claude-sonnet-4-5", "claude-opus-4-1", "claude-sonnet-4-5"),
    "cursor": ("gpt-5", "claude-4.5-sonnet", "cursor-small"),
    "codex": ("gpt-5-codex", "gpt-5-codex", "o4-mini"),
    "shell": ("claude-sonnet-4-5", "gpt-5"),
}


@dataclass
class SessionSpec:
    """Everything needed to generate a session's events on demand (a few hundred bytes)."""

    id: str
    org_id: str
    assessment_id: str
    scenario: str
    source: str
    source_service: Any
    candidate: str
    repo_url: str
    start_ms: int
    span_ms: int
    base_count: int
    ended: bool
    end_gap_ms: int
    cycle_turns: int
    decision_every: int
    prefix: str
    model: str
    ide_session: str
    created_ms: int
    count: int = 0
    growth: list[tuple[int, int, int]] = field(default_factory=list)
    quirks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    hostile: bool = False
    prompt_key_every: int = 0
    system_provenance: bool = True
    attribution_pct: float | None = None
    cost_usd: float = 0.0
    omit_fields: tuple[str, ...] = ()
    impact_fraction: bool = False
    extra_metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.count:
            self.count = self.base_count


@dataclass
class _Ctx:
    """What an event builder may look at."""

    seed: int
    spec: SessionSpec
    scn: Scenario
    plan: Plan
    i: int
    j: int
    slot: int
    rng: random.Random
    ts_ms: int

    def pick(self, options: tuple[Any, ...] | list[Any], salt: int = 0) -> Any:
        """A turn-stable choice (same turn, same salt, same answer)."""
        return options[(self.plan.pick + salt) % len(options)]

    def occurrence(self) -> int:
        """How many earlier slots of this turn have the same kind (to avoid repeats)."""
        kind = self.plan.kinds[self.slot]
        return sum(1 for k in self.plan.kinds[: self.slot] if k == kind)

    def sibling(self, slot: int) -> tuple[str, dict[str, Any], str]:
        """Kind, data and author of another slot of this turn, exactly as it is generated."""
        i = self.i - self.slot + slot
        ts = event_ts_ms(self.seed, self.spec, i)
        rng = random.Random(f"{self.seed}:{self.spec.id}:{i}")
        ctx = _Ctx(self.seed, self.spec, self.scn, self.plan, i, self.j, slot, rng, ts)
        kind = self.plan.kinds[slot]
        data, who = _BUILDERS[kind](ctx)
        return kind, data, who


def _phase_group(phase: str) -> str:
    return "explore" if phase in ("explore", "reproduce") else "verify"


def _who_edits(ctx: _Ctx) -> str:
    weights = {
        "claude-code": (("ai", 75), ("human", 14), ("revised", 8), ("mixed", 3)),
        "cursor": (("ai", 70), ("human", 18), ("revised", 9), ("mixed", 3)),
        "codex": (("ai", 85), ("human", 10), ("revised", 5)),
        "shell": (("human", 70), ("ai", 20), ("mixed", 10)),
    }[ctx.spec.source]
    roll = ctx.rng.randrange(sum(w for _, w in weights))
    for who, weight in weights:
        if roll < weight:
            return who
        roll -= weight
    return "ai"


def _data_session_start(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    spec = ctx.spec
    cwd = f"/home/candidate/{ctx.scn.repo}"
    if spec.source == "cursor":
        data = {
            "cursorSessionId": spec.ide_session,
            "composerMode": "agent",
            "cwd": cwd,
            "model": spec.model,
            "source": "startup",
        }
    else:
        data = {
            "ideSessionId": spec.ide_session,
            "cwd": cwd,
            "model": spec.model,
            "source": "startup",
        }
    data["assessmentId"] = spec.assessment_id
    return data, "system"


def _data_session_end(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    reason = ctx.rng.choice(("done", "done", "done", "prompt_input_exit", "timeout"))
    if ctx.spec.source == "cursor":
        return {
            "cursorSessionId": ctx.spec.ide_session,
            "reason": reason,
            "finalStatus": "completed",
        }, "system"
    return {"ideSessionId": ctx.spec.ide_session, "reason": reason}, "system"


_FOLLOW_UPS = (
    "Looks right. Carry on.",
    "Why did that fail? Show me the assertion before changing anything.",
    "That's more than I asked for. Revert the unrelated formatting changes.",
    "Wait, before you continue: what are you assuming about the existing callers?",
    "OK. Run only the affected tests this time, the full suite is slow.",
    "Good. Can you explain the second hunk? I don't follow why it's needed.",
    "No, keep the public function signature unchanged.",
)


def _data_prompt(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    if ctx.occurrence():
        text = _FOLLOW_UPS[(ctx.plan.pick + ctx.j) % len(_FOLLOW_UPS)]
    else:
        options = ctx.scn.prompts[ctx.plan.phase]
        text = options[ctx.plan.topic % len(options)]
    every = ctx.spec.prompt_key_every
    if every and ctx.j % every == every // 2:
        # Contradiction 3: the API reference example uses `prompt` (and tokenCount).
        return {"prompt": text, "tokenCount": max(1, len(text) // 4)}, "human"
    if ctx.spec.source == "cursor":
        return {
            "text": text,
            "conversationId": ctx.spec.ide_session,
            "generationId": _uuid(ctx.seed, f"gen:{ctx.spec.id}:{ctx.i}"),
            "model": ctx.spec.model,
        }, "human"
    meta = {
        "ideSessionId": ctx.spec.ide_session,
        "model": ctx.spec.model,
        "permissionMode": ctx.pick(("default", "acceptEdits", "acceptEdits", "plan")),
        "cwd": f"/home/candidate/{ctx.scn.repo}",
    }
    return {"text": text, "meta": meta}, "human"


def _first_hunk(diff_text: str, max_lines: int = 14) -> str:
    lines = diff_text.split("\n")
    start = next((k for k, line in enumerate(lines) if line.startswith("@@")), 0)
    return "\n".join(lines[start : start + max_lines])


def _progress_note(ctx: _Ctx) -> str:
    """A short interim assistant message about what the turn just did."""
    for slot in range(ctx.slot - 1, -1, -1):
        kind = ctx.plan.kinds[slot]
        if kind == "test_run":
            return _tests_note(ctx)
        if kind in ("file_diff", "file_create", "command"):
            _, data, _ = ctx.sibling(slot)
            if kind == "file_diff":
                return (
                    f"Updated `{data['path']}` (+{data['linesAdded']} "
                    f"\u2212{data['linesRemoved']}):\n\n```diff\n"
                    f"{_first_hunk(data['diff'])}\n```\n\nRunning the affected tests next."
                )
            if kind == "file_create":
                lang = "python" if data["path"].endswith(".py") else "ts"
                head = "\n".join(data["content"].split("\n")[:8])
                return (
                    f"Created `{data['path']}` ({data['linesAdded']} lines):\n\n"
                    f"```{lang}\n{head}\n```"
                )
            code = data.get("exitCode")
            if code:
                detail = (data.get("stderr") or data.get("stdout") or "").strip().split("\n")[0]
                return (
                    f"`{data['command']}` exited with **{code}**:\n\n```text\n{detail}\n```"
                    "\n\nThat's an environment problem rather than the bug; working around it."
                )
            return f"`{data['command']}` looks as expected. Moving on."
    return "Let me read the relevant code before changing anything."


def _tests_note(ctx: _Ctx) -> str:
    plan = ctx.plan
    total = ctx.scn.total_tests
    if not plan.failed:
        return f"All tests pass: **{total - plan.skipped} passed**, {plan.skipped} skipped."
    lines = [f"Tests: **{plan.failed} failed**, {total - plan.failed - plan.skipped} passed.", ""]
    lines += [f"- `{name}`: {error}" for name, error in ctx.scn.failing_tests[: plan.failed]]
    lines += ["", "Looking at the first failure now."]
    return "\n".join(lines)


def _data_ai_response(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    if ctx.spec.source == "cursor" and rng.random() < 0.15:
        return {"model": ctx.spec.model}, "ai"  # Cursor's stop hook sometimes sends only this.
    if ctx.occurrence():
        message = _progress_note(ctx)
    else:
        options = ctx.scn.responses[ctx.plan.phase]
        message = options[ctx.plan.topic % len(options)]
    input_tokens = rng.randint(2_000, 60_000)
    output_tokens = rng.randint(120, 4_000)
    cache_read = rng.randint(0, input_tokens * 4)
    cost = input_tokens * 3e-6 + output_tokens * 15e-6 + cache_read * 3e-7
    return {
        "lastAssistantMessage": message,
        "stopHookActive": False,
        "stopReason": "end_turn",
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "cacheReadTokens": cache_read,
        "cacheWriteTokens": rng.randint(0, 8_000),
        "totalCost": round(cost, 4),
        "turnDurationMs": rng.randint(1_500, 95_000),
        "model": ctx.spec.model,
    }, "ai"


def _data_file_diff(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    who = _who_edits(ctx)
    wanted = "ai" if who == "ai" else "human"
    indices = [k for k, e in enumerate(ctx.scn.edits) if e.by == wanted] or [0]
    index = indices[(ctx.plan.pick + ctx.occurrence()) % len(indices)]
    git_header = who != "ai" or ctx.spec.source == "codex"
    diff = edit_diff(ctx.scn.key, index, git_header)
    data: dict[str, Any] = {
        "path": diff.path,
        "diff": diff.text,
        "linesAdded": diff.added,
        "linesRemoved": diff.removed,
    }
    if who == "ai" and ctx.spec.source == "claude-code":
        data["attribution"] = "likely_ai"
    return data, who


def _data_file_create(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    path, content = ctx.scn.creates[(ctx.plan.topic + ctx.occurrence()) % len(ctx.scn.creates)]
    data = {
        "path": path,
        "content": content,
        "linesAdded": content.count("\n"),
        "sizeBytes": len(content.encode()),
    }
    return data, "ai" if ctx.rng.random() < 0.85 else "human"


def _test_command(ctx: _Ctx) -> dict[str, Any]:
    plan = ctx.plan
    clock = _iso(ctx.ts_ms)[11:19]
    stdout = runner_output(ctx.scn, plan.failed, plan.skipped, plan.test_secs, clock)
    return {
        "command": ctx.pick(ctx.scn.test_commands),
        "exitCode": 1 if plan.failed else 0,
        "durationMs": int(plan.test_secs * 1000) + ctx.rng.randint(150, 900),
        "stdout": stdout,
        "stderr": "",
    }


def _data_command(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    is_test = ctx.slot + 1 < TURN_LEN and ctx.plan.kinds[ctx.slot + 1] == "test_run"
    if is_test:
        data = _test_command(ctx)
    else:
        cmds = ctx.scn.commands[_phase_group(ctx.plan.phase)]
        cmd = cmds[(ctx.plan.pick + ctx.occurrence()) % len(cmds)]
        data = {
            "command": cmd.command,
            "exitCode": cmd.exit_code,
            "durationMs": rng.randint(*cmd.ms),
            "stdout": cmd.stdout,
            "stderr": cmd.stderr,
        }
    human = ctx.spec.source == "shell" or rng.random() < 0.12
    if ctx.spec.source == "cursor" and not human:
        # Cursor's hook reports no exit code and no stderr.
        return {
            "command": data["command"],
            "stdout": data["stdout"],
            "durationMs": data["durationMs"],
        }, "ai"
    if human:
        data["human"] = True
        data["source"] = "terminal"
        return data, "human"
    return data, "ai"


def _data_test_run(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    plan = ctx.plan
    total = ctx.scn.total_tests
    data = {
        "suite": ctx.scn.suite,
        "passed": total - plan.failed - plan.skipped,
        "failed": plan.failed,
        "skipped": plan.skipped,
        "durationMs": int(plan.test_secs * 1000),
    }
    return data, "system" if ctx.rng.random() < 0.5 else "ai"


def _data_git_action(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    scn = ctx.scn
    action = "commit"
    if ctx.plan.phase == "wrapup" and ctx.slot > 5:
        action = ctx.pick(("push", "push", "rebase"), ctx.slot)
    elif ctx.plan.phase == "verify" and rng.random() < 0.15:
        action = "branch"
    data: dict[str, Any] = {"action": action, "ref": scn.branch}
    if action == "commit":
        data["message"] = ctx.pick(scn.commits, ctx.j)
    elif action == "push":
        data["ref"] = f"origin/{scn.branch}"
    elif action == "rebase":
        data["ref"] = "origin/main"
        data["message"] = "Successfully rebased and updated refs/heads/" + scn.branch
    data["commit"] = _sha(rng)
    return data, "human" if rng.random() < 0.7 else "ai"


def _data_decision(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    rng = ctx.rng
    decisions = ctx.scn.decisions
    base = decisions[(ctx.j // ctx.spec.decision_every + ctx.plan.pick) % len(decisions)]
    impact = int(base["impactScore"])
    missed = rng.random() < 0.2
    data: dict[str, Any] = {"decisionId": _uuid(ctx.seed, f"decision:{ctx.spec.id}:{ctx.i}")}
    data.update(base)
    data["impactScore"] = round(impact / 5, 2) if ctx.spec.impact_fraction else impact
    data["severity"] = "high" if impact >= 5 else "medium" if impact == 4 else "low"
    data["capturedVia"] = (
        "async-decision-enrichment" if missed else rng.choice(("cli", "mcp", "manual"))
    )
    data["missedDecision"] = missed
    if missed:
        data["rationale"] = None
        data["flagReason"] = "Significant change made without a recorded rationale"
    data["capturedAt"] = _iso(ctx.ts_ms)
    return data, "human"


def _data_checkpoint(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    label, summary = ctx.pick(ctx.scn.checkpoints, ctx.j)
    trigger = ctx.pick(("manual", "auto", "auto"), ctx.j)
    return {"label": label, "trigger": trigger, "summary": summary}, "system"


def _data_context_compact(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    return {"trigger": "auto", "preTokens": ctx.rng.randint(150_000, 198_000)}, "system"


def _data_tool_use(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    name, preview = ctx.pick(ctx.scn.tools, ctx.occurrence())
    return {"toolName": name, "inputPreview": preview, "ok": ctx.rng.random() > 0.06}, "ai"


def _data_mcp_call(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    server, tool, args = ctx.pick(ctx.scn.mcp, ctx.occurrence())
    return {
        "server": server,
        "tool": tool,
        "argsPreview": args,
        "durationMs": ctx.rng.randint(80, 4_000),
    }, "ai"


def _data_subagent_start(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    return {
        "subagentId": _uuid(ctx.seed, f"subagent:{ctx.spec.id}:{ctx.i}"),
        "agentType": ctx.pick(("general-purpose", "Explore", "code-reviewer")),
        "description": ctx.pick(ctx.scn.subagents),
    }, "ai"


def _data_planning(ctx: _Ctx) -> tuple[dict[str, Any], str]:
    done = ctx.j % len(ctx.scn.todos)
    todos = [
        {
            "content": t,
            "status": "completed" if k < done else "in_progress" if k == done else "pending",
        }
        for k, t in enumerate(ctx.scn.todos)
    ]
    return {"todos": todos, "itemCount": len(todos)}, "ai"


_BUILDERS: dict[str, Callable[[_Ctx], tuple[dict[str, Any], str]]] = {
    "session_start": _data_session_start,
    "session_end": _data_session_end,
    "prompt": _data_prompt,
    "ai_response": _data_ai_response,
    "file_diff": _data_file_diff,
    "file_create": _data_file_create,
    "command": _data_command,
    "test_run": _data_test_run,
    "git_action": _data_git_action,
    "decision_event": _data_decision,
    "checkpoint": _data_checkpoint,
    "context_compact": _data_context_compact,
    "tool_use": _data_tool_use,
    "mcp_call": _data_mcp_call,
    "subagent_start": _data_subagent_start,
    "planning": _data_planning,
}

_SYSTEM_KINDS = frozenset({"session_start", "session_end", "checkpoint", "context_compact"})


def _provenance(kind: str, who: str, spec: SessionSpec) -> dict[str, Any] | None:
    """Provenance as the CLI sets it (REFERENCE 4.2); None means the key is left out."""
    if kind in _SYSTEM_KINDS:
        if not spec.system_provenance:
            return None
        return {"attribution": "system_generated", "confidence": 1.0, "observability": "high"}
    if who == "system":
        return {
            "attribution": "system_generated",
            "confidence": 0.9,
            "observability": "high",
            "methods": ["hook"],
        }
    if who == "ai":
        if kind == "file_diff" and spec.source == "codex":
            return {
                "attribution": "likely_ai",
                "confidence": 0.6,
                "observability": "medium",
                "methods": ["git-poll", "codex-turn-window"],
            }
        return {
            "attribution": "likely_ai",
            "confidence": 0.9,
            "observability": "high",
            "methods": ["hook"],
        }
    if who == "revised":
        return {
            "attribution": "ai_revised_by_human",
            "confidence": 0.6,
            "observability": "medium",
            "methods": ["git-poll", "ai-path-ledger"],
        }
    if who == "mixed":
        return {
            "attribution": "mixed",
            "confidence": 0.5,
            "observability": "partial",
            "methods": ["git-poll"],
        }
    if kind == "file_diff":
        return {
            "attribution": "likely_human",
            "confidence": 0.7,
            "observability": "medium",
            "methods": ["git-poll"],
        }
    if kind == "decision_event":
        return {
            "attribution": "likely_human",
            "confidence": 0.8,
            "observability": "medium",
            "methods": ["cli"],
        }
    if kind == "command":
        return {
            "attribution": "likely_human",
            "confidence": 0.8,
            "observability": "medium",
            "methods": ["shell-hook"],
        }
    return {
        "attribution": "likely_human",
        "confidence": 0.8,
        "observability": "medium",
        "methods": ["hook"],
    }


_ACTOR_TYPES = {
    "ai": "ai",
    "human": "human",
    "revised": "human",
    "mixed": "unknown",
    "system": "system",
}


def _hostile_text(rng: random.Random, key: str) -> str:
    """Several payloads arranged as markdown for long free-text fields."""
    picks = rng.sample(PAYLOADS, 4)
    if key in ("lastAssistantMessage", "text", "prompt", "summary", "context", "rationale"):
        return (
            f"## {picks[0]}\n\n- {picks[1]}\n- [{picks[2]}]({picks[3]})\n\n"
            f"```html\n{picks[1]}\n```\n\n> {picks[2]}\n"
        )
    return "\n".join(picks)


def _hostilize(value: Any, rng: random.Random, key: str = "") -> Any:
    """Replace every string inside ``value`` with hostile text, keeping the shape."""
    if isinstance(value, dict):
        out = {k: _hostilize(v, rng, k) for k, v in value.items()}
        if "diff" in value:
            diff = payload_diff(rng.choice(PAYLOADS).split("\n")[0][:80] or "x", rng)
            out.update(diff=diff.text, linesAdded=diff.added, linesRemoved=diff.removed)
        if "content" in value and isinstance(out.get("content"), str):
            out["linesAdded"] = out["content"].count("\n") + 1
            out["sizeBytes"] = len(out["content"].encode())
        return out
    if isinstance(value, list):
        return [_hostilize(v, rng, key) for v in value]
    if isinstance(value, str):
        long_fields = (
            "lastAssistantMessage",
            "text",
            "prompt",
            "content",
            "stdout",
            "stderr",
            "summary",
            "context",
            "tradeoffs",
            "rationale",
        )
        return _hostile_text(rng, key) if key in long_fields else rng.choice(PAYLOADS)
    return value


def _apply_quirk(event: dict[str, Any], quirk: tuple[Any, ...], rng: random.Random) -> None:
    """Special events placed at fixed indices (see SandboxState._place_quirks)."""
    name = quirk[0]
    if name == "no_data":
        del event["data"]
    elif name == "null_data":
        event["data"] = None
    elif name in ("lockfile", "minified"):
        diff = (
            lockfile_diff(quirk[1], quirk[2])
            if name == "lockfile"
            else minified_diff(quirk[1], quirk[2])
        )
        event["data"] = {
            "path": diff.path,
            "diff": diff.text,
            "linesAdded": diff.added,
            "linesRemoved": diff.removed,
        }
    elif name == "hostile_kind":
        event["kind"] = rng.choice(PAYLOADS[:8])


def _layout(seed: int, spec: SessionSpec, i: int) -> tuple[str, Plan, int, int]:
    """Kind, turn plan, turn number and slot of event ``i``."""
    if i == 0:
        return (
            "session_start",
            turn_plan(seed, spec.id, 0, spec.cycle_turns, spec.decision_every),
            0,
            0,
        )
    j, slot = divmod(i - 1, TURN_LEN)
    plan = turn_plan(seed, spec.id, j, spec.cycle_turns, spec.decision_every)
    if spec.ended and i == spec.count - 1:
        return "session_end", plan, j, slot
    return plan.kinds[slot], plan, j, slot


def event_ts_ms(seed: int, spec: SessionSpec, i: int) -> int:
    """Timestamp of event ``i``: strictly from the turn layout, or from a growth segment."""
    if i >= spec.base_count:
        segment = spec.growth[bisect.bisect_right(spec.growth, i, key=lambda g: g[0]) - 1]
        first, base, step = segment
        return base + (i - first) * step
    if i == 0:
        return spec.start_ms
    if spec.ended and i == spec.base_count - 1:
        return event_ts_ms(seed, spec, i - 1) + spec.end_gap_ms
    j, slot = divmod(i - 1, TURN_LEN)
    plan = turn_plan(seed, spec.id, j, spec.cycle_turns, spec.decision_every)
    return spec.start_ms + 1500 + j * spec.span_ms + int(plan.offsets[slot] * spec.span_ms)


def build_event(seed: int, spec: SessionSpec, i: int) -> dict[str, Any]:
    """Event ``i`` of a generated session, exactly as the timeline endpoint returns it."""
    kind, plan, j, slot = _layout(seed, spec, i)
    ts = event_ts_ms(seed, spec, i)
    rng = random.Random(f"{seed}:{spec.id}:{i}")
    ctx = _Ctx(seed, spec, SCENARIOS[spec.scenario], plan, i, j, slot, rng, ts)
    data, who = _BUILDERS[kind](ctx)
    if spec.hostile:
        data = _hostilize(data, rng)
    event: dict[str, Any] = {
        "id": _event_id(spec.prefix, i),
        "sessionId": spec.id,
        "orgId": spec.org_id,
        "kind": kind,
        "ts": _iso(ts),
    }
    if spec.source in ("claude-code", "shell"):
        event["actor"] = {"type": _ACTOR_TYPES[who]}
    event["data"] = data
    provenance: dict[str, Any] | str | None = _provenance(kind, who, spec)
    if i % 97 == 41:
        # Contradiction 2: one API page shows provenance as a bare string.
        provenance = "claude_code" if who == "ai" and spec.source != "shell" else "shell_hook"
    elif i % 131 == 77:
        provenance = None
    if spec.hostile and isinstance(provenance, dict) and i % 3 == 0:
        provenance["attribution"] = rng.choice(PAYLOADS)
    if provenance is not None:
        event["provenance"] = provenance
    event["createdAt"] = _iso(ts + rng.randint(40, 2500))
    quirk = spec.quirks.get(i)
    if quirk:
        _apply_quirk(event, quirk, rng)
    return event


# --------------------------------------------------------------------------------------------
# The roster: organisations, assessments and who sat them.
# --------------------------------------------------------------------------------------------

_NAMES = (
    "Amara Okafor",
    "Zoë Kowalczyk",
    "Nguyễn Thị Minh",
    "José Álvarez",
    "Aarav Sharma",
    "Olamide Adeyemi",
    "李伟",
    "Søren Madsen",
    "Fatima Zahra El Idrissi",
    "Mateo Rossi",
    "Hannah Schmidt",
    "Kwame Mensah",
    "Priya Natarajan",
    "Lucas Oliveira",
    "Sofia Petrova",
    "Daniel Kim",
    "Aisha Bello",
    "Tomás Ó Briain",
    "Yuki Tanaka",
    "Elif Yılmaz",
    "Noah Müller",
    "Chloé Dubois",
    "Ravi Menon",
    "Isabella García",
    "Mikael Lindqvist",
    "Adaeze Nwosu",
    "Omar Haddad",
    "Grace O'Connell",
    "Wei Chen",
    "Leila Farahani",
    "Jakub Nowak",
    "Maya Levi",
    "Samuel Adjei",
    "Ana Sousa",
    "Henrik Johansson",
    "Ngozi Eze",
    "Arjun Patel",
    "Camille Martin",
    "Diego Fernández",
    "Emma Wilson",
    "Tariq Rahman",
    "Ingrid Berg",
    "Kofi Boateng",
    "Valentina Romano",
    "Hiroshi Sato",
    "Zainab Yusuf",
    "Luca Bianchi",
    "Freya Nielsen",
    "Mohammed Al-Farsi",
    "Sara Cohen",
    "Björn Eriksson",
    "Chidi Okeke",
    "Julia Kowalski",
    "Ethan Brooks",
    "Mei Lin",
    "Rafael Costa",
    "Anya Ivanova",
    "Kiran Rao",
    "Oluwaseun Balogun",
    "Clara Weber",
    "Dmitri Volkov",
    "Nadia Benali",
)


@dataclass(frozen=True)
class _AssessmentDef:
    key: str
    org_id: str
    scenario: str
    title: str
    role: str
    sessions: int
    time_limit: int | None
    budget: float | None
    created_ms: int
    first_day_ms: int
    days: int
    repo_owner: str


_ASSESSMENTS = (
    _AssessmentDef(
        "acme-pay",
        "org_acme",
        "pay",
        "Senior Backend Engineer: duplicate charges on webhook retry",
        "Senior Backend Engineer",
        25,
        120,
        25.0,
        _day(10, 1, 9, 12),
        _day(10, 5),
        45,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-rate",
        "org_acme",
        "rate",
        "Full-stack Engineer: sliding-window rate limiter",
        "Full-stack Engineer",
        16,
        90,
        None,
        _day(10, 3, 14, 40),
        _day(10, 8),
        42,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-inv",
        "org_acme",
        "inv",
        "Staff Engineer: inventory sync drops items",
        "Staff Engineer",
        8,
        None,
        500.0,
        _day(10, 9, 11, 5),
        _day(10, 13),
        36,
        "acme-hiring",
    ),
    _AssessmentDef(
        "acme-san",
        "org_acme",
        "san",
        "Security Engineer: script injection in the webhook log",
        "Security Engineer",
        6,
        60,
        15.0,
        _day(10, 14, 16, 20),
        _day(10, 20),
        30,
        "acme-hiring",
    ),
    _AssessmentDef(
        "globex-inv",
        "org_globex",
        "inv",
        "Data Platform Engineer: warehouse sync",
        "Data Platform Engineer",
        5,
        150,
        None,
        _day(10, 2, 8, 0),
        _day(10, 6),
        44,
        "globex-eng",
    ),
    _AssessmentDef(
        "globex-rate",
        "org_globex",
        "rate",
        "Platform Engineer: API throttling",
        "Platform Engineer",
        3,
        90,
        20.0,
        _day(10, 11, 10, 30),
        _day(10, 15),
        35,
        "globex-eng",
    ),
)

# Sessions with a special role, by (assessment key, position). Everything else is ordinary.
_ROLES: dict[tuple[str, int], str] = {
    ("acme-pay", 0): "running",
    ("acme-pay", 1): "running",
    ("acme-pay", 2): "fraction",
    ("acme-pay", 3): "data_quirks",
    ("acme-pay", 4): "lockfile",
    ("acme-pay", 5): "list_source",
    ("acme-rate", 0): "running",
    ("acme-rate", 1): "empty",
    ("acme-rate", 2): "missing_fields",
    ("acme-rate", 3): "not_computed",
    ("acme-rate", 4): "list_source",
    ("acme-inv", 0): "big",
    ("acme-inv", 1): "lockfile",
    ("acme-san", 0): "hostile",
    ("acme-san", 1): "wide_line",
    ("globex-inv", 0): "running",
    ("globex-rate", 0): "not_computed",
}

_SOURCE_WEIGHTS = (("claude-code", 50), ("cursor", 25), ("codex", 15), ("shell", 10))
_LIST_FORMS: dict[str, list[str]] = {
    "claude-code": ["claude_code"],
    "cursor": ["cursor"],
    "codex": ["codex"],
    "shell": ["claude_code", "shell"],
}


def _weighted(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    roll = rng.randrange(sum(w for _, w in weights))
    for name, weight in weights:
        if roll < weight:
            return name
        roll -= weight
    return weights[0][0]


def _event_total(rng: random.Random, role: str) -> int:
    """Total events of a session, by role; ordinary ones are log-uniform over 50..3000."""
    if role == "big":
        return BIG_SESSION_EVENTS
    if role == "empty":
        return 0
    if role == "hostile":
        return 240
    if role == "running":
        return rng.randint(300, 900)
    return int(round(50 * (60 ** rng.random())))


@dataclass
class _AddedSession:
    """A session given verbatim through add_session (events held as a list)."""

    session: dict[str, Any]
    events: list[dict[str, Any]]
    index: dict[str, int]


class SandboxState:
    """All sandbox data for one seed: orgs, assessments, sessions, deletions and additions.

    Thread-safe: the HTTP server calls it from many threads. Generated sessions are described by a
    :class:`SessionSpec` and their events are produced on demand; sessions passed to
    :meth:`add_session` are kept verbatim. ``live_anchor`` is the moment running sessions were last
    active shortly before (default: now); pass a fixed datetime for fully reproducible output.
    """

    def __init__(self, seed: int = 1, *, live_anchor: datetime | None = None) -> None:
        self.seed = seed
        self._lock = threading.RLock()
        anchor = live_anchor or datetime.now(UTC)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        self._anchor_ms = int(anchor.timestamp() * 1000)
        self._assessments: dict[str, list[dict[str, Any]]] = {o["id"]: [] for o in ORGS}
        self._specs: dict[str, SessionSpec] = {}
        self._added: dict[str, _AddedSession] = {}
        self._deleted: set[str] = set()
        self._roles: dict[str, dict[str, list[str]]] = {o["id"]: {} for o in ORGS}
        self._build()

    # ---------------------------------------------------------------- construction

    def _build(self) -> None:
        names = {
            o["id"]: random.Random(f"{self.seed}:names:{o['id']}").sample(_NAMES, len(_NAMES))
            for o in ORGS
        }
        used = {o["id"]: 0 for o in ORGS}
        prefixes: set[str] = set()
        for adef in _ASSESSMENTS:
            assessment = self._assessment_dict(adef)
            self._assessments[adef.org_id].append(assessment)
            for n in range(adef.sessions):
                role = _ROLES.get((adef.key, n), "ordinary")
                name = names[adef.org_id][used[adef.org_id] % len(_NAMES)]
                used[adef.org_id] += 1
                spec = self._make_spec(adef, assessment, n, role, name)
                if spec.prefix in prefixes:
                    raise RuntimeError("event id prefix collision")  # astronomically unlikely
                prefixes.add(spec.prefix)
                self._specs[spec.id] = spec
                if role != "ordinary":
                    self._roles[adef.org_id].setdefault(role, []).append(spec.id)

    def _assessment_dict(self, adef: _AssessmentDef) -> dict[str, Any]:
        scn = SCENARIOS[adef.scenario]
        return {
            "id": _uuid(self.seed, f"assessment:{adef.key}"),
            "orgId": adef.org_id,
            "title": adef.title,
            "role": adef.role,
            "taskBrief": scn.brief,
            "repoUrl": f"https://github.com/{adef.repo_owner}/{scn.repo}",
            "issueId": None,
            "rubricId": None,
            "timeLimitMinutes": adef.time_limit,
            "tokenBudgetUsd": adef.budget,
            "expiresInDays": 7,
            "createdAt": _iso(adef.created_ms),
            "updatedAt": _iso(adef.created_ms + 3 * _MS_PER_MIN + 12_345),
            "issue": None,
        }

    def _make_spec(
        self, adef: _AssessmentDef, assessment: dict[str, Any], n: int, role: str, name: str
    ) -> SessionSpec:
        rng = random.Random(f"{self.seed}:roster:{adef.key}:{n}")
        session_id = _uuid(self.seed, f"session:{adef.key}:{n}")
        total = _event_total(rng, role)
        ended = role not in ("running", "empty")
        body = max(0, total - 1 - (1 if ended else 0))
        turns = max(1, -(-body // TURN_LEN))
        source = (
            "claude-code"
            if role in ("big", "hostile", "data_quirks")
            else _weighted(rng, _SOURCE_WEIGHTS)
        )
        if role == "big":
            duration_ms = 38 * 3_600_000
        else:
            duration_ms = int((rng.uniform(60, 95) + min(85, body / 3000 * 85)) * _MS_PER_MIN)
        span = max(TURN_LEN, duration_ms // turns)
        if role in ("running", "empty"):
            start = self._anchor_ms - turns * span - rng.randint(60_000, 420_000)
        else:
            day = adef.first_day_ms + rng.randrange(adef.days) * _DAY_MS
            start = day + rng.randint(7 * 60, 17 * 60) * _MS_PER_MIN + rng.randrange(60_000)
        cycle = min(int(turns * 1.5) if role == "running" else turns, rng.randint(24, 36))
        spec = SessionSpec(
            id=session_id,
            org_id=adef.org_id,
            assessment_id=assessment["id"],
            scenario=adef.scenario,
            source=source,
            source_service=source,
            candidate=name,
            repo_url=assessment["repoUrl"],
            start_ms=start,
            span_ms=span,
            base_count=total,
            ended=ended,
            end_gap_ms=rng.randint(4_000, 90_000),
            cycle_turns=max(1, cycle),
            decision_every=6 if role == "big" else 3 if role == "hostile" else rng.randint(4, 9),
            prefix=_event_prefix(self.seed, session_id),
            model=rng.choice(_MODELS[source]),
            ide_session=_uuid(self.seed, f"ide:{session_id}"),
            created_ms=start + 350,
            prompt_key_every=7 if n % 4 == 1 else 0,
            system_provenance=rng.random() < 0.6,
            attribution_pct=round(rng.uniform(18, 96), 1),
            cost_usd=0.0 if source == "shell" else round(body * rng.uniform(0.0025, 0.006), 2),
        )
        if rng.random() < 0.15:
            spec.source_service = list(_LIST_FORMS[source])
        if rng.random() < 0.35:
            plain = unicodedata.normalize("NFKD", name.split()[0].lower())
            slug = plain.encode("ascii", "ignore").decode() or "candidate"
            spec.extra_metadata = {
                "submissionsRepo": f"{adef.repo_owner}/submissions",
                "submissionsBranch": f"candidate/{slug}-{session_id[:6]}",
            }
        self._apply_role(spec, role, rng)
        return spec

    def _apply_role(self, spec: SessionSpec, role: str, rng: random.Random) -> None:
        """Give the special sessions their documented quirks (REFERENCE.md section 7)."""
        if role in ("running", "empty", "not_computed"):
            spec.attribution_pct = None  # "null if attribution has not been computed yet"
        if role == "empty":
            spec.cost_usd = 0.0
        elif role == "fraction":
            spec.attribution_pct = round(rng.uniform(0.55, 0.9), 2)  # quickstart's 0-1 form
        elif role == "list_source":
            spec.source_service = list(_LIST_FORMS[spec.source])
        elif role == "missing_fields":
            spec.omit_fields = ("lastActivityAt", "totalCostUsd")
            spec.impact_fraction = True
        elif role == "data_quirks":
            spec.prompt_key_every = 3
            spec.quirks[self._find(spec, "command", 20)] = ("no_data",)
            spec.quirks[self._find(spec, "file_diff", 30)] = ("null_data",)
        elif role == "lockfile":
            lockfile = SCENARIOS[spec.scenario].lockfile
            spec.quirks[self._find(spec, "file_diff", spec.base_count // 2)] = (
                "lockfile",
                lockfile,
                280,
            )
        elif role == "big":
            spec.quirks[self._find(spec, "file_diff", 20_000)] = (
                "lockfile",
                "package-lock.json",
                200,
            )
            spec.quirks[self._find(spec, "file_diff", 50_000)] = ("lockfile", "poetry.lock", 1400)
            spec.attribution_pct = 81.4
        elif role == "wide_line":
            spec.quirks[self._find(spec, "file_diff", 10)] = (
                "minified",
                "static/vendor/purify.min.js",
                200_000,
            )
        elif role == "hostile":
            self._make_hostile(spec, rng)

    def _make_hostile(self, spec: SessionSpec, rng: random.Random) -> None:
        spec.hostile = True
        spec.source_service = ["claude_code", "<script>alert('sourceService')</script>"]
        spec.candidate = "<img src=x onerror=alert('candidateName')> Robert'); DROP TABLE--"
        spec.repo_url = "javascript:alert(document.domain)"
        spec.extra_metadata = {
            "submissionsRepo": rng.choice(PAYLOADS),
            "submissionsBranch": "\"><script>alert('branch')</script>",
        }
        spec.quirks[self._find(spec, "tool_use", 30)] = ("hostile_kind",)

    def _find(self, spec: SessionSpec, kind: str, start: int) -> int:
        """First index at or after ``start`` whose event has ``kind`` (cheap: plans only)."""
        last = spec.base_count - (2 if spec.ended else 1)
        for i in range(max(1, start), last + 1):
            if _layout(self.seed, spec, i)[0] == kind:
                return i
        raise LookupError(f"no {kind} event after {start} in {spec.id}")

    # ---------------------------------------------------------------- lookups

    @property
    def orgs(self) -> list[dict[str, str]]:
        return [dict(o) for o in ORGS]

    def org_for_token(self, token: str | None) -> dict[str, str] | None:
        """The org a bearer token belongs to; None for unknown or revoked tokens."""
        for org in ORGS:
            if token and token == org["token"]:
                return dict(org)
        return None

    def assessments_for(self, org_id: str) -> list[dict[str, Any]]:
        """The org's assessments, createdAt ascending (as the upstream orders them)."""
        return json.loads(json.dumps(self._assessments.get(org_id, [])))

    def assessment(self, org_id: str, assessment_id: str) -> dict[str, Any] | None:
        for item in self._assessments.get(org_id, []):
            if item["id"] == assessment_id:
                return json.loads(json.dumps(item))
        return None

    def _visible(self, org_id: str, session_id: str) -> SessionSpec | _AddedSession | None:
        if session_id in self._deleted:
            return None
        found: SessionSpec | _AddedSession | None = self._specs.get(session_id) or self._added.get(
            session_id
        )
        if found is None:
            return None
        owner = found.org_id if isinstance(found, SessionSpec) else found.session.get("orgId")
        return found if owner == org_id else None

    def session(self, org_id: str, session_id: str) -> dict[str, Any] | None:
        """The session object, or None when missing, deleted or in another org."""
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            return self._session_dict(found)

    def sessions_for(self, org_id: str) -> list[dict[str, Any]]:
        """Every visible session of the org, startedAt descending (ties by id)."""
        with self._lock:
            items = [
                self._session_dict(s)
                for s in self._specs.values()
                if s.org_id == org_id and s.id not in self._deleted
            ]
            items += [
                self._session_dict(a)
                for sid, a in self._added.items()
                if a.session.get("orgId") == org_id and sid not in self._deleted
            ]
        items.sort(key=lambda s: s["id"])
        items.sort(key=lambda s: _parse_iso_ms(s.get("startedAt")) or 0, reverse=True)
        return items

    def list_sessions(
        self, org_id: str, *, assessment_id: str | None = None, source_service: str | None = None
    ) -> list[dict[str, Any]]:
        """sessions_for() filtered the way GET /v1/sessions filters."""
        items = self.sessions_for(org_id)
        if assessment_id:
            items = [
                s for s in items if (s.get("metadata") or {}).get("assessmentId") == assessment_id
            ]
        if source_service:
            wanted = _norm_service(source_service)
            items = [s for s in items if wanted in _services(s.get("sourceService"))]
        return items

    def _session_dict(self, found: SessionSpec | _AddedSession) -> dict[str, Any]:
        if isinstance(found, _AddedSession):
            return json.loads(json.dumps(found.session))
        return self._spec_session(found)

    def _spec_session(self, spec: SessionSpec) -> dict[str, Any]:
        count = spec.count
        started = event_ts_ms(self.seed, spec, 0) if count else spec.created_ms
        last = event_ts_ms(self.seed, spec, count - 1) if count else None
        body = max(0, count - 1 - (1 if spec.ended else 0))
        if last is None:
            updated = spec.created_ms
        else:
            updated = last + (45_000 + spec.end_gap_ms if spec.ended else 800)
        metadata = {
            "assessmentId": spec.assessment_id,
            "candidateName": spec.candidate,
            "repoUrl": spec.repo_url,
            **spec.extra_metadata,
        }
        service = spec.source_service
        session: dict[str, Any] = {
            "id": spec.id,
            "orgId": spec.org_id,
            "sourceService": list(service) if isinstance(service, list) else service,
            "startedAt": _iso(started),
            "endedAt": _iso(last) if spec.ended and last is not None else None,
            "lastActivityAt": _iso(last) if last is not None else None,
            "metadata": metadata,
            "eventCount": count,
            "decisionFlagCount": decision_count(body, spec.decision_every),
            "aiAttributionPct": spec.attribution_pct,
            "totalCostUsd": spec.cost_usd,
            "createdAt": _iso(spec.created_ms),
            "updatedAt": _iso(updated),
        }
        for key in spec.omit_fields:
            session.pop(key, None)
        return session

    # ---------------------------------------------------------------- timeline

    def timeline(
        self, org_id: str, session_id: str, *, limit: int = 500, after: str | None = None
    ) -> tuple[list[dict[str, Any]], bool] | None:
        """One timeline page ``(events, hasMore)``; None when the session is not visible.

        Raises InvalidCursor when ``after`` is not an event id of this session.
        """
        limit = max(1, min(2000, limit))
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            if isinstance(found, _AddedSession):
                start = 0 if after is None else self._added_cursor(found, after) + 1
                page = found.events[start : start + limit]
                return json.loads(json.dumps(page)), start + len(page) < len(found.events)
            count = found.count
        start = 0 if after is None else self._spec_cursor(found, after, count) + 1
        stop = min(count, start + limit)
        return [build_event(self.seed, found, i) for i in range(start, stop)], stop < count

    @staticmethod
    def _spec_cursor(spec: SessionSpec, after: str, count: int) -> int:
        head, _, tail = after.rpartition("-")
        if head != spec.prefix or len(tail) != 12 or tail != tail.lower():
            raise InvalidCursor(after)
        try:
            index = int(tail, 16)
        except ValueError:
            raise InvalidCursor(after) from None
        if index >= count:
            raise InvalidCursor(after)
        return index

    @staticmethod
    def _added_cursor(added: _AddedSession, after: str) -> int:
        if after not in added.index:
            raise InvalidCursor(after)
        return added.index[after]

    def decisions(self, org_id: str, session_id: str) -> list[dict[str, Any]] | None:
        """The session's decision_event events, ts ascending; None when not visible."""
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            if isinstance(found, _AddedSession):
                return json.loads(
                    json.dumps([e for e in found.events if e.get("kind") == "decision_event"])
                )
            count = found.count
        body = max(0, count - 1 - (1 if found.ended else 0))
        every = found.decision_every
        turns = range(every // 2, body // TURN_LEN, every)
        return [build_event(self.seed, found, 1 + j * TURN_LEN + TURN_LEN - 1) for j in turns]

    def events(
        self, session_id: str, start: int = 0, stop: int | None = None
    ) -> list[dict[str, Any]]:
        """Events ``start:stop`` of any session, ignoring org and deletion (a test helper)."""
        with self._lock:
            if session_id in self._added:
                return json.loads(json.dumps(self._added[session_id].events[start:stop]))
            spec = self._specs[session_id]
            count = spec.count
        stop = count if stop is None else min(stop, count)
        return [build_event(self.seed, spec, i) for i in range(start, stop)]

    # ---------------------------------------------------------------- mutations

    def delete_session(self, org_id: str, session_id: str | None = None) -> bool:
        """Hard-delete (remembered); False when missing, already deleted or in another org.

        Called with a single argument, that argument is the session id and the org is not
        checked: tests use this to simulate a deletion made by someone else.
        """
        with self._lock:
            if session_id is None:
                session_id = org_id
                known = session_id in self._specs or session_id in self._added
                if not known or session_id in self._deleted:
                    return False
            elif self._visible(org_id, session_id) is None:
                return False
            self._deleted.add(session_id)
            return True

    def is_deleted(self, session_id: str) -> bool:
        return session_id in self._deleted

    def grow(self, session_id: str, n: int) -> int:
        """Append ``n`` generated events to a running session; returns the new eventCount.

        The new events are stamped from the wall clock (the last one is "now"), so a live view
        sees fresh activity. Raises KeyError for unknown/deleted sessions and ValueError for ended
        or verbatim (add_session) ones.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            if session_id in self._deleted or session_id not in (*self._specs, *self._added):
                raise KeyError(session_id)
            spec = self._specs.get(session_id)
            if spec is None:
                raise ValueError("sessions added with add_session cannot grow")
            if spec.ended:
                raise ValueError("session has ended")
            if n == 0:
                return spec.count
            step = 700
            last = event_ts_ms(self.seed, spec, spec.count - 1) if spec.count else spec.created_ms
            base = max(last + 1000, int(time.time() * 1000) - (n - 1) * step)
            spec.growth = [*spec.growth, (spec.count, base, step)]
            spec.count += n
            return spec.count

    def add_session(
        self, org_id: str, session: dict[str, Any], events: list[dict[str, Any]]
    ) -> str:
        """Add a hand-built session whose timeline is exactly ``events``; returns its id.

        Missing envelope fields are filled (``id`` as a random uuid4, ``sessionId``, ``orgId``,
        ``createdAt``); events are stable-sorted by ``ts`` as the upstream orders them. Session
        fields not given (eventCount, decisionFlagCount, startedAt, endedAt, lastActivityAt, ...)
        are derived from the events. Explicitly given fields, even odd ones, are kept as given.
        """
        session_id = str(session.get("id") or uuid.uuid4())
        filled = [self._fill_event(dict(e), session_id, org_id) for e in events]
        filled.sort(key=lambda e: _parse_iso_ms(e.get("ts")) or 0)
        index: dict[str, int] = {}
        for k, event in enumerate(filled):
            index.setdefault(str(event.get("id")), k)
        with self._lock:
            if session_id in self._specs or session_id in self._added:
                raise ValueError(f"session {session_id} already exists")
            self._added[session_id] = _AddedSession(
                json.loads(json.dumps(self._derive_session(session, session_id, org_id, filled))),
                json.loads(json.dumps(filled)),
                index,
            )
        return session_id

    @staticmethod
    def _fill_event(event: dict[str, Any], session_id: str, org_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": event.pop("id", None) or str(uuid.uuid4()),
            "sessionId": event.pop("sessionId", session_id),
            "orgId": event.pop("orgId", org_id),
        }
        out.update(event)
        if "createdAt" not in out:
            ts = _parse_iso_ms(out.get("ts"))
            out["createdAt"] = _iso(ts + 500) if ts is not None else out.get("ts")
        return out

    @staticmethod
    def _derive_session(
        given: dict[str, Any], session_id: str, org_id: str, events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        stamps = [ms for ms in (_parse_iso_ms(e.get("ts")) for e in events) if ms is not None]
        first = _iso(min(stamps)) if stamps else _iso(_day(11, 1, 12))
        last = _iso(max(stamps)) if stamps else None
        ended = bool(events) and events[-1].get("kind") == "session_end"
        derived: dict[str, Any] = {
            "id": session_id,
            "orgId": org_id,
            "sourceService": "claude-code",
            "startedAt": first,
            "endedAt": last if ended else None,
            "lastActivityAt": last,
            "metadata": {},
            "eventCount": len(events),
            "decisionFlagCount": sum(1 for e in events if e.get("kind") == "decision_event"),
            "aiAttributionPct": None,
            "totalCostUsd": 0,
            "createdAt": first,
            "updatedAt": last or first,
        }
        derived.update({k: v for k, v in given.items() if k not in ("id", "orgId")})
        return derived

    # ---------------------------------------------------------------- helpers for tests/benches

    def big_session_id(self, org_id: str = "org_acme") -> str:
        """The 100,000-event session (acme only)."""
        return self._special(org_id, "big")

    def hostile_session_id(self, org_id: str = "org_acme") -> str:
        """The session whose every text field is a hostile string (acme only)."""
        return self._special(org_id, "hostile")

    def running_session_ids(self, org_id: str) -> list[str]:
        """Sessions still in progress that have events (endedAt null, eventCount > 0)."""
        with self._lock:
            return [
                s.id
                for s in self._specs.values()
                if s.org_id == org_id and not s.ended and s.count > 0 and s.id not in self._deleted
            ]

    def special_session_ids(self, org_id: str = "org_acme") -> dict[str, str]:
        """The first session of each special role, e.g. "empty", "fraction", "wide_line".

        Roles: running, fraction (aiAttributionPct as 0-1), data_quirks (an event without
        ``data`` and one with ``data: null``, prompts under ``prompt``), lockfile (a diff of
        thousands of lines), list_source (sourceService as a list), empty (zero events),
        missing_fields (no lastActivityAt/totalCostUsd, impactScore as 0-1), not_computed
        (aiAttributionPct null although ended), big, hostile, wide_line (one 200,000-char line).
        """
        return {role: ids[0] for role, ids in self._roles[org_id].items()}

    def _special(self, org_id: str, role: str) -> str:
        ids = self._roles.get(org_id, {}).get(role)
        if not ids:
            raise LookupError(f"{org_id} has no {role} session")
        return ids[0]

    def spec(self, session_id: str) -> SessionSpec:
        """The generator spec of a generated session (for benches that need internals)."""
        return self._specs[session_id]


def _norm_service(value: str) -> str:
    return value.strip().lower().replace("_", "-")


def _services(value: Any) -> list[str]:
    """A sourceService value (string or list) as normalised names."""
    if isinstance(value, str):
        return [_norm_service(value)]
    if isinstance(value, list):
        return [_norm_service(v) for v in value if isinstance(v, str)]
    return []
