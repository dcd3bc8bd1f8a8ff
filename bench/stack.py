"""Bring up the whole product for a benchmark run: sandbox API, database, web server, worker."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests

from bench import db, store
from bench.http import ACCESS_LOG_FORMAT, AccessLog, Site
from bench.procs import HOST, ROOT, BenchError, Proc, Stack, free_port, wait_http, wait_log

ORG = "acme"
ORG_TOKEN = "psk_live_sandbox_acme"  # the sandbox's token for its "Acme Corp" organization
USERNAME = "bench"
PURGE_ATTEMPTS = 5
SANDBOX_LATENCY_MS = 100  # per upstream response, as a real API across a network
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
_SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


@dataclass
class Running:
    """Everything a figure needs to reach the running product."""

    stack: Stack
    database: db.Database
    site: Site
    web_url: str
    api_url: str
    big_session_id: str
    worker: Proc
    redis: redis.Redis | None  # None in the embedded set-up (file cache, filesystem broker)
    tmp: Path
    helper: Helper
    purge_retries: int = 0  # purges that met a page being written (see purge_store)

    # --- the sandbox API ------------------------------------------------------------------

    def upstream_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ORG_TOKEN}", "Accept": "application/json"}

    def reset_upstream_stats(self) -> None:
        requests.post(self.api_url + "/_sandbox/reset-stats", timeout=5).raise_for_status()

    def upstream_stats(self) -> dict[str, Any]:
        response = requests.get(self.api_url + "/_sandbox/stats", timeout=5)
        response.raise_for_status()
        return dict(response.json())

    # --- the cache and the store --------------------------------------------------------------

    def flush_cache(self) -> int:
        """Delete the product's cache entries only (on Redis the Celery broker shares the
        database): the next view asks upstream again."""
        return int(self.helper.call("flush"))

    def forget_rendered(self, session_id: str) -> None:
        """Make everything rendered or derived from the session's store unreachable (chunks,
        counts, turns, map, summaries), with the product's own `fragments.forget_session`,
        so the next view computes it again from the store: the cold path."""
        self.helper.call("forget", ORG, _checked(session_id))

    def purge_store(self, session_id: str) -> int:
        """Empty a session's local store through Django; returns the events removed.

        On PostgreSQL a purge that meets a worker writing a page of the same session can
        fail on the events' foreign key (the page committed between the purge's deletes);
        the worker stops at its next page, so the purge is tried again."""
        for attempt in range(PURGE_ATTEMPTS):
            try:
                return int(self.helper.call("purge", ORG, _checked(session_id)))
            except BenchError as exc:
                if "IntegrityError" not in str(exc) or attempt == PURGE_ATTEMPTS - 1:
                    raise
                self.purge_retries += 1
                time.sleep(0.5)
        raise AssertionError("unreachable")


def _checked(session_id: str) -> str:
    if not _SESSION_ID_RE.match(session_id):
        raise BenchError(f"not a session id: {session_id!r}")
    return session_id


class Helper:
    """`bench.store.serve()` in a `manage.py shell` of the stack: one JSON line per call."""

    def __init__(self, stack: Stack) -> None:
        log = stack.logs / "helper.log"
        with log.open("ab") as err:
            popen = subprocess.Popen(
                manage(*store.COMMAND),
                cwd=ROOT,
                env=stack.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        self.proc = Proc("helper", popen, log)  # type: ignore[arg-type]
        stack.procs.append(self.proc)

    def call(self, name: str, *args: object) -> object:
        popen = self.proc.popen
        assert popen.stdin is not None and popen.stdout is not None
        try:
            popen.stdin.write(json.dumps({"do": name, "args": list(args)}) + "\n")
            popen.stdin.flush()
            while True:
                line = popen.stdout.readline()
                if not line:
                    raise BenchError(f"the bench helper stopped:\n{self.proc.tail()}")
                if line.startswith(store.MARKER):
                    break
        except BrokenPipeError:
            raise BenchError(f"the bench helper stopped:\n{self.proc.tail()}") from None
        answer = json.loads(line[len(store.MARKER) :])
        if "error" in answer:
            raise BenchError(f"bench helper {name}{args!r}: {answer['error']}")
        return answer["ok"]


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def _environment(tmp: Path, database: db.Database) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    if database.redis_url:
        env["REDIS_URL"] = database.redis_url
    env.update(
        {
            "REVIEWER_VAR_DIR": str(tmp / "var"),
            # The embedded set-up's SQLite, in the run's own directory (the default path is
            # the checkout's db.sqlite3); no REDIS_URL there: file cache, filesystem broker.
            "DATABASE_URL": database.url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "reviewer.settings",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _start_sandbox(stack: Stack) -> tuple[str, str]:
    port = free_port()
    proc = stack.start(
        "sandbox",
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(port),
            "--seed",
            "1",
            "--latency-ms",
            str(SANDBOX_LATENCY_MS),
            "--rate-limit",
            "0",
        ],
    )
    url = f"http://{HOST}:{port}"
    wait_http(proc, url + "/_sandbox/info", timeout=60)
    info = requests.get(url + "/_sandbox/info", timeout=10).json()
    big = info.get("bigSessionId")
    if not isinstance(big, str) or not _SESSION_ID_RE.match(big):
        raise BenchError(f"the sandbox's /_sandbox/info has no bigSessionId: {info!r}")
    return url, big


def _prepare_database(stack: Stack, api_url: str, password: str) -> None:
    stack.run("migrate", manage("migrate", "--noinput"), timeout=180)
    stack.run(
        "add_org",
        manage("add_org", ORG, "--name", "Acme", "--api-url", api_url, "--token", ORG_TOKEN),
    )
    stack.run(
        "add_member",
        manage("add_member", USERNAME, "--org", ORG, "--role", "admin", "--password", password),
    )


def _start_web(stack: Stack, tmp: Path) -> tuple[str, AccessLog]:
    port = free_port()
    access_log = tmp / "logs" / "access.log"
    proc = stack.start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "reviewer.wsgi",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(GUNICORN_WORKERS),
            "--threads",
            str(GUNICORN_THREADS),
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            ACCESS_LOG_FORMAT,
            "--log-level",
            "warning",
        ],
    )
    url = f"http://{HOST}:{port}"
    wait_http(proc, url + "/accounts/login/", timeout=60)
    return url, AccessLog(access_log)


def _start_worker(stack: Stack) -> Proc:
    proc = stack.start(
        "celery-worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reviewer",
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"bench-{secrets.token_hex(3)}@%h",
        ],
    )
    wait_log(proc, " ready.", timeout=90)
    return proc


def start(stack: Stack, tmp: Path, database: db.Database) -> Running:
    """Start every process and log in; `stack.stop()` undoes it (the caller's `finally`)."""
    cache = None
    if database.redis_url:
        cache = redis.Redis.from_url(database.redis_url, socket_timeout=5)
        try:
            cache.flushdb()  # this database belongs to the benchmark
        except redis.RedisError as exc:
            raise BenchError(f"Redis at {database.redis_url} is not usable: {exc}") from None
    api_url, big = _start_sandbox(stack)
    password = secrets.token_urlsafe(12)
    _prepare_database(stack, api_url, password)
    web_url, access_log = _start_web(stack, tmp)
    worker = _start_worker(stack)
    helper = Helper(stack)
    site = Site(web_url, access_log)
    site.login(USERNAME, password)
    return Running(stack, database, site, web_url, api_url, big, worker, cache, tmp, helper)


def clear_redis(database: db.Database) -> None:
    """Leave the Redis database empty, as a run found it (cache entries and broker keys)."""
    if not database.redis_url:
        return
    try:
        redis.Redis.from_url(database.redis_url, socket_timeout=5).flushdb()
    except redis.RedisError as exc:
        print(f"warning: could not flush {database.redis_url}: {exc}")


def new_stack(tmp: Path, database: db.Database) -> Stack:
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (tmp / "var").mkdir(parents=True, exist_ok=True)
    return Stack(logs, _environment(tmp, database))
