"""Unified diffs, read: typed rows, per-file headers and hunks.

The parser follows the grammar unidiff (and `git apply`) use: git's extended headers
(rename, copy, mode, new/deleted file, binary), `---`/`+++` file headers, and hunks whose
lengths come from their `@@ -a,b +c,d @@` header. Inside a hunk every line is content until
those lengths are used up, so a removed `-- SQL comment` (`--- SQL comment`) or an added
`++counter` (`+++counter`) is a changed line, not a file header, and the numbers after it
stay right. `\\ No newline at end of file` is a marker that takes no number.

Unlike unidiff, it never gives up or drops lines: a diff cut short (the timeline keeps only
the head of a huge one), hunks without file headers, and hunks whose header miscounts (hand
edited) are read as far as they go. The tests check it against unidiff on well-formed diffs.
Ingest counts added and removed lines with it, the timeline shows its rows
(`reviewer.rendering.diffs`), and file histories replay its hunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_HEADER = re.compile(r"^diff --git (?P<old>\"?a/.+?\"?) (?P<new>\"?b/.+\"?)$")
_EXTENDED = re.compile(
    r"^(?P<key>old mode|new mode|deleted file mode|new file mode|copy from|copy to|rename from"
    r"|rename to|similarity index|dissimilarity index|index|rename old|rename new) ?(?P<value>.*)$"
)
_BINARY = re.compile(r"^(Binary files .* differ|GIT binary patch)$")


@dataclass(frozen=True)
class DiffLine:
    css: str  # "add", "del", "ctx", "hunk", "file", "note" (no newline), "meta"
    old: int | None
    new: int | None
    text: str
    cut: bool = False


@dataclass
class FileHeader:
    """What a diff's headers say about one file."""

    old_path: str = ""
    new_path: str = ""
    renamed: bool = False
    copied: bool = False
    created: bool = False
    deleted: bool = False
    binary: bool = False
    old_mode: str = ""
    new_mode: str = ""
    similarity: str = ""
    lines: list[str] = field(default_factory=list)  # the header as written

    @property
    def path(self) -> str:
        return self.new_path or self.old_path

    @property
    def is_plain(self) -> bool:
        """Only a path: nothing a reviewer needs beyond the path already shown."""
        return not (
            self.renamed
            or self.copied
            or self.created
            or self.deleted
            or self.binary
            or (self.old_mode and self.new_mode and self.old_mode != self.new_mode)
        )

    def summary(self) -> str:
        """The header in words: "renamed a.py → b.py · mode 100644 → 100755"."""
        parts = []
        if self.renamed or self.copied:
            verb = "renamed" if self.renamed else "copied"
            similarity = f" ({self.similarity} similar)" if self.similarity else ""
            parts.append(f"{verb} {self.old_path} → {self.new_path}{similarity}")
        elif self.created:
            parts.append(
                f"new file {self.path}" + (f" (mode {self.new_mode})" if self.new_mode else "")
            )
        elif self.deleted:
            parts.append(f"deleted file {self.path}")
        else:
            parts.append(self.path or "(no path)")
        if self.old_mode and self.new_mode and self.old_mode != self.new_mode:
            parts.append(f"mode {self.old_mode} → {self.new_mode}")
        if self.binary:
            parts.append(
                "binary file "
                + ("added" if self.created else "deleted" if self.deleted else "changed")
            )
        return " · ".join(parts)


def _strip_prefix(path: str, prefix: str) -> str:
    path = path.strip()
    if path.startswith('"') and path.endswith('"') and len(path) > 1:
        path = path[1:-1]
    path = path.split("\t", 1)[0]  # `--- a/x.py\t2024-01-01 ...` (diff -u timestamps)
    return path[len(prefix) :] if path.startswith(prefix) else path


