"""The cohort of an assessment (page and CSV) and the side-by-side comparison."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid

import pytest
from django.test import Client
from pytest_django.asserts import assertContains, assertNotContains

from reviewer import prefetch, tasks
from reviewer.models import Organization
from tests.test_attribution import EXACT_EVENTS, _add, _ev, _p

BEA_EVENTS = [
    _ev("prompt", "10:00:00", {"text": "Write the limiter"}, _p("likely_human", 0.8)),
    _ev(
        "file_diff",
        "10:05:00",
        {"path": "rate.py", "linesAdded": 10, "linesRemoved": 0},
        _p("likely_ai", 0.9),
    ),
    _ev("test_run", "10:06:00", {"passed": 3, "failed": 0}, _p("likely_ai", 0.9)),
]
CY_EVENTS = [
    _ev("prompt", "10:00:00", {"text": "Start"}, _p("likely_human", 0.8)),
    _ev("file_diff", "10:02:00", {"path": "cy.py", "linesAdded": 5}, _p("likely_human", 0.7)),
]


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-session-id="([^"]+)"', html)


def _row(html: str, sid: str) -> str:
    start = html.index(f'<tr data-session-id="{sid}"')
    return html[start : html.index("</tr>", start)]


def _dist(html: str, key: str) -> str:
    start = html.index(f'data-metric="{key}"')
    return html[start : html.index("</section>", start)]


@pytest.fixture
def cohort(sandbox, org_a: Organization) -> dict[str, str]:
    """Four sessions, upstream order Ada, Bea, Cy, Dee: two ended and stored, one still
    running (stored so far), one ended but never fetched."""
    asmt = f"asmt-{uuid.uuid4().hex[:12]}"
    ids = {
        "asmt": asmt,
        "ada": _add(sandbox, EXACT_EVENTS, assessment=asmt, name="Ada", pct=40),
        "bea": _add(sandbox, BEA_EVENTS, assessment=asmt, name="Bea", pct=60, started="09:30:00"),
        "cy": _add(
            sandbox, CY_EVENTS, assessment=asmt, name="Cy", pct=99, started="09:20:00", ended=False
        ),
        "dee": _add(sandbox, BEA_EVENTS, assessment=asmt, name="Dee", pct=None, started="09:10:00"),
    }
    for key in ("ada", "bea", "cy"):
        prefetch.prefetch(org_a, ids[key])
    return ids


# --- the page ----------------------------------------------------------------------------------


def test_it_lists_every_session_with_its_status(as_carol: Client, cohort: dict) -> None:
    response = as_carol.get(f"/assessments/{cohort['asmt']}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _rows(html) == [cohort["ada"], cohort["bea"], cohort["cy"], cohort["dee"]]
    running = _row(html, cohort["cy"])
    assert "in progress" in running and "not in statistics" in running
    not_fetched = _row(html, cohort["dee"])
    assert "not fetched" in not_fetched
    assert "2h 50m" in not_fetched  # upstream fields still show
    assert "<strong>1 still running</strong> (shown, left out of the statistics)" in html
    assertContains(response, 'action="/sessions/prefetch/"')
    assertContains(response, f'<input type="hidden" name="assessmentId" value="{cohort["asmt"]}">')


def test_running_sessions_are_left_out_of_the_statistics(as_alice: Client, cohort: dict) -> None:
    html = as_alice.get(f"/assessments/{cohort['asmt']}/").content.decode()
    promptster = _dist(html, "promptster_ai_pct")
    assert "Median <strong>50%</strong> over 2 sessions; range 40% – 60%" in promptster
    ai_lines = _dist(html, "ai_lines_pct")
    assert "Median <strong>72%</strong> over 2 sessions" in ai_lines
    duration = _dist(html, "duration_s")
    assert "Median <strong>2h 30m</strong> over 3 sessions" in duration
    # Each candidate's dot is labelled with their row number, and listed with a percentile.
    assert 'role="img"' in ai_lines
    assert re.search(r'class="dot-label">1</text>', ai_lines)
    assert re.search(r'class="dot-label">2</text>', ai_lines)
    assert not re.search(r'class="dot-label">3</text>', ai_lines)
    assert '<td>Ada</td><td class="num">44%</td><td class="num">25</td>' in ai_lines
    assert '<td>Bea</td><td class="num">100%</td><td class="num">75</td>' in ai_lines


def test_rows_carry_values_and_percentiles(as_alice: Client, cohort: dict) -> None:
    html = as_alice.get(f"/assessments/{cohort['asmt']}/").content.decode()
    ada = _row(html, cohort["ada"])
    assert '40% <span class="rank">p25</span>' in ada
    assert '44% <span class="rank">p25</span>' in ada  # likely-AI lines
    assert "3m 00s" in ada  # time to first change
    bea = _row(html, cohort["bea"])
    assert '100% <span class="rank">p75</span>' in bea
    cy = _row(html, cohort["cy"])
    assert '<td class="num excluded">99%</td>' in cy
    assert "rank" not in cy


def test_columns_sort_both_ways(as_alice: Client, cohort: dict) -> None:
    url = f"/assessments/{cohort['asmt']}/"
    desc = as_alice.get(url, {"sort": "promptster_ai_pct", "dir": "desc"}).content.decode()
    assert _rows(desc) == [cohort["cy"], cohort["bea"], cohort["ada"], cohort["dee"]]
    toggle = '<a href="?sort=promptster_ai_pct&amp;dir=asc"'
    assert f'aria-sort="descending" class="num">{toggle}' in desc
    asc = as_alice.get(url, {"sort": "promptster_ai_pct", "dir": "asc"}).content.decode()
    # Sessions without a value come last either way.
    assert _rows(asc) == [cohort["ada"], cohort["bea"], cohort["cy"], cohort["dee"]]
    by_name = as_alice.get(url, {"sort": "candidate", "dir": "desc"}).content.decode()
    assert _rows(by_name) == [cohort["dee"], cohort["cy"], cohort["bea"], cohort["ada"]]


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "bogus", "dir": "sideways"},
        {"sort": "", "dir": ""},
        {"sort": "number';--", "dir": "DESC"},
        {"sort": "x" * 5000},
    ],
)
def test_bad_sort_parameters_fall_back(as_alice: Client, cohort: dict, query: dict) -> None:
    response = as_alice.get(f"/assessments/{cohort['asmt']}/", query)
    assert response.status_code == 200
    assert len(_rows(response.content.decode())) == 4


def test_a_bad_sort_is_explained(as_alice: Client, cohort: dict) -> None:
    response = as_alice.get(f"/assessments/{cohort['asmt']}/", {"sort": "bogus", "dir": "up"})
    assertContains(response, "That column cannot be sorted on")
    assertContains(response, "The sort direction must be")


def test_htmx_sorting_swaps_only_the_live_region(as_alice: Client, cohort: dict) -> None:
    response = as_alice.get(
        f"/assessments/{cohort['asmt']}/", {"sort": "candidate"}, headers={"HX-Request": "true"}
    )
    assertContains(response, 'id="cohort-table"')
    assertContains(response, "Distributions")
    assertNotContains(response, "<html")
    assertNotContains(response, "Prefetch all")


def test_the_table_fills_in_while_timelines_are_missing(as_alice, cohort, org_a) -> None:
    """Dee's timeline is not stored: the region polls itself, keeping the sort, until it is."""
    url = f"/assessments/{cohort['asmt']}/?sort=candidate&dir=asc"
    page = as_alice.get(url).content.decode()
    live = re.search(r'<div id="cohort-live" hx-get="([^"]+)" hx-trigger="every 2s"', page)
    assert live and "sort=candidate" in live.group(1)
    assert "not fetched" in _row(page, cohort["dee"])

    prefetch.prefetch(org_a, cohort["dee"])
    poll = as_alice.get(live.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    html = poll.content.decode()
    assert "not fetched" not in _row(html, cohort["dee"])
    assert 'hx-trigger="every 2s"' not in html  # nothing left to fetch: polling stops


def test_each_poll_queues_the_next_batch(as_alice, org_a, sandbox) -> None:
    from reviewer.models import TimelineSync
    from tests.conftest import ACME

    assessment = sandbox.state.assessments_for(ACME["id"])[0]["id"]
    as_alice.get(f"/assessments/{assessment}/")
    as_alice.get(f"/assessments/{assessment}/", headers={"HX-Request": "true"})
    queued = TimelineSync.objects.filter(state="queued").count()
    assert queued == 2 * tasks.VIEW_BATCH


def test_an_invalid_assessment_id_is_404(as_alice: Client, sandbox) -> None:
    assert as_alice.get("/assessments/bad%20id/").status_code == 404
    assert as_alice.get("/assessments/bad%20id/cohort.csv").status_code == 404


def test_an_unknown_assessment_is_an_empty_cohort(as_alice: Client, sandbox) -> None:
    response = as_alice.get(f"/assessments/asmt-{uuid.uuid4().hex[:12]}/")
    assertContains(response, "No sessions in this assessment")


# --- CSV ---------------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_csv_holds_the_cohort_table(as_alice: Client, cohort: dict) -> None:
    rows = _csv(as_alice.get(f"/assessments/{cohort['asmt']}/cohort.csv"))
    header = rows[0]
    assert header[:7] == [
        "number",
        "session_id",
        "candidate",
        "status",
        "started_at",
        "ended_at",
        "events",
    ]
    body = {r[1]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(body) == {cohort["ada"], cohort["bea"], cohort["cy"], cohort["dee"]}
    ada = body[cohort["ada"]]
    assert ada["candidate"] == "Ada"
    assert ada["status"] == "stored"
    assert ada["events"] == "19"
    assert ada["promptster_ai_pct"] == "40"
    assert ada["ai_lines_pct"] == "44.4"
    assert ada["ai_lines_weighted_pct"] == "53.0"
    assert ada["prompts"] == "3"
    assert ada["command_fail_pct"] == "33.3"
    assert ada["test_pass_pct"] == "50"
    assert ada["tested_after_ai_pct"] == "50"
    assert ada["first_change_s"] == "180"
    assert ada["duration_s"] == "7200"
    assert ada["promptster_ai_pct_percentile"] == "25"
    assert body[cohort["cy"]]["status"] == "running"
    assert body[cohort["cy"]]["promptster_ai_pct_percentile"] == ""
    assert body[cohort["dee"]]["status"] == "not_fetched"
    assert body[cohort["dee"]]["prompts"] == ""


def test_the_csv_follows_the_sort(as_alice: Client, cohort: dict) -> None:
    rows = _csv(
        as_alice.get(
            f"/assessments/{cohort['asmt']}/cohort.csv", {"sort": "candidate", "dir": "desc"}
        )
    )
    assert [r[2] for r in rows[1:]] == ["Dee", "Cy", "Bea", "Ada"]


def test_the_csv_neutralises_formulas(as_alice: Client, sandbox, org_a: Organization) -> None:
    asmt = f"asmt-{uuid.uuid4().hex[:12]}"
    names = [
        '=HYPERLINK("http://evil.example","x")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        'Plain, "Q"',
        ";=1+1",  # a semicolon locale splits the cell there
        '"=2+2',
        " \t=3+3",
    ]
    for name in names:
        _add(sandbox, BEA_EVENTS, assessment=asmt, name=name)
    response = as_alice.get(f"/assessments/{asmt}/cohort.csv")
    raw_lines = response.content.decode().splitlines()
    assert all(line.startswith('"') for line in raw_lines)  # every cell quoted
    rows = _csv(response)
    candidates = sorted(r[2] for r in rows[1:])
    assert candidates == sorted(
        [
            '\'=HYPERLINK("http://evil.example","x")',
            "'+1+1",
            "'-2+3",
            "'@SUM(A1)",
            "';=1+1",
            "'\"=2+2",
            "' \t=3+3",
            'Plain, "Q"',
        ]
    )


# --- isolation ---------------------------------------------------------------------------------


def test_charlie_sees_none_of_acmes_cohort(as_charlie: Client, cohort: dict) -> None:
    response = as_charlie.get(f"/assessments/{cohort['asmt']}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _rows(html) == []
    for key in ("ada", "bea", "cy", "dee"):
        assert cohort[key] not in html
    assert "Ada" not in html
    rows = _csv(as_charlie.get(f"/assessments/{cohort['asmt']}/cohort.csv"))
    assert rows == [rows[0]]


def test_charlie_cannot_compare_acme_sessions(as_charlie: Client, cohort: dict) -> None:
    assert as_charlie.get("/compare/", {"a": cohort["ada"], "b": cohort["bea"]}).status_code == 404
    assert as_charlie.get("/compare/", {"a": cohort["ada"]}).status_code == 404


# --- compare -----------------------------------------------------------------------------------


def test_two_sessions_side_by_side(as_bob: Client, cohort: dict) -> None:
    response = as_bob.get("/compare/", {"a": cohort["ada"], "b": cohort["bea"]})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-session-id="{cohort["ada"]}"' in html
    assert f'data-session-id="{cohort["bea"]}"' in html
    assert html.index("A: Ada") < html.index("B: Bea")
    # Both summaries, each linking into its own timeline.
    assert f'href="/sessions/{cohort["ada"]}/?kind=prompt"><strong>3</strong> prompts' in html
    assert f'href="/sessions/{cohort["bea"]}/?kind=prompt"><strong>1</strong> prompt<' in html
    assert "21.1%" in html and "33.3%" in html  # likely-AI share of events, Ada and Bea


def test_a_not_fetched_session_compares_on_upstream_fields(as_bob: Client, cohort: dict) -> None:
    response = as_bob.get("/compare/", {"a": cohort["ada"], "b": cohort["dee"]})
    assert response.status_code == 200
    assertContains(response, "Timeline not fetched yet")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"a": "<script>x</script>", "b": ""}, "Session A is not a valid session id."),
        ({"a": "x" * 5000}, "Session A is not a valid session id."),
    ],
)
def test_malformed_ids_are_explained_beside_the_picker(
    as_alice: Client, sandbox, query: dict, message: str
) -> None:
    response = as_alice.get("/compare/", query)
    assert response.status_code == 200
    assertContains(response, message)
    assertContains(response, 'name="a"')
    assertContains(response, 'name="b"')
    assertNotContains(response, "<script>x</script>")


