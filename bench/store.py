"""The benchmark's hands inside the product: one long-lived `manage.py shell` process.

It runs with the stack's own environment (the same database and cache as the web server and
the worker) and answers one JSON command per line on stdin with one result line on stdout,
so a "cold" view can forget exactly what the product derived, whatever the cache backend
(Redis, or the file cache of the embedded set-up) and whatever the product's key names are:
it calls the product's own functions rather than deleting keys by pattern.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

MARKER = "BENCH-JSON "
COMMAND = ["shell", "-c", "from bench import store; store.serve()"]


def _org(slug: str) -> Any:
    from reviewer.models import Organization

    return Organization.objects.get(slug=slug)


def purge(slug: str, session_id: str) -> int:
    """Remove the session's stored events and sync row with the product's own `purge()`,
    and everything derived from them."""
    from reviewer import fragments, prefetch
    from reviewer.models import TimelineSync

    org = _org(slug)
    # Take the lease away from a worker still fetching the session, so its next page stops
    # (LeaseLost) instead of committing events between purge()'s deletes: on PostgreSQL
    # that fails purge() on the events' foreign key.
    TimelineSync.objects.filter(organization=org, session_id=session_id).update(
        claim_token="bench-purge"
    )
    count = prefetch.purge(org, session_id)
    fragments.forget_session(org, session_id)
    return count


def forget(slug: str, session_id: str) -> bool:
    """Make every cached value derived from the session's store unreachable (a new session
    generation: chunks, counts, turns, map, files, summaries), as the product does."""
    from reviewer import fragments

    fragments.forget_session(_org(slug), session_id)
    return True


def flush() -> int:
    """Delete the product's cache entries: on Redis by its key prefix only (the Celery broker
    shares the database), otherwise the whole (file) cache."""
    from django.conf import settings
    from django.core.cache import cache

    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    try:
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    except AttributeError:
        cache.clear()
        return -1
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


def pending(slug: str) -> int:
    """Stored events of the organization not in the text index yet."""
    from reviewer.models import EventText

    return EventText.objects.filter(sync__organization=_org(slug), indexed=False).count()


def stored(slug: str) -> dict[str, int]:
    from django.db.models import Sum

    from reviewer.models import TimelineSync

    syncs = TimelineSync.objects.filter(organization=_org(slug), events_stored__gt=0)
    return {
        "sessions": syncs.count(),
        "complete": syncs.filter(complete=True).count(),
        "events": int(syncs.aggregate(n=Sum("events_stored"))["n"] or 0),
    }


def _matches(query: str, sync_ids: list[int]) -> int:
    from reviewer import search
    from reviewer.models import StoredEvent

    qs = StoredEvent.objects.filter(sync_id__in=sync_ids)
    return search.filter_matching(qs, query, sync_ids).count()


def rare_word(slug: str, session_id: str, seq: int, most: int = 3) -> dict[str, Any]:
    """A word of the stored event at about `seq` that few events of the session contain
    (and the organization: the org-wide query uses it too), with its counts."""
    import re

    from reviewer.models import EventText, TimelineSync

    org = _org(slug)
    sync = TimelineSync.objects.get(organization=org, session_id=session_id)
    everyone = list(TimelineSync.objects.filter(organization=org).values_list("pk", flat=True))
    rows = (
        EventText.objects.filter(sync=sync, event__seq__gte=seq)
        .order_by("event__seq")
        .values_list("text", flat=True)[:200]
    )
    tried = 0
    for body in rows:
        words = sorted(set(re.findall(r"[a-z0-9_]{9,24}", body)), key=len, reverse=True)
        for word in words[:6]:
            tried += 1
            here = _matches(word, [sync.pk])
            if 1 <= here <= most:
                return {"word": word, "in_session": here, "in_org": _matches(word, everyone)}
            if tried > 300:
                break
    raise LookupError(f"no word of ≤ {most} matches near event {seq}")


def org_matches(slug: str, query: str) -> int:
    from reviewer.models import TimelineSync

    ids = list(TimelineSync.objects.filter(organization=_org(slug)).values_list("pk", flat=True))
    return _matches(query, ids)


COMMANDS = {
    "purge": purge,
    "forget": forget,
    "flush": flush,
    "pending": pending,
    "stored": stored,
    "rare_word": rare_word,
    "org_matches": org_matches,
}


def serve() -> None:
    """Answer `{"do": name, "args": [...]}` lines until stdin closes."""
    from django.db import close_old_connections, connection

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            result: dict[str, Any] = {"ok": COMMANDS[request["do"]](*request.get("args", []))}
        except Exception as exc:  # reported to the bench, which raises it there
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            close_old_connections()
            connection.close()  # no read transaction is held between commands
        print(MARKER + json.dumps(result, default=str), flush=True)
