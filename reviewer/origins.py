"""The rules for an organization's Promptster API origin, in one place.

An admin types the origin in the settings page, and the server then sends requests, with the
organization's token, wherever it points. So an origin an admin sets must be:

- `https` only;
- a host name (or address) that resolves to public internet addresses only, checked when it
  is saved and again each time a connection is opened (`PublicOnlyAdapter`), so a DNS answer
  that changes afterwards (rebinding) cannot point it at a private address;
- without credentials, query or fragment, and without a path beyond a plain base path.

An origin set by an operator on the command line (`add_org`) is trusted as set: the demo, the
tests and acceptance checks point organizations at a sandbox on http://127.0.0.1 that way.
`ALLOW_PRIVATE_ORIGINS=1` lets the settings page do the same, for local development.

Refusals all read alike, so the form cannot be used to learn which internal names resolve.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

log = logging.getLogger(__name__)

_BASE_PATH = re.compile(r"^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?$")
_SHAPE_MESSAGE = (
    "The API origin must be an https:// address with no user name, password, query or "
    "fragment, and no path beyond a base path (e.g. https://api.promptster.ai)."
)
_PUBLIC_MESSAGE = "The API origin's host must resolve, and only to public internet addresses."


class NotPublic(Exception):
    """The host has no address, or has one that is not on the public internet."""


def private_origins_allowed() -> bool:
    """Whether the operator lets admins use private and plain-http origins (local development)."""
    return bool(getattr(settings, "ALLOW_PRIVATE_ORIGINS", False))


def is_public(address: str) -> bool:
    """A global unicast address: not loopback, private, link-local, reserved or multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (the seam tests replace to play DNS rebinding)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def public_address(host: str, port: int) -> str:
    """An address to connect to for `host`; NotPublic unless every address it has is public."""
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise NotPublic(host) from exc
    if not addresses or not all(is_public(address) for address in addresses):
        raise NotPublic(host)
    return addresses[0]


def clean_origin(url: str, *, trusted: bool = False, check_dns: bool = True) -> str:
    """The origin in canonical form (no trailing slash), or ValidationError.

    `trusted` (an operator's action) or ALLOW_PRIVATE_ORIGINS skip the https and
    public-address rules; the shape rules (no credentials, query, fragment or odd path)
    always apply. `check_dns=False` leaves the address check to connection time.
    """
    relaxed = trusted or private_origins_allowed()
    url = url.strip()
    if "#" in url or "?" in url or "\\" in url or any(ord(c) <= 32 for c in url):
        raise ValidationError(_SHAPE_MESSAGE, code="origin")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ValidationError(_SHAPE_MESSAGE, code="origin") from None
    host = parts.hostname or ""
    if (
        parts.scheme not in (("http", "https") if relaxed else ("https",))
        or not host
        or parts.username is not None
        or parts.password is not None
        or "@" in parts.netloc
        or not _BASE_PATH.match(parts.path)
    ):
        raise ValidationError(_SHAPE_MESSAGE, code="origin")
    if not relaxed and check_dns:
        try:
            public_address(host, port or 443)
        except NotPublic:
            raise ValidationError(_PUBLIC_MESSAGE, code="origin") from None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


# --- the check at connection time ---------------------------------------------------------


class _PublicOnly(HTTPConnection):
    """Resolves the host itself, refuses unless every address is public, and connects to the
    address it checked (TLS still verifies the certificate against the host name)."""

    def _new_conn(self) -> socket.socket:
        try:
            address = public_address(self._dns_host, self.port)
        except NotPublic:
            log.warning("refused to connect to %s: not a public address", self.host)
            raise NewConnectionError(self, "the API origin is not allowed") from None
        name = self._dns_host
        self._dns_host = address
        try:
            return super()._new_conn()
        finally:
            self._dns_host = name


class _PublicHTTPConnection(_PublicOnly):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """A requests adapter whose every new connection goes to a public address only."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPConnectionPool,
            "https": _PublicHTTPSConnectionPool,
        }
