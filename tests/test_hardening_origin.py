"""Issue 13, the API origin as a server-side request lever.

The review set the origin, as an admin, to loopback, link-local and private hosts, to ftp://
and plain http://, with a trailing `#` taking over path and query; redirects were followed,
and the error text told closed ports from open ones. These tests do the same against real
listeners on 127.0.0.1; only DNS answers are played (no resolver here gives rebinding).
"""

from __future__ import annotations

import io
import socket

import pytest
import requests
from django.core.management import call_command
from django.test import Client
from pytest_django.asserts import assertContains

from reviewer import origins, promptster
from reviewer.models import Organization
from tests.conftest import ACME

PUBLIC_IP = "1.1.1.1"  # a public address literal: validating it needs no DNS


def _save_origin(client: Client, url: str, token: str = "psk_new_token_1234567"):
    return client.post(
        "/org/settings/", {"action": "org", "name": "Acme", "api_url": url, "token": token}
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1",
        "https://127.0.0.1:{port}",
        "https://localhost",
        "https://[::1]/",
        "https://169.254.169.254",
        "https://10.1.2.3",
        "https://192.168.0.10",
        "https://[::ffff:127.0.0.1]",
        "ftp://1.1.1.1",
        "http://1.1.1.1",
        "https://1.1.1.1/v1/sessions/x#",
        "https://1.1.1.1#",
        "https://1.1.1.1/?admin=1",
        "https://user:secret@1.1.1.1",
        "https://1.1.1.1/base/../admin",
        "https://does-not-resolve.invalid",
    ],
)
def test_the_settings_page_refuses_origins_that_are_not_public_https(
    as_alice, org_a, sandbox, url
) -> None:
    before = (org_a.api_url, org_a.get_token())
    response = _save_origin(as_alice, url.format(port=sandbox.port))
    assert response.status_code == 400
    org_a.refresh_from_db()
    assert (org_a.api_url, org_a.get_token()) == before


def test_refusals_read_alike_for_private_and_unresolvable_hosts(as_alice) -> None:
    private = _errors(_save_origin(as_alice, "https://10.1.2.3"))
    missing = _errors(_save_origin(as_alice, "https://does-not-resolve.invalid"))
    assert "public internet addresses" in private
    assert private == missing


def _errors(response) -> str:
    return str(response.context["org_form"].errors)


def test_a_public_https_origin_with_a_base_path_is_accepted(as_alice, org_a) -> None:
    response = _save_origin(as_alice, f"https://{PUBLIC_IP}/promptster/")
    assert response.status_code == 302
    org_a.refresh_from_db()
    assert org_a.api_url == f"https://{PUBLIC_IP}/promptster"
    assert org_a.origin_trusted is False


def test_renaming_keeps_an_operator_trusted_origin_working(as_alice, org_a, sandbox) -> None:
    response = as_alice.post(
        "/org/settings/", {"action": "org", "name": "Acme renamed", "api_url": org_a.api_url}
    )
    assert response.status_code == 302
    org_a.refresh_from_db()
    assert org_a.origin_trusted and org_a.name == "Acme renamed"
    assert as_alice.get("/sessions/").status_code == 200


def test_add_org_trusts_the_operators_sandbox_origin(db, sandbox, client) -> None:
    call_command("add_org", "local", api_url=sandbox.url, token=ACME["token"], stdout=io.StringIO())
    org = Organization.objects.get(slug="local")
    assert org.origin_trusted and org.api_url == sandbox.url
    assert promptster.client_for(org).list_sessions(limit=1).sessions


def test_add_org_still_refuses_credentials_and_fragments(db) -> None:
    from django.core.management import CommandError

    for url in ("http://u:p@127.0.0.1:9", "http://127.0.0.1:9/#", "http://127.0.0.1:9/?q"):
        with pytest.raises(CommandError):
            call_command("add_org", "x", api_url=url, token="t", stdout=io.StringIO())


def test_allow_private_origins_lets_the_settings_page_use_a_local_sandbox(
    as_alice, org_a, sandbox, settings
) -> None:
    settings.ALLOW_PRIVATE_ORIGINS = True
    response = _save_origin(as_alice, f"http://localhost:{sandbox.port}/", token=ACME["token"])
    assert response.status_code == 302
    org_a.refresh_from_db()
    assert not org_a.origin_trusted
    assert as_alice.get("/sessions/").status_code == 200
    assert promptster.client_for(org_a).list_sessions(limit=1).sessions


def test_an_untrusted_private_origin_sends_nothing_at_request_time(org_a, sandbox) -> None:
    # As if an admin had saved it before these rules (or the rules changed since).
    Organization.objects.filter(pk=org_a.pk).update(origin_trusted=False)
    org_a.refresh_from_db()
    sandbox.reset_stats()
    with pytest.raises(promptster.Unavailable):
        promptster.client_for(org_a, retries=0).list_sessions()
    assert sandbox.stats()["requests"] == 0


