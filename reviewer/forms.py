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
from reviewer.review.board import ReviewState
from reviewer.timeline import ATTRIBUTIONS, TimelineFilter
from reviewer.upstream import ID_RE, SESSIONS_MAX_LIMIT

_ID_RE = re.compile(rf"^{ID_RE.pattern}$")
_KEY_RE = re.compile(rf"^{KEY_PATTERN}$")
_TOOL_RE = re.compile(r"^[A-Za-z0-9_. -]{1,64}$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_QUERY_CHARS = 200
MAX_OFFSET = 1_000_000
PAGE_SIZES = (10, 20, 50, 100)


# --- query parameters: declared forms, read leniently -------------------------------------------


def read_query(form_class: type[forms.Form], query: QueryDict) -> tuple[dict[str, Any], list[str]]:
    """The one lenient reading of a query string: the form's cleaned values, where every field
    that fails validation gets a replacement instead (a number clamped into range, a text cut
    to its maximum length, the valid part of a list, or the field's `initial`) and its error
    message, written to explain the replacement, becomes a notice for the page."""
    form = form_class(query)
    form.is_valid()
    values = dict(form.cleaned_data)
    notices: list[str] = []
    for name, errors in form.errors.items():
        field = form.fields[name]
        values[name] = _replacement(field, form[name].data)
        notices.append(str(errors[0]))
    return values, notices


def _replacement(field: forms.Field, raw: Any) -> Any:
    if isinstance(field, KindsField):
        return field.keep_valid(raw)
    if isinstance(field, forms.IntegerField):
        try:
            number = int(str(raw).strip())
        except ValueError:
            return field.initial
        return max(field.min_value, min(field.max_value, number))  # type: ignore[type-var]
    if isinstance(field, forms.CharField) and isinstance(raw, str):
        limit = field.max_length
        if limit is not None and len(raw) > limit:
            return field.to_python(raw[:limit])
    return field.initial


def whole_number(name: str, *, default: int, lo: int, hi: int) -> forms.IntegerField:
    """An integer parameter; out of range it is clamped, unreadable it is `default`."""
    return forms.IntegerField(
        required=False,
        initial=default,
        min_value=lo,
        max_value=hi,
        error_messages={
            "invalid": f"“{name}” must be a whole number; using {default}.",
            "min_value": f"“{name}” cannot be below {lo}; using {lo}.",
            "max_value": f"“{name}” cannot be above {hi}; using {hi}.",
        },
    )


def id_param(name: str, pattern: re.Pattern[str] = _ID_RE) -> forms.RegexField:
    """An id (or event key) parameter; a malformed one is ignored."""
    return forms.RegexField(
        pattern,
        required=False,
        initial="",
        error_messages={"invalid": f"“{name}” is not a valid id and was ignored."},
    )


class SearchTextField(forms.CharField):
    """Search text: NUL characters dropped, cut to `MAX_QUERY_CHARS`."""

    def __init__(self) -> None:
        super().__init__(
            required=False,
            initial="",
            max_length=MAX_QUERY_CHARS,
            error_messages={
                "max_length": f"The search text was cut to its first {MAX_QUERY_CHARS} characters."
            },
        )

    def to_python(self, value: Any) -> str:
        return str(super().to_python(value)).replace("\x00", "").strip()


class KindsField(forms.Field):
    """Event kinds, repeated (`kind=a&kind=b`) or comma-separated; unknown shapes are dropped."""

    widget = forms.SelectMultiple
    default_error_messages = {"invalid": "An unknown event kind in “kind” was ignored."}

    def __init__(self) -> None:
        super().__init__(required=False, initial=())

    @staticmethod
    def _split(value: Any) -> list[str]:
        items = value if isinstance(value, list | tuple) else [value] if value else []
        return [k.strip() for raw in items[:30] for k in str(raw).split(",") if k.strip()]

    def keep_valid(self, value: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for k in self._split(value) if _KIND_RE.match(k)))

    def clean(self, value: Any) -> tuple[str, ...]:
        kinds = self._split(value)
        if any(not _KIND_RE.match(k) for k in kinds):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return tuple(dict.fromkeys(kinds))


