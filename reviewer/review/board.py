"""Who sees which verdicts of a session: the blind rule (issue 15 §3), in one place.

Every surface that shows scores, recommendations, summaries, final scores or Promptster's
own scores asks `Board.sees_verdicts` first:

- reviewers and admins see other people's verdicts only once they have submitted their own
  scorecard; an admin who recorded the decision without scoring counts as having declined
  to score, and sees them too;
- viewers see them once the decision is recorded;
- share links never (`Board.for_share`).

Notes on events, how many scorecards were submitted, and the decision itself (advance, hold,
reject) are visible to every member: they are evidence and outcome, not anyone's score.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from reviewer.models import Membership, Organization, Role
from reviewer.review.models import DIMENSIONS, Decision, Note, Scorecard

DISAGREEMENT = 2  # scores this far apart on one dimension are marked as a disagreement


class ReviewState:
    NOT_STARTED = "not_started"
    SCORED = "scored"
    DECIDED = "decided"

    ALL = (NOT_STARTED, SCORED, DECIDED)
    LABELS = {NOT_STARTED: "Not started", SCORED: "Scored", DECIDED: "Decided"}


@dataclass(frozen=True)
class DimensionRow:
    """One dimension across the visible scorecards: their scores in card order (None =
    unscored), the median and the spread; `disagreement` when the spread is wide."""

    key: str
    label: str
    scores: list[int | None]
    median: float | None
    spread: int | None

    @property
    def disagreement(self) -> bool:
        return self.spread is not None and self.spread >= DISAGREEMENT


@dataclass
class Board:
    """One session's review as seen by one reader.

    `cards` are every scorecard of the session (drafts included), `mine` the reader's own,
    `decision` the team's decision if recorded. `role` is None for a share-link visitor."""

    session_id: str
    role: str | None
    user_id: int | None
    cards: list[Scorecard] = field(default_factory=list)
    decision: Decision | None = None
    note_count: int = 0

    # --- construction -------------------------------------------------------------------

    @classmethod
    def for_member(cls, membership: Membership, session_id: str) -> Board:
        """The board of one session for a member (3 queries)."""
        return boards_for(membership, [session_id])[session_id]

    @classmethod
    def for_share(cls, session_id: str) -> Board:
        """A share link's board: it never sees any verdict, nor loads any."""
        return cls(session_id=session_id, role=None, user_id=None)

    # --- the rule -----------------------------------------------------------------------

    @property
    def mine(self) -> Scorecard | None:
        if self.user_id is None:
            return None
        return next((c for c in self.cards if c.reviewer_id == self.user_id), None)

    @property
    def submitted(self) -> list[Scorecard]:
        return [c for c in self.cards if c.submitted_at is not None]

    @property
    def declined_to_score(self) -> bool:
        """An admin who recorded the decision without a submitted scorecard of their own."""
        return (
            self.decision is not None
            and self.user_id is not None
            and self.decision.decided_by_id == self.user_id
        )

    @property
    def sees_verdicts(self) -> bool:
        """Whether the reader may see others' scores, recommendations, summaries, the final
        scores and Promptster's scores of this session."""
        if self.role is None:
            return False
        if self.role == Role.VIEWER:
            return self.decision is not None
        mine = self.mine
        return (mine is not None and mine.submitted) or self.declined_to_score

    @property
    def can_score(self) -> bool:
        return self.role in (Role.REVIEWER, Role.ADMIN)

    @property
    def can_decide(self) -> bool:
        return self.role == Role.ADMIN

    # --- what may be shown --------------------------------------------------------------

    @property
    def visible_cards(self) -> list[Scorecard]:
        """Submitted scorecards when the reader may see verdicts, else none."""
        return self.submitted if self.sees_verdicts else []

    @property
    def state(self) -> str:
        if self.decision is not None:
            return ReviewState.DECIDED
        if self.submitted:
            return ReviewState.SCORED
        return ReviewState.NOT_STARTED

    @property
    def state_label(self) -> str:
        if self.decision is not None:
            return f"Decided: {self.decision.get_verdict_display().lower()}"
        count = len(self.submitted)
        if count:
            return f"{count} scorecard{'s' if count != 1 else ''}"
        return "Not started"

    def dimension_rows(self) -> list[DimensionRow]:
        """Per dimension: the visible submitted scores side by side, median and spread.
        Empty when the reader may not see verdicts."""
        cards = self.visible_cards
        if not cards:
            return []
        rows = []
        for key, label in DIMENSIONS:
            scores = [_score(c.scores, key) for c in cards]
            given = [s for s in scores if s is not None]
            rows.append(
                DimensionRow(
                    key=key,
                    label=label,
                    scores=scores,
                    median=statistics.median(given) if given else None,
                    spread=(max(given) - min(given)) if given else None,
                )
            )
        return rows

    def medians(self) -> dict[str, float]:
        """{dimension: median of submitted scores} when the reader may see verdicts."""
        return {r.key: r.median for r in self.dimension_rows() if r.median is not None}


def _score(scores: object, key: str) -> int | None:
    value = scores.get(key) if isinstance(scores, dict) else None
    return value if isinstance(value, int) and 1 <= value <= 5 else None


def boards_for(membership: Membership, session_ids: Iterable[str]) -> dict[str, Board]:
    """Boards of many sessions for one member (the list, the cohort): three queries."""
    ids = list(dict.fromkeys(session_ids))
    org: Organization = membership.organization
    boards = {
        sid: Board(session_id=sid, role=membership.role, user_id=membership.user_id) for sid in ids
    }
    for card in Scorecard.objects.filter(organization=org, session_id__in=ids):
        boards[card.session_id].cards.append(card)
    for decision in Decision.objects.filter(organization=org, session_id__in=ids):
        boards[decision.session_id].decision = decision
    counts: dict[str, int] = {}
    for sid in Note.objects.filter(organization=org, session_id__in=ids).values_list(
        "session_id", flat=True
    ):
        counts[sid] = counts.get(sid, 0) + 1
    for sid, n in counts.items():
        boards[sid].note_count = n
    return boards
