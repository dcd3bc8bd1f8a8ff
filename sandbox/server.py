"""The sandbox Promptster reviewer API: a WSGI app, a threaded server and a CLI.

It implements the documented ``/v1`` reviewer endpoints (sessions, timeline, decisions,
assessments) over :class:`sandbox.data.SandboxState`, with the upstream's error shapes,
pagination rules and ``x-ratelimit-*`` headers. On top of that it can misbehave on request:
latency, rate limiting, random 503s, and one-shot *faults* (error statuses, truncated or malformed
bodies, dropped connections, duplicated or skipped timeline events, a delete whose response is
lost). Tests and benchmarks drive it in-process through :class:`SandboxServer`, or over HTTP through
the unauthenticated ``/_sandbox/*`` control routes.

Standard library only, so it runs anywhere the project's Python does and never touches Django.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from sandbox.data import REVOKED_TOKEN, InvalidCursor, SandboxState

HOST = "127.0.0.1"
"""The sandbox only ever listens on loopback."""

DEFAULT_RATE_LIMIT = 300
"""The ``x-ratelimit-limit`` reported when limiting is off (the upstream's documented limit)."""

RATE_WINDOW_SECONDS = 60

TIMELINE_ROUTE = "GET /v1/sessions/:id/timeline"
DELETE_ROUTE = "DELETE /v1/sessions/:id"

FAULTS = frozenset(
    {
        "status",
        "rate_limit",
        "delay",
        "truncated",
        "malformed",
        "disconnect",
        "repeat_event",
        "skip_event",
        "delete_fails_after",
    }
)
"""Fault names accepted by :meth:`SandboxServer.inject` and ``POST /_sandbox/faults``."""

_ROUTE_ONLY = {
    "repeat_event": TIMELINE_ROUTE,
    "skip_event": TIMELINE_ROUTE,
    "delete_fails_after": DELETE_ROUTE,
}

_STATUS_MESSAGES = {
    400: "Invalid request",
    401: "Invalid or missing API key",
    402: "Active subscription required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}

_JSON = "application/json; charset=utf-8"


class _Disconnect(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the app to make the request handler drop the connection without a response."""


class _BadQuery(ValueError):
    """A query parameter that should be an integer is not one."""


@dataclass
class Response:
    """What the app decided to send. ``action`` asks the transport to misbehave."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: str | None = None  # "disconnect" or "short_read"
    declared_length: int | None = None


@dataclass
class Fault:
    """A pending fault: applies to the next ``remaining`` requests matching ``route``."""

    kind: str
    remaining: int
    route: str | None
    params: dict[str, Any]

    def matches(self, route_key: str) -> bool:
        required = _ROUTE_ONLY.get(self.kind)
        if required and route_key != required:
            return False
        return self.route is None or self.route == route_key

    def as_dict(self) -> dict[str, Any]:
        return {"fault": self.kind, "count": self.remaining, "route": self.route, **self.params}


def _json_body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json(status: int, payload: Any) -> Response:
    return Response(status, _json_body(payload), [("Content-Type", _JSON)])


def _error(status: int, message: str | None = None, **extra: Any) -> Response:
    return _json(status, {"error": message or _STATUS_MESSAGES.get(status, "Error"), **extra})


def _html_error(status: int) -> Response:
    """The HTML page a proxy in front of the API would send (nginx style)."""
    title = f"{status} {_reason(status)}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
        "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(status, page.encode(), [("Content-Type", "text/html")])


def _not_found_message(route_key: str) -> str:
    """The upstream names the missing resource in its 404 messages."""
    if "/v1/sessions/:id" in route_key:
        return "Session not found"
    if "/v1/assessments/:id" in route_key:
        return "Assessment not found"
    return "Not found"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


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


# ------------------------------------------------------------------------------------------------
# Rate limiting and stats
# ------------------------------------------------------------------------------------------------


class _RateLimiter:
    """Fixed 60-second windows per client IP, like the upstream's documented 300/min per IP."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, ip: str, now: float) -> tuple[int, int, int, bool]:
        """Count one request: ``(limit, remaining, reset_epoch_seconds, exceeded)``."""
        window = int(now // RATE_WINDOW_SECONDS)
        reset = (window + 1) * RATE_WINDOW_SECONDS
        if self.limit <= 0:
            return DEFAULT_RATE_LIMIT, DEFAULT_RATE_LIMIT - 1, reset, False
        with self._lock:
            seen_window, count = self._windows.get(ip, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._windows[ip] = (window, count)
            if len(self._windows) > 10_000:  # forget idle clients
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return self.limit, max(0, self.limit - count), reset, count > self.limit


class _Stats:
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
    ) -> None:
        self.state = state
        self.latency_ms = latency_ms
        self.fail_rate = fail_rate
        self._limiter = _RateLimiter(rate_limit_per_min)
        self._stats = _Stats()
        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self._fail_rng = random.Random(f"{state.seed}:fail-rate")

    @property
    def rate_limit_per_min(self) -> int:
        return self._limiter.limit

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
        required = _ROUTE_ONLY.get(fault)
        if required and route not in (None, required):
            raise ValueError(f"the {fault} fault only applies to {required}")
        if fault == "status" and "status" not in params:
            raise ValueError("the status fault needs status=<code>")
        if count < 1:
            raise ValueError("count must be >= 1")
        queued = Fault(fault, int(count), route, dict(params))
        with self._faults_lock:
            self._faults.append(queued)
        return queued

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults = []

    def pending_faults(self) -> list[dict[str, Any]]:
        with self._faults_lock:
            return [f.as_dict() for f in self._faults]

    def _take_fault(self, route_key: str) -> Fault | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.matches(route_key):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return Fault(fault.kind, 1, fault.route, dict(fault.params))
        return None

    # ------------------------------------------------------------------ WSGI entry point

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.handle(environ)
        if response.action == "disconnect":
            _drop_connection(environ)
            raise _Disconnect
        headers = [*response.headers]
        length = response.declared_length or len(response.body)
        headers.append(("Content-Length", str(length)))
        start_response(f"{response.status} {_reason(response.status)}", headers)
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
            response = _error(429)
            response.headers.append(("Retry-After", str(max(1, reset - int(time.time())))))
        else:
            response = self._faulted_or_normal(match, environ, reset)
        response.headers[:0] = [
            h for h in rate_headers if h[0] not in {k for k, _ in response.headers}
        ]
        response.headers.append(("Cache-Control", "no-store"))
        return response

    def _faulted_or_normal(self, match: _Match, environ: dict[str, Any], reset: int) -> Response:
        if self.fail_rate > 0:
            with self._faults_lock:
                failed = self._fail_rng.random() < self.fail_rate
            if failed:
                self._stats.count_fault()
                return _error(503)
        fault = self._take_fault(match.key)
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
                return _html_error(status)
            return _error(status, _not_found_message(match.key) if status == 404 else None)
        if fault.kind == "rate_limit":
            response = _error(429)
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
            return Response(200, b"not json at all", [("Content-Type", _JSON)])
        response = self._dispatch(match, environ, fault)
        if fault.kind == "truncated":
            full = len(response.body)
            response.body = response.body[: full // 2]
            if params.get("short_read"):
                response.action, response.declared_length = "short_read", full
        return response

    def _dispatch(self, match: _Match, environ: dict[str, Any], fault: Fault | None) -> Response:
        org = self.state.org_for_token(_bearer(environ))
        if org is None:
            return _error(401)
        if match.handler is None:
            if match.allowed:
                response = _error(405)
                response.headers.append(("Allow", ", ".join(match.allowed)))
                return response
            return _error(404)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        handler: Callable[..., Response] = getattr(self, f"_v1_{match.handler}")
        try:
            return handler(org["id"], match.arg, query, fault)
        except _BadQuery:
            return _error(400, "Invalid request", code="invalid_query")

    # ------------------------------------------------------------------ /v1 handlers

    def _v1_list_sessions(
        self, org_id: str, _arg: None, query: dict[str, list[str]], _fault: Fault | None
    ) -> Response:
        limit = max(1, min(100, _int_param(query, "limit", 20)))
        offset = max(0, _int_param(query, "offset", 0))
        items = self.state.list_sessions(
            org_id,
            assessment_id=_str_param(query, "assessmentId"),
            source_service=_str_param(query, "sourceService"),
        )
        return _json(
            200,
            {
                "sessions": items[offset : offset + limit],
                "total": len(items),
                "limit": limit,
                "offset": offset,
            },
        )

    def _v1_get_session(
        self, org_id: str, session_id: str, _query: dict[str, list[str]], _fault: Fault | None
    ) -> Response:
        session = self.state.session(org_id, session_id)
        if session is None:
            return _error(404, "Session not found")
        return _json(200, {"session": session})

    def _v1_delete_session(
        self, org_id: str, session_id: str, _query: dict[str, list[str]], fault: Fault | None
    ) -> Response:
        if not self.state.delete_session(org_id, session_id):
            return _error(404, "Session not found")
        if fault is not None and fault.kind == "delete_fails_after":
            return _error(503)  # deleted, but the client cannot know
        return _json(200, {"ok": True, "id": session_id})

    def _v1_timeline(
        self, org_id: str, session_id: str, query: dict[str, list[str]], fault: Fault | None
    ) -> Response:
        limit = max(1, min(2000, _int_param(query, "limit", 500)))
        try:
            page = self.state.timeline(
                org_id, session_id, limit=limit, after=_str_param(query, "after")
            )
        except InvalidCursor:
            return _error(400, "Invalid cursor", code="invalid_cursor")
        if page is None:
            return _error(404, "Session not found")
        events, has_more = page
        if fault is not None and fault.kind == "repeat_event" and events:
            events.insert(1, events[0])
        elif fault is not None and fault.kind == "skip_event" and len(events) >= 3:
            del events[len(events) // 2]
        return _json(200, {"events": events, "hasMore": has_more})

    def _v1_decisions(
        self, org_id: str, session_id: str, _query: dict[str, list[str]], _fault: Fault | None
    ) -> Response:
        decisions = self.state.decisions(org_id, session_id)
        if decisions is None:
            return _error(404, "Session not found")
        return _json(200, {"decisions": decisions})

    def _v1_list_assessments(
        self, org_id: str, _arg: None, _query: dict[str, list[str]], _fault: Fault | None
    ) -> Response:
        return _json(200, {"assessments": self.state.assessments_for(org_id)})

    def _v1_get_assessment(
        self, org_id: str, assessment_id: str, _query: dict[str, list[str]], _fault: Fault | None
    ) -> Response:
        assessment = self.state.assessment(org_id, assessment_id)
        if assessment is None:
            return _error(404, "Assessment not found")
        return _json(200, {"assessment": assessment})

    # ------------------------------------------------------------------ /_sandbox control routes

    def _control(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        route = f"{method} {path.rstrip('/')}"
        if route == "GET /_sandbox/stats":
            return _json(200, self.stats())
        if route == "POST /_sandbox/reset-stats":
            self.reset_stats()
            return _json(200, {"ok": True})
        if route == "GET /_sandbox/info":
            return _json(200, self.info())
        if route == "GET /_sandbox/faults":
            return _json(200, {"faults": self.pending_faults()})
        if route == "DELETE /_sandbox/faults":
            self.clear_faults()
            return _json(200, {"ok": True})
        if route == "POST /_sandbox/faults":
            return self._control_inject(environ)
        grow = re.fullmatch(r"POST /_sandbox/sessions/([^/]+)/grow", route)
        if grow:
            return self._control_grow(grow.group(1), environ)
        return _error(404)

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
            return _error(400, str(exc), code="invalid_fault")
        return _json(200, {"ok": True, "fault": fault.as_dict(), "pending": self.pending_faults()})

    def _control_grow(self, session_id: str, environ: dict[str, Any]) -> Response:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            count = self.state.grow(session_id, _int_param(query, "n", 10))
        except KeyError:
            return _error(404, "Session not found")
        except (ValueError, _BadQuery) as exc:
            return _error(409, str(exc) or "Invalid request", code="cannot_grow")
        return _json(200, {"ok": True, "id": session_id, "eventCount": count})

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
            "latencyMs": self.latency_ms,
            "rateLimitPerMin": self._limiter.limit,
            "failRate": self.fail_rate,
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
    live_anchor: datetime | None = None,
) -> SandboxApp:
    """A WSGI app over ``state`` (or a fresh SandboxState for ``seed``)."""
    if state is None:
        state = SandboxState(seed, live_anchor=live_anchor)
    return SandboxApp(
        state, latency_ms=latency_ms, rate_limit_per_min=rate_limit_per_min, fail_rate=fail_rate
    )


# ------------------------------------------------------------------------------------------------
# HTTP server
# ------------------------------------------------------------------------------------------------


class _QuietServerHandler(ServerHandler):
    """wsgiref's handler, taught that a _Disconnect means "send nothing at all"."""

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], _Disconnect):
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    """One request per connection (as wsgiref does), quiet unless the server is verbose."""

    server: _ThreadingWSGIServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["sandbox.socket"] = self.connection
        return environ

    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _QuietServerHandler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per request, so slow or delayed requests never block the others."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    verbose = False

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall for seconds on hosts with slow
        # reverse DNS; the sandbox only needs the numeric address.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)


class SandboxServer:
    """The sandbox API on ``127.0.0.1`` in a background thread (or in the foreground).

    ``port=0`` picks a free port; ``rate_limit_per_min=0`` disables rate limiting (the headers are
    still sent). ``fail_rate`` answers that share of /v1 requests with a random 503.
    ``live_anchor`` fixes the "now" of running sessions for fully reproducible output.
    """

    def __init__(
        self,
        port: int = 0,
        seed: int = 1,
        latency_ms: int = 0,
        rate_limit_per_min: int = 0,
        *,
        fail_rate: float = 0.0,
        verbose: bool = False,
        state: SandboxState | None = None,
        live_anchor: datetime | None = None,
    ) -> None:
        self.app = make_app(
            state,
            seed=seed,
            latency_ms=latency_ms,
            rate_limit_per_min=rate_limit_per_min,
            fail_rate=fail_rate,
            live_anchor=live_anchor,
        )
        self._port = port
        self._verbose = verbose
        self._httpd: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def state(self) -> SandboxState:
        return self.app.state

    @property
    def port(self) -> int:
        return self._bind().server_port

    @property
    def url(self) -> str:
        """The API origin, e.g. ``http://127.0.0.1:8765`` (paths are ``/v1/...``)."""
        return f"http://{HOST}:{self.port}"

    def _bind(self) -> _ThreadingWSGIServer:
        if self._httpd is None:
            httpd = _ThreadingWSGIServer((HOST, self._port), _RequestHandler)
            httpd.verbose = self._verbose
            httpd.set_app(self.app)
            self._httpd = httpd
        return self._httpd

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self so ``SandboxServer().start()`` chains."""
        if self._thread is None:
            httpd = self._bind()
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-api-{httpd.server_port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (in-flight delayed requests are abandoned)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        if thread is not None:
            httpd.shutdown()
            thread.join(timeout=5)
        httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for the CLI)."""
        httpd = self._bind()
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd = None
            httpd.server_close()

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    def reset_stats(self) -> None:
        self.app.reset_stats()

    def inject(
        self, fault: str, *, count: int = 1, route: str | None = None, **params: Any
    ) -> Fault:
        """Queue a fault; see the module docstring and :data:`FAULTS`."""
        return self.app.inject(fault, count=count, route=route, **params)

    def clear_faults(self) -> None:
        self.app.clear_faults()


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Serve the sandbox Promptster reviewer API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1, help="data seed (same seed, same data)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay for every /v1 response")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_LIMIT,
        help="requests per minute per client IP; 0 disables limiting",
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        help="share of /v1 requests answered with a random 503 (0..1)",
    )
    parser.add_argument(
        "--live-anchor",
        type=datetime.fromisoformat,
        default=None,
        help="ISO time running sessions were last active around (default: now)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox API in the foreground until Ctrl-C."""
    args = _parse_args(argv)
    server = SandboxServer(
        args.port,
        args.seed,
        args.latency_ms,
        args.rate_limit,
        fail_rate=args.fail_rate,
        verbose=args.verbose,
        live_anchor=args.live_anchor,
    )
    print(f"Sandbox API on {server.url}", flush=True)
    for org in server.state.orgs:
        print(f"  {org['name']} ({org['id']}): Authorization: Bearer {org['token']}", flush=True)
    print(f"  revoked token (always 401): {REVOKED_TOKEN}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
