"""Issue 13, share links and smaller items: tokens in logs, counting and auditing openings,
rate limits, Host headers, and decision tradeoffs, replayed as the review found them."""

from __future__ import annotations

import logging

import pytest
from django.template.loader import render_to_string
from django.test import Client

from reviewer.models import AuditEntry, ShareLink
from tests.test_delete_and_share import share


@pytest.fixture
def shared_id(org_a, acme_sessions) -> str:
    """One of A's sessions, to share."""
    return acme_sessions[0]["id"]


def _path(as_user: Client, session_id: str) -> tuple[str, str]:
    url = share(as_user, session_id).replace("http://testserver", "")
    return url, url.rstrip("/").rsplit("/", 1)[1]


def test_request_logs_name_the_link_never_its_token(as_bob, shared_id, caplog) -> None:
    caplog.set_level(logging.INFO)
    url, token = _path(as_bob, shared_id)
    link = ShareLink.objects.get()
    visitor = Client()
    visitor.get(url + "events/no-such-event/")  # a 404 under a live link
    visitor.get(url + "turns/no-such-turn/")
    ShareLink.objects.update(revoked_at=link.created_at)
    visitor.get(url)  # 410 for a revoked link
    Client().get("/shared/" + "x" * 43 + "/")  # an unknown token
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/shared/" in logged
    assert token not in logged
    assert "x" * 43 not in logged
    assert f"[link {link.pk}]" in logged


def test_many_anonymous_views_write_one_audit_row_per_link(as_bob, shared_id) -> None:
    url, _ = _path(as_bob, shared_id)
    visitor = Client()
    for _ in range(30):
        assert visitor.get(url).status_code == 200
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SHARE_VIEWED).count() == 1
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SHARE_VIEWED)
    assert entry.detail["views"] == 30
    assert ShareLink.objects.get().view_count == 30


def test_anonymous_traffic_is_rate_limited_per_link(as_bob, shared_id, settings) -> None:
    settings.SHARE_REQUESTS_PER_MINUTE = 5
    url, _ = _path(as_bob, shared_id)
    other, _ = _path(as_bob, shared_id)
    visitor = Client()
    statuses = [visitor.get(url + "timeline/").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3
    assert visitor.get(url).headers["Retry-After"] == "60"
    assert visitor.get(other).status_code == 200  # another link has its own allowance


def test_a_disallowed_host_is_a_quiet_400(db) -> None:
    for path in ("/accounts/login/", "/sessions/", "/shared/" + "y" * 43 + "/"):
        response = Client().get(path, HTTP_HOST="evil.example")
        assert response.status_code == 400  # was 500: the error page needed a signed-in user
    # Scanners send plenty of these: no traceback reaches the product's log handlers
    # (pytest attaches its own capturing handlers to every logger, hence the filter).
    logger = logging.getLogger("django.security.DisallowedHost")
    assert logger.propagate is False
    assert not [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]


def test_decision_tradeoffs_are_escaped_once() -> None:
    listed = render_to_string(
        "sessions/events/decision_event.html",
        {"event": {"data": {"tradeoffs": ["speed & size", "a < b"]}}},
    )
    assert "speed &amp; size; a &lt; b" in listed
    assert "&amp;amp;" not in listed and "&amp;lt;" not in listed
    single = render_to_string(
        "sessions/events/decision_event.html", {"event": {"data": {"tradeoffs": "x & y"}}}
    )
    assert "x &amp; y" in single and "&amp;amp;" not in single
