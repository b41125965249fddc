from __future__ import annotations

from urllib.parse import urlsplit

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from vibeflow_site.encryption import encrypt

from .access import get_membership, get_team_for_user, set_current_team
from .forms import AlertWebhookForm, InviteForm, RoleForm, TeamForm
from .invitations import invitation_from_token
from .models import Invitation, InvitationError, LastOwnerError, Membership
from .tasks import send_invitation_email
from .teams import check_member_change, create_team


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
@require_POST
def team_switch(request):
    membership = get_membership(request.user, request.POST.get("team"))
    set_current_team(request, membership.team)
    messages.info(request, f"Switched to {membership.team.name}.")
    target = reverse("home")
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


@login_required
def team_list(request):
    memberships = request.user.memberships.select_related("team").order_by("team__name")
    return render(
        request, "accounts/team_list.html", {"memberships": memberships, "form": TeamForm()}
    )


@login_required
@require_http_methods(["GET", "POST"])
def team_create(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = create_team(request.user, form.cleaned_data["name"])
        set_current_team(request, team)
        messages.success(request, f"Team {team.name} created. Invite people from its page.")
        return redirect("team_detail", team_id=team.pk)
    return render(request, "accounts/team_create.html", {"form": form})


def _team_page(
    request, team, membership, *, invite_form=None, rename_form=None, webhook_form=None, status=200
):
    members = team.memberships.select_related("user").order_by("created_at")
    invitations = team.invitations.filter(accepted_at__isnull=True).order_by("-created_at")
    return render(
        request,
        "accounts/team_detail.html",
        {
            "team": team,
            "membership": membership,
            "members": members,
            "invitations": invitations,
            "invite_form": invite_form or InviteForm(team=team, actor=membership),
            "rename_form": rename_form or TeamForm(initial={"name": team.name}),
            "webhook_form": webhook_form or AlertWebhookForm(),
            "role_choices": RoleForm.base_fields["role"].choices,
        },
        status=status,
    )


@login_required
def team_detail(request, team_id):
    team, membership = get_team_for_user(request.user, team_id)
    return _team_page(request, team, membership)


@login_required
@require_POST
def team_webhook(request, team_id):
    """Set or clear the team's alert webhook (owners and admins)."""
    team, membership = get_team_for_user(request.user, team_id, manage=True)
    form = AlertWebhookForm(request.POST)
    if not form.is_valid():
        return _team_page(request, team, membership, webhook_form=form, status=400)
    url = form.cleaned_data["url"]
    team.alert_webhook = encrypt(url) if url else ""
    team.alert_webhook_host = urlsplit(url).hostname or "" if url else ""
    team.save(update_fields=["alert_webhook", "alert_webhook_host"])
    messages.success(
        request,
        f"Alerts now also go to the webhook at {team.alert_webhook_host}."
        if url
        else "The alert webhook was removed; alerts go by e-mail only.",
    )
    return redirect("team_detail", team_id=team.pk)


@login_required
@require_POST
def team_two_factor(request, team_id):
    """Require (or stop requiring) two-factor authentication of the team's members."""
    team, _ = get_team_for_user(request.user, team_id, manage=True)
    require = request.POST.get("require_2fa") == "on"
    if require and not is_mfa_enabled(request.user):
        messages.error(
            request,
            "Turn on two-factor authentication for yourself first (Account → Two-factor "
            "authentication), then require it of the team.",
        )
    else:
        team.require_2fa = require
        team.save(update_fields=["require_2fa"])
        messages.success(
            request,
            "Members must now set up two-factor authentication before they go on."
            if require
            else "Two-factor authentication is no longer required.",
        )
    return redirect("team_detail", team_id=team.pk)


@login_required
@require_POST
def team_rename(request, team_id):
    team, membership = get_team_for_user(request.user, team_id, manage=True)
    form = TeamForm(request.POST)
    if not form.is_valid():
        return _team_page(request, team, membership, rename_form=form, status=400)
    team.name = form.cleaned_data["name"]
    team.save(update_fields=["name"])
    messages.success(request, "Team renamed.")
    return redirect("team_detail", team_id=team.pk)


@login_required
@require_POST
def invite(request, team_id):
    team, membership = get_team_for_user(request.user, team_id, manage=True)
    form = InviteForm(request.POST, team=team, actor=membership)
    if not form.is_valid():
        return _team_page(request, team, membership, invite_form=form, status=400)
    invitation = Invitation.objects.create(
        team=team,
        email=form.cleaned_data["email"],
        role=form.cleaned_data["role"],
        invited_by=request.user,
    )
    # The worker must find the row, so enqueue only once it is committed.
    send_invitation_email.delay_on_commit(str(invitation.pk), request.build_absolute_uri("/"))
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect("team_detail", team_id=team.pk)


@login_required
@require_POST
def invitation_revoke(request, team_id, invitation_id):
    team, _ = get_team_for_user(request.user, team_id, manage=True)
    invitation = get_object_or_404(
        Invitation, pk=invitation_id, team=team, accepted_at__isnull=True
    )
    invitation.delete()
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return redirect("team_detail", team_id=team.pk)


@login_required
@require_POST
def member_role(request, team_id, membership_id):
    team, actor = get_team_for_user(request.user, team_id, manage=True)
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, team=team
    )
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles: owner, admin, member or viewer.")
        return redirect("team_detail", team_id=team.pk)
    check_member_change(actor, target, form.cleaned_data["role"])
    try:
        team.change_role(target, form.cleaned_data["role"])
    except LastOwnerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{target.user.email} is now {target.get_role_display().lower()}."
        )
    return redirect("team_detail", team_id=team.pk)


@login_required
@require_POST
def member_remove(request, team_id, membership_id):
    team, actor = get_team_for_user(request.user, team_id)
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, team=team
    )
    if target.pk != actor.pk and not actor.can_manage_members:
        get_team_for_user(
            request.user, team_id, manage=True
        )  # raises PermissionDenied with the reason
    check_member_change(actor, target)
    try:
        team.remove_member(target)
    except LastOwnerError as exc:
        messages.error(request, str(exc))
        return redirect("team_detail", team_id=team.pk)
    if target.pk == actor.pk:
        messages.success(request, f"You left {team.name}.")
        request.session.pop("current_team_id", None)
        return redirect("home")
    messages.success(request, f"{target.user.email} was removed from {team.name}.")
    return redirect("team_detail", team_id=team.pk)


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    invitation = invitation_from_token(token)
    if invitation is None:
        raise Http404("This invitation link is not valid or was revoked.")
    error = None
    if invitation.accepted_at is not None:
        error = "This invitation has already been used."
    elif invitation.is_expired:
        error = "This invitation has expired. Ask a team admin to send a new one."
    if request.method == "POST" and error is None:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?next={request.path}")
        try:
            membership = invitation.accept(request.user)
        except InvitationError as exc:
            error = str(exc)
        else:
            set_current_team(request, membership.team)
            messages.success(request, f"Welcome to {membership.team.name}.")
            return redirect("home")
    return render(
        request,
        "accounts/invitation.html",
        {"invitation": invitation, "error": error},
        status=400 if error else 200,
    )
