"""Turning candidate content into HTML: safe, readable, and bounded."""

from __future__ import annotations

from reviewer import rendering


def test_markdown_escapes_raw_html_and_drops_script_links() -> None:
    html = rendering.render_markdown(
        "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html.split("&lt;", 1)[0]
    assert "<img" not in html


def test_bidi_overrides_are_made_visible() -> None:
    assert rendering.visible_controls("abc\u202edcba") == "abc<U+202E>dcba"


def test_diff_lines_are_numbered_like_a_review_tool() -> None:
    diff = "--- a/x.py\n+++ b/x.py\n@@ -10,3 +10,3 @@\n ctx\n-old\n+new\n ctx2\n"
    lines, total = rendering.diff_lines(diff)
    assert total == 7
    # A single file's header only repeats the path shown above the diff: no row for it.
    assert [(line.css, line.old, line.new) for line in lines] == [
        ("hunk", None, None),
        ("ctx", 10, 10),
        ("del", 11, None),
        ("add", None, 11),
        ("ctx", 12, 12),
    ]


def test_long_payloads_are_cut_with_their_size_known() -> None:
    text = "\n".join(["x" * 300_000] + ["line"] * 100)
    preview = rendering.preview(text)
    assert preview.truncated and preview.total_lines == 101
    assert len(preview.text) < 10_000
    lines, total = rendering.diff_lines("+" + "y" * 300_000, limit=10)
    assert lines[0].cut and len(lines[0].text) == rendering.MAX_LINE_CHARS
