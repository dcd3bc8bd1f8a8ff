"""Organization-scoped caching of upstream answers, through named get/invalidate helpers.

Each entry is stored with the time it was fetched and kept well beyond its freshness window:
a fresh entry is served as is; a stale one is refreshed, and if the refresh fails the stale
value is served with `stale=True` (an upstream failure never overwrites a good value).
Identical concurrent misses are coalesced with a short lock (`cache.add`), so twenty
simultaneous cold views make one upstream call. Any cache error counts as a miss: a Redis
outage makes pages slower, never broken.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import cache

from reviewer import promptster, upstream
from reviewer.cachebackend import CacheUnavailable
from reviewer.models import Organization, ShareLink

log = logging.getLogger(__name__)

T = TypeVar("T")

LIST_TTL = 60
SESSION_TTL = 600
RUNNING_SESSION_TTL = 15
ASSESSMENTS_TTL = 600
# How long a failed optional call is remembered: a page that can do without its answer (the
# assessment names of the list's filter) does not ask again on every view.
OPTIONAL_FAILURE_TTL = 120
KEEP_STALE_FOR = 24 * 3600
# Longer than a view's worst upstream call (timeouts and one retry), so a slow refresh keeps
# its lock and its waiters instead of letting them all call upstream too.
_LOCK_TTL = 30
_KEY_VERSION = "v1"


@dataclass(frozen=True)
class Fetched(Generic[T]):
    value: T
    stale: bool = False
    fetched_at: float = 0.0
    from_cache: bool = False
    gone_upstream: bool = False  # upstream no longer has it; `value` is what is known here


def _key(org: Organization, *parts: str) -> str:
    return ":".join(["rv", _KEY_VERSION, org.cache_scope, *parts])


def _safe_get(key: str) -> Any:
    try:
        return cache.get(key)
    except CacheUnavailable:  # an outage is a miss; the breaker has said so once
        return None
    except Exception:  # a cache outage is a miss
        log.warning("cache get failed for a %s key", key.split(":")[3:4], exc_info=True)
        return None


def _safe_set(key: str, value: Any, timeout: int | None) -> None:
    try:
        cache.set(key, value, timeout)
    except CacheUnavailable:
        pass
    except Exception:
        log.warning("cache set failed", exc_info=True)


def _safe_delete(*keys: str) -> None:
    try:
        cache.delete_many(list(keys))
    except CacheUnavailable:
        pass
    except Exception:
        log.warning("cache delete failed", exc_info=True)


def _try_lock(key: str, owner: str, ttl: int = _LOCK_TTL) -> bool | None:
    """True: we hold the lock. False: a peer holds it. None: the cache is unusable."""
    try:
        return bool(cache.add(key, owner, ttl))
    except Exception:
        return None


def _release_lock(key: str, owner: str) -> None:
    """Delete the lock only if it is still ours (it may have expired and been retaken)."""
    if _safe_get(key) == owner:
        _safe_delete(key)


def _entry_is_valid(entry: Any) -> bool:
    return isinstance(entry, dict) and "at" in entry and "payload" in entry and "ttl" in entry


_ERRORS: dict[str, type[promptster.PromptsterError]] = {
    cls.__name__: cls
    for cls in (
        promptster.Unauthorized,
        promptster.Forbidden,
        promptster.NotFound,
        promptster.RateLimited,
        promptster.Unavailable,
        promptster.BadResponse,
        promptster.Rejected,
    )
}


def _remembered_failure(entry: Any) -> promptster.PromptsterError | None:
    """The error a failure entry stands for, while it is to be remembered."""
    if not (isinstance(entry, dict) and isinstance(entry.get("failure"), dict)):
        return None
    failure = entry["failure"]
    if time.time() >= failure.get("until", 0):
        return None
    cls = _ERRORS.get(failure.get("type", ""), promptster.PromptsterError)
    return cls(failure.get("message", ""), status=failure.get("status"))


def _fresh(entry: Any) -> bool:
    return _entry_is_valid(entry) and time.time() - entry["at"] < entry["ttl"]


def _cached_call(
    key: str,
    fetch: Callable[[], Any],
    ttl_for: Callable[[Any], int],
    *,
    remember_failure_for: int = 0,
) -> Fetched[Any]:
    """Serve `key` from the cache or call `fetch()` (which returns a JSON-able payload).

    1. A fresh, well-formed entry is returned at once; so is a failure remembered for
       `remember_failure_for` seconds (raised again without asking upstream).
    2. Otherwise one caller takes the refresh lock and fetches. Concurrent callers serve the
       previous value if there is one, or else wait for the lock holder's result, instead of
       calling upstream themselves.
    3. If the fetch fails and an earlier value exists, that value is returned marked stale;
       the failure is raised only when there is nothing to show.
    """
    entry = _safe_get(key)
    if _fresh(entry):
        return Fetched(entry["payload"], fetched_at=entry["at"], from_cache=True)
    remembered = _remembered_failure(entry)
    if remembered is not None:
        raise remembered
    stale = entry if _entry_is_valid(entry) else None

    lock_key = key + ":lock"
    owner = secrets.token_hex(8)
    locked = _try_lock(lock_key, owner)
    if locked is False:
        if stale is not None:  # a peer is refreshing it; the previous value will do
            return Fetched(stale["payload"], fetched_at=stale["at"], from_cache=True)
        waited = _wait_for_peer(key, lock_key)
        if waited is not None:
            return waited
    try:
        if locked:
            # A peer may have stored a value between our first read and taking the lock.
            entry = _safe_get(key)
            if _fresh(entry):
                return Fetched(entry["payload"], fetched_at=entry["at"], from_cache=True)
        try:
            payload = fetch()
        except promptster.PromptsterError as exc:
            transient = isinstance(exc, (*promptster.TRANSIENT, promptster.BadResponse))
            if transient and stale is not None:
                return Fetched(
                    stale["payload"], stale=True, fetched_at=stale["at"], from_cache=True
                )
            if remember_failure_for:
                _remember_failure(key, exc, remember_failure_for)
            elif isinstance(exc, promptster.NotFound):
                _safe_delete(key)  # gone upstream: never serve it again
            raise
        now = time.time()
        # Written before the lock is released, so no waiter can miss it.
        _safe_set(key, {"at": now, "ttl": ttl_for(payload), "payload": payload}, KEEP_STALE_FOR)
        return Fetched(payload, fetched_at=now)
    finally:
        if locked:
            _release_lock(lock_key, owner)


def _remember_failure(key: str, exc: promptster.PromptsterError, seconds: int) -> None:
    failure = {
        "type": type(exc).__name__,
        "message": str(exc),
        "status": exc.status,
        "until": time.time() + seconds,
    }
    _safe_set(key, {"failure": failure}, seconds)


def _wait_for_peer(key: str, lock_key: str) -> Fetched[Any] | None:
    """Wait for the lock holder's value; None if it gave up (then we fetch ourselves)."""
    deadline = time.monotonic() + _LOCK_TTL
    delay = 0.01
    while time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)
        entry = _safe_get(key)
        if _entry_is_valid(entry):
            return Fetched(entry["payload"], fetched_at=entry["at"], from_cache=True)
        remembered = _remembered_failure(entry)
        if remembered is not None:
            raise remembered
        if _safe_get(lock_key) is None:
            # The holder may have stored its value and released the lock between our two reads.
            entry = _safe_get(key)
            if _entry_is_valid(entry):
                return Fetched(entry["payload"], fetched_at=entry["at"], from_cache=True)
            return None
    return None


