"""The scenarios the sandbox's sessions narrate, loaded from data files.

A scenario is a small repository with a real bug, worked end to end by a candidate and their AI
tool. Each lives in its own folder, ``sandbox/scenarios/<key>/`` (the folder beside this module):

* ``scenario.toml``: title, role, repository name and language, the edits (exact text
  replacements), shell commands with their canned output, test names and failures, decisions,
  tool and MCP calls, checkpoints, to-dos and the candidate's prompts per phase;
* ``brief.md``: the task brief, verbatim; ``answers/*.md``: the AI's answers, as the TOML lists
  them per phase (a file's final newline is not part of the answer);
* ``repo/<path>.txt``: the repository's files before the session; ``created/<path>.txt``: the
  files the session adds. The ``.txt`` suffix keeps linters and code scanners from taking the
  example code for the project's own; the text is used verbatim.

The files are read with :mod:`importlib.resources` and :mod:`tomllib`, as bytes decoded as UTF-8
(no newline translation), so generated events are byte-for-byte reproducible.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

DATA_SUFFIX = ".txt"
"""Appended to every repository file's name under ``repo/`` and ``created/``."""


@dataclass(frozen=True)
class Edit:
    """A change to one file: ``(old, new)`` replacements applied to the pristine file text.

    ``by`` says who typically makes it ("ai" or "human"); it steers provenance so that manual
    edits look like small follow-up tweaks rather than whole features.
    """

    path: str
    replacements: tuple[tuple[str, str], ...]
    by: str = "ai"


@dataclass(frozen=True)
class Cmd:
    """A shell command with its canned outcome."""

    command: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    ms: tuple[int, int] = (40, 900)


@dataclass(frozen=True)
class Scenario:
    """Everything the generator needs to narrate one repository's bug fix."""

    key: str
    repo: str
    language: str
    title: str
    role: str
    brief: str
    files: dict[str, str]
    edits: tuple[Edit, ...]
    creates: tuple[tuple[str, str], ...]
    prompts: dict[str, tuple[str, ...]]
    responses: dict[str, tuple[str, ...]]
    commands: dict[str, tuple[Cmd, ...]]
    test_commands: tuple[str, ...]
    suite: str
    total_tests: int
    failing_tests: tuple[tuple[str, str], ...]
    decisions: tuple[dict[str, Any], ...]
    commits: tuple[str, ...]
    branch: str
    tools: tuple[tuple[str, str], ...]
    mcp: tuple[tuple[str, str, str], ...]
    subagents: tuple[str, ...]
    checkpoints: tuple[tuple[str, str], ...]
    todos: tuple[str, ...]
    lockfile: str


def _root() -> Traversable:
    return files("sandbox").joinpath("scenarios")


def _text(node: Traversable) -> str:
    return node.read_bytes().decode("utf-8")


def _tree(node: Traversable, prefix: str = "") -> dict[str, str]:
    """Every ``<path>.txt`` below ``node`` as ``{path: text}``, in path order."""
    found: dict[str, str] = {}
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            found.update(_tree(child, f"{prefix}{child.name}/"))
        elif child.name.endswith(DATA_SUFFIX):
            found[prefix + child.name.removesuffix(DATA_SUFFIX)] = _text(child)
    return found


def _file(folder: Traversable, path: str) -> Traversable:
    return folder.joinpath(*path.split("/"))


def names() -> list[str]:
    """The keys of every scenario on disk, sorted."""
    return sorted(c.name for c in _root().iterdir() if c.joinpath("scenario.toml").is_file())


@cache
def load(key: str) -> Scenario:
    """The scenario in ``sandbox/scenarios/<key>/`` (read once per process).

    Raises KeyError for an unknown key and ValueError when an edit does not apply to its file.
    """
    if key not in names():
        raise KeyError(f"no scenario {key!r}; expected one of {names()}")
    folder = _root().joinpath(key)
    spec = tomllib.loads(_text(folder.joinpath("scenario.toml")))
    tests = spec["tests"]
    scenario = Scenario(
        key=key,
        repo=spec["repo"],
        language=spec["language"],
        title=spec["title"],
        role=spec["role"],
        brief=_text(folder.joinpath("brief.md")),
        files=_tree(folder.joinpath("repo")),
        edits=tuple(
            Edit(
                edit["path"],
                tuple((r["old"], r["new"]) for r in edit["replace"]),
                edit.get("by", "ai"),
            )
            for edit in spec["edits"]
        ),
        creates=tuple(
            (path, _text(_file(folder.joinpath("created"), path + DATA_SUFFIX)))
            for path in spec["created"]
        ),
        prompts={phase: tuple(texts) for phase, texts in spec["prompts"].items()},
        responses={
            phase: tuple(_text(_file(folder, path)).removesuffix("\n") for path in paths)
            for phase, paths in spec["answers"].items()
        },
        commands={
            group: tuple(
                Cmd(
                    c["command"],
                    c["exit_code"],
                    c.get("stdout", ""),
                    c.get("stderr", ""),
                    tuple(c.get("duration_ms", (40, 900))),
                )
                for c in cmds
            )
            for group, cmds in spec["commands"].items()
        },
        test_commands=tuple(tests["commands"]),
        suite=tests["suite"],
        total_tests=tests["total"],
        failing_tests=tuple((f["name"], f["error"]) for f in tests["failing"]),
        decisions=tuple(spec["decisions"]),
        commits=tuple(spec["commits"]),
        branch=spec["branch"],
        tools=tuple((t["name"], t["input"]) for t in spec["tools"]),
        mcp=tuple((m["server"], m["tool"], m["args"]) for m in spec["mcp"]),
        subagents=tuple(spec["subagents"]),
        checkpoints=tuple((c["label"], c["summary"]) for c in spec["checkpoints"]),
        todos=tuple(spec["todos"]),
        lockfile=spec["lockfile"],
    )
    _check_edits(scenario)
    return scenario


def apply_edit(text: str, replacements: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each ``(old, new)`` replacement made once, in order."""
    for old, new in replacements:
        if old not in text:
            raise ValueError(f"edit does not apply: {old[:60]!r}")
        text = text.replace(old, new, 1)
    return text


def _check_edits(scenario: Scenario) -> None:
    """Fail at load time, not mid-request, when an edit does not apply to its file."""
    for edit in scenario.edits:
        if edit.path not in scenario.files:
            raise ValueError(f"{scenario.key}: edit of {edit.path}, which is not under repo/")
        try:
            apply_edit(scenario.files[edit.path], edit.replacements)
        except ValueError as exc:
            raise ValueError(f"{scenario.key}: {edit.path}: {exc}") from None
