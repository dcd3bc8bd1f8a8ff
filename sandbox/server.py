"""The sandbox Promptster reviewer API over HTTP: a threaded server on 127.0.0.1, and a CLI.

:class:`SandboxServer` serves :class:`sandbox.app.SandboxApp` in a background thread (tests,
benchmarks) or in the foreground (``python -m sandbox``). The WSGI server is wsgiref's, with a
thread per request and a handler that can drop a connection without answering (the
``disconnect`` fault).

Standard library only, so it runs anywhere the project's Python does and never touches Django.
"""

from __future__ import annotations

import argparse
import contextlib
import socketserver
import sys
import threading
from datetime import datetime
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from sandbox.app import SESSION_SHAPES, Disconnect, make_app
from sandbox.data import REVOKED_TOKEN, SandboxState
from sandbox.faults import DEFAULT_RATE_LIMIT, Fault

HOST = "127.0.0.1"
"""The sandbox only ever listens on loopback."""


# ------------------------------------------------------------------------------------------------
# HTTP server
# ------------------------------------------------------------------------------------------------


class _QuietServerHandler(ServerHandler):
    """wsgiref's handler, taught that a Disconnect means "send nothing at all"."""

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], Disconnect):
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
    ``session_shape`` is how session objects are sent (see :data:`sandbox.app.SESSION_SHAPES`;
    it can also be changed while serving). ``live_anchor`` fixes the "now" of running sessions
    for fully reproducible output.
    """

    def __init__(
        self,
        port: int = 0,
        seed: int = 1,
        latency_ms: int = 0,
        rate_limit_per_min: int = 0,
        *,
        fail_rate: float = 0.0,
        session_shape: str = "wrapped",
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
            session_shape=session_shape,
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
    def session_shape(self) -> str:
        """How session objects are sent: "wrapped" (documented), "bare" or "wrapped_items"."""
        return self.app.session_shape

    @session_shape.setter
    def session_shape(self, shape: str) -> None:
        self.app.session_shape = shape

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
        "--session-shape",
        choices=SESSION_SHAPES,
        default="wrapped",
        help="GET /v1/sessions/:id as {session: ...} (wrapped, documented) or the bare object; "
        "wrapped_items also wraps the items of GET /v1/sessions",
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
        session_shape=args.session_shape,
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
