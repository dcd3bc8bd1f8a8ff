"""Turns: a prompt and every event until the next prompt (turn 0 is what comes before the
first prompt), summed up in counts so a long session reads as its conversation first.

Each stored event records the seq of the prompt that opened its turn (`StoredEvent.turn`),
so a session's turns are one grouped query plus one for the attribution mix of their
changes, whatever its size.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Max, Min, Q, Sum

from reviewer import text, upstream
from reviewer.models import StoredEvent, TimelineSync, event_key
from reviewer.summarize import lone_test_command_q

START = "start"  # the key of turn 0
PREVIEW_LINES = 3
PREVIEW_CHARS = 280
# Events a reviewer skims: one line each inside a turn.
LOW_SIGNAL_KINDS = (
    *upstream.TOOL_KINDS,
    "planning",
    "file_read",
    "file_search",
    "dir_list",
    "planning_read",
    "context_compact",
    "subagent_start",
    "subagent_stop",
    "tool_intent",
    "web_lookup",
    "task_dispatch",
)


@dataclass
class Turn:
    seq: int  # the opening prompt's position; -1 for turn 0
    key: str  # the prompt's key (`data-turn`), or "start"
    number: int  # 0 for the events before the first prompt, then 1, 2 …
    first_seq: int
    last_seq: int
    start: datetime | None
    end: datetime | None
    events: int
    files: int
    added: int
    removed: int
    commands: int
    commands_failed: int
    tests: int  # test runs (a test command and its test_run once)
    tests_failed: int
    tool_calls: int
    tool_failed: int
    tool_rejected: int
    decisions: int
    failures: int
    mix: dict[str, int] = field(default_factory=dict)  # changed lines by attribution
    prompt: str = ""  # the prompt's first lines
    prompt_cut: bool = False

    @property
    def duration(self) -> timedelta | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    @property
    def failed(self) -> bool:
        return self.failures > 0

    @property
    def lines(self) -> int:
        return self.added + self.removed


def _turn_number(seqs: list[int]) -> dict[int, int]:
    """Numbers of every turn: 0 for what comes before the first prompt, then 1, 2 …"""
    ordered = sorted(seqs)
    offset = 0 if -1 in ordered else 1
    return {seq: i + offset for i, seq in enumerate(ordered)}


def _numbers_in_whole(sync: TimelineSync, seqs: list[int]) -> dict[int, int]:
    """The numbers some turns have in the whole list: each prompt opens a turn, so a turn's
    number is its prompt's place among the session's prompts."""
    prompts = list(
        StoredEvent.objects.for_sync(sync)
        .filter(kind="prompt")
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    return {seq: 0 if seq < 0 else bisect_left(prompts, seq) + 1 for seq in seqs}


def turns_of(
    sync: TimelineSync,
    *,
    since: int | None = None,
    until: int | None = None,
    only: Iterable[int] | None = None,
) -> list[Turn]:
    """Every turn of what is stored, in order, or some of them, numbered as in the whole
    list: with `since` (a turn's seq), that turn and those after it (a live tail while the
    timeline grows), up to the turn `until` if given; with `only`, the turns of those seqs
    (a search's few turns; `fragments.listed_turns` finds them).
    Only the turns asked for are counted."""
    events = StoredEvent.objects.for_sync(sync).order_by()
    windowed = since is not None or until is not None or only is not None
    if since is not None:
        events = events.filter(turn__gte=since)
    if until is not None:
        events = events.filter(turn__lte=until)
    if only is not None:
        events = events.filter(turn__in=list(only))
    changes = Q(kind__in=upstream.CHANGE_KINDS)
    tests = Q(kind="test_run") | lone_test_command_q(StoredEvent.objects.for_sync(sync))
    tools = Q(kind__in=upstream.TOOL_KINDS)
    rows = list(
        events.values("turn").annotate(
            n=Count("id"),
            first_seq=Min("seq"),
            last_seq=Max("seq"),
            start=Min("ts"),
            end=Max("ts"),
            files=Count("path", filter=changes & ~Q(path=""), distinct=True),
            added=Sum("lines_added", filter=changes, default=0),
            removed=Sum("lines_removed", filter=changes, default=0),
            commands=Count("id", filter=Q(kind="command")),
            commands_failed=Count("id", filter=Q(kind="command", failed=True)),
            tests=Count("id", filter=tests),
            tests_failed=Count("id", filter=tests & Q(failed=True)),
            tool_calls=Count("id", filter=tools),
            tool_failed=Count("id", filter=tools & Q(failed=True)),
            tool_rejected=Count("id", filter=Q(failure=upstream.Failure.REJECTED)),
            decisions=Count("id", filter=Q(kind="decision_event")),
            failures=Count("id", filter=Q(failed=True)),
        )
    )
    seqs = [r["turn"] for r in rows]
    numbers = _numbers_in_whole(sync, seqs) if windowed else _turn_number(seqs)
    mixes: dict[int, dict[str, int]] = {}
    for turn, attribution, lines in (
        events.filter(changes)
        .values("turn", "attribution")
        .annotate(lines=Sum(F("lines_added") + F("lines_removed")))
        .values_list("turn", "attribution", "lines")
    ):
        if lines:
            mixes.setdefault(turn, {})[attribution] = lines
    keys = dict(
        (seq, event_key(event_id, variant))
        for seq, event_id, variant in events.filter(kind="prompt").values_list(
            "seq", "event_id", "variant"
        )
    )
    out = []
    for r in sorted(rows, key=lambda r: r["turn"]):
        out.append(
            Turn(
                seq=r["turn"],
                key=keys.get(r["turn"], START) if r["turn"] >= 0 else START,
                number=numbers[r["turn"]],
                first_seq=r["first_seq"],
                last_seq=r["last_seq"],
                start=r["start"],
                end=r["end"],
                events=r["n"],
                files=r["files"],
                added=r["added"] or 0,
                removed=r["removed"] or 0,
                commands=r["commands"],
                commands_failed=r["commands_failed"],
                tests=r["tests"],
                tests_failed=r["tests_failed"],
                tool_calls=r["tool_calls"],
                tool_failed=r["tool_failed"],
                tool_rejected=r["tool_rejected"],
                decisions=r["decisions"],
                failures=r["failures"],
                mix=mixes.get(r["turn"], {}),
            )
        )
    return out


def with_prompts(sync: TimelineSync, turns: list[Turn]) -> list[Turn]:
    """Fill in the first lines of each turn's prompt (for the turns about to be shown)."""
    seqs = [t.seq for t in turns if t.seq >= 0]
    rows = StoredEvent.objects.for_sync(sync).filter(seq__in=seqs).for_display()
    previews = {row.seq: _preview(row.display) for row in rows}  # type: ignore[attr-defined]
    for turn in turns:
        turn.prompt, turn.prompt_cut = previews.get(turn.seq, ("", False))
    return turns


def _preview(raw_json: str) -> tuple[str, bool]:
    try:
        raw = json.loads(raw_json)
    except ValueError:
        return "", False
    data = raw.get("data") if isinstance(raw, dict) else None
    data = data if isinstance(data, dict) else {}
    value = data.get("text") if isinstance(data.get("text"), str) else data.get("prompt")
    if not isinstance(value, str):
        return "", False
    value = text.clean(value).strip()
    lines = value.splitlines()
    head = "\n".join(lines[:PREVIEW_LINES])
    cut = len(lines) > PREVIEW_LINES or len(head) > PREVIEW_CHARS
    return head[:PREVIEW_CHARS], cut


# --- plan updates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanItem:
    change: str  # "added", "done", "started", "removed", "kept"
    text: str
    status: str


def _todos(raw_json: str) -> list[tuple[str, str]]:
    try:
        raw = json.loads(raw_json)
    except ValueError:
        return []
    data = raw.get("data") if isinstance(raw, dict) else None
    todos = data.get("todos") if isinstance(data, dict) else None
    if not isinstance(todos, list):
        return []
    out = []
    for item in todos:
        if isinstance(item, dict):
            content = next(
                (item[k] for k in ("content", "text", "title") if isinstance(item.get(k), str)), ""
            )
            status = item.get("status")
            if content:
                out.append(
                    (text.clean(content), text.clean(status if isinstance(status, str) else ""))
                )
        elif isinstance(item, str):
            out.append((text.clean(item), ""))
    return out


def plan_changes(
    previous: Iterable[tuple[str, str]], current: Iterable[tuple[str, str]]
) -> list[PlanItem]:
    """What a plan update changed since the previous plan, item by item."""
    before = dict(previous)
    after = list(current)
    seen = {content for content, _ in after}
    items = []
    for content, status in after:
        if content not in before:
            items.append(PlanItem("added", content, status))
        elif before[content] != status:
            change = (
                "done"
                if status == "completed"
                else ("started" if status == "in_progress" else "kept")
            )
            items.append(PlanItem(change, content, status))
    items += [
        PlanItem("removed", content, status)
        for content, status in before.items()
        if content not in seen
    ]
    return items


def plan_updates(sync: TimelineSync, seqs: Iterable[int]) -> dict[int, list[PlanItem]]:
    """For each planning event (by position), what it changed since the plan before it."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    rows = (
        StoredEvent.objects.for_sync(sync)
        .filter(kind="planning", seq__lte=wanted[-1])
        .order_by("seq")
        .values_list("seq", "raw")
    )
    first = wanted[0]
    earlier = (
        StoredEvent.objects.for_sync(sync)
        .filter(kind="planning", seq__lt=first)
        .order_by("-seq")
        .values_list("raw", flat=True)
        .first()
    )
    previous = _todos(earlier) if earlier else []
    out: dict[int, list[PlanItem]] = {}
    for seq, raw in rows.filter(seq__gte=first):
        current = _todos(raw)
        if seq in wanted:
            out[seq] = plan_changes(previous, current)
        previous = current
    return out
