"""Each file's story in a session: its changes in order and, where the session holds the whole
file, its final content with the event that last wrote each line (an AI blame).

A file's content is known from a `file_create` with `content`, a whole-file write (a
`file_diff` with `content`) or a new-file diff. After that, edits are replayed: an Edit's
`oldString` → `newString` (it must occur exactly once, as the tool requires), or a unified
diff's hunks (their context and removed lines must match). Lines a change leaves as they were
keep the event that wrote them, as `git blame` does.

A change that cannot be replayed (its old text is not in the file as reconstructed: the file
changed outside the session, or the events are partial) ends the reconstruction there: the
story says so at that point and shows the remaining changes as diffs only. A reconstruction
that may be wrong is never shown.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reviewer import diffs, text
from reviewer.models import StoredEvent, TimelineSync

FILE_KINDS = ("file_create", "file_diff", "file_delete")
HAND = ("likely_human", "ai_revised_by_human")


@dataclass(frozen=True)
class Change:
    """One event that touched the file."""

    key: str
    event_id: str
    seq: int
    kind: str
    ts: datetime | None
    attribution: str
    confidence: float | None
    added: int
    removed: int
    how: str  # "create", "write", "edit", "diff", "delete", "unknown"
    data: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Line:
    text: str
    origin: Change  # the change that last wrote this line


@dataclass
class Step:
    """A change in the story, with what replaying it did."""

    change: Change
    status: str  # "applied", "start" (content known from here), "failed", "skipped", "deleted"
    note: str = ""


@dataclass
class FileStory:
    path: str
    steps: list[Step]
    lines: list[Line] | None  # the final content, when it could be reconstructed whole
    broken_at: Step | None = None  # the first change that could not be replayed

    @property
    def changes(self) -> list[Change]:
        return [s.change for s in self.steps]

    @property
    def whole(self) -> bool:
        return self.lines is not None

    def lines_by(self, attributions: Iterable[str]) -> list[tuple[int, Line]]:
        """(1-based number, line) of the lines last written by events of these classes."""
        wanted = set(attributions)
        return [
            (n, line)
            for n, line in enumerate(self.lines or [], 1)
            if line.origin.attribution in wanted
        ]

    @property
    def mix(self) -> dict[str, int]:
        """Lines of the final content by the attribution of the event that wrote them."""
        counts: dict[str, int] = {}
        for line in self.lines or []:
            counts[line.origin.attribution] = counts.get(line.origin.attribution, 0) + 1
        return counts


# --- reading the changes -------------------------------------------------------------------------


def _how(kind: str, data: dict[str, Any]) -> str:
    if kind == "file_delete":
        return "delete"
    if kind == "file_create":
        return "create" if isinstance(data.get("content"), str) else "unknown"
    if isinstance(data.get("oldString"), str) and isinstance(data.get("newString"), str):
        return "edit"
    if isinstance(data.get("content"), str):
        return "write"
    if isinstance(data.get("diff"), str) and data["diff"].strip():
        return "diff"
    return "unknown"


def changes_of(sync: TimelineSync, path: str) -> list[Change]:
    """The events of the session that touched `path`, in order, with their full data."""
    rows = (
        StoredEvent.objects.for_sync(sync)
        .filter(path=path, kind__in=FILE_KINDS)
        .order_by("seq")
        .only(
            "event_id",
            "variant",
            "seq",
            "kind",
            "ts",
            "attribution",
            "confidence",
            "lines_added",
            "lines_removed",
            "raw",
        )
    )
    out = []
    for row in rows:
        try:
            raw = json.loads(row.raw)
        except ValueError:
            raw = {}
        data = raw.get("data") if isinstance(raw, dict) else None
        data = text.clean_tree(data) if isinstance(data, dict) else {}
        out.append(
            Change(
                key=row.key,
                event_id=row.event_id,
                seq=row.seq,
                kind=row.kind,
                ts=row.ts,
                attribution=row.attribution,
                confidence=row.confidence,
                added=row.lines_added,
                removed=row.lines_removed,
                how=_how(row.kind, data),
                data=data,
            )
        )
    return out


# --- replaying them ------------------------------------------------------------------------


def _split(content: str) -> list[str]:
    return content.splitlines()


def _rewrite(old: list[Line], new_texts: Sequence[str], change: Change) -> list[Line]:
    """The new lines, keeping the origin of every line left as it was (matched by a diff)."""
    matcher = difflib.SequenceMatcher(
        None, [line.text for line in old], list(new_texts), autojunk=False
    )
    out: list[Line] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(old[i1:i2])
        else:
            out.extend(Line(t, change) for t in new_texts[j1:j2])
    return out


def _apply_edit(lines: list[Line], change: Change) -> tuple[list[Line] | None, str]:
    old_string = change.data["oldString"]
    new_string = change.data["newString"]
    whole = "\n".join(line.text for line in lines)
    if not old_string:
        return None, "the edit names no old text"
    count = whole.count(old_string)
    replace_all = change.data.get("replaceAll") is True or change.data.get("replace_all") is True
    if count == 0:
        return None, "its old text is not in the file as reconstructed here"
    if count > 1 and not replace_all:
        return (
            None,
            f"its old text occurs {count} times in the file, so where it applied is unknown",
        )
    updated = (
        whole.replace(old_string, new_string)
        if replace_all
        else whole.replace(old_string, new_string, 1)
    )
    return _rewrite(lines, _split(updated), change), ""


def _apply_diff(lines: list[Line], change: Change) -> tuple[list[Line] | None, str]:
    headers, hunks = diffs.hunks(change.data["diff"])
    if not hunks:
        return None, "its diff has no hunks"
    texts = [line.text for line in lines]
    shift = 0
    for hunk in hunks:
        source, target = hunk.source, hunk.target
        # A hunk that removes nothing (`@@ -5,0 +6,2 @@`) inserts after its start line.
        first = hunk.old_start if hunk.old_length == 0 else hunk.old_start - 1
        start = max(0, first + shift)
        if texts[start : start + len(source)] != source:
            return (
                None,
                f"the hunk at line {hunk.old_start} does not match the file as reconstructed here",
            )
        texts[start : start + len(source)] = target
        shift += len(target) - len(source)
    return _rewrite(lines, texts, change), ""


def _new_file_diff(change: Change) -> list[str] | None:
    """The content of a diff that creates the file (`--- /dev/null`), else None."""
    headers, hunks = diffs.hunks(change.data["diff"])
    if len(headers) != 1 or not headers[0].created:
        return None
    return [text for hunk in hunks for tag, text in hunk.lines if tag == "+"]


def replay(path: str, changes: Sequence[Change]) -> FileStory:
    """Replay a file's changes into its story (see the module docstring)."""
    steps: list[Step] = []
    lines: list[Line] | None = None
    broken: Step | None = None
    for change in changes:
        if broken is not None:
            steps.append(Step(change, "skipped"))
            continue
        if change.how == "delete":
            lines = None
            steps.append(Step(change, "deleted"))
            continue
        if change.how in ("create", "write"):
            new_texts = _split(change.data["content"])
            if lines is None:
                lines = [Line(t, change) for t in new_texts]
                steps.append(Step(change, "start"))
            else:
                lines = _rewrite(lines, new_texts, change)
                steps.append(Step(change, "applied"))
            continue
        if lines is None:
            created = _new_file_diff(change) if change.how == "diff" else None
            if created is not None:
                lines = [Line(t, change) for t in created]
                steps.append(Step(change, "start"))
            else:
                steps.append(
                    Step(change, "skipped", "the file's content before it is not in the session")
                )
            continue
        if change.how == "edit":
            result, note = _apply_edit(lines, change)
        elif change.how == "diff":
            result, note = _apply_diff(lines, change)
        else:
            result, note = None, "the change carries neither its text nor a diff"
        if result is None:
            broken = Step(change, "failed", note)
            steps.append(broken)
            lines = None
            continue
        lines = result
        steps.append(Step(change, "applied"))
    return FileStory(
        path=path, steps=steps, lines=lines if broken is None else None, broken_at=broken
    )


