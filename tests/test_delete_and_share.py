"""Roles, the confirmed delete, share links and the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from reviewer import cache, prefetch
from reviewer.models import AuditEntry, ShareLink, StoredEvent
from tests.conftest import ACME

SHARE_URL = re.compile(r'value="(http://testserver/shared/[^"]+/)"')


@pytest.fixture
def victim(org_a, sandbox) -> str:
    """A session of A's made for deleting, stored locally and cached."""
    sid = sandbox.state.add_session(
        ACME["id"],
        {
            "sourceService": "claude-code",
            "startedAt": "2026-11-01T10:00:00Z",
            "endedAt": "2026-11-01T11:00:00Z",
            "metadata": {"candidateName": "Del Etable"},
        },
        [
            {
                "kind": "prompt",
                "ts": "2026-11-01T10:00:00Z",
                "data": {"text": "hello"},
                "provenance": {"attribution": "likely_human", "confidence": 0.8},
            },
            {
                "kind": "command",
                "ts": "2026-11-01T10:05:00Z",
                "data": {"command": "ls", "exitCode": 0},
            },
        ],
    )
    prefetch.prefetch(org_a, sid)
    return sid


def share(client: Client, sid: str, hours: int = 24) -> str:
    response = client.post(f"/sessions/{sid}/share/", {"expires_in_hours": hours, "note": "panel"})
    assert response.status_code == 200
    return SHARE_URL.search(response.content.decode()).group(1)


# --- roles ---------------------------------------------------------------------------------------


def test_viewer_cannot_share_or_delete(as_carol, victim) -> None:
    assert as_carol.post(f"/sessions/{victim}/share/", {"expires_in_hours": 1}).status_code == 403
    assert as_carol.get(f"/sessions/{victim}/delete/").status_code == 403
    response = as_carol.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
    assert response.status_code == 403
    assert StoredEvent.objects.count() == 2


def test_reviewer_can_share_but_not_delete(as_bob, victim) -> None:
    share(as_bob, victim)
    assert as_bob.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]}).status_code == 403


def test_only_admins_reach_settings_and_audit(as_bob, as_alice) -> None:
    assert as_bob.get("/org/settings/").status_code == 403
    assert as_bob.get("/audit/").status_code == 403
    assert as_alice.get("/org/settings/").status_code == 200
    assert as_alice.get("/audit/").status_code == 200


def test_session_page_shows_actions_by_role(as_alice, as_carol, victim) -> None:
    assertContains(as_alice.get(f"/sessions/{victim}/"), "Delete…")
    page = as_carol.get(f"/sessions/{victim}/")
    assertNotContains(page, "Delete…")
    assertNotContains(page, ">Share</a>")


# --- delete --------------------------------------------------------------------------------------


def test_delete_asks_for_the_first_eight_characters(as_alice, victim, sandbox) -> None:
    page = as_alice.get(f"/sessions/{victim}/delete/")
    assertContains(page, victim[:8])
    assertContains(page, "cannot be undone")
    response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:7]})
    assert response.status_code == 400
    assertContains(response, "does not match", status_code=400)
    assert "DELETE /v1/sessions/:id" not in sandbox.stats()["by_route"]


def test_delete_needs_csrf(alice, victim) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]}).status_code == 403
    assert StoredEvent.objects.count() == 2


def test_delete_removes_upstream_then_everything_local(as_alice, victim, sandbox, org_a) -> None:
    link = share(as_alice, victim)
    as_alice.get(f"/sessions/{victim}/")  # cached
    response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
    assert response.status_code == 302
    assert sandbox.stats()["by_route"]["DELETE /v1/sessions/:id"] == 1
    assert StoredEvent.objects.count() == 0
    assert not ShareLink.objects.filter(session_id=victim, revoked_at=None).exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SESSION_DELETED)
    assert entry.session_id == victim and entry.actor_name == "alice"
    assert entry.detail["event_count"] == 2 and entry.detail["upstream"] == "deleted"
    assert "hello" not in str(entry.detail)
    for url in (
        f"/sessions/{victim}/",
        f"/sessions/{victim}/timeline/",
        f"/sessions/{victim}/export.ndjson",
    ):
        assert as_alice.get(url).status_code in (404, 410), url
    assert Client().get(link.replace("http://testserver", "")).status_code == 410
    assert victim not in as_alice.get("/sessions/?limit=100").content.decode()