# --- session list ---------------------------------------------------------------------------


def _list_generation(org: Organization) -> int:
    value = _safe_get(_key(org, "list-gen"))
    return value if isinstance(value, int) else 0


def get_session_list(
    org: Organization,
    *,
    assessment_id: str = "",
    source_service: str = "",
    limit: int = 20,
    offset: int = 0,
) -> Fetched[upstream.SessionPage]:
    params = f"{assessment_id}\x00{source_service}\x00{limit}\x00{offset}"
    digest = hashlib.sha256(params.encode()).hexdigest()[:24]
    key = _key(org, f"sessions-g{_list_generation(org)}", digest)

    def fetch() -> dict[str, Any]:
        page = promptster.client_for(org).list_sessions(
            assessment_id=assessment_id, source_service=source_service, limit=limit, offset=offset
        )
        return upstream.session_page_payload(page)

    result = _cached_call(key, fetch, lambda _payload: LIST_TTL)
    return replace(result, value=upstream.parse_session_page(result.value))


@dataclass(frozen=True)
class Listing:
    """Every session of a filter, as far as it was read."""

    sessions: list[upstream.Session]
    total: int  # as upstream reports it
    stale: bool  # some page was served from the cache after upstream failed

    @property
    def truncated(self) -> bool:
        return self.total > len(self.sessions)


def list_all_sessions(
    org: Organization, *, assessment_id: str = "", source_service: str = "", limit: int
) -> Listing:
    """Every session of a filter (at most `limit`), paged through the cached list pages."""
    stale = False
    total = 0

    def page(offset: int) -> upstream.SessionPage:
        nonlocal stale, total
        fetched = get_session_list(
            org,
            assessment_id=assessment_id,
            source_service=source_service,
            limit=upstream.SESSIONS_MAX_LIMIT,
            offset=offset,
        )
        stale = stale or fetched.stale
        total = fetched.value.total
        return fetched.value

    sessions = list(promptster.iter_session_pages(page, limit=limit))
    return Listing(sessions, max(total, len(sessions)), stale)


