"""The Promptster API client: the one place where upstream HTTP happens.

Every call goes through `Client._request`, which sets timeouts, decides retries (only
connection errors, timeouts, 5xx and 429 are transient) and maps failures to the small
error hierarchy below. Answers are read into the typed objects of `reviewer.upstream`
(leniently: the documentation contradicts itself in places, REFERENCE.md §7); an answer that
cannot be read at all is a `BadResponse`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from django.views.decorators.debug import sensitive_variables

from reviewer import origins
from reviewer.upstream import (
    SESSIONS_MAX_LIMIT,
    TIMELINE_MAX_LIMIT,
    Assessment,
    Score,
    Session,
    SessionPage,
    TimelinePage,
    Unreadable,
    parse_assessments,
    parse_scores,
    parse_session,
    parse_session_page,
    parse_timeline_page,
    timeline_cursor,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
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


# Whatever the network answered (nothing, a closed port, a timeout, something that is not
# the API, a redirect), the user reads the same words: the settings page's API origin must not
# become a way to probe which hosts and ports answer. The exception's text, for logs, says more.
_NO_ANSWER = "Promptster is not reachable or failed to answer. Try again in a moment."


class Unavailable(PromptsterError):
    user_message = _NO_ANSWER


class BadResponse(PromptsterError):
    """The answer was not the API's JSON (or a redirect, which is never followed)."""

    user_message = _NO_ANSWER


class Rejected(PromptsterError):
    """A 4xx other than 401/403/404/429: the request itself was refused."""

    user_message = _NO_ANSWER


TRANSIENT = (Unavailable, RateLimited)


def _read(parse: Callable[[Any], T], payload: Any) -> T:
    """Parse an answer into typed objects; an unreadable one is a `BadResponse`."""
    try:
        return parse(payload)
    except Unreadable as exc:
        raise BadResponse(f"unreadable answer: {exc}") from exc


def read_timeline_page(payload: Any) -> TimelinePage:
    """A timeline page's JSON (`Client.timeline_payloads`) read; `BadResponse` if unreadable."""
    return _read(parse_timeline_page, payload)


def iter_session_pages(
    fetch: Callable[[int], SessionPage], *, limit: int | None = None
) -> Iterator[Session]:
    """Sessions from consecutive offset pages (`fetch(offset)`), each id once, until the
    reported total, an empty page or `limit` sessions.

    The one offset loop of the product: the client pages upstream with it, and the cache
    pages its cached pages with it.
    """
    seen: set[str] = set()
    offset = 0
    while limit is None or len(seen) < limit:
        page = fetch(offset)
        for session in page.sessions:
            if session.id not in seen and (limit is None or len(seen) < limit):
                seen.add(session.id)
                yield session
        offset += page.limit or len(page.sessions)
        if not page.sessions or offset >= page.total:
            return


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
        """GET /v1/sessions (sessions page, "Listing sessions"); items in either shape."""
        params: dict[str, Any] = {
            "limit": max(1, min(SESSIONS_MAX_LIMIT, limit)),
            "offset": max(0, offset),
        }
        if assessment_id:
            params["assessmentId"] = assessment_id
        if source_service:
            params["sourceService"] = source_service
        return _read(parse_session_page, self._unscoped("GET", "/v1/sessions", params=params))

    def get_session(self, session_id: str) -> Session:
        """GET /v1/sessions/:id (sessions page, "Getting a single session"; REFERENCE §1.4).

        The answer may be `{"session": {...}}` (REFERENCE) or the bare object (the sessions
        page); the returned session carries `session_id`, whatever id upstream echoes.
        One documentation page answers 403 for another organization's id where the others
        answer 404; both mean "not yours", and must look alike to the user.
        """
        payload = self._read_session_scoped("GET", f"/v1/sessions/{quote(session_id, safe='')}")
        return _read(lambda p: parse_session(p, session_id=session_id), payload)

    def delete_session(self, session_id: str) -> None:
        """DELETE /v1/sessions/:id (sessions page, "Deleting a session"). Never retried."""
        self._request("DELETE", f"/v1/sessions/{quote(session_id, safe='')}", retries=0)

    def timeline_page(
        self, session_id: str, *, after: str | None = None, limit: int = TIMELINE_MAX_LIMIT
    ) -> TimelinePage:
        """GET /v1/sessions/:id/timeline (timeline page, "Paginating the timeline")."""
        return read_timeline_page(self._timeline_payload(session_id, after=after, limit=limit))

    def _timeline_payload(self, session_id: str, *, after: str | None, limit: int) -> Any:
        params: dict[str, Any] = {"limit": max(1, min(TIMELINE_MAX_LIMIT, limit))}
        if after:
            params["after"] = after
        return self._read_session_scoped(
            "GET", f"/v1/sessions/{quote(session_id, safe='')}/timeline", params=params
        )

    def timeline_payloads(
        self, session_id: str, *, after: str | None = None, limit: int = TIMELINE_MAX_LIMIT
    ) -> Iterator[Any]:
        """The timeline's pages as decoded JSON, lazily, following the `after` cursor until
        hasMore is false (`read_timeline_page` reads each one; a walk reads them while the
        next is on its way). An answer without an events array raises `BadResponse`."""
        while True:
            payload = self._timeline_payload(session_id, after=after, limit=limit)
            yield payload
            cursor, has_more = _read(timeline_cursor, payload)
            if not has_more or cursor is None or cursor == after:
                return
            after = cursor

    def iter_timeline(
        self, session_id: str, *, after: str | None = None, limit: int = TIMELINE_MAX_LIMIT
    ) -> Iterator[TimelinePage]:
        """Yield timeline pages lazily, following the `after` cursor until hasMore is false."""
        for payload in self.timeline_payloads(session_id, after=after, limit=limit):
            yield read_timeline_page(payload)

    def iter_sessions(
        self, *, assessment_id: str = "", source_service: str = "", limit: int | None = None
    ) -> Iterator[Session]:
        """Every session of a filter, paging GET /v1/sessions by offset until `total`
        (REFERENCE §3 "Pagination"); at most `limit` sessions, each once."""
        yield from iter_session_pages(
            lambda offset: self.list_sessions(
                assessment_id=assessment_id,
                source_service=source_service,
                limit=SESSIONS_MAX_LIMIT,
                offset=offset,
            ),
            limit=limit,
        )

    def list_assessments(self) -> list[Assessment]:
        """GET /v1/assessments (REFERENCE §1.2)."""
        return _read(parse_assessments, self._unscoped("GET", "/v1/assessments"))

    def _unscoped(self, method: str, path: str, *, params: dict[str, Any] | None = None) -> Any:
        try:
            return self._request(method, path, params=params)
        except NotFound as exc:  # the API always has these: whatever answered is not the API
            raise BadResponse(str(exc), status=exc.status, body=exc.body) from exc

    def get_scores(self, session_id: str) -> list[Score]:
        """GET /v1/sessions/:id/scores (REFERENCE §1.4): the rubric scores set so far."""
        payload = self._read_session_scoped(
            "GET", f"/v1/sessions/{quote(session_id, safe='')}/scores"
        )
        return _read(parse_scores, payload)

    def post_scores(self, session_id: str, items: list[dict[str, Any]]) -> list[Score]:
        """POST /v1/sessions/:id/scores (REFERENCE §1.4): upsert 1–5 items `{dimension, score,
        notes?}` per dimension. Never retried here: an answer lost on the way says nothing
        about whether the write happened, so the caller reads the scores back instead."""
        payload = self._read_session_scoped(
            "POST",
            f"/v1/sessions/{quote(session_id, safe='')}/scores",
            json_body=items,
            retries=0,
        )
        return _read(parse_scores, payload)

    def _read_session_scoped(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        retries: int | None = None,
    ) -> Any:
        try:
            return self._request(method, path, params=params, json_body=json_body, retries=retries)
        except Forbidden as exc:  # another organization's id: the same as an unknown one
            raise NotFound(str(exc), status=exc.status, body=exc.body) from exc

    # the choke point --------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        retries: int | None = None,
    ) -> Any:
        """Send one request, retrying transient failures, and return the decoded JSON body."""
        budget = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return self._request_once(method, path, params, json_body)
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
    def _request_once(
        self, method: str, path: str, params: dict[str, Any] | None, json_body: Any = None
    ) -> Any:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            # Never follow a redirect: it would carry the token wherever the answer points.
            response = self.http.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise Unavailable(f"{method} {path} timed out") from exc
        except requests.RequestException as exc:
            raise Unavailable(f"{method} {path} failed: {type(exc).__name__}") from exc

        status = response.status_code
        body = response.text[:_BODY_EXCERPT] if status >= 400 else ""
        if 300 <= status < 400:
            raise BadResponse(f"{method} {path} answered a redirect ({status})", status=status)
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
_http_sessions: dict[tuple[int, int, bool, str], requests.Session] = {}
_http_lock = threading.Lock()


