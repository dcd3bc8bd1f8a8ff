"""What the sandbox sends: JSON bodies, the upstream's error shapes, a proxy's HTML error page.

Bodies are compact JSON in UTF-8, as the upstream (a JavaScript server) sends them, down to how
unpaired surrogates are escaped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"

STATUS_MESSAGES = {
    400: "Invalid request",
    401: "Invalid or missing API key",
    402: "Active subscription required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
"""The ``error`` message of each status when the handler gives none (REFERENCE.md section 3)."""


@dataclass
class Response:
    """What the app decided to send. ``action`` asks the transport to misbehave."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: str | None = None  # "disconnect" or "short_read"
    declared_length: int | None = None


_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_body(payload: Any) -> bytes:
    """Compact JSON in UTF-8, as JavaScript's ``JSON.stringify`` writes it.

    Text is sent unescaped, except unpaired UTF-16 surrogates (a prompt cut in the middle of an
    emoji, say), which UTF-8 cannot encode: they are written as ``\\udXXX`` escapes, exactly as
    ``JSON.stringify`` does, and a JSON parser reads them back as the same lone surrogate.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _escape_surrogates(text).encode("utf-8")


def _escape_surrogates(text: str) -> str:
    # A high surrogate followed by a low one is one character to JavaScript: join the pair.
    text = _SURROGATE_PAIR.sub(
        lambda m: m.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le"), text
    )
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, json_body(payload), [("Content-Type", JSON_TYPE)])


def error(status: int, message: str | None = None, **extra: Any) -> Response:
    """``{"error": message, ...extra}``, the upstream's error shape."""
    return json_response(
        status, {"error": message or STATUS_MESSAGES.get(status, "Error"), **extra}
    )


def html_error(status: int) -> Response:
    """The HTML page a proxy in front of the API would send (nginx style)."""
    title = f"{status} {reason(status)}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
        "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(status, page.encode(), [("Content-Type", "text/html")])


def reason(status: int) -> str:
    """The reason phrase of an HTTP status ("Unknown" for made-up ones)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
