from __future__ import annotations

from django.db import transaction

from .models import Membership, Role, Team


def create_team(owner, name: str, *, personal: bool = False) -> Team:
    with transaction.atomic():
        team = Team.objects.create(name=name.strip(), personal=personal)
        Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return team


def create_personal_team(user) -> Team:
    name = f"{user.display_name}'s team"
    return create_team(user, name[:100], personal=True)


def check_member_change(actor: Membership, target: Membership, new_role: str | None = None) -> None:
    """Refuse what ``actor`` may not do to ``target``; anyone may leave a team themselves.

    Owners do anything; admins manage admins, members and viewers but never
    touch owners or make new ones. The last-owner rule lives on Team.
    """
    from django.core.exceptions import PermissionDenied

    if actor.pk == target.pk and new_role is None:
        return  # leaving
    if actor.role == Role.OWNER:
        return
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only the team's owners and admins can manage members.")
    if target.role == Role.OWNER or new_role == Role.OWNER:
        raise PermissionDenied("Only an owner can change owners.")