class _RefuseAdapter(requests.adapters.BaseAdapter):
    """Sends nothing: for an origin an admin set that the rules no longer allow."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        raise requests.ConnectionError("the API origin is not allowed")

    def close(self) -> None:
        pass


def _new_http_session(*, guarded: bool, allowed: bool) -> requests.Session:
    http = requests.Session()
    # No proxies or .netrc credentials from the environment for a host an admin typed in.
    http.trust_env = False
    if not allowed:
        for prefix in ("http://", "https://"):
            http.mount(prefix, _RefuseAdapter())
        return http
    adapter_class = origins.PublicOnlyAdapter if guarded else requests.adapters.HTTPAdapter
    adapter = adapter_class(pool_connections=4, pool_maxsize=32)
    http.mount("https://", adapter)
    http.mount("http://", adapter if not guarded else _RefuseAdapter())
    return http


def client_for(org: Any, *, retries: int | None = None, background: bool = False) -> Client:
    """The client for an Organization, with its decrypted token and a reused HTTP session.

    Unless an operator trusted the origin as set (`add_org`, or ALLOW_PRIVATE_ORIGINS), the
    origin is checked against `reviewer.origins` again here, and every connection goes to a
    public address only. `background` clients (tasks, commands) wait longer than pages do.
    """
    from django.conf import settings
    from django.core.exceptions import ValidationError

    guarded = not (org.origin_trusted or origins.private_origins_allowed())
    allowed = True
    if guarded:
        try:
            origins.clean_origin(org.api_url, check_dns=False)  # DNS: at each connection
        except ValidationError:
            allowed = False
    key = (org.pk, org.token_generation, guarded, org.api_url)
    with _http_lock:
        http = _http_sessions.get(key)
        if http is None:
            http = _new_http_session(guarded=guarded, allowed=allowed)
            _http_sessions[key] = http
    return Client(
        org.api_url,
        org.get_token(),
        timeout=settings.PROMPTSTER_TASK_TIMEOUT if background else settings.PROMPTSTER_TIMEOUT,
        retries=settings.PROMPTSTER_VIEW_RETRIES if retries is None else retries,
        http=http,
    )
