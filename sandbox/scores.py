"""Reviewer rubric scores: ``GET`` and ``POST /v1/sessions/:id/scores`` (REFERENCE.md section 1.4).

A session has at most one score per dimension. ``POST`` takes a JSON array of 1 to 5 items
``{dimension, score, notes?}`` and upserts them per dimension: a dimension scored again keeps its
``id`` and ``createdAt`` and gets the new ``score``, ``notes`` and ``updatedAt``. A bad body is
refused as a whole with the upstream's validation error: ``{"error": "Invalid request body",
"details": [...]}``, whose details are shaped like the issues of Zod (the validation library of
the upstream's JavaScript server): ``code``, ``message``, ``path`` and the code's own fields.

Scores "set elsewhere" (by a reviewer in Promptster's own dashboard) are seeded for a couple of
generated sessions, deterministically from the seed.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from sandbox.stamps import MS_PER_MIN, iso, uuid_for

DIMENSIONS = (
    "problem_decomposition",
    "ai_orchestration",
    "code_quality",
    "debugging_process",
    "communication",
)
"""The rubric's dimensions, in the documented order (scores are listed in this order)."""

MAX_ITEMS = len(DIMENSIONS)

_NOTES = (
    "Broke the problem down before touching code; the failing test came first.",
    "Delegated the boilerplate to the assistant but reviewed every hunk it wrote.",
    "Good instinct to question the first diff; could have run the suite earlier.",
    "Clear commit messages and a PR summary a teammate could act on.",
    "Relied on the assistant's explanation of the race instead of reproducing it.",
)


def _type_name(value: Any) -> str:
    """Zod's name for the type of a parsed JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid_type(expected: str, value: Any, path: list[Any]) -> dict[str, Any]:
    received = _type_name(value)
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": received,
        "path": path,
        "message": f"Expected {expected}, received {received}",
    }


def _required(expected: str, path: list[Any]) -> dict[str, Any]:
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": "undefined",
        "path": path,
        "message": "Required",
    }


def _size(code: str, kind: str, bound: int, path: list[Any]) -> dict[str, Any]:
    """Zod's too_small / too_big issue for an array length or a number."""
    key, words = ("minimum", "at least") if code == "too_small" else ("maximum", "at most")
    if kind == "array":
        message = f"Array must contain {words} {bound} element(s)"
    else:
        relation = "greater" if code == "too_small" else "less"
        message = f"Number must be {relation} than or equal to {bound}"
    return {
        "code": code,
        key: bound,
        "type": kind,
        "inclusive": True,
        "exact": False,
        "path": path,
        "message": message,
    }


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # json.loads would accept NaN and Infinity


def parse_body(raw: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The items of a ``POST .../scores`` body and the issues found; items only if no issues.

    Items come back as ``{"dimension", "score", "notes"}`` with ``score`` an int and ``notes``
    a string or None. A number is an integer when its value is one (``3.0`` is 3, as in
    JavaScript); ``true``, ``"3"`` and ``3.5`` are not.
    """
    if not raw.strip():
        return [], [_required("array", [])]
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return [], [{"code": "custom", "path": [], "message": "Request body is not valid JSON"}]
    if not isinstance(body, list):
        return [], [_invalid_type("array", body, [])]
    issues: list[dict[str, Any]] = []
    if not body:
        issues.append(_size("too_small", "array", 1, []))
    if len(body) > MAX_ITEMS:
        issues.append(_size("too_big", "array", MAX_ITEMS, []))
    items = []
    for index, item in enumerate(body):
        parsed = _parse_item(item, [index], issues)
        if parsed is not None:
            items.append(parsed)
    if issues:
        return [], issues
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item["dimension"] in seen:
            issues.append(
                {
                    "code": "custom",
                    "path": [index, "dimension"],
                    "message": f"Duplicate dimension: {item['dimension']}",
                }
            )
        seen.add(item["dimension"])
    return ([], issues) if issues else (items, [])


def _parse_item(item: Any, path: list[Any], issues: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        issues.append(_invalid_type("object", item, path))
        return None
    found = len(issues)
    dimension = item.get("dimension")
    if "dimension" not in item:
        issues.append(_required("string", [*path, "dimension"]))
    elif not isinstance(dimension, str):
        issues.append(_invalid_type("string", dimension, [*path, "dimension"]))
    elif dimension not in DIMENSIONS:
        options = " | ".join(f"'{d}'" for d in DIMENSIONS)
        issues.append(
            {
                "code": "invalid_enum_value",
                "options": list(DIMENSIONS),
                "received": dimension,
                "path": [*path, "dimension"],
                "message": f"Invalid enum value. Expected {options}, received '{dimension}'",
            }
        )
    score = item.get("score")
    if "score" not in item:
        issues.append(_required("number", [*path, "score"]))
    elif isinstance(score, bool) or not isinstance(score, int | float):
        issues.append(_invalid_type("number", score, [*path, "score"]))
    elif isinstance(score, float) and not (math.isfinite(score) and score.is_integer()):
        issues.append(
            {
                "code": "invalid_type",
                "expected": "integer",
                "received": "float",
                "path": [*path, "score"],
                "message": "Expected integer, received float",
            }
        )
    elif score < 1:
        issues.append(_size("too_small", "number", 1, [*path, "score"]))
    elif score > 5:
        issues.append(_size("too_big", "number", 5, [*path, "score"]))
    notes = item.get("notes")
    if notes is not None and not isinstance(notes, str):
        issues.append(_invalid_type("string", notes, [*path, "notes"]))
    if len(issues) > found:
        return None
    return {"dimension": dimension, "score": int(score), "notes": notes}


def score_object(
    score_id: str,
    session_id: str,
    org_id: str,
    item: dict[str, Any],
    reviewer_id: str | None,
    created_ms: int,
    updated_ms: int,
) -> dict[str, Any]:
    """A score as the upstream returns it."""
    return {
        "id": score_id,
        "sessionId": session_id,
        "orgId": org_id,
        "dimension": item["dimension"],
        "score": item["score"],
        "notes": item["notes"],
        "reviewerId": reviewer_id,
        "createdAt": iso(created_ms),
        "updatedAt": iso(updated_ms),
    }


def seeded_scores(
    seed: int, sessions: list[tuple[str, str, int]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Scores a reviewer gave in Promptster's dashboard, for ``(session id, org id, endedAt ms)``.

    The first session gets every dimension, the others three; each session its own reviewer.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for n, (session_id, org_id, ended_ms) in enumerate(sessions):
        rng = random.Random(f"{seed}:scores:{session_id}")
        reviewer = "user_2Nf" + "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            for _ in range(24)
        )
        picked = set(DIMENSIONS if n == 0 else rng.sample(DIMENSIONS, 3))
        chosen = [d for d in DIMENSIONS if d in picked]
        created = ended_ms + rng.randint(2 * 60, 40 * 60) * MS_PER_MIN  # 2 to 40 hours later
        scores: dict[str, dict[str, Any]] = {}
        for k, dimension in enumerate(chosen):
            item = {
                "dimension": dimension,
                "score": rng.randint(2, 5),
                "notes": rng.choice(_NOTES) if rng.random() < 0.6 else None,
            }
            at = created + k * rng.randint(20_000, 90_000)
            updated = at + (rng.randint(1, 30) * MS_PER_MIN if rng.random() < 0.3 else 0)
            score_id = uuid_for(seed, f"score:{session_id}:{dimension}")
            scores[dimension] = score_object(
                score_id, session_id, org_id, item, reviewer, at, updated
            )
        out[session_id] = scores
    return out
