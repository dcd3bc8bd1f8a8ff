"""Run inside `manage.py shell -c` (Django configured): empty one session's local store."""

from __future__ import annotations

import json
from typing import Any

MARKER = "BENCH-JSON "


def purge(slug: str, session_id: str) -> None:
    """Remove the session's stored events and sync row with the product's own `purge()`."""
    from reviewer import prefetch
    from reviewer.models import Organization

    org = Organization.objects.get(slug=slug)
    print(MARKER + json.dumps({"purged": prefetch.purge(org, session_id)}))


def purge_command(slug: str, session_id: str) -> list[str]:
    """The `manage.py shell -c` arguments that run `purge` (ids are checked by the caller)."""
    return ["shell", "-c", f"from bench import store; store.purge({slug!r}, {session_id!r})"]


def parse(output: str) -> Any:
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    raise ValueError("no result line in the shell output")
