"""Issue 13, accounts: login throttling, validated usernames and passwords, invitations.

Each test replays what the review did against a running instance: a burst of wrong
passwords, a one-letter password through the settings page, an admin adding another
organization's user.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from reviewer.models import AuditEntry, Invitation, Membership

LIMIT = settings.AXES_FAILURE_LIMIT


def _login(client: Client, username: str, password: str, *, ip: str = "10.0.0.1", path: str = ""):
    return client.post(
        path or "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def _fail(client: Client, username: str, times: int, *, ip: str = "10.0.0.1") -> list[int]:
    return [_login(client, username, "wrong-password", ip=ip).status_code for _ in range(times)]


def test_a_burst_of_wrong_passwords_locks_the_username_even_for_the_right_one(alice) -> None:
    client = Client()
    statuses = _fail(client, "alice", 50)
    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with its error
    assert set(statuses[LIMIT:]) == {429}
    response = _login(client, "alice", "pw-alice")
    assert response.status_code == 429
    assertContains(response, "Too many failed logins", status_code=429)
    assert "_auth_user_id" not in client.session


def test_the_username_stays_locked_from_another_address(alice) -> None:
    _fail(Client(), "alice", LIMIT, ip="10.0.0.1")
    assert _login(Client(), "alice", "pw-alice", ip="10.9.9.9").status_code == 429


def test_one_address_trying_many_usernames_is_locked(alice, bob) -> None:
    client = Client()
    for n in range(LIMIT):
        _login(client, f"guess{n}", "wrong-password", ip="10.0.0.7")
    assert _login(client, "bob", "pw-bob", ip="10.0.0.7").status_code == 429
    assert _login(Client(), "bob", "pw-bob", ip="10.0.0.8").status_code == 302


def test_the_admin_site_login_is_throttled_too(alice) -> None:
    User.objects.filter(username="alice").update(is_staff=True)
    client = Client()
    for _ in range(LIMIT):
        _login(client, "alice", "wrong-password", path="/admin/login/")
    response = _login(client, "alice", "pw-alice", path="/admin/login/")
    assert response.status_code == 429


def test_a_lockout_expires_on_its_own_even_while_the_attacker_keeps_trying(alice) -> None:
    _fail(Client(), "alice", LIMIT + 20)
    # Failing during the lockout did not push its end further: once the cool-off has passed
    # since the attempts, the right password works again.
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert _login(Client(), "alice", "pw-alice").status_code == 302


def test_admins_see_the_lockout_in_the_audit_log_once_and_can_lift_it(as_alice, bob) -> None:
    _fail(Client(), "bob", LIMIT + 5, ip="10.0.0.2")
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.LOGIN_LOCKED_OUT)
    assert entries.count() == 1
    assert entries.get().detail["member"] == "bob"
    page = as_alice.get("/audit/")
    assertContains(page, 'data-lockout="bob"')
    assertContains(page, "Login locked out")
    response = as_alice.post("/audit/unlock/", {"username": "bob"})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action=AuditEntry.Action.LOGIN_UNLOCKED).exists()
    assert _login(Client(), "bob", "pw-bob", ip="10.0.0.3").status_code == 302


def test_admins_of_another_org_neither_see_nor_lift_the_lockout(as_charlie, bob) -> None:
    _fail(Client(), "bob", LIMIT)
    assertNotContains(as_charlie.get("/audit/"), 'data-lockout="bob"')
    as_charlie.post("/audit/unlock/", {"username": "bob"})
    assert _login(Client(), "bob", "pw-bob", ip="10.0.0.3").status_code == 429


def test_non_admins_cannot_lift_a_lockout(as_bob, carol) -> None:
    _fail(Client(), "carol", LIMIT)
    assert as_bob.post("/audit/unlock/", {"username": "carol"}).status_code == 403


# --- validators --------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["a", "12345678901", "password123", "qwertyuiop"])
def test_the_settings_page_refuses_weak_passwords(as_alice, password) -> None:
    response = as_alice.post(
        "/org/settings/",
        {"action": "add-member", "username": "dave", "role": "viewer", "password": password},
    )
    assert response.status_code == 400
    assert not User.objects.filter(username="dave").exists()


@pytest.mark.parametrize("username", ["bad name", "<script>", "x" * 151, "a/b"])
def test_the_settings_page_refuses_invalid_usernames(as_alice, username) -> None:
    response = as_alice.post(
        "/org/settings/",
        {
            "action": "add-member",
            "username": username,
            "role": "viewer",
            "password": "Str0ng-pass!",
        },
    )
    assert response.status_code == 400
    assert not User.objects.filter(username=username).exists()


def test_add_member_refuses_weak_passwords_and_invalid_usernames(org_a) -> None:
    with pytest.raises(CommandError, match="too short"):
        call_command("add_member", "sam", org="acme", role="viewer", password="a")
    with pytest.raises(CommandError, match="valid username"):
        call_command("add_member", "no way", org="acme", role="viewer", password="Str0ng-pass!")
    call_command(
        "add_member",
        "sam",
        org="acme",
        role="viewer",
        password="Str0ng-pass!",
        stdout=io.StringIO(),
    )
    with pytest.raises(CommandError, match="too common"):
        call_command("add_member", "sam", org="acme", role="viewer", password="password123")
    assert _login(Client(), "sam", "Str0ng-pass!").status_code == 302


# --- invitations ---------------------------------------------------------------------------


def _invite(client: Client, username: str, password: str = "Str0ng-pass!", role: str = "viewer"):
    return client.post(
        "/org/settings/",
        {"action": "add-member", "username": username, "role": role, "password": password},
        follow=True,
    )


def _message(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_adding_another_orgs_user_is_an_invitation_and_reads_like_a_new_user(
    as_alice, charlie, org_a
) -> None:
    existing = _invite(as_alice, "charlie")
    new = _invite(as_alice, "newcomer")
    assert existing.status_code == new.status_code == 200
    assert _message(existing).replace("charlie", "X") == _message(new).replace("newcomer", "X")
    # Nobody joined: both wait for their own answer, and look the same in the settings page.
    assert not Membership.objects.filter(organization=org_a, user__username="charlie").exists()
    assert not Membership.objects.filter(organization=org_a, user__username="newcomer").exists()
    assert Invitation.objects.filter(organization=org_a).count() == 2
    # Charlie's password was not touched.
    assert User.objects.get(username="charlie").check_password("pw-charlie")


def test_the_invited_user_accepts_and_chooses_to_work_there(as_alice, charlie, org_a, org_b):
    _invite(as_alice, "charlie", role="reviewer")
    client = Client()
    assert _login(client, "charlie", "pw-charlie").status_code == 302
    page = client.get("/sessions/", follow=True)
    assertContains(page, "Invitations (1)")
    invitation = Invitation.objects.get(user__username="charlie")
    # Until charlie answers, charlie still works in globex.
    assert client.get("/org/settings/").context["org"] == org_b
    response = client.post("/invitations/", {"invitation": invitation.pk, "answer": "accept"})
    assert response.status_code == 302
    assert Membership.objects.get(organization=org_a, user__username="charlie").role == "reviewer"
    assert client.get("/sessions/").context["membership"].organization == org_a
    assert AuditEntry.objects.filter(organization=org_a, action="member.added").exists()


def test_a_declined_invitation_grants_nothing(as_alice, charlie, org_a) -> None:
    _invite(as_alice, "charlie")
    client = Client()
    client.force_login(charlie)
    invitation = Invitation.objects.get()
    client.post("/invitations/", {"invitation": invitation.pk, "answer": "decline"})
    assert not Invitation.objects.exists()
    assert not Membership.objects.filter(organization=org_a, user=charlie).exists()
    assert AuditEntry.objects.filter(organization=org_a, action="member.declined").exists()


def test_nobody_can_answer_someone_elses_invitation(as_alice, as_bob, charlie) -> None:
    _invite(as_alice, "charlie")
    invitation = Invitation.objects.get()
    response = as_bob.post("/invitations/", {"invitation": invitation.pk, "answer": "accept"})
    assert response.status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_being_added_by_an_operator_does_not_move_the_user(charlie, org_a, org_b) -> None:
    # "acme" sorts before "globex": the default used to jump to the new organization.
    client = Client()
    client.force_login(charlie)
    assert client.get("/sessions/").context["membership"].organization == org_b
    call_command("add_member", "charlie", org="acme", role="viewer", stdout=io.StringIO())
    assert client.get("/sessions/").context["membership"].organization == org_b
    client.post("/org/switch/", {"organization": org_a.pk})
    assert client.get("/sessions/").context["membership"].organization == org_a


def test_an_admin_can_cancel_an_invitation(as_alice, org_a) -> None:
    _invite(as_alice, "newcomer")
    invitation = Invitation.objects.get()
    as_alice.post("/org/settings/", {"action": "cancel-invitation", "invitation": invitation.pk})
    assert not Invitation.objects.exists()
    assert AuditEntry.objects.filter(action="member.uninvited").exists()
