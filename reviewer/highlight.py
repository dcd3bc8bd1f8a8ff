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
    out = []
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
    toggles; a match that spans an element boundary (a highlighted code token) is not marked.
    """
    if not query.strip():
        return rendered
    out: list[str] = []
    stack: list[str] = []  # open elements inside the current event body
    in_body = 0  # depth of the innermost ev-body in `stack` (0: outside)
    skipping = 0
    for part in _TAG.split(rendered):
        if not part:
            continue
        if part.startswith("<"):
            out.append(part)
            opened = _OPEN.match(part)
            closed = _CLOSE.match(part)
            if opened and not part.endswith("/>"):
                tag = opened.group(1).lower()
                if tag in _VOID:
                    continue
                if in_body:
                    stack.append(tag)
                    skipping += tag in _SKIP
                elif 'class="ev-body' in opened.group(2):
                    in_body = 1
                    stack = [tag]
            elif closed and in_body and stack:
                tag = stack.pop()
                skipping -= tag in _SKIP
                if not stack:
                    in_body = 0
            continue
        if in_body and not skipping:
            out.append(mark_text(html.unescape(part), query))
        else:
            out.append(part)
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
