"""Each file's story: reconstruction from a create or whole write, string edits and unified
diffs, blame of lines rewritten several times, and a change that cannot be replayed."""

from __future__ import annotations

import pytest

from reviewer import filehistory, prefetch
from reviewer.models import TimelineSync
from tests.test_attribution import _add, _ev, _p

PATH = "app/service.py"
V1 = "import os\n\n\ndef handler(event):\n    return None\n\n\ndef helper():\n    pass\n"


def _diff(at: str, body: str, attribution: str, *, event_id: str) -> dict:
    return _ev("file_diff", at, {"path": PATH, "diff": body}, _p(attribution, 0.9), id=event_id)


EVENTS = [
    _ev("file_create", "10:00:00", {"path": PATH, "content": V1}, _p("likely_ai", 0.9), id="c1"),
    _ev(
        "file_diff",
        "10:01:00",
        {"path": PATH, "oldString": "    return None", "newString": "    return {'ok': True}"},
        _p("likely_ai", 0.9),
        id="e1",
    ),
    # A hand edit as git sees it: two hunks.
    _diff(
        "10:02:00",
        "--- a/app/service.py\n+++ b/app/service.py\n"
        "@@ -1,2 +1,3 @@\n import os\n+import sys\n \n"
        "@@ -8,2 +9,2 @@\n def helper():\n-    pass\n+    return sys.argv\n",
        "likely_human",
        event_id="h1",
    ),
    _ev(
        "file_diff",
        "10:03:00",
        {"path": PATH, "oldString": "{'ok': True}", "newString": "{'ok': True, 'v': 2}"},
        _p("ai_revised_by_human", 0.6),
        id="e2",
    ),
    _ev(
        "file_diff",
        "10:04:00",
        {"path": PATH, "oldString": "{'ok': True, 'v': 2}", "newString": "{'ok': False}"},
        _p("likely_ai", 0.9),
        id="e3",
    ),
]


@pytest.fixture
def stored(org_a, sandbox) -> TimelineSync:
    sid = _add(sandbox, EVENTS)
    prefetch.prefetch(org_a, sid)
    return TimelineSync.objects.get(organization=org_a, session_id=sid)


def _blame(story: filehistory.FileStory) -> list[tuple[str, str]]:
    return [(line.text, line.origin.key) for line in story.lines or []]


def test_a_file_is_reconstructed_from_its_create_edits_and_diffs(stored) -> None:
    story = filehistory.story(stored, PATH)
    assert [s.status for s in story.steps] == ["start", "applied", "applied", "applied", "applied"]
    assert _blame(story) == [
        ("import os", "c1"),
        ("import sys", "h1"),
        ("", "c1"),
        ("", "c1"),
        ("def handler(event):", "c1"),
        ("    return {'ok': False}", "e3"),  # rewritten three times: the last writer wins
        ("", "c1"),
        ("", "c1"),
        ("def helper():", "c1"),
        ("    return sys.argv", "h1"),
    ]
    assert story.mix == {"likely_ai": 8, "likely_human": 2}
    assert [n for n, _ in story.lines_by(filehistory.HAND)] == [2, 10]


def test_an_edit_that_cannot_apply_stops_the_reconstruction_there(org_a, sandbox) -> None:
    broken = [
        *EVENTS[:2],
        _ev(
            "file_diff",
            "10:02:30",
            {"path": PATH, "oldString": "def missing():", "newString": "def found():"},
            _p("likely_ai", 0.9),
            id="bad",
        ),
        EVENTS[3],
    ]
    sid = _add(sandbox, broken)
    prefetch.prefetch(org_a, sid)
    story = filehistory.story(TimelineSync.objects.get(session_id=sid), PATH)
    assert [s.status for s in story.steps] == ["start", "applied", "failed", "skipped"]
    assert story.broken_at is not None and story.broken_at.change.key == "bad"
    assert "not in the file" in story.broken_at.note
    assert story.lines is None and not story.whole  # never a reconstruction that may be wrong