def rows(diff: str) -> Iterator[tuple[DiffLine, FileHeader | None]]:
    """Every line of `diff` as a typed row (file headers as one "file" row each)."""
    lines = diff.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    old = new = 0
    old_left = new_left = 0  # lines the current hunk still has on each side
    in_hunk = counted = False
    i = 0

    def file_row(h: FileHeader) -> tuple[DiffLine, FileHeader]:
        return DiffLine("file", None, None, h.summary()), h

    while i < len(lines):
        line = lines[i]
        if in_hunk and counted and (old_left > 0 or new_left > 0):
            # Inside a hunk with lines left: content, whatever it starts with.
            tag = line[:1]
            if tag == "\\":
                yield DiffLine("note", None, None, line), None
            elif tag == "+":
                yield DiffLine("add", None, new, line), None
                new, new_left = new + 1, new_left - 1
            elif tag == "-":
                yield DiffLine("del", old, None, line), None
                old, old_left = old + 1, old_left - 1
            elif tag == " " or line == "":
                yield DiffLine("ctx", old, new, line), None
                old, new, old_left, new_left = old + 1, new + 1, old_left - 1, new_left - 1
            else:
                in_hunk = False  # the hunk was cut short: read this line afresh
                continue
            i += 1
            continue
        # Between hunks, or after a hunk whose lengths are used up.
        hunk = _HUNK.match(line)
        git = _GIT_HEADER.match(line)
        plain_header = (
            line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")
        )
        if git or plain_header:
            header = FileHeader()
            if git:
                header.old_path = _strip_prefix(git.group("old"), "a/")
                header.new_path = _strip_prefix(git.group("new"), "b/")
                header.lines.append(line)
                i += 1
                while i < len(lines):
                    extended = _EXTENDED.match(lines[i])
                    if extended:
                        _read_extended(header, extended.group("key"), extended.group("value"))
                    elif _BINARY.match(lines[i]):
                        header.binary = True
                        if lines[i] == "GIT binary patch":
                            while i + 1 < len(lines) and lines[i + 1] != "":
                                i += 1  # base85 data: not for reading
                    else:
                        break
                    header.lines.append(lines[i])
                    i += 1
            if (
                i + 1 < len(lines)
                and lines[i].startswith("--- ")
                and lines[i + 1].startswith("+++ ")
            ):
                old_path = _strip_prefix(lines[i][4:], "a/")
                new_path = _strip_prefix(lines[i + 1][4:], "b/")
                header.created = header.created or old_path == "/dev/null"
                header.deleted = header.deleted or new_path == "/dev/null"
                header.old_path = (
                    old_path if old_path != "/dev/null" else header.old_path or new_path
                )
                header.new_path = (
                    new_path if new_path != "/dev/null" else header.new_path or old_path
                )
                header.lines += lines[i : i + 2]
                i += 2
            yield file_row(header)
            in_hunk = False
            continue
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(3))
            old_left = int(hunk.group(2)) if hunk.group(2) is not None else 1
            new_left = int(hunk.group(4)) if hunk.group(4) is not None else 1
            in_hunk = counted = True
            yield DiffLine("hunk", None, None, line), None
            i += 1
            continue
        if line.startswith("@@"):
            # A hunk header without numbers: read its lines by their first character.
            in_hunk, counted = True, False
            old = new = 0
            yield DiffLine("hunk", None, None, line), None
            i += 1
            continue
        if _BINARY.match(line):
            yield DiffLine("file", None, None, "binary file changed"), None
            i += 1
            continue
        tag = line[:1]
        if in_hunk and tag in ("+", "-", " ", "\\"):
            # Past the hunk's stated length (or in an unnumbered hunk): still the change.
            numbered = counted
            if tag == "+":
                yield DiffLine("add", None, new if numbered else None, line), None
                new += 1
            elif tag == "-":
                yield DiffLine("del", old if numbered else None, None, line), None
                old += 1
            elif tag == "\\":
                yield DiffLine("note", None, None, line), None
            else:
                yield (
                    DiffLine("ctx", old if numbered else None, new if numbered else None, line),
                    None,
                )
                old, new = old + 1, new + 1
            i += 1
            continue
        yield DiffLine("meta", None, None, line), None
        i += 1


def _read_extended(header: FileHeader, key: str, value: str) -> None:
    value = value.strip()
    if key == "old mode":
        header.old_mode = value
    elif key == "new mode":
        header.new_mode = value
    elif key == "new file mode":
        header.created, header.new_mode = True, value
    elif key == "deleted file mode":
        header.deleted, header.old_mode = True, value
    elif key in ("rename from", "rename old"):
        header.renamed, header.old_path = True, _strip_prefix(value, "")
    elif key in ("rename to", "rename new"):
        header.renamed, header.new_path = True, _strip_prefix(value, "")
    elif key == "copy from":
        header.copied, header.old_path = True, _strip_prefix(value, "")
    elif key == "copy to":
        header.copied, header.new_path = True, _strip_prefix(value, "")
    elif key == "similarity index":
        header.similarity = value


def counts(diff: str) -> tuple[int, int]:
    """(added, removed) lines of a diff, from the parse: a `---` content line counts."""
    added = removed = 0
    for row, _ in rows(diff):
        if row.css == "add":
            added += 1
        elif row.css == "del":
            removed += 1
    return added, removed


@dataclass(frozen=True)
class Hunk:
    """One hunk: where it starts on each side and its lines as (tag, text) pairs."""

    old_start: int
    old_length: int
    new_start: int
    new_length: int
    lines: list[tuple[str, str]]  # tag " ", "-" or "+", and the line without it

    @property
    def source(self) -> list[str]:
        return [text for tag, text in self.lines if tag in (" ", "-")]

    @property
    def target(self) -> list[str]:
        return [text for tag, text in self.lines if tag in (" ", "+")]


def hunks(diff: str) -> tuple[list[FileHeader], list[Hunk]]:
    """The file headers and the numbered hunks of a diff, in order."""
    headers: list[FileHeader] = []
    found: list[Hunk] = []
    current: Hunk | None = None
    for row, header in rows(diff):
        if header is not None:
            headers.append(header)
            current = None
        elif row.css == "hunk":
            match = _HUNK.match(row.text)
            current = None
            if match:
                current = Hunk(
                    int(match.group(1)),
                    int(match.group(2)) if match.group(2) is not None else 1,
                    int(match.group(3)),
                    int(match.group(4)) if match.group(4) is not None else 1,
                    [],
                )
                found.append(current)
        elif current is not None and row.css in ("ctx", "del", "add"):
            tag = {"ctx": " ", "del": "-", "add": "+"}[row.css]
            current.lines.append((tag, row.text[1:]))
    return headers, found