@pytest.mark.parametrize(
    ("fault", "params"), [("status", {"status": 500}), ("delay", {"seconds": 4})]
)
def test_failed_upstream_delete_deletes_nothing(as_alice, victim, sandbox, fault, params) -> None:
    sandbox.inject(fault, count=1, route="DELETE /v1/sessions/:id", **params)
    response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
    assert response.status_code == 502
    assertContains(response, "Nothing was deleted", status_code=502)
    assert StoredEvent.objects.count() == 2
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.SESSION_DELETED).exists()
    assert as_alice.get(f"/sessions/{victim}/").status_code == 200


def test_delete_whose_response_was_lost_is_confirmed_by_reading_again(
    as_alice, victim, sandbox
) -> None:
    sandbox.inject("delete_fails_after", count=1, route="DELETE /v1/sessions/:id")
    response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
    assert response.status_code == 302
    assert StoredEvent.objects.count() == 0


def test_upstream_404_counts_as_already_deleted(as_alice, victim, sandbox) -> None:
    as_alice.get(f"/sessions/{victim}/delete/")  # the session is cached now
    sandbox.state.delete_session(victim) if hasattr(sandbox.state, "delete_session") else None
    sandbox.inject("status", status=404, count=1, route="DELETE /v1/sessions/:id")
    response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SESSION_DELETED)
    assert entry.detail["upstream"] == "already_gone"
    assert StoredEvent.objects.count() == 0


def test_a_double_submit_deletes_once(as_alice, victim, sandbox) -> None:
    for _ in range(2):
        response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
        assert response.status_code == 302
    assert sandbox.stats()["by_route"]["DELETE /v1/sessions/:id"] == 1
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SESSION_DELETED).count() == 1


def test_outsider_cannot_delete_or_share_a_foreign_session(as_charlie, victim, sandbox) -> None:
    assert (
        as_charlie.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]}).status_code == 404
    )
    assert as_charlie.post(f"/sessions/{victim}/share/", {"expires_in_hours": 1}).status_code == 404
    assert "DELETE /v1/sessions/:id" not in sandbox.stats()["by_route"]


# --- share links ---------------------------------------------------------------------------------


def test_share_link_opens_a_read_only_view_without_login(as_bob, victim, org_a) -> None:
    url = share(as_bob, victim).replace("http://testserver", "")
    response = Client().get(url + "?view=events")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-event-id="' in body
    assert 'data-turn="' in Client().get(url).content.decode()  # turns are the default view
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    assert "/delete/" not in body and "/sessions/" not in body
    assert ACME["token"] not in body
    link = ShareLink.objects.get()
    assert link.view_count == 2 and link.views.count() == 2  # both openings count
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SHARE_VIEWED).count() == 1


def test_share_tokens_are_random_and_stored_hashed(as_bob, victim) -> None:
    url = share(as_bob, victim)
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, urlsafe base64
    assert not ShareLink.objects.filter(token_hash=token).exists()


def test_guessed_tokens_are_404(victim, db) -> None:
    for token in ("x" * 43, "a", "../../sessions", "%00"):
        assert Client().get(f"/shared/{token}/").status_code == 404


def test_expiry_bounds_are_enforced(as_bob, victim) -> None:
    for hours in (0, 721, "abc"):
        response = as_bob.post(f"/sessions/{victim}/share/", {"expires_in_hours": hours})
        assert response.status_code == 400
    assert not ShareLink.objects.exists()


