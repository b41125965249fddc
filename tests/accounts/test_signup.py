import re

import pytest
from django.core import mail
from django.urls import reverse

from apps.accounts.models import Membership, Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signup(client, email="new@example.com", password=PASSWORD, password2=None):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "password2": password2 or password},
    )


def test_it_signs_up_into_a_personal_team_and_lands_on_welcome(client):
    response = signup(client)
    assert response.status_code == 302
    assert response.url == reverse("welcome")
    user = User.objects.get(email="new@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.team.personal is True
    # The password is stored hashed with Argon2.
    assert user.password.startswith("argon2")


def test_it_rejects_a_duplicate_email_in_any_case(client, owner):
    response = signup(client, email="OWNER@example.com")
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert User.objects.filter(email__iexact="owner@example.com").count() == 1


@pytest.mark.parametrize(
    "password, message",
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83749283749283", "entirely numeric"),
    ],
)
def test_it_rejects_a_weak_password(client, password, message):
    response = signup(client, password=password)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


def test_it_rejects_mismatched_passwords(client):
    response = signup(client, password2="another-password-42")
    assert response.status_code == 200
    assert not User.objects.filter(email="new@example.com").exists()


def test_it_logs_in_with_email_and_password(client, owner):
    response = client.post(
        reverse("account_login"), {"login": "owner@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("project_list")).status_code == 200


def test_it_throttles_password_guessing(client, owner):
    for _ in range(5):
        response = client.post(
            reverse("account_login"), {"login": "owner@example.com", "password": "wrong-guess-1"}
        )
        assert response.status_code == 200
    # Even the right password is refused while the account is throttled.
    response = client.post(
        reverse("account_login"), {"login": "owner@example.com", "password": PASSWORD}
    )
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()


def test_it_sends_a_password_reset_link_that_works(client, owner):
    response = client.post(reverse("account_reset_password"), {"email": "owner@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^\s]+/password/reset/key/[^\s]+", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    response = client.get(path, follow=True)
    form_path = response.redirect_chain[-1][0] if response.redirect_chain else path
    response = client.post(
        form_path, {"password1": "a-brand-new-pass-77", "password2": "a-brand-new-pass-77"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a-brand-new-pass-77")


def test_it_logs_out_on_post(client, owner):
    client.force_login(owner)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_pages_need_login(client):
    response = client.get(reverse("project_list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
