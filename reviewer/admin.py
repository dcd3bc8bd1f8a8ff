"""Django admin: organizations (token write-only), members, stored timelines, share links, audit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from reviewer import origins
from reviewer.models import AuditEntry, Membership, Organization, ShareLink, TimelineSync


class OrganizationForm(forms.ModelForm):
    """The admin site's organization form: the origin follows `reviewer.origins` unless the
    operator ticks "origin trusted by operator"; a new origin needs its token."""

    api_url = forms.URLField(label="API origin", assume_scheme="https")
    new_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current token. It is stored encrypted.",
    )

    class Meta:
        model = Organization
        fields = ["name", "slug", "origin_trusted"]  # api_url: applied by set_origin

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("api_url", self.instance.api_url)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        url = data.get("api_url")
        if url:
            try:
                data["api_url"] = origins.clean_origin(
                    url, trusted=bool(data.get("origin_trusted"))
                )
            except forms.ValidationError as exc:
                self.add_error("api_url", exc)
                return data
        if url and self.instance.origin_change_needs_token(url) and not data.get("new_token"):
            self.add_error("new_token", "A new API origin needs its API token, entered again.")
        return data


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    list_display = ["name", "slug", "api_url", "token_hint", "token_updated_at"]
    readonly_fields = ["token_hint", "token_updated_at"]
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        token = form.cleaned_data.get("new_token") or ""
        obj.set_origin(
            form.cleaned_data["api_url"], token=token, trusted=form.cleaned_data["origin_trusted"]
        )
        super().save_model(request, obj, form, change)
        if token:
            obj.refresh_from_db()
            AuditEntry.record(obj, AuditEntry.Action.TOKEN_CHANGED, actor=request.user)  # type: ignore[arg-type]


@admin.register(TimelineSync)
class TimelineSyncAdmin(admin.ModelAdmin):
    list_display = [
        "session_id",
        "organization",
        "state",
        "events_stored",
        "expected_events",
        "complete",
    ]
    list_filter = ["organization", "state", "complete"]
    readonly_fields = [f.name for f in TimelineSync._meta.fields]


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = [
        "session_id",
        "organization",
        "created_by",
        "expires_at",
        "revoked_at",
        "view_count",
    ]
    list_filter = ["organization"]
    exclude = ["token_hash"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "organization", "actor_name", "action", "session_id"]
    list_filter = ["organization", "action"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
