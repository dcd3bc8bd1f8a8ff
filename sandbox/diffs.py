"""Unified diffs for ``file_diff`` events. All of them are real: correct headers, hunk ranges and
line counts (``linesAdded``/``linesRemoved`` always match the text).

Three sources: a scenario's catalogued edits (diffed with :mod:`difflib` against the pristine file),
regenerated lockfiles of thousands of lines (built directly, so they cost milliseconds) and one
minified vendored file whose single line is hundreds of thousands of characters long.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from sandbox.scenarios import apply_edit
from sandbox.scenarios import load as load_scenario


@dataclass(frozen=True)
class Diff:
    """A rendered unified diff and its line counts (``linesAdded``/``linesRemoved``)."""

    path: str
    text: str
    added: int
    removed: int


def _blob_id(text: str) -> str:
    """The git blob id of ``text``, abbreviated, for realistic ``index`` lines."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()[:7]


def count_changes(hunk_lines: Iterable[str]) -> tuple[int, int]:
    """Added and removed line counts of hunk lines (file headers already stripped)."""
    added = removed = 0
    for line in hunk_lines:
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def _unified(path: str, before: str, after: str, *, git_header: bool) -> Diff:
    """A ``diff -U3`` of two texts that both end with a newline."""
    body = list(
        difflib.unified_diff(
            before.split("\n")[:-1], after.split("\n")[:-1], f"a/{path}", f"b/{path}", lineterm=""
        )
    )
    added, removed = count_changes(body[2:])
    head = []
    if git_header:
        head = [
            f"diff --git a/{path} b/{path}",
            f"index {_blob_id(before)}..{_blob_id(after)} 100644",
        ]
    return Diff(path, "\n".join(head + body) + "\n", added, removed)


@cache
def edit_diff(scenario_key: str, index: int, git_header: bool) -> Diff:
    """The diff of one catalogued edit against the pristine file (cached: a handful exist)."""
    scn = load_scenario(scenario_key)
    edit = scn.edits[index]
    before = scn.files[edit.path]
    return _unified(edit.path, before, apply_edit(before, edit.replacements), git_header=git_header)


def _lock_version(k: int, bumped: bool = False) -> str:
    return f"1.{k % 17}.{k % 7 + (1 if bumped else 0)}"


def _lock_block(fmt: str, k: int, bumped: bool = False) -> list[str]:
    """Ten lines describing package ``k`` in a poetry or npm lockfile."""
    version = _lock_version(k, bumped)
    name = f"pkg-{k:05d}-{'abcdefghij'[k % 10]}lib"
    digest = hashlib.sha256(f"{name}{version}".encode()).hexdigest()
    if fmt == "poetry.lock":
        return [
            "[[package]]",
            f'name = "{name}"',
            f'version = "{version}"',
            f'description = "Utilities for {name.replace("-", " ")}"',
            "optional = false",
            'python-versions = ">=3.9"',
            "files = [",
            f'    {{file = "{name.replace("-", "_")}-{version}-py3-none-any.whl", '
            f'hash = "sha256:{digest}"}},',
            "]",
            "",
        ]
    return [
        f'    "node_modules/{name}": {{',
        '      "dev": true,',
        f'      "version": "{version}",',
        f'      "resolved": "https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",',
        f'      "integrity": "sha512-{digest[:43]}==",',
        '      "license": "MIT",',
        '      "engines": {',
        '        "node": ">=18"',
        "      }",
        "    },",
    ]


@lru_cache(maxsize=8)
def lockfile_diff(fmt: str, changed_packages: int) -> Diff:
    """A regenerated lockfile in which every third package bumps its version.

    Built directly rather than with difflib, so a 20,000-line diff costs milliseconds. Blocks are
    ten lines long and package ``k`` starts at line ``10k + 1``; each bump is one ``-U3`` hunk
    whose context reaches into the neighbouring blocks, so the ranges are exact.
    """
    changed = (2, 7) if fmt == "poetry.lock" else (2, 3, 4)
    lo, hi = changed[0] - 3, changed[-1] + 3
    out = [
        f"diff --git a/{fmt} b/{fmt}",
        "index 4c1d9e2..8a07b3f 100644",
        f"--- a/{fmt}",
        f"+++ b/{fmt}",
    ]
    for n in range(changed_packages):
        k = 3 * n + 1
        old, new = _lock_block(fmt, k), _lock_block(fmt, k, bumped=True)
        prev, nxt = _lock_block(fmt, k - 1), _lock_block(fmt, k + 1)
        start, count = 10 * k + lo + 1, hi - lo + 1
        out.append(f"@@ -{start},{count} +{start},{count} @@")
        minus: list[str] = []
        plus: list[str] = []
        for pos in range(lo, hi + 1):
            if pos in changed:
                minus.append("-" + old[pos])
                plus.append("+" + new[pos])
                continue
            out.extend(minus + plus)
            minus, plus = [], []
            line = prev[10 + pos] if pos < 0 else nxt[pos - 10] if pos > 9 else old[pos]
            out.append(" " + line)
        out.extend(minus + plus)
    lines_changed = len(changed) * changed_packages
    return Diff(fmt, "\n".join(out) + "\n", lines_changed, lines_changed)


@lru_cache(maxsize=4)
def minified_diff(path: str, chars: int) -> Diff:
    """A new vendored file that is one minified line of exactly ``chars`` characters."""
    parts: list[str] = [
        '/*! purify 3.1.7 | (c) Cure53 | Apache-2.0 */!function(e,t){"object"==typeof exports&&'
        '"undefined"!=typeof module?module.exports=t():e.DOMPurify=t()}(this,function(){'
    ]
    size = len(parts[0])
    n = 0
    while size < chars:
        piece = (
            f'var a{n}=function(e){{return e&&e.nodeType===1?"{n:x}":null}},'
            f'b{n}=["tag{n}","attr{n % 97}"];'
        )
        parts.append(piece)
        size += len(piece)
        n += 1
    line = "".join(parts)[: chars - 2] + "})"
    text = (
        "\n".join(
            [
                f"diff --git a/{path} b/{path}",
                "new file mode 100644",
                "index 0000000..5e1c0aa",
                "--- /dev/null",
                f"+++ b/{path}",
                "@@ -0,0 +1 @@",
                "+" + line,
                "\\ No newline at end of file",
            ]
        )
        + "\n"
    )
    return Diff(path, text, 1, 0)
