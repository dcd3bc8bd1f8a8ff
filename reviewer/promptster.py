"""The Promptster API client: the one place where upstream HTTP happens.

Every call goes through `Client._request`, which sets timeouts, decides retries (only
connection errors, timeouts, 5xx and 429 are transient) and maps failures to the small
error hierarchy below. Parsing is lenient: the documentation contradicts itself in places
(REFERENCE.md §7), so every documented variant is accepted and missing fields get defaults.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_variables

log = logging.getLogger(__name__)

# Ids are UUIDs in the documentation and prefixed slugs (sess_…, evt_…) in its examples; this
# is the one definition of an id for URLs, cursors and the store alike.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
SESSIONS_MAX_LIMIT = 100
TIMELINE_MAX_LIMIT = 2000
_MAX_SLEEP = 8.0  # never wait longer than this for one retry inside a request
_BODY_EXCERPT = 200


# --- errors -----------------------------------------------------------------------------------


class PromptsterError(Exception):
    """Base class. `status` is the HTTP status (None when no response came back)."""

    user_message = "The Promptster API could not answer this request."

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body[:_BODY_EXCERPT]


class Unauthorized(PromptsterError):
    user_message = (
        "Promptster rejected this organization's API token (revoked, expired or wrong). "
        "An admin can replace it in the organization settings."
    )


class Forbidden(Unauthorized):
    """403: the token is valid but may not do this (scope), or the resource is not its org's."""

    user_message = (
        "Promptster refused this with the organization's API token (it may lack the "
        "needed scope). An admin can check the token in the organization settings."
    )


class NotFound(PromptsterError):
    user_message = "Promptster has no such session for this organization."


class RateLimited(PromptsterError):
    user_message = "Promptster is rate limiting this organization. Try again in a moment."

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Unavailable(PromptsterError):
    user_message = "Promptster is not reachable or failed to answer. Try again in a moment."


class BadResponse(PromptsterError):
    user_message = "Promptster sent a response this dashboard could not read."


class Rejected(PromptsterError):
    """A 4xx other than 401/403/404/429: the request itself was refused."""

    user_message = "Promptster refused this request."


TRANSIENT = (Unavailable, RateLimited)


# --- parsed objects ---------------------------------------------------------------------------


def _as_str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:  # not NaN
        return int(value)
    return default


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value:  # NaN
        return None
    return float(value)


def parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # fast path: the documented ISO-8601 form
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None


def normalise_tool(name: str) -> str:
    """`claude_code` and `claude-code` are the same tool (REFERENCE §7.1)."""
    return name.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class Session:
    id: str
    source_services: tuple[str, ...]
    started_at: datetime | None
    ended_at: datetime | None
    last_activity_at: datetime | None
    metadata: dict[str, Any]
    event_count: int
    decision_count: int
    ai_pct: float | None
    total_cost: float | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def source_label(self) -> str:
        return ", ".join(self.source_services) or "unknown"

    @property
    def is_running(self) -> bool:
        return self.ended_at is None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.ended_at:
            return self.ended_at - self.started_at
        return None

    @property
    def assessment_id(self) -> str:
        return _as_str(self.metadata.get("assessmentId"))

    @property
    def candidate_name(self) -> str:
        return _as_str(self.metadata.get("candidateName"))

    @property
    def repo_url(self) -> str:
        return _as_str(self.metadata.get("repoUrl"))


