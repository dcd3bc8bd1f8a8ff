"""The sandbox Promptster reviewer API as a WSGI application.

It implements the documented ``/v1`` reviewer endpoints (sessions, timeline, decisions, scores,
assessments) over :class:`sandbox.data.SandboxState`, with the upstream's error shapes,
pagination rules and ``x-ratelimit-*`` headers. On top of that it misbehaves on request
(:mod:`sandbox.faults`). The unauthenticated ``/_sandbox/*`` control routes expose the same
controls over HTTP: stats, faults, growing a running session, and a summary of the data.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from sandbox.data import REVOKED_TOKEN, InvalidCursor, SandboxState
from sandbox.faults import (
    DEFAULT_RATE_LIMIT,
    FAULTS,
    ROUTE_ONLY,
    Fault,
    FaultQueue,
    RateLimiter,
)
from sandbox.responses import (
    JSON_TYPE,
    Response,
    error,
    html_error,
    json_body,
    json_response,
    reason,
)
from sandbox.scores import parse_body as parse_scores


class Disconnect(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the app to make the request handler drop the connection without a response."""


class _BadQuery(ValueError):
    """A query parameter that should be an integer is not one."""


def _not_found_message(route_key: str) -> str:
    """The upstream names the missing resource in its 404 messages."""
    if "/v1/sessions/:id" in route_key:
        return "Session not found"
    if "/v1/assessments/:id" in route_key:
        return "Assessment not found"
    return "Not found"


SESSION_SHAPES = ("wrapped", "bare", "wrapped_items")
"""How session objects are sent (the upstream's documentation allows more than one reading):

* ``wrapped`` (default, REFERENCE.md section 1.4): ``GET /v1/sessions/:id`` answers
  ``{"session": {...}}``; the items of ``GET /v1/sessions`` are bare session objects;
* ``bare``: ``GET /v1/sessions/:id`` answers the session object itself (the sessions page only says
  it "returns the full session object");
* ``wrapped_items``: as ``wrapped``, and every item of the list is wrapped too.
"""

SESSION_ROUTE = "GET /v1/sessions/:id"


# ------------------------------------------------------------------------------------------------
# Routing
# ------------------------------------------------------------------------------------------------

_ROUTES: list[tuple[re.Pattern[str], str, dict[str, str]]] = [
    (re.compile(r"^/v1/sessions/?$"), "/v1/sessions", {"GET": "list_sessions"}),
    (
        re.compile(r"^/v1/sessions/([^/]+)/timeline/?$"),
        "/v1/sessions/:id/timeline",
        {"GET": "timeline"},
    ),
    (
        re.compile(r"^/v1/sessions/([^/]+)/decisions/?$"),
        "/v1/sessions/:id/decisions",
        {"GET": "decisions"},
    ),
    (
        re.compile(r"^/v1/sessions/([^/]+)/scores/?$"),
        "/v1/sessions/:id/scores",
        {"GET": "scores", "POST": "post_scores"},
    ),
    (
        re.compile(r"^/v1/sessions/([^/]+)/?$"),
        "/v1/sessions/:id",
        {"GET": "get_session", "DELETE": "delete_session"},
    ),
    (re.compile(r"^/v1/assessments/?$"), "/v1/assessments", {"GET": "list_assessments"}),
    (re.compile(r"^/v1/assessments/([^/]+)/?$"), "/v1/assessments/:id", {"GET": "get_assessment"}),
]

ROUTE_KEYS = frozenset(f"{m} {t}" for _, t, methods in _ROUTES for m in methods)
"""Every route key that appears in stats and that faults can target."""


@dataclass
class _Match:
    key: str
    handler: str | None
    arg: str | None
    allowed: tuple[str, ...]


@dataclass
class _Request:
    """An authenticated /v1 request, as a handler sees it."""

    org_id: str
    arg: str | None  # the :id of the route, if it has one
    query: dict[str, list[str]]
    fault: Fault | None  # the fault being applied, for the faults that alter a handler's answer
    environ: dict[str, Any]


def _match(method: str, path: str) -> _Match:
    for pattern, template, methods in _ROUTES:
        found = pattern.match(path)
        if found:
            arg = found.group(1) if pattern.groups else None
            return _Match(f"{method} {template}", methods.get(method), arg, tuple(methods))
    return _Match(f"{method} (unmatched)", None, None, ())


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values or values[0].strip() == "":
        return default
    raw = values[0].strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", raw):
        raise _BadQuery(name)
    return int(raw)


def _str_param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and values[0] != "" else None