def test_the_picker_starts_from_candidates_by_name(as_alice: Client, cohort: dict) -> None:
    """No warnings before anything is chosen; candidates by name, grouped by assessment, and
    a find box that narrows them (the htmx request swaps only the list)."""
    html = as_alice.get("/compare/").content.decode()
    assert "notice-warn" not in html
    assert re.search(rf'<option value="{cohort["bea"]}">Bea', html)
    found = as_alice.get(
        "/compare/",
        {"find": "BE", "a": cohort["ada"]},
        headers={"HX-Request": "true", "HX-Target": "compare-found"},
    ).content.decode()
    assert "<html" not in found
    assert f'href="?a={cohort["ada"]}&amp;b={cohort["bea"]}">compare with A' in found
    assert f'data-session-id="{cohort["cy"]}"' not in found
    nothing = as_alice.get("/compare/", {"find": "zzz-nobody"}).content.decode()
    assert "No candidate matches" in nothing


def test_the_differences_that_matter_are_marked(as_bob: Client, cohort: dict) -> None:
    html = as_bob.get("/compare/", {"a": cohort["ada"], "b": cohort["bea"]}).content.decode()
    table = html[html.index('id="compare-metrics-h"') :]

    def row(key: str) -> str:
        start = table.index(f'data-metric="{key}"')
        return table[start : table.index("</tr>", start)]

    # Ada sent 3 prompts and Bea 1: half again as many and 2 apart.
    assert 'class="differs"' in table[table.index('data-metric="prompts"') - 20 :][:60]
    assert "differs" in row("prompts")
    # Promptster's estimates, 40% and 60%: 20 points apart.
    assert "differs" in row("promptster_ai_pct")
    assert "higher" in row("promptster_ai_pct").split("</td>")[1]  # B's is the higher one


