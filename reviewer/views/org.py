"""Organization administration: the confirmed delete, settings, members and the audit log."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from reviewer import access, accounts, deletion, promptster, timeline
from reviewer.forms import DeleteForm, MemberForm, OrganizationForm, RoleForm, TokenForm
from reviewer.models import (
    AuditEntry,
    Invitation,
    Membership,
    Role,
    session_is_deleted,
)
from reviewer.upstream import ID_RE
from reviewer.views.common import MemberRequest, member_view

log = logging.getLogger(__name__)


@require_http_methods(["GET", "POST"])
@member_view
def session_delete(request: MemberRequest, session_id: str) -> HttpResponse:
    """GET: the confirmation. POST: delete it in Promptster, then here (`deletion`).

    Only admins; the typed confirmation must match the first 8 characters of the id. A
    session Promptster no longer has can still be deleted here, from what is stored.
    """
    membership = access.get_membership(request)
    access.require_role(membership, Role.ADMIN)
    org = membership.organization
    if request.method == "POST" and session_is_deleted(org, session_id):
        return _done(request, "That session was already deleted.", level=messages.INFO)
    try:
        fetched = access.get_session_for_member(membership, session_id)
    except access.SessionGone:
        if request.method == "POST":  # a second delete that lost the race to the first
            return _done(request, "That session was already deleted.", level=messages.INFO)
        raise
    session = fetched.value
    form = DeleteForm(request.POST or None, session_id=session_id)
    context: dict[str, Any] = {
        "session": session,
        "form": form,
        "sync": timeline.find_sync(org, session_id),
        "gone_upstream": fetched.gone_upstream,
    }
    if request.method != "POST" or not form.is_valid():
        return _confirmation(request, context, status=400 if form.is_bound else 200)
    try:
        result = deletion.delete_session(
            org,
            session_id,
            actor=request.user,
            session=None if fetched.gone_upstream else session,
        )
    except promptster.PromptsterError as exc:
        log.warning("delete of %s not confirmed upstream: %s", session_id, exc)
        context["error"] = f"{exc.user_message} Nothing was deleted here; the session is unchanged."
        return _confirmation(request, context, status=502)
    messages_for = {
        deletion.Outcome.ALREADY_DELETED: ("That session was already deleted.", messages.INFO),
        deletion.Outcome.BUSY: ("That session is being deleted already.", messages.INFO),
        deletion.Outcome.ALREADY_GONE: (
            "Promptster no longer had this session; what was stored here is deleted too.",
            messages.SUCCESS,
        ),
    }
    text, level = messages_for.get(
        result.outcome, (f"Session {session.short_id} was deleted permanently.", messages.SUCCESS)
    )
    return _done(request, text, level=level)


def _done(request: MemberRequest, message: str, *, level: int = messages.SUCCESS) -> HttpResponse:
    messages.add_message(request, level, message)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("session-list"))
    return redirect("session-list")


def _confirmation(request: MemberRequest, context: dict[str, Any], *, status: int) -> HttpResponse:
    template = "sessions/delete.html#modal" if request.htmx else "sessions/delete.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@member_view
def org_settings(request: MemberRequest) -> HttpResponse:
    """The organization's name, API origin, token and members (admins only)."""
    membership = access.get_membership(request)
    access.require_role(membership, Role.ADMIN)
    org = membership.organization
    action = request.POST.get("action", "")
    org_form = OrganizationForm(
        request.POST if action == "org" else None,
        initial={"name": org.name, "api_url": org.api_url},
        organization=org,
    )
    token_form = TokenForm(request.POST if action == "token" else None)
    member_form = MemberForm(request.POST if action == "add-member" else None)
    status = 200
    if request.method == "POST":
        done = _apply_settings(request, membership, action, org_form, token_form, member_form)
        if done:
            return redirect("org-settings")
        status = 400
    members = (
        Membership.objects.filter(organization=org)
        .select_related("user")
        .order_by("user__username")
    )
    return render(
        request,
        "org/settings.html",
        {
            "org": org,
            "org_form": org_form,
            "token_form": token_form,
            "member_form": member_form,
            "members": members,
            "invitations": org.invitations.select_related("user").order_by("user__username"),
            "roles": Role.choices,
        },
        status=status,
    )