def test_an_ambiguous_edit_is_not_guessed() -> None:
    create = filehistory.Change(
        "c",
        "c",
        0,
        "file_create",
        None,
        "likely_ai",
        0.9,
        2,
        0,
        "create",
        {"content": "x = 1\nx = 1\n"},
    )
    edit = filehistory.Change(
        "e",
        "e",
        1,
        "file_diff",
        None,
        "likely_ai",
        0.9,
        1,
        1,
        "edit",
        {"oldString": "x = 1", "newString": "x = 2"},
    )
    story = filehistory.replay(PATH, [create, edit])
    assert story.broken_at is not None and "occurs 2 times" in story.broken_at.note


def test_a_pure_insertion_hunk_lands_after_its_line() -> None:
    create = filehistory.Change(
        "c", "c", 0, "file_create", None, "likely_ai", 0.9, 3, 0, "create", {"content": "a\nb\nc\n"}
    )
    diff = filehistory.Change(
        "d",
        "d",
        1,
        "file_diff",
        None,
        "likely_human",
        0.7,
        1,
        0,
        "diff",
        {"diff": "--- a/f\n+++ b/f\n@@ -2,0 +3 @@\n+inserted\n"},
    )
    story = filehistory.replay(PATH, [create, diff])
    assert [line.text for line in story.lines or []] == ["a", "b", "inserted", "c"]


def test_a_file_known_only_from_a_later_write_starts_there() -> None:
    edit = filehistory.Change(
        "e",
        "e",
        0,
        "file_diff",
        None,
        "likely_ai",
        0.9,
        1,
        1,
        "edit",
        {"oldString": "old", "newString": "new"},
    )
    write = filehistory.Change(
        "w", "w", 1, "file_diff", None, "likely_ai", 0.9, 2, 0, "write", {"content": "one\ntwo\n"}
    )
    story = filehistory.replay(PATH, [edit, write])
    assert [s.status for s in story.steps] == ["skipped", "start"]
    assert story.whole and [line.origin.key for line in story.lines or []] == ["w", "w"]


def test_the_files_list_names_each_file_and_whether_it_is_whole(stored) -> None:
    files = filehistory.files_of(stored)
    assert [(f.path, f.changes, f.whole) for f in files] == [(PATH, 5, True)]


# --- the pages ------------------------------------------------------------------------------------


def test_the_files_page_lists_each_file_with_its_mix(as_carol, stored) -> None:
    response = as_carol.get(f"/sessions/{stored.session_id}/files/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-path="{PATH}"' in body
    assert "with AI blame" in body


def test_a_files_blame_view_marks_each_line_and_filters_to_hand_lines(as_carol, stored) -> None:
    base = f"/sessions/{stored.session_id}/files/"
    body = as_carol.get(base, {"path": PATH}).content.decode()
    assert body.count('data-line="') == 10
    assert 'class="by-likely_human" data-line="2"' in body
    assert f'href="/sessions/{stored.session_id}/?at=e3#event-e3"' in body
    hand = as_carol.get(base, {"path": PATH, "only": "hand"}).content.decode()
    assert [n for n in ("2", "10") if f'data-line="{n}"' in hand] == ["2", "10"]
    assert hand.count('data-line="') == 2


def test_an_unknown_file_is_404_and_an_outsider_sees_nothing(as_carol, as_charlie, stored) -> None:
    base = f"/sessions/{stored.session_id}/files/"
    assert as_carol.get(base, {"path": "no/such/file.py"}).status_code == 404
    assert as_charlie.get(base).status_code == 404
    assert as_charlie.get(base, {"path": PATH}).status_code == 404


def test_a_files_story_is_reconstructed_once_per_version(as_carol, stored, monkeypatch) -> None:
    """A long session's file has thousands of changes (8,246 in the sandbox's 100k session):
    its story is rebuilt when the store changes, not on every view."""
    from reviewer import filehistory

    base = f"/sessions/{stored.session_id}/files/"
    first = as_carol.get(base, {"path": PATH}).content.decode()

    def unexpected(*args, **kwargs):
        raise AssertionError("the story was reconstructed again")

    monkeypatch.setattr(filehistory, "story", unexpected)
    assert as_carol.get(base, {"path": PATH}).content.decode().count('data-line="') == first.count(
        'data-line="'
    )
