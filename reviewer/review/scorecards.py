"""Saving a scorecard: a draft as often as wanted, then submitted once (issue 15 §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewer.models import AuditEntry, Organization
from reviewer.review.models import Scorecard

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AlreadySubmitted(Exception):
    """The scorecard was submitted before: it cannot change any more (HTTP 409)."""


def save_scorecard(
    org: Organization,
    session_id: str,
    user: User,
    *,
    scores: dict[str, int],
    notes: dict[str, str],
    recommendation: str,
    summary: str,
    submit: bool,
) -> Scorecard:
    """Save the user's scorecard of a session; submit it when `submit`.

    1. The row is locked (or created) so two tabs cannot both submit.
    2. A submitted scorecard raises `AlreadySubmitted` and is left as it was.
    3. Submitting stamps `submitted_at` and audits it: who and which session, never a score.
    """
    with transaction.atomic():
        card = _locked_card(org, session_id, user)
        if card.submitted_at is not None:
            raise AlreadySubmitted(session_id)
        card.scores = scores
        card.notes = notes
        card.recommendation = recommendation
        card.summary = summary
        card.reviewer_name = user.get_username()
        if submit:
            card.submitted_at = timezone.now()
        card.save()
        if submit:
            AuditEntry.record(
                org, AuditEntry.Action.SCORECARD_SUBMITTED, actor=user, session_id=session_id
            )
    return card


def _locked_card(org: Organization, session_id: str, user: User) -> Scorecard:
    found = (
        Scorecard.objects.select_for_update()
        .filter(organization=org, session_id=session_id, reviewer=user)
        .first()
    )
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Scorecard.objects.create(
                organization=org,
                session_id=session_id,
                reviewer=user,
                reviewer_name=user.get_username(),
            )
    except IntegrityError:  # created by a concurrent request a moment ago
        return Scorecard.objects.select_for_update().get(
            organization=org, session_id=session_id, reviewer=user
        )
