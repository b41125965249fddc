"""Sign-in with GitHub through allauth against a local server that answers as GitHub does (the
button only when the app is configured; one account per person, the existing one when GitHub
vouches for its address), and two-factor authentication: turned on with an authenticator
app's code, asked for at the next sign-in, recovery codes, and a team that requires it."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal import auth as totp
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
from django.urls import reverse

from apps.accounts.models import Membership, Team, User
from tests.conftest import PASSWORD
from tests.fakes.github_oauth import FakeGitHub


@pytest.fixture
def github(settings, monkeypatch):
    with FakeGitHub("gh-client", "gh-secret", "mona@example.com") as fake:
        settings.SOCIALACCOUNT_PROVIDERS = {
            "github": {
                "APPS": [{"client_id": "gh-client", "secret": "gh-secret"}],
                "SCOPE": ["read:user", "user:email"],
            }
        }
        # The adapter reads GITHUB_URL once, when it is imported: point it at the fake.
        for attr, path in (
            ("access_token_url", "/login/oauth/access_token"),
            ("authorize_url", "/login/oauth/authorize"),
            ("profile_url", "/api/v3/user"),
            ("emails_url", "/api/v3/user/emails"),
        ):
            monkeypatch.setattr(GitHubOAuth2Adapter, attr, fake.url + path)
        yield fake


def sign_in_with_github(client) -> httpx.Response:
    """Press the button, approve at 'GitHub', come back: the callback's answer."""
    started = client.post(reverse("github_login"))
    assert started.status_code == 302, started.content
    approved = httpx.get(started["Location"], follow_redirects=False)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def test_the_button_shows_only_when_github_is_configured(client, db, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {"github": {"APPS": []}, "google": {"APPS": []}}
    assert "GitHub" not in client.get(reverse("account_login")).content.decode()


def test_a_new_person_signs_in_with_github_and_gets_an_account_once(client, db, github):
    assert "GitHub" in client.get(reverse("account_login")).content.decode()
    response = sign_in_with_github(client)
    assert response.status_code == 302
    user = User.objects.get(email="mona@example.com")
    assert SocialAccount.objects.get(user=user).provider == "github"
    assert Membership.objects.filter(user=user, team__personal=True).exists()  # a personal team
    assert client.get(reverse("home")).status_code in (200, 302)
    assert "_auth_user_id" in client.session
    # Signing out and in again is the same account.
    client.post(reverse("account_logout"))
    sign_in_with_github(client)
    assert User.objects.filter(email="mona@example.com").count() == 1
    assert int(client.session["_auth_user_id"]) == user.pk


def test_github_never_enters_an_existing_account_by_its_address_alone(client, db, github):
    """Someone may have signed up first with another person's address (e-mail verification is
    optional): a GitHub sign-in with that address does not enter the account, nor make a second
    one with the same address."""
    existing = User.objects.create_user(email="mona@example.com", password=PASSWORD)
    response = sign_in_with_github(client)
    assert "_auth_user_id" not in client.session
    assert response.status_code == 302 and "/accounts/" in response["Location"]
    assert list(User.objects.values_list("pk", flat=True)) == [existing.pk]
    assert not SocialAccount.objects.exists()


def code_now(secret: str, ahead: int = 0) -> str:
    counter = int(time.time()) // 30 + ahead
    return totp.format_hotp_value(totp.hotp_value(secret, counter))


def turn_on_two_factor(client) -> tuple[str, list[str]]:
    """Activate an authenticator app; returns its secret and the recovery codes shown."""
    page = client.get(reverse("mfa_activate_totp"))
    if page.status_code == 302:  # allauth asks for the password again before a change of 2FA
        client.post(page["Location"], {"password": PASSWORD})
        page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": code_now(secret)})
    assert response.status_code == 302, response.content
    codes = client.get(reverse("mfa_view_recovery_codes")).context["unused_codes"]
    return secret, codes


def test_two_factor_is_asked_at_the_next_sign_in_and_a_recovery_code_works(client, db, settings):
    settings.MFA_TOTP_TOLERANCE = 1
    user = User.objects.create_user(email="grace@example.com", password=PASSWORD)
    client.force_login(user)
    secret, codes = turn_on_two_factor(client)
    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    assert secret not in str(stored.data)  # kept encrypted
    assert len(codes) >= 8
    client.post(reverse("account_logout"))

    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session  # not signed in on the password alone
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    client.post(reverse("mfa_authenticate"), {"code": code_now(secret, ahead=1)})
    assert int(client.session["_auth_user_id"]) == user.pk

    client.post(reverse("account_logout"))  # a lost phone: a recovery code, once
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert int(client.session["_auth_user_id"]) == user.pk


def test_a_team_can_require_two_factor_of_its_members(team, owner, member, login):
    url = reverse("team_two_factor", args=[team.pk])
    owner_client = login(owner)
    # Its owner turns it on for themselves first, or would be the first locked out.
    response = owner_client.post(url, {"require_2fa": "on"}, follow=True)
    assert "Turn on two-factor authentication for yourself first" in response.content.decode()
    assert not Team.objects.get(pk=team.pk).require_2fa
    turn_on_two_factor(owner_client)
    owner_client.post(url, {"require_2fa": "on"})
    assert Team.objects.get(pk=team.pk).require_2fa

    member_client = login(member)
    response = member_client.get(reverse("team_detail", args=[team.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    # The setup is reachable (after allauth asks for the password again).
    setup = member_client.get(reverse("mfa_activate_totp"))
    assert setup["Location"].startswith(reverse("account_reauthenticate"))
    assert member_client.get(setup["Location"]).status_code == 200
    # Nor can a member switch it off: every other page sends them to set it up first.
    assert member_client.post(url, {})["Location"] == reverse("mfa_activate_totp")
    assert Team.objects.get(pk=team.pk).require_2fa
    turn_on_two_factor(member_client)
    assert member_client.get(reverse("team_detail", args=[team.pk])).status_code == 200


def test_another_teams_two_factor_setting_is_a_404(team, owner, outsider, login):
    url = reverse("team_two_factor", args=[team.pk])
    assert login(outsider).post(url, {"require_2fa": "on"}).status_code == 404
    assert not Team.objects.get(pk=team.pk).require_2fa