def _apply_settings(
    request: MemberRequest,
    membership: Membership,
    action: str,
    org_form: OrganizationForm,
    token_form: TokenForm,
    member_form: MemberForm,
) -> bool:
    org = membership.organization
    actor = request.user
    if action == "org" and org_form.is_valid():
        org.name = org_form.cleaned_data["name"]
        token = org_form.cleaned_data["token"]
        changed_url = org.set_origin(org_form.cleaned_data["api_url"], token=token, trusted=False)
        org.save()
        org.refresh_from_db()
        AuditEntry.record(
            org, AuditEntry.Action.ORG_CHANGED, actor=actor, api_url_changed=changed_url
        )
        if token:
            AuditEntry.record(org, AuditEntry.Action.TOKEN_CHANGED, actor=actor)
        messages.success(
            request,
            "Organization saved; the new API token is in use." if token else "Organization saved.",
        )
        return True
    if action == "token" and token_form.is_valid():
        org.replace_token(token_form.cleaned_data["token"])
        AuditEntry.record(org, AuditEntry.Action.TOKEN_CHANGED, actor=actor)
        messages.success(
            request, "API token replaced. Cached data from the old token is no longer used."
        )
        return True
    if action == "add-member" and member_form.is_valid():
        username = member_form.cleaned_data["username"]
        role = member_form.cleaned_data["role"]
        try:
            accounts.invite(org, username, member_form.cleaned_data["password"], role, actor=actor)
        except accounts.AlreadyMember:
            member_form.add_error("username", "Already a member: change their role above.")
            return False
        messages.success(
            request,
            f"{username} is invited as {role} and joins once they accept, when they next "
            "sign in. If the username was new, it was created with the password you chose.",
        )
        return True
    if action == "cancel-invitation":
        invitation = get_object_or_404(
            Invitation, pk=_int_or_404(request.POST.get("invitation", "")), organization=org
        )
        invitation.delete()
        AuditEntry.record(
            org,
            AuditEntry.Action.INVITATION_CANCELLED,
            actor=actor,
            member=invitation.user.get_username(),
        )
        messages.success(request, "Invitation cancelled.")
        return True
    if action in ("role", "remove"):
        target = get_object_or_404(
            Membership, pk=_int_or_404(request.POST.get("membership", "")), organization=org
        )
        if target.pk == membership.pk:
            messages.error(request, "You cannot change or remove your own membership.")
            return True
        if action == "remove":
            target.delete()
            AuditEntry.record(
                org,
                AuditEntry.Action.MEMBER_REMOVED,
                actor=actor,
                member=target.user.get_username(),
            )
            messages.success(request, f"{target.user.get_username()} was removed.")
            return True
        role_form = RoleForm(request.POST)
        if role_form.is_valid():
            target.role = role_form.cleaned_data["role"]
            target.save(update_fields=["role"])
            AuditEntry.record(
                org,
                AuditEntry.Action.MEMBER_CHANGED,
                actor=actor,
                member=target.user.get_username(),
                role=target.role,
            )
            messages.success(request, f"{target.user.get_username()} is now a {target.role}.")
            return True
        messages.error(request, "Choose a valid role.")
        return True
    return False


@require_POST
@member_view
def lift_lockout(request: MemberRequest) -> HttpResponse:
    """Admins: let a member locked out by login throttling try again now (audited)."""
    membership = access.get_membership(request)
    access.require_role(membership, Role.ADMIN)
    username = request.POST.get("username", "")
    if accounts.lift_lockout(membership.organization, username, actor=request.user):
        messages.success(request, f"{username} can log in again.")
    else:
        messages.info(request, f"{username} was not locked out.")
    return redirect("audit-log")


def _int_or_404(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise Http404("No such member.") from None


@require_GET
@member_view
def audit_log(request: MemberRequest) -> HttpResponse:
    """The organization's audit log, newest first, filterable by action and session."""
    membership = access.get_membership(request)
    access.require_role(membership, Role.ADMIN)
    entries = AuditEntry.objects.for_org(membership.organization).select_related("actor")
    action = request.GET.get("action", "")
    if action in AuditEntry.Action.values:
        entries = entries.filter(action=action)
    else:
        action = ""
    session_id = request.GET.get("session", "").strip()
    if session_id and ID_RE.fullmatch(session_id):
        entries = entries.filter(session_id__startswith=session_id)
    else:
        session_id = ""
    paginator = Paginator(entries, 50)
    page = paginator.get_page(request.GET.get("page"))
    template = "org/audit.html#entries" if request.htmx else "org/audit.html"
    return render(
        request,
        template,
        {
            "page": page,
            "actions": AuditEntry.Action.choices,
            "action": action,
            "session": session_id,
            "lockouts": accounts.lockouts_for(membership.organization),
        },
    )


@require_http_methods(["GET", "POST"])
@member_view
def invitations(request: MemberRequest) -> HttpResponse:
    """The signed-in user's invitations: POST `invitation` and `answer` (accept/decline).

    Accepting is the user's own choice of organization, so it becomes the one they work in.
    """
    if request.method == "POST":
        invitation = get_object_or_404(
            Invitation.objects.select_related("organization", "user"),
            pk=_int_or_404(request.POST.get("invitation", "")),
            user=request.user,
        )
        if request.POST.get("answer") == "accept":
            membership = accounts.accept(invitation)
            request._memberships = None  # type: ignore[attr-defined]
            access.choose_organization(request, membership.organization_id)
            accounts.note_invitations(request)
            messages.success(request, f"You joined {membership.organization.name}.")
            return redirect("session-list")
        accounts.decline(invitation)
        accounts.note_invitations(request)
        messages.info(request, f"You declined the invitation to {invitation.organization.name}.")
        return redirect("invitations")
    accounts.note_invitations(request)
    return render(
        request,
        "org/invitations.html",
        {"invitations": accounts.pending_invitations(request.user)},
    )
