"""Management commands, and the organization token: encrypted at rest, never shown or logged."""

from __future__ import annotations

import io
import logging
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reviewer.models import Membership, Organization, ShareLink
from tests.conftest import ACME


def test_add_org_creates_then_updates_with_the_token_encrypted(db, sandbox, monkeypatch) -> None:
    call_command(
        "add_org",
        "acme",
        name="Acme",
        api_url=sandbox.url,
        token=ACME["token"],
        stdout=io.StringIO(),
    )
    org = Organization.objects.get(slug="acme")
    assert org.get_token() == ACME["token"]
    assert ACME["token"] not in org.token_encrypted
    generation = org.token_generation
    monkeypatch.setattr("sys.stdin", io.StringIO("psk_live_from_stdin_0000\n"))
    call_command("add_org", "acme", token="-", stdout=io.StringIO())
    org.refresh_from_db()
    assert org.get_token() == "psk_live_from_stdin_0000"
    assert org.name == "Acme" and org.token_generation == generation + 1


def test_add_org_refuses_bad_input(db) -> None:
    with pytest.raises(CommandError):
        call_command("add_org", "new-org", name="x")
    with pytest.raises(CommandError):
        call_command("add_org", "Bad Slug!", api_url="http://x", token="t")
    with pytest.raises(CommandError):
        call_command("add_org", "ok", api_url="not a url", token="t")


def test_sandbox_api_says_so_when_the_sandbox_is_not_there(monkeypatch) -> None:
    # An installed wheel holds the product only; the sandbox API comes with a checkout.
    monkeypatch.setitem(sys.modules, "sandbox.server", None)
    with pytest.raises(CommandError, match="source checkout"):
        call_command("sandbox_api", "--port", "0")


def test_add_member_creates_the_user_and_sets_the_role(org_a, client) -> None:
    call_command(
        "add_member", "sam", org="acme", role="reviewer", password="pw-sam-1", stdout=io.StringIO()
    )
    assert Membership.objects.get(user__username="sam").role == "reviewer"
    call_command("add_member", "sam", org="acme", role="admin", stdout=io.StringIO())
    assert Membership.objects.get(user__username="sam").role == "admin"
    login = client.post("/accounts/login/", {"username": "sam", "password": "pw-sam-1"})
    assert login.status_code == 302
    with pytest.raises(CommandError):
        call_command("add_member", "x", org="nope", role="viewer", password="p")


def test_the_token_appears_in_no_page_and_no_log(
    as_alice, alice, org_a, sandbox, acme_sessions, caplog
):
    caplog.set_level(logging.DEBUG)
    sid = acme_sessions[0]["id"]
    assessment = acme_sessions[0]["metadata"]["assessmentId"]
    _, share_token = ShareLink.create(org=org_a, session_id=sid, user=alice, hours=1)
    urls = [
        "/sessions/",
        f"/sessions/{sid}/",
        f"/sessions/{sid}/timeline/",
        f"/sessions/{sid}/delete/",
        f"/sessions/{sid}/share/",
        f"/sessions/{sid}/attribution/",
        f"/sessions/{sid}/export.json",
        f"/sessions/{sid}/export.ndjson",
        f"/assessments/{assessment}/",
        f"/assessments/{assessment}/cohort.csv",
        f"/compare/?a={sid}&b={sid}",
        "/org/settings/",
        "/audit/",
        "/sessions/nope-nope/",
        f"/shared/{share_token}/",
    ]
    sandbox.inject("status", status=500, count=3)
    for url in urls + urls:
        response = as_alice.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert ACME["token"].encode() not in body, url
    assert ACME["token"] not in caplog.text
    assert ACME["token"] not in repr(org_a) + str(org_a)