def test_one_session_chosen_offers_partners(as_alice: Client, cohort: dict) -> None:
    response = as_alice.get("/compare/", {"a": cohort["ada"], "b": "../../etc"})
    assert response.status_code == 200
    assertContains(response, "Session B is not a valid session id.")
    assertContains(response, f'href="?a={cohort["ada"]}&amp;b={cohort["bea"]}">compare with A')


def test_an_unknown_session_is_404(as_alice: Client, cohort: dict) -> None:
    missing = str(uuid.uuid4())
    assert as_alice.get("/compare/", {"a": cohort["ada"], "b": missing}).status_code == 404


def test_opening_a_cohort_queues_the_timelines_its_statistics_lack(as_alice, org_a, sandbox):
    from reviewer.models import TimelineSync
    from tests.conftest import ACME

    assessment = sandbox.state.assessments_for(ACME["id"])[0]["id"]
    response = as_alice.get(f"/assessments/{assessment}/")
    assert response.status_code == 200
    ended = [
        s["id"]
        for s in sandbox.state.sessions_for(ACME["id"])
        if s["metadata"].get("assessmentId") == assessment and s["endedAt"]
    ]
    queued = TimelineSync.objects.filter(session_id__in=ended, state="queued").count()
    assert queued == tasks.VIEW_BATCH < len(ended)  # a page view queues a bounded batch
    assert f"Fetching {queued} timeline".encode() in response.content