class ListQuery(forms.Form):
    """`/sessions/?assessmentId=&sourceService=&limit=&offset=` (names mirror the API's)."""

    assessmentId = id_param("assessmentId")  # noqa: N815 - the API's parameter name
    sourceService = forms.RegexField(  # noqa: N815
        _TOOL_RE,
        required=False,
        initial="",
        strip=True,
        error_messages={
            "invalid": "“sourceService” has characters no AI tool name has and was ignored."
        },
    )
    limit = whole_number("limit", default=20, lo=1, hi=SESSIONS_MAX_LIMIT)
    offset = whole_number("offset", default=0, lo=0, hi=MAX_OFFSET)
    review = forms.ChoiceField(
        choices=[("", "")] + [(state, state) for state in ReviewState.ALL],
        required=False,
        initial="",
        error_messages={
            "invalid_choice": "“review” must be one of: " + ", ".join(ReviewState.ALL) + "."
        },
    )


class TimelineQuery(forms.Form):
    """`/sessions/<id>/timeline/?kind=&attribution=&q=&failures=&after=&before=&at=`."""

    kind = KindsField()
    attribution = forms.ChoiceField(
        choices=[("", "")] + [(a, a) for a in ATTRIBUTIONS],
        required=False,
        initial="",
        error_messages={
            "invalid_choice": "“attribution” must be one of: " + ", ".join(ATTRIBUTIONS) + "."
        },
    )
    q = SearchTextField()
    failures = forms.CharField(required=False, initial="")
    after = id_param("after", _KEY_RE)
    before = id_param("before", _KEY_RE)
    at = id_param("at", _KEY_RE)


class SearchQuery(forms.Form):
    """`/search/?q=&assessmentId=&kind=&page=`."""

    q = SearchTextField()
    assessmentId = id_param("assessmentId")  # noqa: N815 - the API's parameter name
    kind = KindsField()
    page = whole_number("page", default=1, lo=1, hi=10_000)


@dataclass
class ListParams:
    assessment_id: str = ""
    source_service: str = ""
    limit: int = 20
    offset: int = 0
    notices: list[str] = field(default_factory=list)
    review: str = ""  # hiring review state: not_started, scored, decided (reviewer.review)

    def query(self, **overrides: object) -> str:
        values = {
            "assessmentId": self.assessment_id,
            "sourceService": self.source_service,
            "review": self.review,
            "limit": self.limit,
            "offset": self.offset,
        } | overrides
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def parse_list_params(query: QueryDict) -> ListParams:
    """The session list's parameters (`ListQuery`), read leniently."""
    values, notices = read_query(ListQuery, query)
    return ListParams(
        assessment_id=values["assessmentId"] or "",
        source_service=values["sourceService"] or "",
        limit=values["limit"] if values["limit"] is not None else 20,
        offset=values["offset"] or 0,
        notices=notices,
        review=values["review"] or "",
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
    """A timeline's filter and cursor (`TimelineQuery`), read leniently."""
    values, notices = read_query(TimelineQuery, query)
    return TimelineParams(
        filter=TimelineFilter(
            kinds=values["kind"] or (),
            attribution=values["attribution"] or "",
            q=values["q"] or "",
            failures_only=values["failures"] in ("1", "true", "on"),
        ),
        after=values["after"] or "",
        before=values["before"] or "",
        at=values["at"] or "",
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


def parse_search_params(query: QueryDict) -> SearchParams:
    """`/search/?q=&assessmentId=&kind=&page=` (`SearchQuery`), read leniently."""
    values, notices = read_query(SearchQuery, query)
    return SearchParams(
        q=values["q"] or "",
        assessment_id=values["assessmentId"] or "",
        kinds=values["kind"] or (),
        page=values["page"] or 1,
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
    include_notes = forms.BooleanField(required=False, label="Include reviewers' notes")


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