def story(sync: TimelineSync, path: str) -> FileStory:
    """The story of one file of the session."""
    return replay(path, changes_of(sync, path))


# --- the session's files ----------------------------------------------------------------------


@dataclass(frozen=True)
class FileSummary:
    path: str
    changes: int
    added: int
    removed: int
    mix: dict[str, int]  # changed lines by attribution
    first: datetime | None
    last: datetime | None
    whole: bool  # the session holds the file's whole final content

    @property
    def hand_lines(self) -> int:
        return sum(n for a, n in self.mix.items() if a in HAND)


def files_of(sync: TimelineSync) -> list[FileSummary]:
    """Every file the session touched, most changed first."""
    rows = (
        StoredEvent.objects.for_sync(sync)
        .filter(kind__in=FILE_KINDS)
        .exclude(path="")
        .order_by("seq")
        .values_list("path", "attribution", "lines_added", "lines_removed", "ts")
    )
    by_path: dict[str, dict[str, Any]] = {}
    for path, attribution, added, removed, ts in rows:
        entry = by_path.setdefault(
            path, {"n": 0, "a": 0, "r": 0, "mix": {}, "first": ts, "last": ts}
        )
        entry["n"] += 1
        entry["a"] += added
        entry["r"] += removed
        entry["mix"][attribution] = entry["mix"].get(attribution, 0) + added + removed
        entry["first"] = entry["first"] or ts
        entry["last"] = ts or entry["last"]
    out = [
        FileSummary(
            path=path,
            changes=e["n"],
            added=e["a"],
            removed=e["r"],
            mix=e["mix"],
            first=e["first"],
            last=e["last"],
            whole=story(sync, path).whole,
        )
        for path, e in by_path.items()
    ]
    out.sort(key=lambda f: (-(f.added + f.removed), -f.changes, f.path))
    return out
