"""Which tests failed, when a test runner's output names them.

A reviewer reading a red test run first wants to know what failed. Runners print it in
their own ways; each pattern below is anchored to a whole line of the runner's usual output
(colours and carriage returns already resolved), so ordinary log lines do not match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MAX_NAMES = 50

_PATTERNS = (
    # pytest's short summary ("FAILED tests/x.py::test_y - AssertionError") and -v lines
    re.compile(r"^(?:FAILED|ERROR) (?P<name>\S+::\S+?)(?: - .*)?$"),
    re.compile(r"^(?P<name>\S+::\S+) (?:FAILED|ERROR)\b"),
    # unittest: "FAIL: test_x (module.Class.test_x)"
    re.compile(r"^(?:FAIL|ERROR): (?P<name>\w+ \([\w.]+\))"),
    # jest / vitest: "✕ adds numbers (3 ms)", "× adds numbers", "FAIL src/a.test.ts > suite > case"
    re.compile(r"^\s*[✕×✗] (?P<name>.+?)(?: \(?\d+(?:\.\d+)? ?m?s\)?)?$"),
    re.compile(r"^\s*FAIL\s+(?P<name>\S+(?: > .+)?)$"),
    # go: "--- FAIL: TestParse/empty (0.00s)"
    re.compile(r"^\s*--- FAIL: (?P<name>\S+)"),
    # cargo: "test parser::tests::empty ... FAILED"
    re.compile(r"^test (?P<name>\S+) \.\.\. FAILED$"),
    # rspec: "rspec ./spec/parser_spec.rb:12 # Parser rejects empty input"
    re.compile(r"^rspec (?P<where>\./\S+) # (?P<name>.+)$"),
    # PHPUnit: "1) Tests\ParserTest::testEmpty"
    re.compile(r"^\d+\) (?P<name>[\w\\]+::\w+)$"),
)


def failed_tests(lines: Iterable[str]) -> list[str]:
    """The failing tests a runner's output names, in order, each once (at most MAX_NAMES)."""
    names: dict[str, None] = {}
    for line in lines:
        if len(line) > 1000 or not line.strip():
            continue
        for pattern in _PATTERNS:
            match = pattern.match(line.rstrip())
            if match:
                name = match.group("name").strip()
                if "where" in match.groupdict():
                    name = f"{name} ({match.group('where')})"
                names.setdefault(name, None)
                break
        if len(names) >= MAX_NAMES:
            break
    return list(names)


def failed_from_data(data: dict[str, Any]) -> list[str]:
    """Failing tests a test_run event lists itself (`failures`, `failedTests`, `details`)."""
    names: dict[str, None] = {}
    for key in ("failedTests", "failures", "failed_tests", "details", "tests", "results"):
        items = data.get(key)
        if not isinstance(items, list):
            continue
        for item in items[: MAX_NAMES * 4]:
            name = _failed_name(
                item, listed_as_failure=key in ("failedTests", "failures", "failed_tests")
            )
            if name:
                names.setdefault(name, None)
    return list(names)[:MAX_NAMES]


def _failed_name(item: Any, *, listed_as_failure: bool) -> str:
    if isinstance(item, str):
        return item if listed_as_failure else ""
    if not isinstance(item, dict):
        return ""
    status = str(item.get("status") or item.get("outcome") or "").lower()
    if not listed_as_failure and status not in ("failed", "fail", "error", "errored", "broken"):
        return ""
    for key in ("name", "title", "fullName", "nodeid", "id", "test"):
        if isinstance(item.get(key), str) and item[key]:
            return item[key]
    return ""
