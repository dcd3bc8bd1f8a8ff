"""AI responses: GitHub-flavoured markdown to sanitized HTML, rendered the way GitHub does.

AI coding tools write GFM, so the parser is CommonMark (markdown-it-py) with the GFM extensions
GitHub's own renderer has: tables, strikethrough, task lists and autolinks. The tests hold a
corpus whose structure must match cmarkgfm (GitHub's C renderer) exactly.

A reviewer's browser must never act on what a candidate wrote:
- raw HTML is parsed as text (markdown-it's `html` option is off), so it shows as typed;
- only http, https and mailto links are links; a relative link (`[svc](src/svc.py)`) would
  point into the dashboard, so it shows as text with its target as code;
- images are never fetched: a placeholder shows the alt text and the URL as text;
- nh3 then cleans the HTML to a small allow-list, whatever the renderer produced.
Fenced code is highlighted by Pygments with CSS classes (no inline styles: the CSP forbids them).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLinkText
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# A timeline chunk shows this much of a response; its "show all" view renders up to
# FULL_MARKDOWN_CHARS and pages anything longer as text.
MAX_MARKDOWN_CHARS = 20_000
FULL_MARKDOWN_CHARS = 1_000_000

LINK_SCHEMES = ("http:", "https:", "mailto:")

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
    "input",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    "input": {"checked", "aria-label"},
}
# A task list's checkbox can only ever be a disabled checkbox; a code block scrolls sideways,
# so the keyboard must be able to reach it.
_FORCED_ATTRIBUTES = {
    "input": {"type": "checkbox", "disabled": "disabled"},
    "pre": {"tabindex": "0"},
}
# Only the classes this module emits: candidate text cannot borrow the app's own classes
# (a fenced block tagged {.notice-error} would otherwise look like one of our alerts).
_ALLOWED_CLASSES = {
    "div": {"hl"},
    "span": {c for c in STANDARD_TYPES.values() if c} | {"md-ref", "md-image"},
    "code": {"md-target"},
    "ul": {"contains-task-list"},
    "ol": {"contains-task-list"},
    "li": {"task-list-item"},
    "input": {"task-list-item-checkbox"},
}


def clean(html: str) -> SafeString:
    """The one sanitizer every candidate-written HTML goes through."""
    cleaned = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        set_tag_attribute_values=_FORCED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitized by nh3 just above


# --- fenced code -----------------------------------------------------------------------------

_FORMATTER = HtmlFormatter(nowrap=True)


@lru_cache(maxsize=128)
def _lexer(name: str) -> Any:
    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def code_block(code: str, language: str) -> str:
    """A code block, highlighted when its language is one Pygments knows."""
    lexer = _lexer(language.lower()) if language else None
    if lexer is None:
        return f"<pre><code>{escape(code)}</code></pre>\n"
    return f'<div class="hl"><pre><code>{highlight(code, lexer, _FORMATTER)}</code></pre></div>\n'


# --- markdown-it rules -----------------------------------------------------------------------

Rule = Any  # markdown-it passes the renderer itself as the first argument


def _fence(
    self: Rule, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return code_block(token.content, language)


def _is_link(href: str) -> bool:
    return href.strip().lower().startswith(LINK_SCHEMES)


def _link_open(
    self: Rule, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    href = str(tokens[idx].attrGet("href") or "")
    stack = env.setdefault("links", [])
    if _is_link(href):
        stack.append("")
        return self.renderToken(tokens, idx, options, env)
    # Not a link a reviewer can follow: the text, then where it pointed, as code.
    target = normalizeLinkText(href)
    inner = tokens[idx + 1 : idx + 3]
    same = len(inner) == 2 and inner[0].content == target and inner[1].type == "link_close"
    shown = "" if same or not target else f' <code class="md-target">{escape(target)}</code>'
    stack.append(shown + "</span>")
    return '<span class="md-ref">'


def _link_close(
    self: Rule, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    stack = env.get("links") or [""]
    closing = stack.pop()
    return closing or self.renderToken(tokens, idx, options, env)


def _image(
    self: Rule, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    label = f"image: {alt}" if alt else "image"
    return f'<span class="md-image">[{escape(label)}] <code>{escape(src)}</code></span>'


def _cell_open(
    self: Rule, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # markdown-it aligns cells with a style attribute; the CSP allows none, HTML's align does.
    token = tokens[idx]
    style = str(token.attrs.pop("style", "") or "")
    if style.startswith("text-align:"):
        token.attrs["align"] = style.removeprefix("text-align:")
    return self.renderToken(tokens, idx, options, env)


def _strike(tag: str) -> Any:
    def render(
        self: Rule, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return tag  # GitHub marks strikethrough as <del>

    return render


def _list_item_open(
    self: Rule, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    html = self.renderToken(tokens, idx, options, env)
    if token.meta and "checked" in token.meta:
        # A task's checkbox has no label of its own: name it for screen readers.
        done = bool(token.meta["checked"])
        html += (
            '<input class="task-list-item-checkbox" type="checkbox" disabled'
            f'{" checked" if done else ""} aria-label="{"done" if done else "to do"}"> '
        )
    return html


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The GFM parser: CommonMark, tables, strikethrough, task lists, autolinks; no raw HTML."""
    md = MarkdownIt(
        "commonmark",
        {"html": False, "tasklists": True, "strikethrough_single_tilde": True},
    )
    md.enable(["table", "strikethrough"])
    md.use(gfm_autolink_plugin)
    for name, rule in (
        ("fence", _fence),
        ("link_open", _link_open),
        ("link_close", _link_close),
        ("image", _image),
        ("th_open", _cell_open),
        ("td_open", _cell_open),
        ("s_open", _strike("<del>")),
        ("s_close", _strike("</del>")),
        ("list_item_open", _list_item_open),
    ):
        md.add_render_rule(name, rule)
    return md


# Texts up to this size are memoized: the same response is rendered on every view of its
# chunk. Larger ones ("show all" of a long response) are rendered afresh, so the cache's
# memory stays bounded.
CACHED_CHARS = 64 * 1024


def markdown_html(text: str, limit: int = MAX_MARKDOWN_CHARS) -> SafeString:
    """Markdown to sanitized HTML; raw HTML in the source comes out as visible text.

    The parser is linear in its input, so no input needs a guard beyond the size limit.
    """
    if len(text) > limit:
        text = text[:limit] + "\n\n…"
    return clean(parser().render(text))


_cached_markdown = lru_cache(maxsize=512)(markdown_html)


def render_markdown(text: str, limit: int = MAX_MARKDOWN_CHARS) -> SafeString:
    """`markdown_html`, memoized per process for texts of ordinary size."""
    return (_cached_markdown if len(text) <= CACHED_CHARS else markdown_html)(text, limit)
