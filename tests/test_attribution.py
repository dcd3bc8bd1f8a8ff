"""The attribution summary of one session: exact numbers on a constructed timeline, the panel on
the session and shared pages, the full page, partial summaries and isolation."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from pytest_django.asserts import assertContains, assertNotContains

from reviewer import prefetch
from reviewer.models import Organization, TimelineSync
from tests.conftest import ACME

SHARE_URL = re.compile(r'(https?://[^"\s<]+/shared/[A-Za-z0-9_-]+/)')


def _ev(kind: str, ts: str | None, data: dict | None = None, prov: object = ..., **extra) -> dict:
    event: dict = {"kind": kind, "data": data or {}, **extra}
    if ts is not None:
        event["ts"] = f"2026-11-02T{ts}Z"
    if prov is not ...:
        event["provenance"] = prov
    return event


def _p(attribution: str, confidence: float | None = None) -> dict:
    prov: dict = {"attribution": attribution, "observability": "high"}
    if confidence is not None:
        prov["confidence"] = confidence
    return prov


# 19 events over two hours (24 buckets of 5 minutes). Attribution per event, with the
# confidence that counts (None → 0.5):
#   system_generated  session_start, session_end, undated checkpoint (no provenance),
#                     failing test_run (1.0)                                     4 events, 2.5
#   likely_human      3 prompts (.8, .8, none), ls (.7), README (.7), decision   6 events, 4.1
#   likely_ai         ai_response, models.py diff, pytest (all .9), views diff (.5) 4 events, 3.2
#   ai_revised_by_human  models.py diff (.6)                                     1 event,  0.6
#   unknown           test_run (null provenance), views.py create (provenance as a plain
#                     string), npm test (no provenance)                           3 events, 1.5
#   mixed             an unknown kind (.3)                                        1 event,  0.3
# Changed lines: models.py 12 (AI) + 4 (revised), views.py 20 (unknown) + 8 (AI), README 1.
EXACT_EVENTS = [
    _ev("session_start", "10:00:00", {"cwd": "/w"}),
    _ev("prompt", "10:01:00", {"text": "Add the model"}, _p("likely_human", 0.8)),
    _ev("ai_response", "10:02:00", {"lastAssistantMessage": "Done"}, _p("likely_ai", 0.9)),
    _ev(
        "file_diff",
        "10:03:00",
        {"path": "app/models.py", "linesAdded": 10, "linesRemoved": 2},
        _p("likely_ai", 0.9),
    ),
    _ev("command", "10:04:00", {"command": "pytest -q", "exitCode": 1}, _p("likely_ai", 0.9)),
    _ev(
        "file_diff",
        "10:12:00",
        {"path": "app/models.py", "linesAdded": 3, "linesRemoved": 1},
        _p("ai_revised_by_human", 0.6),
    ),
    _ev("test_run", "10:13:00", {"passed": 5, "failed": 0}, None),
    _ev("prompt", "10:30:00", {"text": "Now the views"}, _p("likely_human", 0.8)),
    _ev("file_create", "10:31:00", {"path": "app/views.py", "linesAdded": 20}, "claude_code"),
    _ev(
        "file_diff",
        "10:32:00",
        {"path": "app/views.py", "linesAdded": 4, "linesRemoved": 4},
        _p("likely_ai", 0.5),
    ),
    _ev("command", "10:40:00", {"command": "ls -la", "exitCode": 0}, _p("likely_human", 0.7)),
    _ev("mystery_kind", "10:50:00", {"anything": True}, _p("mixed", 0.3)),
    _ev("prompt", "11:00:00", {"text": "Docs"}, {"attribution": "likely_human"}),
    _ev(
        "file_diff",
        "11:05:00",
        {"path": "README.md", "linesAdded": 1, "linesRemoved": 0},
        _p("likely_human", 0.7),
    ),
    _ev("test_run", "11:06:00", {"passed": 4, "failed": 1}, _p("system_generated", 1.0)),
    _ev(
        "decision_event",
        "11:30:00",
        {"title": "Use SQLite", "rationale": "simple"},
        _p("likely_human", 0.6),
    ),
    _ev("command", "11:50:00", {"command": "npm test", "exitCode": 0}),
    _ev("session_end", "12:00:00", {"reason": "done"}),
    _ev("checkpoint", None, {"label": "undated"}),
]


def _add(
    sandbox,
    events: list[dict],
    *,
    assessment: str = "",
    name: str = "Ada Exact",
    ended: bool = True,
    pct: float | None = 62.5,
    org_id: str = ACME["id"],
    started: str = "10:00:00",
) -> str:
    session = {
        "sourceService": "claude-code",
        "startedAt": f"2026-11-02T{started}Z",
        "metadata": {
            "assessmentId": assessment or f"asmt-{uuid.uuid4().hex[:12]}",
            "candidateName": name,
        },
        "aiAttributionPct": pct,
    }
    if ended:
        session["endedAt"] = "2026-11-02T12:00:00Z"
    else:
        session["endedAt"] = None
    return sandbox.state.add_session(org_id, session, events)


@pytest.fixture
def exact(sandbox, org_a: Organization) -> str:
    sid = _add(sandbox, EXACT_EVENTS)
    prefetch.prefetch(org_a, sid)
    return sid


def _section(html: str, heading: str) -> str:
    """The HTML of one summary section, from its heading to the next section."""
    start = html.index(heading)
    end = html.find("</section>", start)
    return html[start:end]


# --- exact numbers ------------------------------------------------------------------------------


def test_it_shows_raw_and_weighted_shares_of_events_and_lines(as_alice: Client, exact: str) -> None:
    response = as_alice.get(f"/sessions/{exact}/attribution/")
    assert response.status_code == 200
    html = response.content.decode()
    shares = _section(html, ">Share by attribution</h3>")
    row = re.search(r'data-attribution="likely_ai">(.*?)</tr>', shares, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    # events, events %, weighted, lines, lines %, weighted, mean confidence, no confidence
    assert cells == ["4", "21.1%", "26.2%", "20", "44.4%", "53.0%", "0.80", "0"]
    human = re.search(r'data-attribution="likely_human">(.*?)</tr>', shares, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', human) == [
        "6",
        "31.6%",
        "33.6%",
        "1",
        "2.2%",
        "2.5%",
        "0.72",
        "1",
    ]
    unknown = re.search(r'data-attribution="unknown">(.*?)</tr>', shares, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', unknown)
    assert cells[:4] == ["3", "15.8%", "12.3%", "20"]
    totals = re.search(r"<tfoot>(.*?)</tfoot>", shares, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', totals)[:4] == ["19", "100%", "100%", "45"]
    assertContains(response, "Events without a confidence count 0.5 (7 of 19 here)")
    assertContains(response, "(<code>aiAttributionPct</code>): <strong>62.5% AI")


def test_it_splits_the_session_into_time_buckets(as_alice: Client, exact: str) -> None:
    html = as_alice.get(f"/sessions/{exact}/attribution/").content.decode()
    over_time = _section(html, ">Over time</h3>")
    assert "24 buckets of 5m 00s" in over_time
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\">([^<]+)</td>(.*?)</tr>", over_time, re.S)
    assert len(rows) == 24
    counts = {span: re.findall(r'<td class="num">([^<]*)</td>', rest) for span, rest in rows}
    # From start, events, 6 attribution columns, prompts, changed lines, commands, tests.
    assert counts["+0:00:00–+0:05:00"] == [
        "5",
        "3",
        "0",
        "1",
        "0",
        "1",
        "0",
        "1",
        "12",
        "1 (1)",
        "1 (1)",
    ]
    assert counts["+0:10:00–+0:15:00"] == [
        "2",
        "0",
        "1",
        "0",
        "0",
        "0",
        "1",
        "0",
        "4",
        "0 (0)",
        "1 (0)",
    ]
    assert counts["+1:05:00–+1:10:00"][:2] == ["2", "0"]
    assert counts["+1:50:00–+1:55:00"][-1] == "1 (0)"  # npm test counts as a test
    assert counts["+1:55:00–+2:00:00"][:1] == ["1"]  # session_end at the very end
    assert sum(int(c[0]) for c in counts.values()) == 18
    assert "1 event without a timestamp is counted everywhere except over time" in over_time
    assert "first third: 50% passing of 2" in over_time
    assert "middle third: 0% passing of 1" in over_time
    assert "last third: 100% passing of 1" in over_time
    assert over_time.count('role="img"') == 2


def test_it_lists_files_and_hand_edits(as_alice: Client, exact: str) -> None:
    html = as_alice.get(f"/sessions/{exact}/attribution/").content.decode()
    files = _section(html, ">Files</h3>")
    assert "3 files changed; <strong>2</strong> edited by hand" in files
    paths = re.findall(r'<a class="mono" href="[^"]*">([^<]+)</a>', files)
    assert paths == ["app/views.py", "app/models.py", "README.md"]
    models_row = files[files.index("app/models.py</a>") :]
    models_row = models_row[: models_row.index("</tr>")]
    assert '<span class="add">+13</span> <span class="del">−3</span>' in models_row
    assert "Likely AI</span> +10 −2" in models_row
    assert "AI, revised by human</span> +3 −1" in models_row
    assert "✎ by hand" in models_row
    views_row = files[files.index("app/views.py</a>") :]
    assert "✎ by hand" not in views_row[: views_row.index("</tr>")]


def test_it_states_process_facts_with_links_into_the_timeline(as_alice: Client, exact: str) -> None:
    response = as_alice.get(f"/sessions/{exact}/attribution/")
    base = f"/sessions/{exact}/"
    html = response.content.decode()
    process = _section(html, ">Working process</h3>")
    assert f'<a href="{base}?kind=prompt"><strong>3</strong> prompts</a>' in process
    assert f'<a href="{base}?kind=ai_response"><strong>1</strong> AI response</a>' in process
    assert f'<a href="{base}?kind=command&amp;failures=1"><strong>1</strong> failed</a> (33%)' in (
        process
    )
    assert f'<a href="{base}?kind=test_run"><strong>2</strong> test runs</a>, 50% passing' in (
        process
    )
    assert (
        "plus 2 test commands (pytest, npm test…) with no test run of their own, 1 failing"
        in process
    )
    assert "<strong>1</strong> of 2 likely-AI file changes</a> (50%) were followed" in process
    assert f'<a href="{base}?attribution=likely_human"><strong>2</strong> file changes by hand' in (
        process
    )
    assert "First file change</a> 3m 00s after the start" in process
    assert f'<a href="{base}?kind=decision_event"><strong>1</strong> decision captured' in process
    assert f'<a href="{base}?kind=mystery_kind">mystery_kind</a> 1' in process
    # The links really filter the timeline.
    failed = as_alice.get(f"{base}timeline/?kind=command&failures=1").content.decode()
    assert failed.count("data-event-id=") == 1


def test_the_session_page_shows_the_panel(as_bob: Client, exact: str) -> None:
    response = as_bob.get(f"/sessions/{exact}/")
    assertContains(response, 'id="attribution-panel"')
    assertContains(response, f'href="/sessions/{exact}/attribution/">Full attribution summary')
    # Links inside the panel are relative to the page: the same rendering serves a share link.
    assertContains(response, 'href="?kind=command&amp;failures=1"')
    assertContains(response, '<td class="num">21.1%</td><td class="num">26.2%</td>')
    assertNotContains(response, "Partial summary")


def test_the_shared_page_panel_links_only_inside_the_share(
    as_bob: Client, exact: str, client: Client
) -> None:
    created = as_bob.post(f"/sessions/{exact}/share/", {"expires_in_hours": 24})
    url = SHARE_URL.search(created.content.decode()).group(1)
    path = url[url.index("/shared/") :]
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    panel = html[html.index('id="attribution-panel"') :]
    panel = panel[: panel.index("</aside>")]
    assert 'href="?kind=command&amp;failures=1"' in panel  # relative: stays inside the share
    assert 'href="?kind=prompt"' in panel
    for member_only in ("/attribution/", "/assessments/", "/compare/", "/sessions/"):
        assert member_only not in panel


# --- edge cases -------------------------------------------------------------------------------


def test_a_zero_event_session_says_so(as_alice: Client, sandbox, org_a: Organization) -> None:
    sid = _add(sandbox, [], pct=None)
    prefetch.prefetch(org_a, sid)
    response = as_alice.get(f"/sessions/{sid}/attribution/")
    assertContains(response, "This session's timeline has no events")
    assertContains(response, "no file changes")  # ended, nothing changed: nothing to attribute
    panel = as_alice.get(f"/sessions/{sid}/")
    assertContains(panel, "This session's timeline has no events")


def test_nothing_stored_yet_is_said_plainly(as_alice: Client, sandbox, org_a: Organization) -> None:
    sid = _add(sandbox, EXACT_EVENTS[:3])
    response = as_alice.get(f"/sessions/{sid}/attribution/")
    assert response.status_code == 200
    # Opening the page queues a fetch (or says the queue is down); either way nothing is made up.
    assert re.search(
        r"as soon as the first events are stored|No timeline stored yet", response.content.decode()
    )
    assertNotContains(response, "Share by attribution")


def test_a_partial_store_is_marked(as_alice: Client, exact: str, org_a: Organization) -> None:
    # As if prefetch were still running: 19 events stored of 40 expected.
    TimelineSync.objects.filter(organization=org_a, session_id=exact).update(
        complete=False, expected_events=40, state=TimelineSync.State.RUNNING
    )
    response = as_alice.get(f"/sessions/{exact}/attribution/")
    assertContains(response, "based on 19 of 40 events stored")
    assertContains(response, 'hx-trigger="every 3s"')
    page = as_alice.get(f"/sessions/{exact}/")
    assertContains(page, "based on 19 of 40 events stored")
    assertContains(page, f'hx-get="/sessions/{exact}/summary/"')  # the panel follows the fetch
    panel = as_alice.get(f"/sessions/{exact}/summary/", headers={"HX-Request": "true"})
    assertContains(panel, "based on 19 of 40 events stored")


def test_polling_stops_once_the_fetch_is_over(as_alice: Client, exact: str) -> None:
    response = as_alice.get(f"/sessions/{exact}/attribution/", headers={"HX-Request": "true"})
    assert response.status_code == 286
    assertContains(response, 'id="attribution-body"', status_code=286)
    assertNotContains(response, "<html", status_code=286)


def test_the_summary_is_cached_until_the_store_changes(
    as_alice: Client, exact: str, django_assert_max_num_queries
) -> None:
    as_alice.get(f"/sessions/{exact}/attribution/")
    with django_assert_max_num_queries(8):  # session, memberships, sync: no summary queries
        response = as_alice.get(f"/sessions/{exact}/attribution/")
    assertContains(response, "21.1%")


def test_hostile_text_is_escaped_in_charts_and_tables(
    as_alice: Client, sandbox, org_a: Organization
) -> None:
    evil = "<script>alert(1)</script>\u202e.py"
    sid = _add(
        sandbox,
        [
            _ev("file_diff", "10:01:00", {"path": evil, "linesAdded": 1}, _p("likely_human", 0.9)),
            _ev("<b>kind</b>", "10:02:00", {}, _p("mixed", 0.5)),
        ],
        name="<img src=x onerror=alert(1)>",
    )
    prefetch.prefetch(org_a, sid)
    response = as_alice.get(f"/sessions/{sid}/attribution/")
    assertNotContains(response, "<script>alert(1)")
    assertNotContains(response, "<b>kind</b>")
    assertNotContains(response, "<img src=x")
    assertContains(response, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;U+202E&gt;.py")
    assertNotContains(response, "style=")


# --- isolation ---------------------------------------------------------------------------------


def test_charlie_cannot_see_acme_attribution(as_charlie: Client, exact: str) -> None:
    assert as_charlie.get(f"/sessions/{exact}/attribution/").status_code == 404
    assert as_charlie.get(f"/compare/?a={exact}&b={exact}").status_code == 404


def test_foreign_summaries_are_not_served_from_the_cache(
    as_alice: Client, as_charlie: Client, exact: str
) -> None:
    assert as_alice.get(f"/sessions/{exact}/attribution/").status_code == 200
    assert as_charlie.get(f"/sessions/{exact}/attribution/").status_code == 404


def test_logged_out_users_are_sent_to_login(client: Client, exact: str) -> None:
    response = client.get(f"/sessions/{exact}/attribution/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
