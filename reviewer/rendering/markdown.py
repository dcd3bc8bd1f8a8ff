"""Markdown (prompts, AI responses) to sanitized HTML.

Whatever a candidate typed can only ever produce a small allow-list of tags; code blocks are
highlighted by Pygments with CSS classes.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import markdown as md
import nh3
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from pygments.token import STANDARD_TYPES

MAX_MARKDOWN_CHARS = 20_000
# Python-Markdown's link parsing is quadratic in the number of '['; past this many, a
# candidate's text is shown verbatim rather than letting it stall every page that shows it.
MAX_MARKDOWN_BRACKETS = 400

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "pre",
    "code",
    "span",
    "div",
    "blockquote",
    "em",
    "strong",
    "del",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "sup",
    "sub",
    "kbd",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
}
# Only the classes our highlighter emits: candidate text cannot borrow the app's own classes
# (a fenced block tagged {.notice-error} would otherwise look like one of our alerts).
_ALLOWED_CLASSES = {
    "div": {"hl"},
    "span": {c for c in STANDARD_TYPES.values() if c},
}


_local = threading.local()


def _markdown() -> md.Markdown:
    """This thread's converter: a Markdown instance keeps state and must not be shared."""
    converter = getattr(_local, "markdown", None)
    if converter is None:
        converter = _local.markdown = _new_markdown()
    return converter


def _new_markdown() -> md.Markdown:
    converter = md.Markdown(
        extensions=["fenced_code", "codehilite", "tables", "sane_lists"],
        extension_configs={
            "codehilite": {"css_class": "hl", "guess_lang": False, "use_pygments": True}
        },
        output_format="html",
    )
    # Raw HTML in a prompt is something the candidate typed: show it as text, never as markup.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter


@lru_cache(maxsize=512)
def render_markdown(text: str) -> SafeString:
    """Markdown to sanitized HTML; raw HTML in the source comes out as visible text.

    Memoized per process: the same prompt is rendered on every view of its chunk.
    """
    if len(text) > MAX_MARKDOWN_CHARS:
        text = text[:MAX_MARKDOWN_CHARS] + "\n\n…"
    if text.count("[") > MAX_MARKDOWN_BRACKETS:
        return format_html('<pre class="plain">{}</pre>', text)
    converter = _markdown()
    try:
        html = converter.reset().convert(text)
    except Exception:  # a pathological input must not break the page
        html = "<pre>" + escape(text) + "</pre>"
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above
