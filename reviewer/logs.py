"""Logging that never writes a share link's token (its URL path is the secret)."""

from __future__ import annotations

import logging
import re

_SHARED_PATH = re.compile(r"/shared/([A-Za-z0-9_-]+)")


def _link_label(token: str) -> str:
    """`[link <id>]` for a known token, `[unknown link]` otherwise; never the token."""
    try:
        from reviewer.models import ShareLink, hash_share_token

        pk = (
            ShareLink.objects.filter(token_hash=hash_share_token(token))
            .values_list("pk", flat=True)
            .first()
        )
    except Exception:  # no database at hand (start-up, a broken connection): stay silent
        pk = None
    return f"[link {pk}]" if pk is not None else "[unknown link]"


def redact(text: str) -> str:
    """`text` with every `/shared/<token>` replaced by the link's id."""
    return _SHARED_PATH.sub(lambda m: f"/shared/{_link_label(m.group(1))}", text)


class RedactShareTokens(logging.Filter):
    """Rewrites a record's message and arguments so no share token reaches any log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "/shared/" in record.msg:
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, str) and "/shared/" in arg else arg
                for arg in record.args
            )
        request = getattr(record, "request", None)
        if request is not None and "/shared/" in getattr(request, "path", ""):
            record.request = None  # handlers that print the request would print the path
        return True
