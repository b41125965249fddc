import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.accounts.invitations import make_token
from apps.accounts.models import Invitation, Membership, Role, Team
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_it_creates_a_team_and_switches_to_it(login, owner):
    client = login(owner)
    response = client.post(reverse("team_create"), {"name": "Research"})
    team = Team.objects.get(name="Research")
    assert response.url == reverse("team_detail", args=[team.pk])
    assert Membership.objects.get(team=team, user=owner).role == Role.OWNER
    assert client.session["current_team_id"] == str(team.pk)


def test_it_rejects_a_blank_team_name(login, owner):
    response = login(owner).post(reverse("team_create"), {"name": "   "})
    assert response.status_code == 200
    assert not Team.objects.filter(name="").exists()


def test_it_switches_to_a_team_of_the_user(login, member, team):
    client = login(member)
    response = client.post(reverse("team_switch"), {"team": str(team.pk)})
    assert response.status_code == 302
    assert client.session["current_team_id"] == str(team.pk)


@pytest.mark.parametrize("value", ["not-a-uuid", "", None])
def test_it_refuses_to_switch_to_garbage(login, owner, value):
    data = {} if value is None else {"team": value}
    assert login(owner).post(reverse("team_switch"), data).status_code == 404


def test_it_refuses_to_switch_to_another_teams_team(login, outsider, team):
    client = login(outsider)
    assert client.post(reverse("team_switch"), {"team": str(team.pk)}).status_code == 404
    assert client.session.get("current_team_id") != str(team.pk)


