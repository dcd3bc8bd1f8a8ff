"""Everything cached that was derived from a session's store or rendered as HTML: one home.

Each helper names one thing (a timeline chunk, the kind counts, the attribution summary, the
turns, the map, the files, the summary panel, the list rows) and caches it under a key built
from validated, canonical values only:

    rv:v2:org<pk>:g<token generation>:s:<session id>:<session generation>:<name>

and a `version` stored with the value (the store's version and whatever else the value
depends on), so a new version overwrites the entry instead of adding one. The session
generation changes when the session is deleted here (`forget_session`): every derived key
becomes unreachable at once, even one a render in flight writes a moment later, and on Redis
the keys themselves are deleted too.

Values are plain data (dicts, lists, strings, numbers, dates), never pickled objects of ours,
so a deploy that changes a class cannot read an old entry wrongly; each helper's schema is in
its name, and `SCHEMA` changes when any of them does.

A cache outage is a miss: everything is computed again, nothing fails.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, TypeVar, cast

from django.core.cache import cache as django_cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from reviewer import attribution, cache, filehistory, sessionmap, summarize, timeline, upstream
from reviewer import turns as turns_module
from reviewer.models import Organization, StoredEvent, TimelineSync

log = logging.getLogger(__name__)

T = TypeVar("T")
SCHEMA = 3  # 3: events carry an empty notes slot (reviewer.review.slots)
TTL = 6 * 3600  # derived entries lapse after this, whatever happens
_NO_GENERATION = "0"


def _session_prefix(org: Organization, session_id: str) -> str:
    return f"rv:v{SCHEMA}:{org.cache_scope}:s:{session_id}"


def _generation(org: Organization, session_id: str) -> str:
    value = cache._safe_get(_session_prefix(org, session_id) + ":gen")
    return value if isinstance(value, str) else _NO_GENERATION


def _key(org: Organization, session_id: str, generation: str, name: str) -> str:
    return f"{_session_prefix(org, session_id)}:{generation}:{name}"


def derived(
    org: Organization,
    session_id: str,
    name: str,
    version: str,
    compute: Callable[[], T],
    *,
    load: Callable[[Any], T] | None = None,
    dump: Callable[[T], Any] | None = None,
) -> T:
    """A value computed from the session's store, cached under `name` until `version`
    changes. `dump` turns it into plain data for the cache and `load` back."""
    generation = _generation(org, session_id)
    key = _key(org, session_id, generation, name)
    entry = cache._safe_get(key)
    if isinstance(entry, dict) and entry.get("version") == version:
        try:
            return load(entry["value"]) if load else entry["value"]
        except (KeyError, TypeError, ValueError):
            log.warning("a cached %s could not be read; computing it again", name)
    value = compute()
    cache._safe_set(key, {"version": version, "value": dump(value) if dump else value}, TTL)
    return value


def forget_session(org: Organization, session_id: str) -> None:
    """Make everything derived from the session unreachable (a new generation), and delete
    the keys where the cache can list them (Redis)."""
    cache._safe_set(_session_prefix(org, session_id) + ":gen", secrets.token_hex(6), None)
    pattern = django_cache.make_key(f"rv:v*:org{org.pk}:*:s:{session_id}:*")
    breaker = getattr(django_cache, "breaker", None)
    if breaker is not None and breaker.is_open:  # Redis is down: the new generation is enough
        return
    try:
        client = django_cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    except Exception:  # not Redis, or Redis is down: the new generation is enough
        return
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        gen_key = django_cache.make_key(_session_prefix(org, session_id) + ":gen")
        keys = [k for k in keys if k != gen_key.encode() and k != gen_key]
        if keys:
            client.delete(*keys)
    except Exception:
        log.warning("could not delete the cached entries of a deleted session", exc_info=True)


def org_derived(org: Organization, name: str, version: str, compute: Callable[[], T]) -> T:
    """A value derived for the organization as a whole (the session list's rows), cached
    under `name` until `version` changes; plain data only."""
    key = f"rv:v{SCHEMA}:{org.cache_scope}:org:{name}"
    entry = cache._safe_get(key)
    if isinstance(entry, dict) and entry.get("version") == version:
        return entry["value"]
    value = compute()
    cache._safe_set(key, {"version": version, "value": value}, TTL)
    return value


# --- named fragments -----------------------------------------------------------------------------


def summary(
    org: Organization, session: upstream.Session, sync: TimelineSync | None
) -> attribution.SessionSummary | None:
    """The session's attribution summary (None while nothing is stored), upstream fields
    attached after the cache so a score computed upstream later shows at once."""
    if sync is None or not attribution.has_summary(sync):
        return None
    found = derived(
        org,
        session.id,
        "summary",
        attribution.summary_version(sync, session),
        lambda: summarize.compute_summary(sync, session.started_at, session.ended_at),
        load=attribution.summary_from_data,
        dump=attribution.summary_to_data,
    )
    return attribution.with_upstream(found, session, sync)


def summary_html(
    org: Organization,
    session: upstream.Session,
    sync: TimelineSync | None,
    *,
    audience: str,
    base: str = "",
) -> SafeString:
    """The attribution panel of a session page ("member" or "shared" audience, links
    relative to the page) or the attribution page's body ("full", links under `base`)."""
    found = summary(org, session, sync)
    full = audience == "full"
    template = "attribution/_summary.html" if full else "attribution/panel.html"
    pct_state = attribution.promptster_pct_state(session, sync)
    context = {
        "summary": found,
        "session": session,
        "place": {"base": base, "shared": audience == "shared"},
        "compact": not full,
        "pct_state": pct_state,
    }
    if found is None or sync is None:
        return mark_safe(render_to_string(template, context))  # noqa: S308 - our template
    version = repr(
        (
            attribution.summary_version(sync, session),
            session.ai_pct,
            pct_state,
            found.expected_events,
            session.is_running,
            base,
        )
    )
    html = derived(
        org,
        session.id,
        f"summary-html-{audience}",
        version,
        lambda: render_to_string(template, context),
    )
    return mark_safe(html)  # noqa: S308 - rendered by our own templates, escaped there


def kind_counts(org: Organization, sync: TimelineSync) -> tuple[dict[str, int], int]:
    """Stored events per kind, and how many are failures."""
    if not sync.events_stored:
        return {}, 0
    counts, failures = derived(
        org,
        sync.session_id,
        "kind-counts",
        timeline.store_version(sync),
        lambda: [
            timeline.kind_counts(sync),
            timeline.count_matching(sync, timeline.TimelineFilter(failures_only=True)),
        ],
    )
    return cast(dict[str, int], counts), cast(int, failures)


def first_ts(org: Organization, sync: TimelineSync) -> datetime | None:
    """The store's first timestamp."""
    if not sync.events_stored:
        return None
    value = derived(
        org,
        sync.session_id,
        "first-ts",
        timeline.store_version(sync),
        lambda: timeline.first_ts(sync),
    )
    return value if isinstance(value, datetime) else None


def match_count(org: Organization, sync: TimelineSync, flt: timeline.TimelineFilter) -> int:
    """How many stored events match a filter. Text searches are not cached: a key is only
    ever built from values the session holds (kinds, classes), never from typed text."""
    if flt.q:
        return timeline.count_matching(sync, flt)
    return derived(
        org,
        sync.session_id,
        f"count-{_digest(flt.canonical())}",
        timeline.store_version(sync),
        lambda: timeline.count_matching(sync, flt),
    )


def chunk_html(
    org: Organization, sync: TimelineSync, name: str, version: str, render: Callable[[], dict]
) -> dict[str, Any]:
    """A rendered chunk of the timeline (`name` built from canonical values by the caller)."""
    return derived(org, sync.session_id, f"chunk-{_digest(name)}", version, render)


def _listed(
    org: Organization,
    sync: TimelineSync,
    name: str,
    compute: Callable[[TimelineSync], list[Any]],
    row: Callable[..., Any],
) -> list[Any]:
    """A list of dataclass rows computed from the store, cached as plain dicts until the store
    changes."""
    return derived(
        org,
        sync.session_id,
        name,
        timeline.store_version(sync),
        lambda: compute(sync),
        load=lambda rows: [row(**r) for r in rows],
        dump=lambda found: [asdict(item) for item in found],
    )


def turns(org: Organization, sync: TimelineSync) -> list[turns_module.Turn]:
    """Every turn of the stored timeline, counted."""
    return _listed(org, sync, "turns", turns_module.turns_of, turns_module.Turn)


FEW_TURNS = 200  # up to this many turns holding a match are counted on their own


def listed_turns(
    org: Organization,
    sync: TimelineSync,
    flt: timeline.TimelineFilter,
    *,
    after: int | None = None,
    chunk: int,
) -> list[turns_module.Turn]:
    """The turns a turns view lists, read as cheaply as they can be:

    - the live tail of an unfiltered timeline still arriving (`after`, a turn's seq): that
      turn (its counts grown since) and the next `chunk` + 1, counted from the store, not
      the thousands a fast fetch may have stored beyond them, nor the list of all turns,
      which each page stored changes;
    - unfiltered: every turn, cached per store version (`turns`);
    - filtered: the turns holding a match, counted on their own when they are few (a rare
      word in 10,000 turns), taken from the cached list when they are many.
    """
    if not flt.active and after is not None and after >= 0 and sync.is_active:
        beyond = (
            StoredEvent.objects.for_sync(sync)
            .filter(kind="prompt", seq__gt=after)
            .order_by("seq")
            .values_list("seq", flat=True)[chunk : chunk + 1]
        )
        return turns_module.turns_of(sync, since=after, until=next(iter(beyond), None))
    if not flt.active:
        return turns(org, sync)
    wanted = set(flt.events(sync).order_by().values_list("turn", flat=True).distinct())
    if len(wanted) <= FEW_TURNS:
        return turns_module.turns_of(sync, only=wanted)
    return [t for t in turns(org, sync) if t.seq in wanted]


def session_map(org: Organization, sync: TimelineSync) -> sessionmap.SessionMap:
    """The session map (landmarks per time bucket, idle gaps)."""
    return derived(
        org,
        sync.session_id,
        "map",
        timeline.store_version(sync),
        lambda: sessionmap.compute(sync),
        load=sessionmap.from_data,
        dump=asdict,
    )


def files(org: Organization, sync: TimelineSync) -> list[filehistory.FileSummary]:
    """Every file the session touched."""
    return _listed(org, sync, "files", filehistory.files_of, filehistory.FileSummary)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:20]