def test_revoked_and_expired_links_answer_410_at_once(as_bob, victim) -> None:
    url = share(as_bob, victim).replace("http://testserver", "")
    link = ShareLink.objects.get()
    response = as_bob.post(f"/sessions/{victim}/share/{link.pk}/revoke/")
    assert response.status_code == 302
    assert Client().get(url).status_code == 410
    assert Client().get(url + "timeline/").status_code == 410

    url2 = share(as_bob, victim).replace("http://testserver", "")
    ShareLink.objects.filter(revoked_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get(url2).status_code == 410


def test_a_replaced_token_that_cannot_see_the_session_ends_its_links(as_bob, victim, org_a) -> None:
    from tests.conftest import GLOBEX

    url = share(as_bob, victim).replace("http://testserver", "")
    org_a.replace_token(GLOBEX["token"])
    assert Client().get(url).status_code == 410


def test_outsider_cannot_revoke_anothers_link(as_bob, as_charlie, victim) -> None:
    share(as_bob, victim)
    link = ShareLink.objects.get()
    assert as_charlie.post(f"/sessions/{victim}/share/{link.pk}/revoke/").status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


def test_the_audit_log_lists_events_newest_first_and_filters(as_alice, as_bob, victim) -> None:
    share(as_bob, victim)
    link = ShareLink.objects.get()
    as_bob.post(f"/sessions/{victim}/share/{link.pk}/revoke/")
    response = as_alice.get("/audit/")
    table = response.content.decode().split("<tbody>", 1)[1]
    assert table.index("Share link revoked") < table.index("Share link created")
    response = as_alice.get("/audit/?action=share.created")
    assertNotContains(response, "Share link revoked</td>")


def test_admin_replaces_the_token_without_ever_seeing_it(as_alice, org_a) -> None:
    response = as_alice.post(
        "/org/settings/", {"action": "token", "token": "psk_live_new_token_123456"}
    )
    assert response.status_code == 302
    org_a.refresh_from_db()
    assert org_a.get_token() == "psk_live_new_token_123456"
    assert "psk_live_new_token_123456" not in org_a.token_encrypted
    page = as_alice.get("/org/settings/").content.decode()
    assert "psk_live_new_token_123456" not in page
    assert AuditEntry.objects.filter(action=AuditEntry.Action.TOKEN_CHANGED).exists()


def test_admin_manages_members(as_alice, bob, org_a) -> None:
    response = as_alice.post(
        "/org/settings/",
        {"action": "add-member", "username": "dave", "role": "viewer", "password": "pw-dave-123"},
    )
    assert response.status_code == 302
    membership = org_a.memberships.get(user__username="bob")
    as_alice.post(
        "/org/settings/", {"action": "role", "membership": membership.pk, "role": "viewer"}
    )
    membership.refresh_from_db()
    assert membership.role == "viewer"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"member.invited", "member.changed"} <= actions


def test_a_new_api_origin_needs_its_token_so_the_old_one_never_leaves(as_alice, org_a) -> None:
    response = as_alice.post(
        "/org/settings/", {"action": "org", "name": "Acme", "api_url": "https://9.9.9.9"}
    )
    assert response.status_code == 400
    assertContains(response, "needs its API token", status_code=400)
    org_a.refresh_from_db()
    assert org_a.api_url != "https://9.9.9.9"
    response = as_alice.post(
        "/org/settings/",
        {
            "action": "org",
            "name": "Acme",
            "api_url": "https://1.1.1.1",
            "token": "psk_new_1234567",
        },
    )
    assert response.status_code == 302
    org_a.refresh_from_db()
    assert org_a.api_url == "https://1.1.1.1" and org_a.get_token() == "psk_new_1234567"


def test_bad_member_ids_in_settings_are_404_not_500(as_alice) -> None:
    response = as_alice.post(
        "/org/settings/", {"action": "role", "membership": "abc", "role": "viewer"}
    )
    assert response.status_code == 404


def test_every_opening_of_a_share_link_counts_as_a_view(as_bob, victim) -> None:
    url = share(as_bob, victim).replace("http://testserver", "")
    visitor = Client()
    visitor.get(url)
    visitor.get(url + "?kind=prompt")  # a query string used to skip the count and the audit
    visitor.get(url + "timeline/")  # a fragment within the page is not an opening
    visitor.get(url + "?kind=prompt", HTTP_HX_REQUEST="true")
    link = ShareLink.objects.get()
    assert link.view_count == 2
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SHARE_VIEWED)
    assert entry.detail["views"] == 2


