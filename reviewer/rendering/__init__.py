"""Turning candidate-written content into safe, readable HTML: what happened, as it happened.

One module per kind of content:
- markdown: AI responses, GitHub-flavoured markdown rendered as GitHub does, then nh3;
- prompts: what a person typed, line breaks kept, code fenced or pasted shown as code;
- terminal: command output with ANSI colours as classes and carriage returns applied;
- diffs: unified diffs parsed by hunk lengths, with git's rename/mode/binary headers;
- failures: the failing tests a test runner's output names;
- fields: tool inputs with JSON escapes decoded;
- text and pages: previews (head and tail) of long fields, and pages of huge ones;
- events: stored events as the templates see them (labels, badges, times).
"""

from reviewer.rendering.diffs import (
    DIFF_PREVIEW_LINES,
    DiffLine,
    ParsedDiff,
    diff_counts,
    diff_lines,
    parse_diff,
    rows_html,
)
from reviewer.rendering.events import (
    ATTRIBUTION_LABELS,
    CANONICAL_KINDS,
    CUT_KEY,
    KIND_LABELS,
    KIND_TEMPLATES,
    OUTPUT_FIELDS,
    UNKNOWN_TEMPLATE,
    EventView,
    date_label,
    duration,
    event_failures,
    kind_label,
    offset_label,
    present,
)
from reviewer.rendering.fields import tool_input
from reviewer.rendering.markdown import MAX_MARKDOWN_CHARS, render_markdown
from reviewer.rendering.pages import (
    PAGE_LINES,
    PAGE_OVER_CHARS,
    RICH_OVER_CHARS,
    FieldPage,
    page_fields,
    stream_text,
)
from reviewer.rendering.prompts import render_prompt
from reviewer.rendering.terminal import (
    TerminalPreview,
    terminal_html,
    terminal_lines,
    terminal_preview,
)
from reviewer.rendering.text import (
    MAX_LINE_CHARS,
    TEXT_PREVIEW_LINES,
    CutText,
    Preview,
    cut_field,
    full_length,
    preview,
    visible_controls,
)

__all__ = [
    "ATTRIBUTION_LABELS",
    "CANONICAL_KINDS",
    "CUT_KEY",
    "DIFF_PREVIEW_LINES",
    "KIND_LABELS",
    "KIND_TEMPLATES",
    "MAX_LINE_CHARS",
    "MAX_MARKDOWN_CHARS",
    "OUTPUT_FIELDS",
    "PAGE_LINES",
    "PAGE_OVER_CHARS",
    "RICH_OVER_CHARS",
    "TEXT_PREVIEW_LINES",
    "UNKNOWN_TEMPLATE",
    "CutText",
    "DiffLine",
    "duration",
    "EventView",
    "FieldPage",
    "TerminalPreview",
    "ParsedDiff",
    "Preview",
    "cut_field",
    "date_label",
    "diff_counts",
    "diff_lines",
    "event_failures",
    "full_length",
    "kind_label",
    "offset_label",
    "page_fields",
    "parse_diff",
    "present",
    "preview",
    "render_markdown",
    "render_prompt",
    "rows_html",
    "stream_text",
    "terminal_html",
    "terminal_lines",
    "terminal_preview",
    "tool_input",
    "visible_controls",
]