def test_switching_with_htmx_redirects_the_client(login, owner, team):
    response = login(owner).post(
        reverse("team_switch"), {"team": str(team.pk)}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("home")


def test_outsiders_get_404_on_every_team_url(login, outsider, team, member):
    membership = Membership.objects.get(user=member, team=team)
    invitation = Invitation.objects.create(team=team, email="x@example.com")
    client = login(outsider)
    urls = [
        ("get", reverse("team_detail", args=[team.pk])),
        ("post", reverse("team_rename", args=[team.pk])),
        ("post", reverse("team_invite", args=[team.pk])),
        ("post", reverse("invitation_revoke", args=[team.pk, invitation.pk])),
        ("post", reverse("member_role", args=[team.pk, membership.pk])),
        ("post", reverse("member_remove", args=[team.pk, membership.pk])),
    ]
    for method, url in urls:
        response = getattr(client, method)(
            url, {"name": "Mine now", "email": "a@b.co", "role": "owner"}
        )
        assert response.status_code == 404, url
    team.refresh_from_db()
    assert team.name != "Mine now"
    assert Invitation.objects.filter(pk=invitation.pk).exists()
    assert Membership.objects.filter(pk=membership.pk, role=Role.MEMBER).exists()


def test_a_membership_of_another_team_is_404_even_for_an_admin(login, owner, team, outsider):
    foreign = Membership.objects.get(user=outsider)
    response = login(owner).post(reverse("member_remove", args=[team.pk, foreign.pk]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize("role_fixture", ["member", "viewer"])
def test_members_and_viewers_cannot_invite(request, login, team, role_fixture):
    user = request.getfixturevalue(role_fixture)
    response = login(user).post(
        reverse("team_invite", args=[team.pk]), {"email": "x@example.com", "role": "member"}
    )
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_it_rejects_inviting_an_existing_member(login, owner, team, member):
    response = login(owner).post(
        reverse("team_invite", args=[team.pk]), {"email": "MEMBER@example.com", "role": "member"}
    )
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_it_rejects_a_second_open_invitation(login, owner, team):
    Invitation.objects.create(team=team, email="x@example.com")
    response = login(owner).post(
        reverse("team_invite", args=[team.pk]), {"email": "x@example.com", "role": "member"}
    )
    assert response.status_code == 400
    assert "already has an open invitation" in response.content.decode()
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize("email", ["not-an-email", "", "a@b"])
def test_it_rejects_a_bad_invitation_address(login, owner, team, email):
    response = login(owner).post(
        reverse("team_invite", args=[team.pk]), {"email": email, "role": "member"}
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_admins_cannot_invite_owners(login, admin_user, team):
    response = login(admin_user).post(
        reverse("team_invite", args=[team.pk]), {"email": "x@example.com", "role": "owner"}
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_an_invitation_is_mailed_by_the_worker_and_accepted(
    client, owner, team, celery_worker_thread
):
    client.force_login(owner)
    response = client.post(
        reverse("team_invite", args=[team.pk]), {"email": "friend@example.com", "role": "viewer"}
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="friend@example.com")

    deadline = timezone.now() + timedelta(seconds=20)
    while not mail.outbox and timezone.now() < deadline:
        import time

        time.sleep(0.1)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["friend@example.com"]
    path = re.search(r"http://testserver(/invitations/\S+/)", mail.outbox[0].body).group(1)

    friend = make_user("friend@example.com")
    client.force_login(friend)
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.status_code == 302
    assert Membership.objects.get(team=team, user=friend).role == Role.VIEWER
    invitation.refresh_from_db()
    assert invitation.accepted_by == friend

    # A second click on the same link changes nothing.
    response = client.post(path)
    assert response.status_code == 400
    assert "already been used" in response.content.decode()
    assert Membership.objects.filter(team=team, user=friend).count() == 1


def test_an_expired_invitation_is_refused(client, team):
    invitation = Invitation.objects.create(
        team=team, email="late@example.com", expires_at=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(make_user("late@example.com"))
    response = client.post(reverse("invitation_accept", args=[make_token(invitation)]))
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not Membership.objects.filter(team=team, user__email="late@example.com").exists()


def test_an_invitation_is_only_for_its_address(client, team, outsider):
    invitation = Invitation.objects.create(team=team, email="someone@example.com")
    client.force_login(outsider)
    response = client.post(reverse("invitation_accept", args=[make_token(invitation)]))
    assert response.status_code == 400
    assert "sent to someone@example.com" in response.content.decode()
    assert not Membership.objects.filter(team=team, user=outsider).exists()


def test_a_forged_or_revoked_link_is_404(client, login, owner, team):
    invitation = Invitation.objects.create(team=team, email="x@example.com")
    token = make_token(invitation)
    assert client.get(reverse("invitation_accept", args=[token[:-2] + "xx"])).status_code == 404
    login(owner).post(reverse("invitation_revoke", args=[team.pk, invitation.pk]))
    assert client.get(reverse("invitation_accept", args=[token])).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client, team):
    invitation = Invitation.objects.create(team=team, email="x@example.com")
    url = reverse("invitation_accept", args=[make_token(invitation)])
    assert "Create an account" in client.get(url).content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_the_last_owner_cannot_be_demoted(login, owner, team):
    membership = Membership.objects.get(user=owner, team=team)
    response = login(owner).post(
        reverse("member_role", args=[team.pk, membership.pk]), {"role": "member"}, follow=True
    )
    assert "at least one owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_the_last_owner_cannot_leave(login, owner, team):
    membership = Membership.objects.get(user=owner, team=team)
    response = login(owner).post(
        reverse("member_remove", args=[team.pk, membership.pk]), follow=True
    )
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_an_owner_can_hand_over_ownership(login, owner, team, member):
    client = login(owner)
    target = Membership.objects.get(user=member, team=team)
    client.post(reverse("member_role", args=[team.pk, target.pk]), {"role": "owner"})
    mine = Membership.objects.get(user=owner, team=team)
    client.post(reverse("member_role", args=[team.pk, mine.pk]), {"role": "member"})
    assert Membership.objects.get(pk=target.pk).role == Role.OWNER
    assert Membership.objects.get(pk=mine.pk).role == Role.MEMBER


def test_admins_cannot_touch_owners(login, owner, admin_user, team):
    owner_membership = Membership.objects.get(user=owner, team=team)
    client = login(admin_user)
    assert (
        client.post(
            reverse("member_role", args=[team.pk, owner_membership.pk]), {"role": "viewer"}
        ).status_code
        == 403
    )
    assert (
        client.post(reverse("member_remove", args=[team.pk, owner_membership.pk])).status_code
        == 403
    )
    own = Membership.objects.get(user=admin_user, team=team)
    assert (
        client.post(reverse("member_role", args=[team.pk, own.pk]), {"role": "owner"}).status_code
        == 403
    )
    assert Membership.objects.get(pk=owner_membership.pk).role == Role.OWNER
    assert Membership.objects.get(pk=own.pk).role == Role.ADMIN


def test_an_admin_can_change_a_member(login, admin_user, member, team):
    target = Membership.objects.get(user=member, team=team)
    login(admin_user).post(reverse("member_role", args=[team.pk, target.pk]), {"role": "viewer"})
    assert Membership.objects.get(pk=target.pk).role == Role.VIEWER


def test_it_rejects_an_unknown_role(login, owner, member, team):
    target = Membership.objects.get(user=member, team=team)
    login(owner).post(reverse("member_role", args=[team.pk, target.pk]), {"role": "god"})
    assert Membership.objects.get(pk=target.pk).role == Role.MEMBER


def test_a_member_can_leave_but_not_remove_others(login, member, viewer, team):
    client = login(member)
    other = Membership.objects.get(user=viewer, team=team)
    assert client.post(reverse("member_remove", args=[team.pk, other.pk])).status_code == 403
    mine = Membership.objects.get(user=member, team=team)
    assert client.post(reverse("member_remove", args=[team.pk, mine.pk])).status_code == 302
    assert not Membership.objects.filter(pk=mine.pk).exists()
    assert Membership.objects.filter(pk=other.pk).exists()


def test_viewers_see_the_team_but_cannot_rename_it(login, viewer, team):
    client = login(viewer)
    assert client.get(reverse("team_detail", args=[team.pk])).status_code == 200
    assert (
        client.post(reverse("team_rename", args=[team.pk]), {"name": "Hijacked"}).status_code == 403
    )
    team.refresh_from_db()
    assert team.name != "Hijacked"


def test_someone_who_left_every_team_gets_a_fresh_personal_team(login, owner, team, member):
    Membership.objects.filter(team=team, user=member).delete()
    Membership.objects.filter(user=member).delete()
    response = login(member).get(reverse("project_list"))
    assert response.status_code == 200
    assert Membership.objects.get(user=member).role == Role.OWNER
