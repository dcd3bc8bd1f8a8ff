"""AI responses render like GitHub renders them, and nothing in them can act or call out.

The oracle is cmarkgfm, GitHub's own C renderer: every sample in tests/markdown_corpus/ must
give the same tag skeleton (after sanitizing) from our renderer as from it.
"""

from __future__ import annotations

import re
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest

from reviewer.rendering import markdown
from reviewer.rendering.markdown import markdown_html, render_markdown

CORPUS = sorted((Path(__file__).parent / "markdown_corpus").glob("*.md"))
_VOID = {"br", "hr", "input"}


class _Skeleton(HTMLParser):
    """The tags of a document, without text or attributes except those that change meaning.

    Two documented normalisations, both ours by design: a link that is not http(s)/mailto
    and our `md-ref` text stand for the same thing ("[ref]"), and so do an image and our
    `md-image` placeholder ("[image]"). Highlighting spans and the `div.hl`/`code` wrappers of
    a code block are presentation, not structure.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[str] = []
        self._open: list[str | None] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if self._skip:
            self._skip += tag not in _VOID
            return
        if tag == "span" and "md-image" in classes:
            self.tokens.append("[image]")
            self._skip = 1
            return
        href = a.get("href") or ""
        if (tag == "a" and not re.match(r"(?i)(https?|mailto):", href)) or "md-ref" in classes:
            self.tokens.append("[ref]")
            self._skip = 1
            return
        if (
            tag == "span"
            or (tag == "div" and "hl" in classes)
            or (tag == "code" and "pre" in self._open)
        ):
            self._open.append(None)
            return
        token = tag
        if tag == "ol" and a.get("start") not in (None, "1"):
            token += f" start={a['start']}"
        if tag in ("th", "td") and a.get("align"):
            token += f" align={a['align']}"
        if tag == "input" and "checked" in a:
            token += " checked"
        self.tokens.append(f"<{token}>")
        if tag not in _VOID:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self._skip:
            self._skip -= 1
            return
        if self._open and (top := self._open.pop()) is not None:
            self.tokens.append(f"</{top}>")


def skeleton(html: str) -> list[str]:
    parser = _Skeleton()
    parser.feed(str(markdown.clean(html)))
    parser.close()
    return parser.tokens


def github(text: str) -> str:
    """GitHub's rendering of `text` (cmark-gfm with its extensions), images as placeholders.

    The sanitizer would drop an <img> without a trace; our renderer puts a placeholder there.
    """
    html = cmarkgfm.github_flavored_markdown_to_html(text)
    return re.sub(r"<img [^>]*>", '<span class="md-image"></span>', html)


@pytest.mark.parametrize("sample", CORPUS, ids=[p.stem for p in CORPUS])
def test_structure_matches_githubs_renderer(sample: Path) -> None:
    text = sample.read_text()
    assert skeleton(render_markdown(text)) == skeleton(github(text))


def test_the_corpus_covers_the_constructs_that_went_wrong() -> None:
    assert len(CORPUS) >= 60
    whole = "\n".join(p.read_text() for p in CORPUS)
    for construct in ("- [ ]", "~~", "https://", "www.", "|:-", "```", "&copy;", "]: https://"):
        assert construct in whole


def _items(html: str) -> list[str]:
    return re.findall(r"<li[^>]*>(.*?)</li>", html, re.S)


def test_a_list_right_after_a_paragraph_line_is_a_list() -> None:
    html = render_markdown("I made three changes:\n- added a retry\n- raised the timeout\n")
    assert "<p>I made three changes:</p>" in html
    assert [re.sub("<[^>]+>", "", i).strip() for i in _items(html)] == [
        "added a retry",
        "raised the timeout",
    ]


def test_two_space_nested_lists_nest() -> None:
    html = render_markdown("- a\n  - b\n    - c\n- d\n")
    assert re.sub(r"\s", "", html) == (
        "<ul><li>a<ul><li>b<ul><li>c</li></ul></li></ul></li><li>d</li></ul>"
    )


def test_a_fenced_block_inside_a_numbered_item_stays_a_block_and_numbering_goes_on() -> None:
    html = render_markdown("1. Install:\n   ```bash\n   pip install x\n   ```\n2. Run it\n")
    assert html.count("<ol>") == 1 and html.count("<li>") == 2
    block = html.split("<li>")[1]
    assert '<pre tabindex="0"><code>' in block and "pip" in block and "<p>" not in block
    assert "Run it" in html.split("<li>")[2]


def test_a_list_cut_by_an_unindented_fence_resumes_at_its_number() -> None:
    html = render_markdown("1. first\n```\ncode\n```\n2. second\n")
    assert '<ol start="2">' in html


def test_task_lists_strikethrough_and_bare_urls() -> None:
    html = render_markdown(
        "- [ ] todo\n- [x] done\n\n~~old~~ ~gone~ https://example.com/a?b=1 www.example.org "
        "and team@example.com."
    )
    boxes = re.findall(r"<input[^>]*>", html)
    assert len(boxes) == 2 and "checked" not in boxes[0] and "checked" in boxes[1]
    assert all('type="checkbox"' in b and "disabled" in b and "aria-label" in b for b in boxes)
    assert "<del>old</del>" in html and "<del>gone</del>" in html
    assert '<a href="https://example.com/a?b=1"' in html
    assert '<a href="http://www.example.org"' in html
    assert '<a href="mailto:team@example.com"' in html
    assert "[ ]" not in html and "~~" not in html


def test_tables_align_without_inline_styles() -> None:
    html = render_markdown("| a | b |\n|:-:|--:|\n| 1 | 2 |\n")
    assert '<th align="center">a</th>' in html and '<td align="right">2</td>' in html
    assert "style=" not in html


def test_raw_html_is_shown_as_text() -> None:
    html = render_markdown('<div class="notice-error">hi</div>\n\nand <b onclick="x()">b</b>')
    assert '&lt;div class="notice-error"&gt;hi&lt;/div&gt;' in html
    assert "&lt;b onclick=" in html and "<b" not in html and "<div" not in html


def test_only_http_https_and_mailto_are_links() -> None:
    html = render_markdown(
        "[service](src/service.py) [src/a.py](src/a.py) [top](#top) [home](/sessions/) "
        "[ok](https://example.com) [mail](mailto:a@example.com) [js](javascript:alert(1)) "
        "[data](data:text/html,x) [proto](//evil.example/x)"
    )
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://example.com", "mailto:a@example.com"]
    assert (
        '<span class="md-ref">service <code class="md-target">src/service.py</code></span>' in html
    )
    assert '<span class="md-ref">src/a.py</span>' in html
    assert "/sessions/" in html  # shown, as text


def test_images_are_never_fetched_but_say_what_they_were() -> None:
    html = render_markdown('![build status](https://ci.example.com/badge.svg "t") ![](x.png)')
    assert "<img" not in html and "src=" not in html
    assert (
        '<span class="md-image">[image: build status] <code>https://ci.example.com/badge.svg</code></span>'
        in html
    )
    assert "[image] <code>x.png</code>" in html


def test_entities_and_escapes_come_out_as_characters() -> None:
    html = render_markdown("&copy; &#35; &amp; \\*x\\* `&amp;`")
    assert "© # &amp; *x* <code>&amp;amp;</code>" in html


def test_code_blocks_are_highlighted_but_cannot_borrow_the_apps_classes() -> None:
    html = render_markdown("```python\nx = 1\n```\n\n```{.notice-error}\nhi\n```")
    assert '<div class="hl"><pre tabindex="0"><code><span class="n">x</span>' in html
    assert "notice-error" not in html and 'class="language' not in html


def test_twenty_thousand_brackets_take_linear_time() -> None:
    """A linear parser needs no guard: 10x the brackets costs about 10x (not 100x) the time."""

    def cost(n: int) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            html = markdown_html("[" * n)
            best = min(best, time.perf_counter() - started)
        assert html == "<p>" + "[" * n + "</p>\n"
        return best

    assert cost(20_000) < 30 * cost(2_000)


def test_markdown_rendering_is_safe_across_threads() -> None:
    wrong: list[str] = []

    def work(n: int) -> None:
        for j in range(25):
            text = (
                f"# thread {n} run {j}\n\n" + "word " * 150 + f"\n\n```python\nx_{n}_{j} = 1\n```"
            )
            html = markdown_html(text)
            if f"thread {n} run {j}" not in html or f"x_{n}_{j}" not in html:
                wrong.append(html[:80])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