# --- DNS rebinding -----------------------------------------------------------------------


def test_dns_rebinding_after_the_check_cannot_reach_a_private_address(
    as_alice, org_a, sandbox, monkeypatch
) -> None:
    # Mocked: the DNS answers. The name resolves to a public address while the settings page
    # checks it, then to 127.0.0.1, where the sandbox plays an internal service.
    answers = iter([[PUBLIC_IP]])
    monkeypatch.setattr(origins, "_resolve", lambda host, port: next(answers, ["127.0.0.1"]))
    response = _save_origin(as_alice, f"https://rebind.test:{sandbox.port}", token="psk_x_1234567")
    assert response.status_code == 302
    org_a.refresh_from_db()
    sandbox.reset_stats()
    page = as_alice.get("/sessions/")
    assertContains(page, "not reachable or failed to answer")
    assert sandbox.stats()["requests"] == 0


def test_the_guarded_connection_goes_to_the_address_it_checked(sandbox, monkeypatch) -> None:
    # Mocked: DNS (rebind.test is 127.0.0.1) and, to reach the local sandbox at all, what
    # counts as public. The request then really goes over HTTP to the checked address.
    monkeypatch.setattr(origins, "_resolve", lambda host, port: ["127.0.0.1"])
    http = requests.Session()
    http.mount("http://", origins.PublicOnlyAdapter())
    client = promptster.Client(f"http://rebind.test:{sandbox.port}", ACME["token"], http=http)
    with pytest.raises(promptster.Unavailable):
        client.with_retries(0).list_sessions(limit=1)
    monkeypatch.setattr(origins, "is_public", lambda address: address == "127.0.0.1")
    assert client.list_sessions(limit=1).sessions


# --- redirects and what errors say ---------------------------------------------------------


def _http(status: str, body: bytes = b"", headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n"
    return head.encode() + body


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _point(org: Organization, url: str) -> None:
    org.set_origin(url, token=ACME["token"], trusted=True)
    org.save()
    org.refresh_from_db()


def test_redirects_are_not_followed_and_the_token_stays_home(
    as_alice, org_a, sandbox, listener
) -> None:
    target = listener(_http("200 OK", b'{"sessions": [], "total": 0}'))
    redirect = listener(
        _http("302 Found", headers=f"Location: http://127.0.0.1:{target.port}/v1/sessions\r\n")
    )
    _point(org_a, f"http://127.0.0.1:{redirect.port}")
    page = as_alice.get("/sessions/")
    assertContains(page, "not reachable or failed to answer")
    assert redirect.requests and not target.requests


def test_upstream_errors_read_the_same_whatever_the_network_answered(
    as_alice, org_a, listener, settings
) -> None:
    settings.PROMPTSTER_TIMEOUT = (0.5, 0.5)
    answers = {
        "closed port": f"http://127.0.0.1:{_closed_port()}",
        "not http": f"http://127.0.0.1:{listener(b'SSH-2.0-OpenSSH_9.6').port}",
        "never answers": f"http://127.0.0.1:{listener(None).port}",
        "html 404": f"http://127.0.0.1:{listener(_http('404 Not Found', b'<h1>no</h1>')).port}",
        "html 200": f"http://127.0.0.1:{listener(_http('200 OK', b'<html></html>')).port}",
        "redirect": f"http://127.0.0.1:{listener(_http('301 Moved', headers='Location: /x')).port}",
        "bad request": f"http://127.0.0.1:{listener(_http('400 Bad Request')).port}",
    }
    pages = {}
    for name, url in answers.items():
        _point(org_a, url)
        response = as_alice.get("/sessions/")
        assert response.status_code == 200, name
        pages[name] = _error_text(response.content.decode())
    assert len(set(pages.values())) == 1, pages


def _error_text(page: str) -> str:
    start = page.index("Could not load sessions from Promptster")
    return page[start : page.index("</", start + 60)]


def test_the_token_is_never_sent_to_an_origin_it_was_not_entered_for(
    as_alice, org_a, listener
) -> None:
    """A new origin without a token is refused in the settings page, and the one rule
    (Organization.set_origin) refuses it for every other caller too."""
    spy = listener(_http("200 OK", b'{"sessions": [], "total": 0}'))
    response = as_alice.post(
        "/org/settings/",
        {"action": "org", "name": "Acme", "api_url": f"https://{PUBLIC_IP}"},
    )
    assert response.status_code == 400
    from reviewer.models import OriginNeedsToken

    with pytest.raises(OriginNeedsToken):
        org_a.set_origin(f"http://127.0.0.1:{spy.port}", trusted=True)
    org_a.refresh_from_db()
    as_alice.get("/sessions/")
    assert not spy.requests
