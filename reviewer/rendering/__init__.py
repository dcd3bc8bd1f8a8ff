"""Turning candidate-written content into safe, readable HTML.

Markdown (prompts, AI responses) is rendered and then sanitized with nh3, so whatever a
candidate typed can only ever produce a small allow-list of tags; code blocks are highlighted
by Pygments with CSS classes. Diffs are split into typed lines for the template, which
escapes them. Long payloads are cut here, with the full text available on demand.
"""

from reviewer.rendering.diffs import DIFF_PREVIEW_LINES, DiffLine, diff_lines
from reviewer.rendering.events import (
    ATTRIBUTION_LABELS,
    CUT_KEY,
    KIND_LABELS,
    KIND_TEMPLATES,
    UNKNOWN_TEMPLATE,
    EventView,
    offset_label,
    present,
)
from reviewer.rendering.markdown import MAX_MARKDOWN_CHARS, render_markdown
from reviewer.rendering.prompts import render_prompt
from reviewer.rendering.text import (
    MAX_LINE_CHARS,
    TEXT_PREVIEW_LINES,
    CutText,
    Preview,
    full_length,
    preview,
    visible_controls,
)

__all__ = [
    "ATTRIBUTION_LABELS",
    "CUT_KEY",
    "DIFF_PREVIEW_LINES",
    "KIND_LABELS",
    "KIND_TEMPLATES",
    "MAX_LINE_CHARS",
    "MAX_MARKDOWN_CHARS",
    "TEXT_PREVIEW_LINES",
    "UNKNOWN_TEMPLATE",
    "CutText",
    "DiffLine",
    "EventView",
    "Preview",
    "diff_lines",
    "full_length",
    "offset_label",
    "present",
    "preview",
    "render_markdown",
    "render_prompt",
    "visible_controls",
]
