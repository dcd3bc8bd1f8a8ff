"""The fixed cast and the real components every test runs against.

Org A ("acme") has alice (admin), bob (reviewer) and carol (viewer); org B ("globex") has
charlie, who must never see anything of A's. Upstream is the bundled sandbox API over real
HTTP; the cache is a real Redis database (flushed before each test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from reviewer import cachebackend
from reviewer.models import Membership, Organization, Role
from sandbox.data import ORGS
from sandbox.server import SandboxServer
from tests.listeners import listener  # noqa: F401 - a fixture for every test module

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ACME = next(o for o in ORGS if o["slug"] == "acme")
GLOBEX = next(o for o in ORGS if o["slug"] == "globex")


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = SandboxServer(port=0, seed=1, latency_ms=0, rate_limit_per_min=0).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The sandbox with clean stats, no faults and documented session objects (its data
    persists across tests)."""
    sandbox_server.clear_faults()
    sandbox_server.reset_stats()
    sandbox_server.session_shape = "wrapped"
    yield sandbox_server
    sandbox_server.clear_faults()
    sandbox_server.session_shape = "wrapped"


@pytest.fixture(autouse=True)
def _flush_redis() -> Iterator[None]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    cachebackend.reset_all()  # no outage a previous test played carries over
    yield
    client.close()


@pytest.fixture
def org_a(db: None, sandbox: SandboxServer) -> Organization:
    # Trusted as add_org makes it: the sandbox is an operator's origin on 127.0.0.1.
    org = Organization(name=ACME["name"], slug="acme", api_url=sandbox.url, origin_trusted=True)
    org.set_token(ACME["token"])
    org.save()
    return org


@pytest.fixture
def org_b(db: None, sandbox: SandboxServer) -> Organization:
    org = Organization(name=GLOBEX["name"], slug="globex", api_url=sandbox.url, origin_trusted=True)
    org.set_token(GLOBEX["token"])
    org.save()
    return org


def _member(username: str, org: Organization, role: Role) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    Membership.objects.create(user=user, organization=org, role=role)
    return user


@pytest.fixture
def alice(org_a: Organization) -> User:
    return _member("alice", org_a, Role.ADMIN)


@pytest.fixture
def bob(org_a: Organization) -> User:
    return _member("bob", org_a, Role.REVIEWER)


@pytest.fixture
def carol(org_a: Organization) -> User:
    return _member("carol", org_a, Role.VIEWER)


@pytest.fixture
def charlie(org_b: Organization) -> User:
    return _member("charlie", org_b, Role.ADMIN)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_alice(alice: User) -> Client:
    return _client_for(alice)


@pytest.fixture
def as_bob(bob: User) -> Client:
    return _client_for(bob)


@pytest.fixture
def as_carol(carol: User) -> Client:
    return _client_for(carol)


@pytest.fixture
def as_charlie(charlie: User) -> Client:
    return _client_for(charlie)


@pytest.fixture
def acme_sessions(sandbox: SandboxServer) -> list[dict]:
    return sandbox.state.sessions_for(ACME["id"])


class _ActiveContentFinder(HTMLParser):
    """Collects every place where markup could run code or leave the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script",) and not any(
            k == "src" and (v or "").startswith("/static/") for k, v in attrs
        ):
            self.found.append(f"<{tag}> without a static src")
        if tag in ("iframe", "object", "embed", "base", "meta", "style") and tag != "meta":
            self.found.append(f"<{tag}>")
        if tag == "meta" and any(k == "http-equiv" for k, _ in attrs):
            self.found.append("<meta http-equiv>")
        for name, value in attrs:
            lowered = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src", "action", "formaction") and lowered.startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                self.found.append(f"{tag}[{name}={lowered[:30]}]")
            if name.startswith("hx-") and tag not in _OUR_HTMX_TAGS:
                self.found.append(f"{tag}[{name}]")


_OUR_HTMX_TAGS = {"a", "form", "div", "li", "body", "button"}


def active_content(html: str) -> list[str]:
    """Everything in a page that could execute; candidate content must contribute nothing."""
    finder = _ActiveContentFinder()
    finder.feed(html)
    return finder.found
