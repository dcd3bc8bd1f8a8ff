"""The benchmark's HTTP client: a logged-in session and per-request timings.

Each request carries an `X-Bench-Id` header, which gunicorn writes to its access log together
with its own request time (`%(D)s`, microseconds). That server-side figure excludes the client
and the loopback socket; the client's wall time is kept beside it.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.procs import BenchError

ACCESS_LOG_FORMAT = "%({x-bench-id}i)s %(s)s %(D)s"
_LINE_RE = re.compile(r"^(\S+) (\d{3}) (\d+)$")


@dataclass
class Sample:
    path: str
    status: int
    wall_ms: float
    bench_id: str
    server_ms: float | None = None
    body: str = ""

    @property
    def best_ms(self) -> float:
        """Server time when gunicorn logged it, else the client's wall time."""
        return self.server_ms if self.server_ms is not None else self.wall_ms


class AccessLog:
    """Reads gunicorn's access log written with ACCESS_LOG_FORMAT."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _times(self) -> dict[str, float]:
        found: dict[str, float] = {}
        try:
            lines = self.path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return found
        for line in lines:
            match = _LINE_RE.match(line.strip())
            if match and match.group(1) != "-":
                found[match.group(1)] = int(match.group(3)) / 1000
        return found

    def fill(self, samples: list[Sample], *, wait: float = 2.0) -> None:
        """Set `server_ms` on every sample gunicorn logged (lines land just after responses)."""
        deadline = time.monotonic() + wait
        while True:
            times = self._times()
            for sample in samples:
                sample.server_ms = times.get(sample.bench_id, sample.server_ms)
            if all(s.server_ms is not None for s in samples) or time.monotonic() > deadline:
                return
            time.sleep(0.05)


class Site:
    """One logged-in browser-like client of the product."""

    def __init__(self, base_url: str, access_log: AccessLog | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_log = access_log
        self.http = requests.Session()
        self._ids = itertools.count()
        self._prefix = secrets.token_hex(3)

    def login(self, username: str, password: str) -> None:
        """GET the form for the CSRF cookie, POST the credentials, keep the session cookie."""
        url = self.base_url + "/accounts/login/"
        self.http.get(url, timeout=10).raise_for_status()
        token = self.http.cookies.get("csrftoken", "")
        response = self.http.post(
            url,
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": url},
            allow_redirects=False,
            timeout=30,
        )
        if response.status_code != 302 or "sessionid" not in self.http.cookies:
            raise BenchError(f"login as {username} failed: HTTP {response.status_code}")

    @property
    def cookies(self) -> dict[str, str]:
        return {c.name: c.value for c in self.http.cookies}

    def clone(self) -> Site:
        """Another client with the same login (for concurrent requests)."""
        other = Site(self.base_url, self.access_log)
        other.http.cookies.update(self.cookies)
        return other

    def get(
        self, path: str, *, htmx: bool = False, keep_body: bool = False, timeout: float = 60.0
    ) -> Sample:
        bench_id = f"{self._prefix}-{next(self._ids)}"
        headers = {"X-Bench-Id": bench_id}
        if htmx:
            headers["HX-Request"] = "true"
        start = time.perf_counter()
        response = self.http.get(
            self.base_url + path,
            headers=headers,
            allow_redirects=False,
            timeout=timeout,
        )
        wall_ms = (time.perf_counter() - start) * 1000
        body = response.text if keep_body else ""
        return Sample(path, response.status_code, wall_ms, bench_id, body=body)

    def fill_server_times(self, samples: list[Sample]) -> None:
        if self.access_log is not None:
            self.access_log.fill(samples)


def expect_ok(sample: Sample, *allowed: int) -> Sample:
    if sample.status not in (allowed or (200,)):
        raise BenchError(f"GET {sample.path} answered HTTP {sample.status}")
    return sample
