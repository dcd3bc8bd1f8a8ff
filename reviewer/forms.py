"""Query parameters and action forms.

Query parameters never fail a page: a bad value is replaced by a sensible one and the user is
told what happened (`notices`), so a hand-edited or truncated URL still opens something useful.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import QueryDict

from reviewer import accounts, origins
from reviewer.converters import KEY_PATTERN
from reviewer.models import Organization, Role, ShareLink
from reviewer.timeline import ATTRIBUTIONS, TimelineFilter
from reviewer.upstream import ID_RE, SESSIONS_MAX_LIMIT

_ID_RE = re.compile(rf"^{ID_RE.pattern}$")
_KEY_RE = re.compile(rf"^{KEY_PATTERN}$")
_TOOL_RE = re.compile(r"^[A-Za-z0-9_. -]{1,64}$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_QUERY_CHARS = 200
MAX_OFFSET = 1_000_000
PAGE_SIZES = (10, 20, 50, 100)


def _int_param(
    raw: str | None, *, name: str, default: int, lo: int, hi: int, notices: list[str]
) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        notices.append(f"“{name}” must be a whole number; using {default}.")
        return default
    if value < lo:
        notices.append(f"“{name}” cannot be below {lo}; using {lo}.")
        return lo
    if value > hi:
        notices.append(f"“{name}” cannot be above {hi}; using {hi}.")
        return hi
    return value


def _id_param(
    raw: str | None, *, name: str, notices: list[str], pattern: re.Pattern[str] = _ID_RE
) -> str:
    if not raw:
        return ""
    raw = raw.strip()
    if pattern.match(raw):
        return raw
    notices.append(f"“{name}” is not a valid id and was ignored.")
    return ""


@dataclass
class ListParams:
    assessment_id: str = ""
    source_service: str = ""
    limit: int = 20
    offset: int = 0
    notices: list[str] = field(default_factory=list)

    def query(self, **overrides: object) -> str:
        values = {
            "assessmentId": self.assessment_id,
            "sourceService": self.source_service,
            "limit": self.limit,
            "offset": self.offset,
        } | overrides
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def parse_list_params(query: QueryDict) -> ListParams:
    notices: list[str] = []
    tool = query.get("sourceService", "").strip()
    if tool and not _TOOL_RE.match(tool):
        notices.append("“sourceService” has characters no AI tool name has and was ignored.")
        tool = ""
    return ListParams(
        assessment_id=_id_param(query.get("assessmentId"), name="assessmentId", notices=notices),
        source_service=tool,
        limit=_int_param(
            query.get("limit"),
            name="limit",
            default=20,
            lo=1,
            hi=SESSIONS_MAX_LIMIT,
            notices=notices,
        ),
        offset=_int_param(
            query.get("offset"), name="offset", default=0, lo=0, hi=MAX_OFFSET, notices=notices
        ),
        notices=notices,
    )


@dataclass
class TimelineParams:
    filter: TimelineFilter
    after: str = ""
    before: str = ""
    at: str = ""
    notices: list[str] = field(default_factory=list)

    def query(self, **overrides: object) -> str:
        pairs: list[tuple[str, object]] = [("kind", k) for k in self.filter.kinds]
        values = {
            "attribution": self.filter.attribution,
            "q": self.filter.q,
            "failures": "1" if self.filter.failures_only else "",
        } | overrides
        pairs += [(k, v) for k, v in values.items() if v not in ("", None)]
        return urlencode(pairs)


def parse_timeline_params(query: QueryDict) -> TimelineParams:
    notices: list[str] = []
    kinds = _kinds_param(query, notices)
    attribution = query.get("attribution", "").strip()
    if attribution and attribution not in ATTRIBUTIONS:
        notices.append("“attribution” must be one of: " + ", ".join(ATTRIBUTIONS) + ".")
        attribution = ""
    q = _text_param(query, "q", notices)
    return TimelineParams(
        filter=TimelineFilter(
            kinds=kinds,
            attribution=attribution,
            q=q,
            failures_only=query.get("failures") in ("1", "true", "on"),
        ),
        after=_id_param(query.get("after"), name="after", notices=notices, pattern=_KEY_RE),
        before=_id_param(query.get("before"), name="before", notices=notices, pattern=_KEY_RE),
        at=_id_param(query.get("at"), name="at", notices=notices, pattern=_KEY_RE),
        notices=notices,
    )


@dataclass
class SearchParams:
    q: str = ""
    assessment_id: str = ""
    kinds: tuple[str, ...] = ()
    page: int = 1
    notices: list[str] = field(default_factory=list)

    def query(self, **overrides: object) -> str:
        pairs: list[tuple[str, object]] = [("q", self.q)]
        pairs += [("assessmentId", self.assessment_id)] if self.assessment_id else []
        pairs += [("kind", k) for k in self.kinds]
        pairs += [(k, v) for k, v in overrides.items() if v not in ("", None)]
        return urlencode(pairs)


def _kinds_param(query: QueryDict, notices: list[str]) -> tuple[str, ...]:
    kinds = []
    for raw in query.getlist("kind")[:30]:
        for kind in raw.split(","):
            kind = kind.strip()
            if not kind:
                continue
            if _KIND_RE.match(kind):
                kinds.append(kind)
            else:
                notices.append("An unknown event kind in “kind” was ignored.")
    return tuple(dict.fromkeys(kinds))


def _text_param(query: QueryDict, name: str, notices: list[str]) -> str:
    value = query.get(name, "").replace("\x00", "")
    if len(value) > MAX_QUERY_CHARS:
        notices.append(f"The search text was cut to its first {MAX_QUERY_CHARS} characters.")
        value = value[:MAX_QUERY_CHARS]
    return value.strip()


def parse_search_params(query: QueryDict) -> SearchParams:
    """`/search/?q=&assessmentId=&kind=&page=`: bad values are dropped with a notice."""
    notices: list[str] = []
    return SearchParams(
        q=_text_param(query, "q", notices),
        assessment_id=_id_param(query.get("assessmentId"), name="assessmentId", notices=notices),
        kinds=_kinds_param(query, notices),
        page=_int_param(
            query.get("page"), name="page", default=1, lo=1, hi=10_000, notices=notices
        ),
        notices=notices,
    )


class DeleteForm(forms.Form):
    confirm = forms.CharField(max_length=100, strip=True)

    def __init__(self, *args: Any, session_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_id = session_id

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"]
        if value != self.session_id[:8]:
            raise forms.ValidationError(
                "That does not match. Type the first 8 characters of the session id exactly."
            )
        return value


class ShareForm(forms.Form):
    EXPIRY_CHOICES = [
        (1, "1 hour"),
        (24, "1 day"),
        (72, "3 days"),
        (168, "7 days"),
        (720, "30 days"),
    ]
    expires_in_hours = forms.IntegerField(
        min_value=ShareLink.MIN_HOURS,
        max_value=ShareLink.MAX_HOURS,
        initial=72,
        label="Expires in (hours)",
    )
    note = forms.CharField(max_length=200, required=False, label="Note (optional)")


class OrganizationForm(forms.Form):
    """The settings page's name and API origin. The origin follows `reviewer.origins` (an
    operator-trusted origin kept as it is stays trusted); a new one needs its token."""

    name = forms.CharField(max_length=200)
    api_url = forms.URLField(label="API origin", max_length=200, assume_scheme="https")
    token = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="API token for the new origin",
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_api_url(self) -> str:
        url = self.cleaned_data["api_url"]
        unchanged = not self.organization.origin_change_needs_token(url)
        return origins.clean_origin(url, trusted=unchanged and self.organization.origin_trusted)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        url = data.get("api_url")
        if url and self.organization.origin_change_needs_token(url) and not data.get("token"):
            self.add_error("token", "A new API origin needs its API token, entered again.")
        return data


class TokenForm(forms.Form):
    token = forms.CharField(
        max_length=500, widget=forms.PasswordInput(render_value=False), label="New API token"
    )


class MemberForm(forms.Form):
    """Invite a member: Django's username and password validators, whether or not the
    username exists already (so the form's answer never tells which)."""

    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)
    password = forms.CharField(
        widget=forms.PasswordInput,
        strip=False,
        help_text="Used only if the username is new.",
    )

    def clean_username(self) -> str:
        return accounts.validate_username(self.cleaned_data["username"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("username") and data.get("password"):
            try:
                accounts.validate_new_password(data["password"], data["username"])
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
