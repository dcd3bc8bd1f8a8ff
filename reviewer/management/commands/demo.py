"""`demo`: migrate, seed a demo organization and user, and run the whole product locally.

Starts the sandbox API (``python -m sandbox`` in the project's top folder), the web server
(gunicorn) and a Celery worker with beat, all on the embedded defaults unless
REDIS_URL/DATABASE_URL say otherwise. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

DEMO_TOKEN = "psk_live_sandbox_acme"  # the sandbox's token for its "Acme Corp" organization


class Command(BaseCommand):
    help = "Run the whole product locally on generated data (what `make demo` runs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--api-port", type=int, default=8765)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **opts: Any) -> None:
        if not (settings.BASE_DIR / "sandbox" / "__main__.py").is_file():
            # The sandbox sits beside the product in a checkout; an installed wheel has none.
            raise CommandError("The demo needs the sandbox API: run it from a source checkout.")
        call_command("migrate", verbosity=0)
        api_url = f"http://127.0.0.1:{opts['api_port']}"
        password = _demo_password()
        call_command(
            "add_org",
            "acme",
            name="Acme Corp (demo)",
            api_url=api_url,
            token=DEMO_TOKEN,
            stdout=open(os.devnull, "w"),  # noqa: SIM115
        )
        call_command(
            "add_member",
            "demo",
            org="acme",
            role="admin",
            password=password,
            stdout=open(os.devnull, "w"),  # noqa: SIM115
        )
        python = sys.executable
        processes = [
            _start(
                [
                    python,
                    "-m",
                    "sandbox",
                    "--port",
                    str(opts["api_port"]),
                    "--seed",
                    str(opts["seed"]),
                ]
            ),
        ]
        _wait_for(api_url + "/_sandbox/info", "the sandbox API")
        processes.append(
            _start(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "reviewer",
                    "worker",
                    "--beat",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    "2",
                    "--schedule",
                    str(settings.VAR_DIR / "celerybeat-schedule"),
                ]
            )
        )
        processes.append(
            _start(
                [
                    python,
                    "-m",
                    "gunicorn",
                    "reviewer.wsgi",
                    "--bind",
                    f"127.0.0.1:{opts['port']}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--log-level",
                    "warning",
                ]
            )
        )
        # A plain `kill` stops the demo like Ctrl-C does, children included.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        url = f"http://127.0.0.1:{opts['port']}/"
        _wait_for(url + "accounts/login/", "the web server")
        self.stdout.write("")
        self.stdout.write(f"Open {url}")
        self.stdout.write(f"Log in as demo / {password}")
        self.stdout.write("Press Ctrl-C to stop the web server, the worker and the sandbox API.")
        self.stdout.flush()
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
            raise CommandError("A demo process stopped unexpectedly; see its output above.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            _stop(processes)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _demo_password() -> str:
    """One random password per checkout, kept in var/ so it stays the same across runs."""
    path = settings.VAR_DIR / "demo_password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(9)
    path.write_text(password)
    path.chmod(0o600)
    return password


def _start(cmd: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=settings.BASE_DIR, start_new_session=True)  # noqa: S603


def _wait_for(url: str, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise CommandError(f"{what} did not start within {timeout:.0f}s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    # Each leader shuts its own children down (Celery's warm shutdown, gunicorn's workers);
    # the whole group is killed only if that does not happen in time.
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
