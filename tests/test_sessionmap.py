"""The session map: landmarks per time bucket and idle gaps, from the store alone."""

from __future__ import annotations

import pytest

from reviewer import prefetch, sessionmap
from reviewer.models import TimelineSync
from tests.test_attribution import _add, _ev


def test_the_map_places_landmarks_and_idle_gaps(org_a, sandbox) -> None:
    sid = _add(
        sandbox,
        [
            _ev("prompt", "10:00:00", {"text": "go"}, id="p1"),
            _ev("command", "10:01:00", {"command": "pytest", "exitCode": 1}, id="fail"),
            _ev("test_run", "10:01:01", {"passed": 1, "failed": 1}, id="run"),
            _ev("decision_event", "10:02:00", {"title": "SQLite"}, id="dec"),
            # twelve minutes of nothing
            _ev("prompt", "10:14:00", {"text": "back"}, id="p2"),
            _ev("git_action", "10:15:00", {"action": "commit", "message": "done"}, id="git"),
            _ev("command", "10:20:00", {"command": "pytest", "exitCode": 0}, id="ok"),
        ],
    )
    prefetch.prefetch(org_a, sid)
    found = sessionmap.compute(TimelineSync.objects.get(session_id=sid))
    assert [(g.minutes, g.after_key) for g in found.gaps] == [(12, "p2")]
    totals = {
        name: sum(getattr(m, name) for m in found.marks)
        for name in ("prompts", "failures", "tests_passed", "tests_failed", "decisions", "commits")
    }
    assert totals == {
        "prompts": 2,
        "failures": 1,  # the failing command (the failing test run counts as a failing test)
        "tests_passed": 1,
        "tests_failed": 1,  # pytest and the test_run it produced are one run
        "decisions": 1,
        "commits": 1,
    }
    assert found.marks[0].first_key == "p1" and found.marks[0].kinds == ["prompt"]
    failing = next(m for m in found.marks if m.failures)
    assert failing.first_key == "fail" and failing.kinds[:2] == ["failure", "test-fail"]
    assert "1 failure" in failing.label and "1 test run (1 failing)" in failing.label
    assert found.pct(found.end) == 100.0


def test_an_empty_session_has_an_empty_map(org_a, sandbox) -> None:
    sid = _add(sandbox, [])
    prefetch.prefetch(org_a, sid)
    found = sessionmap.compute(TimelineSync.objects.get(session_id=sid))
    assert found.marks == [] and found.gaps == [] and found.start is None


@pytest.mark.parametrize(
    ("last", "caption"),
    [
        ("2026-11-03T00:20:00Z", "Nov 2, 23:50 – Nov 3, 00:20"),  # just past midnight
        ("2026-11-05T09:05:00Z", "Nov 2, 23:50 – Nov 5, 09:05"),  # several days
        ("2026-12-01T00:00:00Z", "Nov 2, 23:50 – Dec 1, 00:00"),  # into the next month
    ],
)
def test_a_map_over_more_than_one_day_says_which_days(
    as_carol, org_a, sandbox, last, caption
) -> None:
    """A session worked on across midnight reads "Nov 2, 23:50 – Nov 3, 00:20", not the
    ambiguous "23:50–00:20"; one within a day keeps the short form."""
    late = _ev("prompt", "23:50:00", {"text": "start"})
    after_midnight = {**_ev("prompt", None, {"text": "still going"}), "ts": last}
    sid = _add(sandbox, [late, after_midnight], started="23:50:00")
    prefetch.prefetch(org_a, sid)
    page = as_carol.get(f"/sessions/{sid}/").content.decode()
    assert caption in page

    same_day = _add(sandbox, [_ev("prompt", "10:00:00", {"text": "a"}), _ev("prompt", "10:30:00")])
    prefetch.prefetch(org_a, same_day)
    assert "10:00–10:30" in as_carol.get(f"/sessions/{same_day}/").content.decode()