def test_no_share_token_and_nothing_of_a_deleted_session_stays_in_the_cache(
    as_alice, victim, settings
) -> None:
    import redis

    token = share(as_alice, victim).rstrip("/").rsplit("/", 1)[1]
    Client().get(f"/shared/{token}/")
    Client().get(f"/shared/{token}/timeline/")
    as_alice.get(f"/sessions/{victim}/")
    as_alice.get(f"/sessions/{victim}/attribution/")
    store = redis.Redis.from_url(settings.REDIS_URL)
    values = [store.get(k) or b"" for k in store.keys("reviewer:*")]
    assert not any(token.encode() in v for v in values)
    assert any(victim.encode() in k for k in store.keys("reviewer:*"))

    response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
    assert response.status_code == 302, response.content[-500:]
    # Only the session's new cache generation stays (a random marker, no content of it).
    left = [k for k in store.keys("reviewer:*") if victim.encode() in k]
    assert [k.rsplit(b":", 1)[1] for k in left] == [b"gen"]
    assert not any(victim.encode() in (store.get(k) or b"") for k in left)


def test_a_session_upstream_lost_can_still_be_purged_here(as_alice, victim, sandbox, org_a):
    sandbox.state.delete_session(ACME["id"], victim)  # gone upstream, never through us
    cache.invalidate_session(org_a, victim)  # and no cached copy of it here
    stored = StoredEvent.objects.filter(sync__session_id=victim).count()
    page = as_alice.get(f"/sessions/{victim}/")
    assert page.status_code == 200
    assertContains(page, "Promptster no longer has this session")
    assert as_alice.get(f"/sessions/{victim}/delete/").status_code == 200
    response = as_alice.post(f"/sessions/{victim}/delete/", {"confirm": victim[:8]})
    assert response.status_code == 302
    assert StoredEvent.objects.filter(sync__session_id=victim).count() == 0
    tombstone = AuditEntry.objects.get(action=AuditEntry.Action.SESSION_DELETED, session_id=victim)
    assert tombstone.detail["upstream"] == "already_gone"
    assert tombstone.detail["events_stored"] == stored
    assert as_alice.get(f"/sessions/{victim}/").status_code == 410


def test_an_unknown_session_without_a_store_stays_404(as_alice, db, org_a) -> None:
    assert as_alice.get("/sessions/no-such-session-1/delete/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_deletes_with_a_dead_cache_make_one_upstream_delete(
    alice, org_a, sandbox, settings
) -> None:
    import threading

    sid = sandbox.state.add_session(
        ACME["id"],
        {"endedAt": "2026-11-01T11:00:00Z"},
        [{"kind": "prompt", "ts": "2026-11-01T10:00:00Z", "data": {"text": "x"}}],
    )
    prefetch.prefetch(org_a, sid)
    settings.CACHES = {  # nothing listens there: every cache call fails
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    sandbox.inject("delay", seconds=0.5, count=1, route="DELETE /v1/sessions/:id")
    sandbox.reset_stats()
    statuses = []

    def attempt() -> None:
        client = Client()
        client.force_login(alice)
        statuses.append(client.post(f"/sessions/{sid}/delete/", {"confirm": sid[:8]}).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sandbox.stats()["by_route"].get("DELETE /v1/sessions/:id") == 1
    assert statuses.count(302) == 5
    assert (
        AuditEntry.objects.filter(action=AuditEntry.Action.SESSION_DELETED, session_id=sid).count()
        == 1
    )


def test_random_cursors_on_a_share_link_add_nothing_to_the_cache(
    as_alice, victim, settings, org_a
) -> None:
    """Cache keys come from validated, canonical values only: a share-link holder trying
    random `?at=`, `after=` and `before=` values gets the top of the timeline or a 404, never
    a new cache entry per value."""
    import redis

    settings.SHARE_REQUESTS_PER_MINUTE = 10_000  # this is about keys, not the rate limit
    token = share(as_alice, victim).rstrip("/").rsplit("/", 1)[1]
    visitor = Client()
    for path in ("", "timeline/", "turns/"):
        assert visitor.get(f"/shared/{token}/{path}").status_code == 200
    store = redis.Redis.from_url(settings.REDIS_URL)

    def probe(i: int) -> None:
        for query in ({"at": f"nope-{i}"}, {"after": f"nope-{i}"}, {"before": f"nope-{i}"}):
            for path in ("", "timeline/", "turns/"):
                response = visitor.get(f"/shared/{token}/{path}", query)
                assert response.status_code in (200, 404)

    ours = f"reviewer:*:org{org_a.pk}:*"
    probe(0)  # whatever the pages derive once (the summary) is derived now
    before = set(store.keys(ours))
    for i in range(1, 30):
        probe(i)
    added = set(store.keys(ours)) - before
    assert not added, sorted(added)[:5]