def test_cohort_views_of_one_organization_queue_a_bounded_number(as_alice, org_a, sandbox):
    from reviewer.models import TimelineSync
    from tests.conftest import ACME

    assessments = [a["id"] for a in sandbox.state.assessments_for(ACME["id"])]
    # The quota counts per clock minute: start in a fresh one, so all views share one window.
    time.sleep(max(0.0, 60 - time.time() % 60) if time.time() % 60 > 30 else 0)
    for _ in range(3):
        for assessment in assessments:
            assert as_alice.get(f"/assessments/{assessment}/").status_code == 200
    assert TimelineSync.objects.filter(state="queued").count() <= tasks.ORG_PER_MINUTE


@pytest.mark.parametrize(
    ("key", "a", "b", "marked"),
    [
        ("hand_lines_pct", 40.0, 55.0, True),  # 15 points apart
        ("hand_lines_pct", 40.0, 54.9, False),
        ("prompts", 2.0, 3.0, False),  # half again, but only 1 apart
        ("prompts", 4.0, 6.0, True),
        ("prompts", 0.0, 2.0, True),
        ("prompts", 0.0, 0.0, False),
        ("duration_s", 600.0, 850.0, False),  # under half again
        ("duration_s", 60.0, 100.0, False),  # half again, but under a minute apart
        ("duration_s", 600.0, 900.0, True),
        ("decisions", None, 9.0, False),  # known on one side only
    ],
)
def test_which_differences_are_marked(key, a, b, marked) -> None:
    from reviewer import comparison
    from reviewer.cohort import METRICS_BY_KEY

    assert comparison.differs(METRICS_BY_KEY[key], a, b) is marked
    assert comparison.differs(METRICS_BY_KEY[key], b, a) is marked
