"""Marking where a search matched, in text and in rendered timeline HTML.

Matching is search's own (`reviewer.text.find_all`: folded, so "strasse" marks "Straße"),
so what is marked is exactly what was found.
"""

from __future__ import annotations

import html
import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from reviewer import text

_TAG = re.compile(r"(<[^>]*>)")
_OPEN = re.compile(r"<([a-zA-Z0-9]+)\b([^>]*)>")
_CLOSE = re.compile(r"</([a-zA-Z0-9]+)\s*>")
_VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "source"}
# Text inside these is the product's own wording (links, toggles), never candidate content.
_SKIP = {"a", "summary", "button", "script", "style", "kbd"}
SNIPPET_CONTEXT = 80


def mark_text(value: str, query: str) -> str:
    """`value` HTML-escaped, with every match of `query` wrapped in <mark>."""
    out: list[str] = []
    position = 0
    for start, end in text.find_all(value, query):
        out.append(escape(value[position:start]))
        out.append(f"<mark>{escape(value[start:end])}</mark>")
        position = end
    out.append(escape(value[position:]))
    return "".join(out)


def mark_events(rendered: str, query: str) -> str:
    """Rendered timeline events with the matches of `query` marked inside their bodies.

    Only text inside an element of class `ev-body` is looked at, and not inside links or
    toggles. A match may span elements (a coloured word and the plain text after it): each
    piece is marked in its own element.
    """
    if not query.strip():
        return rendered
    out: list[str] = []
    body: list[tuple[str, bool]] = []  # (part, is candidate text) of the current event body
    stack: list[str] = []  # open elements inside the current event body
    skipping = 0
    for part in _TAG.split(rendered):
        if not part:
            continue
        if not stack:
            out.append(part)
            opened = _OPEN.match(part)
            if opened and 'class="ev-body' in opened.group(2):
                stack = [opened.group(1).lower()]
            continue
        if not part.startswith("<"):
            body.append((part, not skipping))
            continue
        body.append((part, False))
        opened = _OPEN.match(part)
        closed = _CLOSE.match(part)
        if opened and not part.endswith("/>") and opened.group(1).lower() not in _VOID:
            tag = opened.group(1).lower()
            stack.append(tag)
            skipping += tag in _SKIP
        elif closed:
            tag = stack.pop()
            skipping -= tag in _SKIP
            if not stack:  # the body closed: mark it and move on
                out.append(_mark_parts(body, query))
                body = []
    out.append(_mark_parts(body, query))
    return "".join(out)


def _mark_parts(parts: list[tuple[str, bool]], query: str) -> str:
    """Mark the matches of `query` in the candidate text of `parts` (escaped HTML pieces)."""
    texts = [html.unescape(p) if is_text else "" for p, is_text in parts]
    joined = "".join(texts)
    spans = list(text.find_all(joined, query))
    if not spans:
        return "".join(p for p, _ in parts)
    out = []
    offset = 0
    for (part, is_text), plain in zip(parts, texts, strict=True):
        if not is_text:
            out.append(part)
            continue
        start, end = offset, offset + len(plain)
        offset = end
        cuts = [
            (max(a, start) - start, min(b, end) - start) for a, b in spans if a < end and b > start
        ]
        if not cuts:
            out.append(part)
            continue
        pos = 0
        for a, b in cuts:
            out.append(escape(plain[pos:a]))
            out.append(f"<mark>{escape(plain[a:b])}</mark>")
            pos = b
        out.append(escape(plain[pos:]))
    return "".join(out)


def snippet(value: str, query: str, *, context: int = SNIPPET_CONTEXT) -> SafeString | None:
    """The first match of `query` in `value` with some text around it, marked; None if none."""
    for start, end in text.find_all(value, query):
        lo = max(0, start - context)
        hi = min(len(value), end + context)
        piece = " ".join(value[lo:hi].split())
        marked = mark_text(piece, query)
        return mark_safe(  # noqa: S308 - mark_text escapes everything it does not mark
            ("…" if lo > 0 else "") + marked + ("…" if hi < len(value) else "")
        )
    return None
