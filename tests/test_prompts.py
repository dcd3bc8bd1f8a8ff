"""Prompts show what the person typed: every line, in order, nothing turned into markup."""

from __future__ import annotations

import html as htmllib
import re

from reviewer.rendering.prompts import render_prompt

TRACEBACK = """Traceback (most recent call last):
  File "/app/service.py", line 42, in fetch
    response = session.get(url, timeout=5)
  File "/usr/lib/python3.11/site-packages/requests/sessions.py", line 602, in get
    return self.request("GET", url, **kwargs)
requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.example.com', port=443)"""

DIFF = """--- a/service.py
+++ b/service.py
@@ -40,2 +40,2 @@
-    response = session.get(url, timeout=5)
+    response = session.get(url, timeout=30)
     return response.json()"""


def visible_lines(html: str) -> list[str]:
    """The lines a reader sees: block boundaries break lines, tags and entities are text."""
    text = re.sub(r"</?(div|pre|p)\b[^>]*>", "\n", html)
    text = htmllib.unescape(re.sub(r"<[^>]+>", "", text))
    return [line for line in text.split("\n") if line.strip()]


def test_a_pasted_traceback_and_diff_keep_every_line_in_order() -> None:
    prompt = f"The fetch times out:\n{TRACEBACK}\nI think this is the fix:\n{DIFF}\nIs it right?"
    html = render_prompt(prompt)
    assert visible_lines(html) == [line for line in prompt.split("\n") if line.strip()]
    # Both pasted blocks are shown as code, aligned as where they were copied from.
    assert html.count('<pre tabindex="0">') == 2
    assert '<span class="gt">Traceback (most recent call last):</span>' in html
    assert '<span class="gd">-    response = session.get(url, timeout=5)</span>' in html


def test_markdown_syntax_in_a_prompt_is_just_what_was_typed() -> None:
    prompt = "# Task\n- keep this dash\n+ and this plus\n1. one\n* star *not emphasis*\n> quote"
    html = render_prompt(prompt)
    assert str(html) == htmllib.escape(prompt, quote=False)
    assert "<h1>" not in html and "<li>" not in html and "<em>" not in html


def test_pasted_css_and_man_pages_keep_their_line_breaks_and_indentation() -> None:
    css = ".card {\n  color: red;\n  margin: 0 auto;\n}\n\n#main > .card { padding: 4px }"
    man = "NAME\n       ls - list directory contents\n\nSYNOPSIS\n       ls [OPTION]... [FILE]..."
    for prompt in (css, man):
        html = render_prompt(prompt)
        assert htmllib.unescape(str(html)) == prompt


def test_fenced_blocks_are_highlighted_and_inline_code_is_code() -> None:
    html = render_prompt("Run `make test` then:\n```python\nx = 1\n```\nand ``a ` b``.")
    assert "Run <code>make test</code> then:" in html
    assert '<div class="hl"><pre tabindex="0"><code><span class="n">x</span>' in html
    assert "<code>a ` b</code>" in html


def test_an_unclosed_fence_runs_to_the_end_and_html_stays_text() -> None:
    html = render_prompt('<img src=x onerror="alert(1)">\n```\n<script>alert(1)</script>')
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_line_of_dashes_is_not_a_diff() -> None:
    html = render_prompt("--- notes ---\nnothing pasted here\n+1 from me")
    assert "<pre" not in html