def _bearer(environ: dict[str, Any]) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class _Stats:
    """Requests counted by route key, and how many of them a fault answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.faulted = 0
        self.by_route: dict[str, int] = {}

    def count(self, route_key: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_route[route_key] = self.by_route.get(route_key, 0) + 1

    def count_fault(self) -> None:
        with self._lock:
            self.faulted += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "by_route": dict(self.by_route),
                "faulted": self.faulted,
            }

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.faulted = 0
            self.by_route = {}


# ------------------------------------------------------------------------------------------------
# The WSGI application
# ------------------------------------------------------------------------------------------------


class SandboxApp:
    """The WSGI application. One instance holds the state, the stats and the pending faults."""

    def __init__(
        self,
        state: SandboxState,
        *,
        latency_ms: int = 0,
        rate_limit_per_min: int = 0,
        fail_rate: float = 0.0,
        session_shape: str = "wrapped",
    ) -> None:
        self.state = state
        self.latency_ms = latency_ms
        self.fail_rate = fail_rate
        self.session_shape = session_shape
        self._limiter = RateLimiter(rate_limit_per_min)
        self._stats = _Stats()
        self._faults = FaultQueue(state.seed)

    @property
    def rate_limit_per_min(self) -> int:
        return self._limiter.limit

    @property
    def session_shape(self) -> str:
        """One of :data:`SESSION_SHAPES`; can be changed while serving."""
        return self._session_shape

    @session_shape.setter
    def session_shape(self, shape: str) -> None:
        if shape not in SESSION_SHAPES:
            raise ValueError(f"unknown session shape {shape!r}; expected one of {SESSION_SHAPES}")
        self._session_shape = shape

    # ------------------------------------------------------------------ control surface

    def stats(self) -> dict[str, Any]:
        """Requests served on /v1 (and unknown paths) since the last reset, by route key."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def inject(
        self, fault: str, *, count: int = 1, route: str | None = None, **params: Any
    ) -> Fault:
        """Queue ``fault`` for the next ``count`` requests matching ``route`` (None = any /v1)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULTS)}")
        if route is not None and route not in ROUTE_KEYS:
            if f"GET {route}" in ROUTE_KEYS:
                route = f"GET {route}"
            else:
                raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTE_KEYS)}")
        required = ROUTE_ONLY.get(fault)
        if required and route not in (None, required):
            raise ValueError(f"the {fault} fault only applies to {required}")
        if fault == "status" and "status" not in params:
            raise ValueError("the status fault needs status=<code>")
        if fault == "patch" and not isinstance(params.get("fields"), dict):
            raise ValueError("the patch fault needs fields={...}, the fields to merge")
        if count < 1:
            raise ValueError("count must be >= 1")
        queued = Fault(fault, int(count), route, dict(params))
        self._faults.add(queued)
        return queued

    def clear_faults(self) -> None:
        self._faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        return self._faults.pending()

    # ------------------------------------------------------------------ WSGI entry point

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.handle(environ)
        if response.action == "disconnect":
            _drop_connection(environ)
            raise Disconnect
        headers = [*response.headers]
        length = response.declared_length or len(response.body)
        headers.append(("Content-Length", str(length)))
        start_response(f"{response.status} {reason(response.status)}", headers)
        return [response.body]

    def handle(self, environ: dict[str, Any]) -> Response:
        """Route one request to a control route or to the /v1 pipeline."""
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            return self._control(method, path, environ)
        return self._api(method, path, environ)

    # ------------------------------------------------------------------ /v1 pipeline

    def _api(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        match = _match(method, path)
        self._stats.count(match.key)
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)
        limit, remaining, reset, exceeded = self._limiter.hit(
            environ.get("REMOTE_ADDR", "?"), time.time()
        )
        rate_headers = [
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(remaining)),
            ("x-ratelimit-reset", str(reset)),
        ]
        if exceeded:
            response = error(429)
            response.headers.append(("Retry-After", str(max(1, reset - int(time.time())))))
        else:
            response = self._faulted_or_normal(match, environ, reset)
        response.headers[:0] = [
            h for h in rate_headers if h[0] not in {k for k, _ in response.headers}
        ]
        response.headers.append(("Cache-Control", "no-store"))
        return response

    def _faulted_or_normal(self, match: _Match, environ: dict[str, Any], reset: int) -> Response:
        if self.fail_rate > 0 and self._faults.random_failure(self.fail_rate):
            self._stats.count_fault()
            return error(503)
        fault = self._faults.take(match.key)
        if fault is None:
            return self._dispatch(match, environ, None)
        self._stats.count_fault()
        return self._apply_fault(fault, match, environ, reset)

    def _apply_fault(
        self, fault: Fault, match: _Match, environ: dict[str, Any], reset: int
    ) -> Response:
        params = fault.params
        if fault.kind == "status":
            status = int(params["status"])
            if params.get("html"):
                return html_error(status)
            return error(status, _not_found_message(match.key) if status == 404 else None)
        if fault.kind == "rate_limit":
            response = error(429)
            response.headers += [
                ("x-ratelimit-limit", str(self._limiter.limit or DEFAULT_RATE_LIMIT)),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", str(reset)),
                ("Retry-After", str(params.get("retry_after", 1))),
            ]
            return response
        if fault.kind == "delay":
            time.sleep(float(params.get("seconds", 1.0)))
            return self._dispatch(match, environ, None)
        if fault.kind == "disconnect":
            return Response(0, b"", action="disconnect")
        if fault.kind == "malformed":
            return Response(200, b"not json at all", [("Content-Type", JSON_TYPE)])
        response = self._dispatch(match, environ, fault)
        if fault.kind == "patch":
            return self._patched(response, match, params["fields"])
        if fault.kind == "truncated":
            full = len(response.body)
            response.body = response.body[: full // 2]
            if params.get("short_read"):
                response.action, response.declared_length = "short_read", full
        return response

    def _patched(self, response: Response, match: _Match, fields: dict[str, Any]) -> Response:
        """``response`` with ``fields`` merged into its session object (GET /v1/sessions/:id,
        whatever the session shape) or else into its top-level JSON object."""
        try:
            body = json.loads(response.body)
        except ValueError:
            return response
        if not isinstance(body, dict):
            return response
        target = body
        wrapped = self.session_shape != "bare" and isinstance(body.get("session"), dict)
        if match.key == SESSION_ROUTE and wrapped:
            target = body["session"]
        target.update(fields)
        response.body = json_body(body)
        return response

    def _dispatch(self, match: _Match, environ: dict[str, Any], fault: Fault | None) -> Response:
        org = self.state.org_for_token(_bearer(environ))
        if org is None:
            return error(401)
        if match.handler is None:
            if match.allowed:
                response = error(405)
                response.headers.append(("Allow", ", ".join(match.allowed)))
                return response
            return error(404)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        handler: Callable[[_Request], Response] = getattr(self, f"_v1_{match.handler}")
        try:
            return handler(_Request(org["id"], match.arg, query, fault, environ))
        except _BadQuery:
            return error(400, "Invalid request", code="invalid_query")

    # ------------------------------------------------------------------ /v1 handlers

    def _v1_list_sessions(self, req: _Request) -> Response:
        limit = max(1, min(100, _int_param(req.query, "limit", 20)))
        offset = max(0, _int_param(req.query, "offset", 0))
        items = self.state.list_sessions(
            req.org_id,
            assessment_id=_str_param(req.query, "assessmentId"),
            source_service=_str_param(req.query, "sourceService"),
        )
        page: list[dict[str, Any]] = items[offset : offset + limit]
        if self.session_shape == "wrapped_items":
            page = [{"session": item} for item in page]
        return json_response(
            200,
            {
                "sessions": page,
                "total": len(items),
                "limit": limit,
                "offset": offset,
            },
        )

    def _v1_get_session(self, req: _Request) -> Response:
        session = self.state.session(req.org_id, str(req.arg))
        if session is None:
            return error(404, "Session not found")
        if self.session_shape == "bare":
            return json_response(200, session)
        return json_response(200, {"session": session})

    def _v1_delete_session(self, req: _Request) -> Response:
        if not self.state.delete_session(req.org_id, str(req.arg)):
            return error(404, "Session not found")
        if req.fault is not None and req.fault.kind == "delete_fails_after":
            return error(503)  # deleted, but the client cannot know
        return json_response(200, {"ok": True, "id": req.arg})

    def _v1_timeline(self, req: _Request) -> Response:
        limit = max(1, min(2000, _int_param(req.query, "limit", 500)))
        try:
            page = self.state.timeline(
                req.org_id, str(req.arg), limit=limit, after=_str_param(req.query, "after")
            )
        except InvalidCursor:
            return error(400, "Invalid cursor", code="invalid_cursor")
        if page is None:
            return error(404, "Session not found")
        events, has_more = page
        fault = req.fault.kind if req.fault is not None else None
        if fault == "repeat_event" and events:
            events.insert(1, events[0])
        elif fault == "skip_event" and len(events) >= 3:
            del events[len(events) // 2]
        return json_response(200, {"events": events, "hasMore": has_more})

    def _v1_decisions(self, req: _Request) -> Response:
        decisions = self.state.decisions(req.org_id, str(req.arg))
        if decisions is None:
            return error(404, "Session not found")
        return json_response(200, {"decisions": decisions})

    def _v1_scores(self, req: _Request) -> Response:
        scores = self.state.scores(req.org_id, str(req.arg))
        if scores is None:
            return error(404, "Session not found")
        return json_response(200, {"scores": scores, "prompterScore": None})

    def _v1_post_scores(self, req: _Request) -> Response:
        if self.state.scores(req.org_id, str(req.arg)) is None:
            return error(404, "Session not found")
        items, issues = parse_scores(_read_body(req.environ))
        if issues:
            return error(400, "Invalid request body", details=issues)
        scores = self.state.put_scores(req.org_id, str(req.arg), items)
        if scores is None:  # deleted meanwhile
            return error(404, "Session not found")
        return json_response(201, {"scores": scores})

    def _v1_list_assessments(self, req: _Request) -> Response:
        return json_response(200, {"assessments": self.state.assessments_for(req.org_id)})

    def _v1_get_assessment(self, req: _Request) -> Response:
        assessment = self.state.assessment(req.org_id, str(req.arg))
        if assessment is None:
            return error(404, "Assessment not found")
        return json_response(200, {"assessment": assessment})

    # ------------------------------------------------------------------ /_sandbox control routes

    def _control(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        route = f"{method} {path.rstrip('/')}"
        if route == "GET /_sandbox/stats":
            return json_response(200, self.stats())
        if route == "POST /_sandbox/reset-stats":
            self.reset_stats()
            return json_response(200, {"ok": True})
        if route == "GET /_sandbox/info":
            return json_response(200, self.info())
        if route == "GET /_sandbox/faults":
            return json_response(200, {"faults": self.pending_faults()})
        if route == "DELETE /_sandbox/faults":
            self.clear_faults()
            return json_response(200, {"ok": True})
        if route == "POST /_sandbox/faults":
            return self._control_inject(environ)
        if route == "POST /_sandbox/config":
            return self._control_config(environ)
        grow = re.fullmatch(r"POST /_sandbox/sessions/([^/]+)/grow", route)
        if grow:
            return self._control_grow(grow.group(1), environ)
        return error(404)

    def _control_inject(self, environ: dict[str, Any]) -> Response:
        try:
            body = json.loads(_read_body(environ) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            fault = self.inject(
                str(body.pop("fault", "")),
                count=int(body.pop("count", 1)),
                route=body.pop("route", None),
                **body,
            )
        except (ValueError, TypeError) as exc:
            return error(400, str(exc), code="invalid_fault")
        return json_response(
            200, {"ok": True, "fault": fault.as_dict(), "pending": self.pending_faults()}
        )

    def _control_config(self, environ: dict[str, Any]) -> Response:
        """``{"sessionShape": ...}`` changes how session objects are sent from now on."""
        try:
            body = json.loads(_read_body(environ) or b"{}")
            if not isinstance(body, dict) or set(body) - {"sessionShape"}:
                raise ValueError('expected a JSON object like {"sessionShape": "bare"}')
            if "sessionShape" in body:
                self.session_shape = body["sessionShape"]
        except ValueError as exc:
            return error(400, str(exc), code="invalid_config")
        return json_response(200, {"ok": True, "sessionShape": self.session_shape})

    def _control_grow(self, session_id: str, environ: dict[str, Any]) -> Response:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            count = self.state.grow(session_id, _int_param(query, "n", 10))
        except KeyError:
            return error(404, "Session not found")
        except (ValueError, _BadQuery) as exc:
            return error(409, str(exc) or "Invalid request", code="cannot_grow")
        return json_response(200, {"ok": True, "id": session_id, "eventCount": count})

    def info(self) -> dict[str, Any]:
        """Tokens and notable session ids, for demos and for clients that need a starting point."""
        state = self.state
        orgs = state.orgs
        return {
            "orgs": orgs,
            "revokedToken": REVOKED_TOKEN,
            "seed": state.seed,
            "bigSessionId": state.big_session_id(),
            "hostileSessionId": state.hostile_session_id(),
            "runningSessionIds": {o["id"]: state.running_session_ids(o["id"]) for o in orgs},
            "specialSessionIds": state.special_session_ids(),
            "scoredSessionIds": {o["id"]: state.scored_session_ids(o["id"]) for o in orgs},
            "latencyMs": self.latency_ms,
            "rateLimitPerMin": self._limiter.limit,
            "failRate": self.fail_rate,
            "sessionShape": self.session_shape,
        }


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _drop_connection(environ: dict[str, Any]) -> None:
    """Close the client socket before any byte of the response is written."""
    sock = environ.get("sandbox.socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def make_app(
    state: SandboxState | None = None,
    *,
    seed: int = 1,
    latency_ms: int = 0,
    rate_limit_per_min: int = 0,
    fail_rate: float = 0.0,
    session_shape: str = "wrapped",
    live_anchor: datetime | None = None,
) -> SandboxApp:
    """A WSGI app over ``state`` (or a fresh SandboxState for ``seed``)."""
    if state is None:
        state = SandboxState(seed, live_anchor=live_anchor)
    return SandboxApp(
        state,
        latency_ms=latency_ms,
        rate_limit_per_min=rate_limit_per_min,
        fail_rate=fail_rate,
        session_shape=session_shape,
    )