def parse_session(raw: Any) -> Session:
    """Read a session object leniently (sessions page "Session object fields", REFERENCE §1.4)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise BadResponse("session object without an id")
    source = raw.get("sourceService")
    if isinstance(source, str):
        sources: tuple[str, ...] = (normalise_tool(source),) if source.strip() else ()
    elif isinstance(source, list):
        sources = tuple(normalise_tool(s) for s in source if isinstance(s, str) and s.strip())
    else:
        sources = ()
    pct = _as_float(raw.get("aiAttributionPct"))
    if pct is not None:
        # The quickstart shows a 0–1 fraction (0.71) where the reference says 0–100 (72.5).
        if 0 < pct <= 1 and not float(pct).is_integer():
            pct *= 100
        pct = max(0.0, min(100.0, pct))
    metadata = raw.get("metadata")
    return Session(
        id=raw["id"],
        source_services=sources,
        started_at=parse_ts(raw.get("startedAt")),
        ended_at=parse_ts(raw.get("endedAt")),
        last_activity_at=parse_ts(raw.get("lastActivityAt")),
        metadata=metadata if isinstance(metadata, dict) else {},
        event_count=max(0, _as_int(raw.get("eventCount"))),
        decision_count=max(0, _as_int(raw.get("decisionFlagCount"))),
        ai_pct=pct,
        total_cost=_as_float(raw.get("totalCostUsd")),
        raw=raw,
    )


@dataclass(frozen=True)
class SessionPage:
    sessions: list[Session]
    total: int
    limit: int
    offset: int


def parse_session_page(payload: Any) -> SessionPage:
    if not isinstance(payload, dict) or not isinstance(payload.get("sessions"), list):
        raise BadResponse("session list without a 'sessions' array")
    sessions = []
    for item in payload["sessions"]:
        try:
            sessions.append(parse_session(item))
        except BadResponse:
            log.warning("skipping an unreadable session object in a list response")
    return SessionPage(
        sessions=sessions,
        total=max(len(sessions), _as_int(payload.get("total"), len(sessions))),
        limit=_as_int(payload.get("limit"), len(sessions)),
        offset=max(0, _as_int(payload.get("offset"))),
    )


@dataclass(frozen=True)
class Assessment:
    id: str
    title: str
    role: str


def parse_assessments(payload: Any) -> list[Assessment]:
    items = payload.get("assessments") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise BadResponse("assessment list without an 'assessments' array")
    return [
        Assessment(id=a["id"], title=_as_str(a.get("title"), a["id"]), role=_as_str(a.get("role")))
        for a in items
        if isinstance(a, dict) and isinstance(a.get("id"), str)
    ]


@dataclass(frozen=True)
class TimelinePage:
    events: list[dict[str, Any]]
    has_more: bool
    cursor: str | None = None  # the id of the page's last event, for the next `after`

    @property
    def last_id(self) -> str | None:
        return self.cursor


def _usable_id(value: Any) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def parse_timeline_page(payload: Any) -> TimelinePage:
    """Keep every event with a usable id; anything else in it is the renderer's problem."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise BadResponse("timeline page without an 'events' array")
    raw = payload["events"]
    events = [e for e in raw if isinstance(e, dict) and _usable_id(e.get("id"))]
    if len(events) < len(raw):
        log.warning("skipped %d timeline entries without a usable id", len(raw) - len(events))
    cursor = events[-1]["id"] if events else None
    return TimelinePage(
        events=events, has_more=payload.get("hasMore") is True and bool(events), cursor=cursor
    )


# --- the client -------------------------------------------------------------------------------


