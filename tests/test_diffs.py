"""Diffs are read as `git apply` reads them: headers, hunk lengths, markers, numbers."""

from __future__ import annotations

import difflib

from hypothesis import given, settings
from hypothesis import strategies as st
from unidiff import PatchSet

from reviewer import prefetch, upstream
from reviewer.rendering.diffs import diff_counts, parse_diff, rows_html
from tests.conftest import ACME

SQL_DIFF = """\
diff --git a/schema.sql b/schema.sql
index 3b18e51..a9c2f04 100644
--- a/schema.sql
+++ b/schema.sql
@@ -1,5 +1,5 @@
 CREATE TABLE orders (
--- the old comment
+++counter_column
   id integer PRIMARY KEY,
   total numeric
 );
"""


def rows(diff: str) -> list[tuple[str, int | None, int | None, str]]:
    return [(r.css, r.old, r.new, r.text) for r in parse_diff(diff, None).lines]


def test_lines_starting_with_dashes_or_pluses_inside_a_hunk_are_content() -> None:
    assert rows(SQL_DIFF) == [
        ("hunk", None, None, "@@ -1,5 +1,5 @@"),
        ("ctx", 1, 1, " CREATE TABLE orders ("),
        ("del", 2, None, "--- the old comment"),
        ("add", None, 2, "+++counter_column"),
        ("ctx", 3, 3, "   id integer PRIMARY KEY,"),
        ("ctx", 4, 4, "   total numeric"),
        ("ctx", 5, 5, " );"),
    ]
    assert diff_counts(SQL_DIFF) == (1, 1)


def test_counts_come_from_the_parse_not_from_a_prefix_test() -> None:
    # The old prefix test counted neither the removed "-- x" nor the added "++i" line.
    diff = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n--- x\n+++i;\n ok\n"
    assert diff_counts(diff) == (1, 1)
    event = upstream.parse_event(
        {"id": "e1", "kind": "file_diff", "data": {"path": "x.c", "diff": diff}}
    )
    assert (event.lines_added, event.lines_removed) == (1, 1)


def test_no_newline_marker_takes_no_number_and_shifts_nothing() -> None:
    diff = (
        "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n same\n-old\n\\ No newline at end of file\n"
        "+new\n\\ No newline at end of file\n"
    )
    assert rows(diff)[1:] == [
        ("ctx", 1, 1, " same"),
        ("del", 2, None, "-old"),
        ("note", None, None, "\\ No newline at end of file"),
        ("add", None, 2, "+new"),
        ("note", None, None, "\\ No newline at end of file"),
    ]


def test_headers_without_hunks_say_what_they_are() -> None:
    rename = "diff --git a/a.py b/b.py\nsimilarity index 100%\nrename from a.py\nrename to b.py\n"
    mode = "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
    binary = (
        "diff --git a/logo.png b/logo.png\nindex 1111111..2222222 100644\n"
        "Binary files a/logo.png and b/logo.png differ\n"
    )
    created = (
        "diff --git a/img.gif b/img.gif\nnew file mode 100644\nGIT binary patch\nliteral 5\n"
        "McmZ?wbhEHbZ~z\n\nliteral 0\nKcmV+b0RR6000031\n\n"
    )
    copy = "diff --git a/a.py b/c.py\nsimilarity index 90%\ncopy from a.py\ncopy to c.py\n"
    assert rows(rename) == [("file", None, None, "renamed a.py → b.py (100% similar)")]
    assert rows(mode) == [("file", None, None, "run.sh · mode 100644 → 100755")]
    assert rows(binary) == [("file", None, None, "logo.png · binary file changed")]
    assert rows(created)[0] == (
        "file",
        None,
        None,
        "new file img.gif (mode 100644) · binary file added",
    )
    assert rows(copy) == [("file", None, None, "copied a.py → c.py (90% similar)")]


def test_a_rename_with_changes_keeps_its_header_and_numbers() -> None:
    diff = (
        "diff --git a/old name.py b/new name.py\nsimilarity index 80%\nrename from old name.py\n"
        "rename to new name.py\nindex 1..2 100644\n--- a/old name.py\n+++ b/new name.py\n"
        "@@ -10,2 +10,2 @@ def f():\n-    return 1\n+    return 2\n     pass\n"
    )
    assert rows(diff) == [
        ("file", None, None, "renamed old name.py → new name.py (80% similar)"),
        ("hunk", None, None, "@@ -10,2 +10,2 @@ def f():"),
        ("del", 10, None, "-    return 1"),
        ("add", None, 10, "+    return 2"),
        ("ctx", 11, 11, "     pass"),
    ]


