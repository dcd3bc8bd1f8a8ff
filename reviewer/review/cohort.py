"""The cohort's review columns (issue 15 §5): review state, decision and the median score
per dimension, blind-aware (`Board.sees_verdicts`), on the page and in the CSV."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reviewer.cohort import CohortRow, csv_cell
from reviewer.models import Membership
from reviewer.review.board import ReviewState, boards_for
from reviewer.review.listing import parse_review
from reviewer.review.models import DIMENSIONS


def for_page(
    membership: Membership, rows: list[CohortRow], review: str | None
) -> tuple[list[CohortRow], dict[str, Any]]:
    """The rows in the review state asked for (`review=`, all when empty or unknown), and
    the context the review columns need."""
    wanted = parse_review(review)
    boards = boards_for(membership, [r.session.id for r in rows])
    if wanted:
        rows = [r for r in rows if boards[r.session.id].state == wanted]
    return rows, {
        "review_boards": boards,
        "review": wanted,
        "review_states": ReviewState.LABELS,
        "review_dimensions": DIMENSIONS,
    }


def csv_header() -> list[str]:
    return ["review_state", "decision", *(f"median_{key}" for key, _ in DIMENSIONS)]


def csv_cells(membership: Membership, rows: Iterable[CohortRow]) -> list[list[str]]:
    """Per row: its review state, the decision and, for those allowed to see them, the
    median of submitted scores per dimension (empty cells otherwise)."""
    rows = list(rows)
    boards = boards_for(membership, [r.session.id for r in rows])
    out = []
    for row in rows:
        board = boards[row.session.id]
        medians = board.medians()
        out.append(
            [
                csv_cell(board.state),
                csv_cell(board.decision.verdict if board.decision else ""),
                *(csv_cell(medians.get(key)) for key, _ in DIMENSIONS),
            ]
        )
    return out