def invalidate_session_lists(org: Organization) -> None:
    """Make every cached list of this organization a miss (after a delete)."""
    key = _key(org, "list-gen")
    _safe_set(key, _list_generation(org) + 1, None)


# --- one session ----------------------------------------------------------------------------


def _session_ttl(payload: Any) -> int:
    ended = isinstance(payload, dict) and payload.get("endedAt")
    return SESSION_TTL if ended else RUNNING_SESSION_TTL


def get_session(org: Organization, session_id: str) -> Fetched[upstream.Session]:
    """One session's fields; its id is always `session_id`, never what upstream echoed."""
    key = _key(org, "session", session_id)

    def fetch() -> dict[str, Any]:
        return promptster.client_for(org).get_session(session_id).raw

    result = _cached_call(key, fetch, _session_ttl)
    return replace(result, value=upstream.parse_session(result.value, session_id=session_id))


def put_session(org: Organization, session: upstream.Session) -> None:
    """Store a session object fetched elsewhere (e.g. by a prefetch)."""
    _safe_set(
        _key(org, "session", session.id),
        {"at": time.time(), "ttl": _session_ttl(session.raw), "payload": session.raw},
        KEEP_STALE_FOR,
    )


def invalidate_session(org: Organization, session_id: str) -> None:
    """Forget the session's upstream fields and the lists that show it (what was derived from
    its store is `reviewer.fragments`' to forget)."""
    _safe_delete(_key(org, "session", session_id))
    invalidate_session_lists(org)


# --- assessments ----------------------------------------------------------------------------


def get_assessments(org: Organization) -> Fetched[list[upstream.Assessment]]:
    """The organization's assessments (REFERENCE §1.2). Pages can do without them, so a
    failure is remembered for `OPTIONAL_FAILURE_TTL` and raised again without asking."""
    key = _key(org, "assessments")

    def fetch() -> dict[str, Any]:
        items = promptster.client_for(org).list_assessments()
        return {"assessments": [{"id": a.id, "title": a.title, "role": a.role} for a in items]}

    result = _cached_call(
        key,
        fetch,
        lambda _payload: ASSESSMENTS_TTL,
        remember_failure_for=OPTIONAL_FAILURE_TTL,
    )
    return replace(result, value=upstream.parse_assessments(result.value))


# --- rubric scores (hiring review) ---------------------------------------------------------

SCORES_TTL = 60


def get_scores(org: Organization, session_id: str) -> Fetched[list[upstream.Score]]:
    """A session's rubric scores in Promptster (REFERENCE §1.4), set here or elsewhere."""
    key = _key(org, "scores", session_id)

    def fetch() -> dict[str, Any]:
        found = promptster.client_for(org).get_scores(session_id)
        return {
            "scores": [
                {
                    "dimension": s.dimension,
                    "score": s.score,
                    "notes": s.notes,
                    "reviewerId": s.reviewer_id,
                    "updatedAt": s.updated_at.isoformat() if s.updated_at else None,
                }
                for s in found
            ]
        }

    result = _cached_call(key, fetch, lambda _payload: SCORES_TTL)
    return replace(result, value=upstream.parse_scores(result.value))


def invalidate_scores(org: Organization, session_id: str) -> None:
    """Forget a session's cached scores (after writing them)."""
    _safe_delete(_key(org, "scores", session_id))


# --- quotas ---------------------------------------------------------------------------------


def take_quota(org: Organization, name: str, wanted: int, *, limit: int, window: int) -> int:
    """Take up to `wanted` of the organization's `limit` per `window` seconds for `name`;
    return how many were granted. With the cache unusable nothing is granted beyond what a
    caller's own bound allows: the caller keeps its own per-request limit."""
    if wanted <= 0:
        return 0
    key = _key(org, "quota", name, str(int(time.time()) // window))
    try:
        cache.add(key, 0, window * 2)
        used = cache.incr(key, wanted)
    except Exception:
        return wanted
    granted = wanted - max(0, used - limit)
    return max(0, min(wanted, granted))


def take_share_request(link: ShareLink) -> bool:
    """Count one anonymous request through a share link; False once the link has had
    SHARE_REQUESTS_PER_MINUTE this minute. With the cache unusable, requests pass."""
    bucket = int(time.time()) // 60
    key = f"rv:rate:share{link.pk}:{bucket}"  # a counter, not the organization's content
    try:
        cache.add(key, 0, 120)
        used = int(cache.incr(key))
    except Exception:
        return True
    return used <= settings.SHARE_REQUESTS_PER_MINUTE
