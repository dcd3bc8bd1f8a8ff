"""The load mix of figure f, run by `locust --headless` (see bench/load.py).

Every simulated user shares the benchmark's logged-in session cookie (no per-user login, so
password hashing does not eat the measured window) and sends requests back to back.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, task

CONFIG: dict[str, Any] = json.loads(Path(os.environ["BENCH_LOCUST_CONFIG"]).read_text())


class Reviewer(FastHttpUser):
    wait_time = constant(0)

    def _get(self, path: str, name: str, *, htmx: bool = False) -> None:
        headers = {"Cookie": CONFIG["cookie"]}
        if htmx:
            headers["HX-Request"] = "true"
        with self.client.get(
            path, headers=headers, name=name, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    def _small(self) -> str:
        return str(random.choice(CONFIG["sessions"]))

    @task(3)
    def session_list(self) -> None:
        self._get("/sessions/", "list")

    @task(1)
    def session_list_page_2(self) -> None:
        self._get("/sessions/?offset=20", "list page 2")

    @task(2)
    def detail(self) -> None:
        self._get(f"/sessions/{self._small()}/", "detail")

    @task(1)
    def detail_big(self) -> None:
        self._get(f"/sessions/{CONFIG['big']}/", "detail (100k)")

    @task(2)
    def chunk(self) -> None:
        self._get(f"/sessions/{self._small()}/timeline/", "timeline chunk", htmx=True)

    @task(1)
    def chunk_big(self) -> None:
        self._get(f"/sessions/{CONFIG['big']}/timeline/", "timeline chunk (100k)", htmx=True)

    @task(1)
    def chunk_big_deep(self) -> None:
        path = f"/sessions/{CONFIG['big']}/timeline/?after={CONFIG['deep']}"
        self._get(path, "timeline deep chunk (100k)", htmx=True)

    @task(1)
    def chunk_big_kind(self) -> None:
        path = f"/sessions/{CONFIG['big']}/timeline/?kind=command"
        self._get(path, "timeline kind filter (100k)", htmx=True)

    @task(1)
    def chunk_big_search(self) -> None:
        path = f"/sessions/{CONFIG['big']}/timeline/?q={CONFIG['word']}"
        self._get(path, "timeline search (100k)", htmx=True)

    @task(2)
    def attribution(self) -> None:
        self._get(f"/sessions/{self._small()}/attribution/", "attribution")

    @task(1)
    def attribution_big(self) -> None:
        self._get(f"/sessions/{CONFIG['big']}/attribution/", "attribution (100k)")