def test_several_files_each_get_a_header_row() -> None:
    diff = (
        "diff --git a/a b/a\nindex 1..2 100644\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-x\n+y\n"
        "diff --git a/gone b/gone\ndeleted file mode 100644\n--- a/gone\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-bye\n"
    )
    assert [r for r in rows(diff) if r[0] == "file"] == [
        ("file", None, None, "a"),
        ("file", None, None, "deleted file gone"),
    ]
    assert diff_counts(diff) == (1, 2)


def test_cut_headerless_and_miscounted_diffs_show_every_line() -> None:
    cut = "--- a/x\n+++ b/x\n@@ -1,50 +1,50 @@\n-a\n+b\n c\n"  # the head of a longer diff
    assert [r[0] for r in rows(cut)] == ["hunk", "del", "add", "ctx"]
    headerless = "@@ -3,2 +3,2 @@\n-a\n+b\n c\n"
    assert rows(headerless)[1:] == [
        ("del", 3, None, "-a"),
        ("add", None, 3, "+b"),
        ("ctx", 4, 4, " c"),
    ]
    miscounted = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n d\n+e\n"
    assert [r[3] for r in rows(miscounted)] == ["@@ -1,2 +1,2 @@", "-a", "+b", " c", " d", "+e"]
    assert rows(miscounted)[-1] == ("add", None, 4, "+e")


def test_the_table_is_escaped() -> None:
    html = rows_html(parse_diff("@@ -1 +1 @@\n-<script>alert(1)</script>\n+&amp;\n", None).lines)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;amp;" in html


# --- against unidiff, on well-formed diffs ------------------------------------------------------

_LINE = st.sampled_from(
    ["x = 1", "-- comment", "++i;", "--- header-like", "+++ header-like", "", "  indented", "@@ no"]
)


def _unidiff_rows(diff: str) -> list[tuple[str, int | None, int | None]]:
    out = []
    for patched in PatchSet(diff):
        for hunk in patched:
            out.append(("hunk", None, None))
            for line in hunk:
                kind = {"+": "add", "-": "del", " ": "ctx", "\\": "note"}[line.line_type]
                out.append((kind, line.source_line_no, line.target_line_no))
    return out


@settings(max_examples=150, deadline=None)
@given(
    old=st.lists(_LINE, max_size=25),
    new=st.lists(_LINE, max_size=25),
    context=st.integers(0, 3),
)
def test_agrees_with_unidiff_on_well_formed_diffs(old, new, context) -> None:
    diff = "".join(
        line + "\n"
        for line in difflib.unified_diff(old, new, "a/f.txt", "b/f.txt", n=context, lineterm="")
    )
    ours = [(r.css, r.old, r.new) for r in parse_diff(diff, None).lines if r.css != "file"]
    assert ours == _unidiff_rows(diff)
    patch = PatchSet(diff)
    assert diff_counts(diff) == (patch.added, patch.removed)


def test_a_file_change_in_the_timeline_shows_the_rename_and_dash_lines(as_carol, org_a, sandbox):
    rename = "diff --git a/a.py b/b.py\nsimilarity index 100%\nrename from a.py\nrename to b.py\n"
    sid = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-05T10:00:00Z", "endedAt": "2026-11-05T10:30:00Z"},
        [
            {
                "id": "evt-rename",
                "kind": "file_diff",
                "ts": "2026-11-05T10:01:00Z",
                "data": {"path": "b.py", "diff": rename},
            },
            {
                "id": "evt-sql",
                "kind": "file_diff",
                "ts": "2026-11-05T10:02:00Z",
                "data": {"path": "schema.sql", "diff": SQL_DIFF},
            },
        ],
    )
    prefetch.prefetch(org_a, sid)
    chunk = as_carol.get(f"/sessions/{sid}/timeline/").content.decode()
    assert '<tr class="file"><td colspan="3">renamed a.py → b.py (100% similar)</td></tr>' in chunk
    assert (
        '<tr class="del"><td class="n">2</td><td class="n"></td><td>--- the old comment</td></tr>'
        in chunk
    )
    assert '<span class="add">+1</span> <span class="del">−1</span>' in chunk
