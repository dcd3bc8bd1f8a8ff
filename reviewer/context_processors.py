"""Template context shared by every page: the current membership and organization switcher."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from reviewer.access import get_membership, memberships_of


def membership(request: HttpRequest) -> dict[str, Any]:
    memberships = memberships_of(request)
    if not memberships:
        return {"membership": None, "all_memberships": []}
    return {"membership": get_membership(request), "all_memberships": memberships}