def _retry_after_seconds(response: requests.Response) -> float | None:
    """Seconds to wait, from Retry-After (if sent) or x-ratelimit-reset (Unix seconds)."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return None


def backoff_seconds(attempt: int, *, base: float = 0.25, cap: float = _MAX_SLEEP) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * (2**attempt)))


class Client:
    """A Promptster API client for one organization's token.

    `retries` is how many times a transient failure is retried inside one call; views use
    few (a page must answer quickly), tasks use more.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: tuple[float, float] = (3.05, 20.0),
        retries: int = 1,
        http: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._token = token
        self.http = http or requests.Session()

    def __repr__(self) -> str:  # never show the token
        return f"<Client {self.base_url}>"

    def with_retries(self, retries: int) -> Client:
        return Client(
            self.base_url, self._token, timeout=self.timeout, retries=retries, http=self.http
        )

    # public calls, one per documented endpoint --------------------------------------------

    def list_sessions(
        self,
        *,
        assessment_id: str = "",
        source_service: str = "",
        limit: int = 20,
        offset: int = 0,
    ) -> SessionPage:
        """GET /v1/sessions (sessions page, "Listing sessions")."""
        params: dict[str, Any] = {
            "limit": max(1, min(SESSIONS_MAX_LIMIT, limit)),
            "offset": max(0, offset),
        }
        if assessment_id:
            params["assessmentId"] = assessment_id
        if source_service:
            params["sourceService"] = source_service
        return parse_session_page(self._request("GET", "/v1/sessions", params=params))

    def get_session(self, session_id: str) -> Session:
        """GET /v1/sessions/:id (sessions page, "Getting a single session").

        One documentation page answers 403 for another organization's id where the others
        answer 404; both mean "not yours", and must look alike to the user.
        """
        try:
            payload = self._request("GET", f"/v1/sessions/{quote(session_id, safe='')}")
        except Forbidden as exc:
            raise NotFound(str(exc), status=exc.status, body=exc.body) from exc
        return parse_session(payload.get("session") if isinstance(payload, dict) else None)

    def delete_session(self, session_id: str) -> None:
        """DELETE /v1/sessions/:id (sessions page, "Deleting a session"). Never retried."""
        self._request("DELETE", f"/v1/sessions/{quote(session_id, safe='')}", retries=0)

    def timeline_page(
        self, session_id: str, *, after: str | None = None, limit: int = TIMELINE_MAX_LIMIT
    ) -> TimelinePage:
        """GET /v1/sessions/:id/timeline (timeline page, "Paginating the timeline")."""
        params: dict[str, Any] = {"limit": max(1, min(TIMELINE_MAX_LIMIT, limit))}
        if after:
            params["after"] = after
        try:
            payload = self._request(
                "GET", f"/v1/sessions/{quote(session_id, safe='')}/timeline", params=params
            )
        except Forbidden as exc:  # as in get_session: another organization's id
            raise NotFound(str(exc), status=exc.status, body=exc.body) from exc
        return parse_timeline_page(payload)

    def iter_timeline(
        self, session_id: str, *, after: str | None = None, limit: int = TIMELINE_MAX_LIMIT
    ) -> Iterator[TimelinePage]:
        """Yield timeline pages lazily, following the `after` cursor until hasMore is false."""
        while True:
            page = self.timeline_page(session_id, after=after, limit=limit)
            yield page
            if not page.has_more or page.last_id is None or page.last_id == after:
                return
            after = page.last_id

    def list_assessments(self) -> list[Assessment]:
        """GET /v1/assessments (REFERENCE §1.2)."""
        return parse_assessments(self._request("GET", "/v1/assessments"))

    # the choke point --------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        retries: int | None = None,
    ) -> Any:
        """Send one request, retrying transient failures, and return the decoded JSON body."""
        budget = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return self._request_once(method, path, params)
            except TRANSIENT as exc:
                if attempt >= budget:
                    raise
                wait = backoff_seconds(attempt)
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    if exc.retry_after > _MAX_SLEEP:
                        raise  # the caller (a task) reschedules rather than blocking a thread
                    wait = max(wait, exc.retry_after)
                log.info("retrying %s %s after %s (%.2fs)", method, path, type(exc).__name__, wait)
                time.sleep(wait)
                attempt += 1

    @sensitive_variables("headers")
    def _request_once(self, method: str, path: str, params: dict[str, Any] | None) -> Any:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            response = self.http.request(
                method, url, params=params, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise Unavailable(f"{method} {path} timed out") from exc
        except requests.RequestException as exc:
            raise Unavailable(f"{method} {path} failed: {type(exc).__name__}") from exc

        status = response.status_code
        body = response.text[:_BODY_EXCERPT] if status >= 400 else ""
        if status == 401:
            raise Unauthorized(f"{method} {path} was refused (401)", status=status, body=body)
        if status == 403:
            raise Forbidden(f"{method} {path} was forbidden (403)", status=status, body=body)
        if status == 404:
            raise NotFound(f"{method} {path} not found", status=status, body=body)
        if status == 429:
            raise RateLimited(
                f"{method} {path} rate limited",
                status=status,
                body=body,
                retry_after=_retry_after_seconds(response),
            )
        if status >= 500:
            raise Unavailable(f"{method} {path} answered {status}", status=status, body=body)
        if status >= 400:
            raise Rejected(f"{method} {path} answered {status}", status=status, body=body)
        try:
            return response.json()
        except (ValueError, RecursionError) as exc:  # truncated, HTML, absurdly nested
            raise BadResponse(
                f"{method} {path} returned malformed JSON",
                status=status,
                body=response.text[:_BODY_EXCERPT],
            ) from exc


# One requests.Session per organization and process, so connections are reused.
_http_sessions: dict[tuple[int, int], requests.Session] = {}
_http_lock = threading.Lock()


def client_for(org: Any, *, retries: int | None = None, background: bool = False) -> Client:
    """The client for an Organization, with its decrypted token and a reused HTTP session.

    `background` clients (tasks, commands) wait longer for answers than pages do.
    """
    from django.conf import settings

    key = (org.pk, org.token_generation)
    with _http_lock:
        http = _http_sessions.get(key)
        if http is None:
            http = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
            http.mount("http://", adapter)
            http.mount("https://", adapter)
            _http_sessions[key] = http
    return Client(
        org.api_url,
        org.get_token(),
        timeout=settings.PROMPTSTER_TASK_TIMEOUT if background else settings.PROMPTSTER_TIMEOUT,
        retries=settings.PROMPTSTER_VIEW_RETRIES if retries is None else retries,
        http=http,
    )
