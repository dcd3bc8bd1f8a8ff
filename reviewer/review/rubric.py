"""What 1, 3 and 5 look like on each rubric dimension, in an AI-assisted session."""

from __future__ import annotations

from dataclasses import dataclass

from reviewer.review.models import DIMENSIONS


@dataclass(frozen=True)
class Anchor:
    key: str
    label: str
    one: str
    three: str
    five: str


_TEXT = {
    "problem_decomposition": (
        "Asks the assistant for the whole solution in one prompt; no plan of their own.",
        "Splits the task into steps, but the steps follow what the assistant proposed.",
        "Frames the problem, orders the steps and gives the assistant one clear piece at a time.",
    ),
    "ai_orchestration": (
        "Accepts whatever the assistant writes; prompts are vague or repeated.",
        "Gives useful context and reviews most output; some blind acceptance.",
        "Chooses when to delegate, steers with precise context, rejects or revises weak output.",
    ),
    "code_quality": (
        "The result barely works; dead code, no tests, the assistant's mistakes left in.",
        "Working, readable code; tests cover the main path.",
        "Clean, idiomatic, well-tested code whatever its origin; AI code reviewed and improved.",
    ),
    "debugging_process": (
        "Pastes errors back at the assistant until something passes.",
        "Reads failures and forms hypotheses, sometimes guided by the assistant.",
        "Reproduces, isolates and verifies fixes; uses the assistant to test hypotheses.",
    ),
    "communication": (
        "No explanation of choices; prompts and commits are hard to follow.",
        "Decisions mostly explained; commits and summaries are adequate.",
        "Trade-offs documented as they are made; a teammate could pick the work up at once.",
    ),
}

ANCHORS = [Anchor(key, label, *_TEXT[key]) for key, label in DIMENSIONS]
"""The rubric, in Promptster's dimension order (REFERENCE.md §1.4)."""
