"""Anonymized review (issue 15 §6): candidates shown under a stable alias until decided.

When an organization turns it on, every member but its admins sees "Candidate 7f3a9c"
instead of the candidate's name, and no repository URL, wherever sessions are presented
(list, cohort and its CSV, compare, search, the session page, share links), until the team's
decision is recorded. The alias is an HMAC of the session id under the organization's own
secret: stable for everyone, and meaningless outside the organization.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterable

from reviewer.models import Membership, Organization
from reviewer.review.models import Decision
from reviewer.upstream import Session

ALIAS_DIGITS = 6


def alias(org: Organization, session_id: str) -> str:
    """The candidate's alias in this organization, e.g. "Candidate 7f3a9c"."""
    digest = hmac.new(org.review_secret.encode(), session_id.encode(), hashlib.sha256)
    return f"Candidate {digest.hexdigest()[:ALIAS_DIGITS]}"


def hides_names(org: Organization, membership: Membership | None) -> bool:
    """Whether this reader (None: a share-link visitor) sees aliases in this organization."""
    return org.review_anonymized and (membership is None or not membership.is_admin)


def masked(org: Organization, session: Session) -> Session:
    """A copy of the session with the alias for a name and no repository URL."""
    metadata = {**session.metadata, "candidateName": alias(org, session.id), "repoUrl": ""}
    return dataclasses.replace(session, metadata=metadata)


def _decided(org: Organization, session_ids: Iterable[str]) -> set[str]:
    return set(
        Decision.objects.filter(organization=org, session_id__in=list(session_ids)).values_list(
            "session_id", flat=True
        )
    )


def present(org: Organization, membership: Membership | None, session: Session) -> Session:
    """The session as this reader may see it."""
    return present_many(org, membership, [session])[0]


def present_many(
    org: Organization, membership: Membership | None, sessions: list[Session]
) -> list[Session]:
    """Sessions as this reader may see them (one query, none when nothing is hidden)."""
    if not sessions or not hides_names(org, membership):
        return sessions
    decided = _decided(org, (s.id for s in sessions))
    return [s if s.id in decided else masked(org, s) for s in sessions]


def names_to_hide(
    org: Organization, membership: Membership | None, session_ids: Iterable[str]
) -> set[str]:
    """Of these sessions, those whose candidate this reader sees under an alias."""
    if not hides_names(org, membership):
        return set()
    ids = set(session_ids)
    return ids - _decided(org, ids)
