"""The benchmark's own databases: a fresh SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.procs import BenchError

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB_NAME = os.environ.get("BENCH_PG_DB", "reviewer_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
KINDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Database:
    """One set-up the product runs on: `sqlite` is the embedded one `make demo` uses (no
    DATABASE_URL, no REDIS_URL: SQLite, the file cache, Celery on the filesystem), and
    `postgresql` the production shape (PostgreSQL and Redis)."""

    url: str
    engine: str  # "postgresql 15.4" or "sqlite 3.45.1"
    redis_url: str = ""  # "" for the embedded set-up
    note: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.engine.startswith("postgresql")

    @property
    def label(self) -> str:
        return "PG" if self.is_postgres else "SQLite"


def _admin_connect() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def _drop_sql() -> sql.Composed:
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(PG_DB_NAME))


def create(kind: str, tmp: Path) -> Database:
    """A fresh database of `kind`; raises BenchError if PostgreSQL cannot be used."""
    if kind == "sqlite":
        path = tmp / "bench.sqlite3"
        version = sqlite3.sqlite_version
        return Database(url=f"sqlite:///{path}", engine=f"sqlite {version}")
    try:
        with _admin_connect() as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]
            conn.execute(_drop_sql())
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DB_NAME)))
            user = conn.info.user
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"PostgreSQL unreachable ({reason})") from None
    return Database(
        url=f"postgres://{user}@127.0.0.1:5432/{PG_DB_NAME}",
        engine=f"postgresql {version}",
        redis_url=REDIS_URL,
    )


def drop(database: Database) -> None:
    """Drop the benchmark database (SQLite files go with the temporary directory)."""
    if not database.is_postgres:
        return
    try:
        with _admin_connect() as conn:
            conn.execute(_drop_sql())
    except psycopg.Error as exc:
        print(f"warning: could not drop {PG_DB_NAME}: {exc}")


SYNC_QUERY = (
    "SELECT state, events_stored, started_at, finished_at FROM reviewer_timelinesync "
    "WHERE session_id = {p}"
)


PENDING_QUERY = (
    "SELECT count(*) FROM reviewer_eventtext t JOIN reviewer_timelinesync s ON t.sync_id = s.id "
    "WHERE s.session_id = {p} AND NOT t.indexed"
)


@dataclass(frozen=True)
class SyncRow:
    state: str
    events_stored: int
    worker_seconds: float | None


class SyncReader:
    """Reads a session's prefetch state straight from the database (cheap enough to poll)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        if database.is_postgres:
            self._conn: Any = psycopg.connect(database.url, autocommit=True, connect_timeout=3)
            self._query = SYNC_QUERY.format(p="%s")
        else:
            self._conn = sqlite3.connect(database.url.removeprefix("sqlite:///"), timeout=30)
            self._query = SYNC_QUERY.format(p="?")

    def read(self, session_id: str) -> SyncRow | None:
        row = self._conn.execute(self._query, (session_id,)).fetchone()
        if self.database.is_postgres is False:
            self._conn.commit()  # end the read transaction so the next poll sees new rows
        if row is None:
            return None
        state, stored, started, finished = row
        seconds = None
        if started and finished:
            seconds = (_as_datetime(finished) - _as_datetime(started)).total_seconds()
        return SyncRow(str(state), int(stored), seconds)

    def pending_index(self, session_id: str) -> int:
        """Stored events of the session not in the text index yet."""
        p = "%s" if self.database.is_postgres else "?"
        row = self._conn.execute(PENDING_QUERY.format(p=p), (session_id,)).fetchone()
        if not self.database.is_postgres:
            self._conn.commit()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
