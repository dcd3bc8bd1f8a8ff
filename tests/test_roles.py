"""Every role against every action: viewer reads; reviewer also shares; admin also deletes
and manages. Denials are 403 pages; another organization's ids are 404."""

from __future__ import annotations

import pytest
from django.test import Client

from reviewer import prefetch
from reviewer.models import ShareLink
from tests.conftest import ACME

READ = "read"
SHARE = "share"
ADMIN = "admin"

# (name, method, path template, data, what it needs)
ACTIONS = [
    ("list", "get", "/sessions/", {}, READ),
    ("detail", "get", "/sessions/{sid}/", {}, READ),
    ("timeline", "get", "/sessions/{sid}/timeline/", {}, READ),
    ("attribution", "get", "/sessions/{sid}/attribution/", {}, READ),
    ("export", "get", "/sessions/{sid}/export.ndjson", {}, READ),
    ("share links", "get", "/sessions/{sid}/share/", {}, READ),
    ("create share", "post", "/sessions/{sid}/share/", {"expires_in_hours": 2}, SHARE),
    ("revoke share", "post", "/sessions/{sid}/share/{link}/revoke/", {}, SHARE),
    ("delete page", "get", "/sessions/{sid}/delete/", {}, ADMIN),
    ("delete", "post", "/sessions/{sid}/delete/", {"confirm": "{short}"}, ADMIN),
    ("settings", "get", "/org/settings/", {}, ADMIN),
    (
        "replace token",
        "post",
        "/org/settings/",
        {"action": "token", "token": "psk_x_12345678"},
        ADMIN,
    ),
    ("audit", "get", "/audit/", {}, ADMIN),
]
RANK = {"viewer": 0, "reviewer": 1, "admin": 2}
NEEDS = {READ: 0, SHARE: 1, ADMIN: 2}


@pytest.fixture
def target(org_a, alice, sandbox) -> dict:
    """A session of A's own for this test (the admin's delete really deletes it upstream)."""
    sid = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-04T09:00:00Z", "endedAt": "2026-11-04T09:40:00Z"},
        [{"kind": "prompt", "ts": "2026-11-04T09:00:00Z", "data": {"text": "Add a cache"}}],
    )
    prefetch.prefetch(org_a, sid)
    link, _ = ShareLink.create(org=org_a, session_id=sid, user=alice, hours=5)
    return {"sid": sid, "short": sid[:8], "link": link.pk}


def _call(client: Client, method: str, path: str, data: dict, target: dict):
    path = path.format(**target)
    data = {k: v.format(**target) if isinstance(v, str) else v for k, v in data.items()}
    return getattr(client, method)(path, data)


@pytest.mark.parametrize("role", ["viewer", "reviewer", "admin"])
@pytest.mark.parametrize(("name", "method", "path", "data", "needs"), ACTIONS)
def test_role_matrix(
    role, name, method, path, data, needs, target, as_alice, as_bob, as_carol, sandbox
):
    client = {"viewer": as_carol, "reviewer": as_bob, "admin": as_alice}[role]
    response = _call(client, method, path, data, target)
    if RANK[role] >= NEEDS[needs]:
        assert response.status_code in (200, 302), (role, name, response.status_code)
    else:
        assert response.status_code == 403, (role, name, response.status_code)
        assert b"permission" in response.content


SESSION_ACTIONS = [action for action in ACTIONS if "{sid}" in action[2]]


@pytest.mark.parametrize(("name", "method", "path", "data", "needs"), SESSION_ACTIONS)
def test_outsiders_get_404_for_everything_of_another_organization(
    name, method, path, data, needs, target, as_charlie
):
    assert _call(as_charlie, method, path, data, target).status_code == 404, name


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/sessions/{sid}/share/", {"expires_in_hours": 2}),
        ("/sessions/{sid}/share/{link}/revoke/", {}),
        ("/org/settings/", {"action": "token", "token": "psk_x_12345678"}),
    ],
)
def test_posts_without_csrf_are_refused(alice, target, path, data) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert _call(client, "post", path, data, target).status_code == 403
    assert ShareLink.objects.filter(revoked_at__isnull=True).count() == 1


def test_settings_show_one_token_field(as_alice) -> None:
    """Origin and token are set in one form: one password field, which shows no token."""
    html = as_alice.get("/org/settings/").content.decode()
    assert html.count('type="password" autocomplete="new-password" aria-describedby') == 1
    assert html.count('name="token"') == 1
