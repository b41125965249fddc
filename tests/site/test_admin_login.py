"""The admin's login goes through the site's (allauth's) login, so guessing is throttled alike."""

import secrets

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOO_MANY = "Too many failed login attempts"


@pytest.fixture
def staff() -> User:
    # allauth counts failures in Redis, which outlives each test's transaction: a fresh address
    # per test, so no earlier run's failures count against this one.
    return User.objects.create_superuser(f"staff-{secrets.token_hex(4)}@example.com", PASSWORD)


@pytest.fixture
def client() -> Client:
    # A fresh client network per test (allauth counts an IPv6 client by its /64) for the same
    # reason: the suite's other log-ins come from 127.0.0.1.
    network = ":".join(secrets.token_hex(2) for _ in range(2))
    return Client(REMOTE_ADDR=f"2001:db8:{network}::1")


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_admin_form_takes_no_password_so_guesses_cannot_bypass_the_throttle(client, staff):
    # The finding: 12 wrong passwords on /admin/login/, then the right one logged in.
    for _ in range(12):
        client.post("/admin/login/", {"username": staff.email, "password": "wrong-guess-1"})
    response = client.post(
        "/admin/login/", {"username": staff.email, "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not logged_in(client)


def test_the_admin_sends_a_visitor_to_the_site_login_and_back(client, staff):
    response = client.get("/admin/", follow=True)
    login_url = response.redirect_chain[-1][0]
    assert login_url.startswith(reverse("account_login"))
    response = client.post(login_url, {"login": staff.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/admin/"
    assert response.status_code == 200
    assert logged_in(client)


def test_wrong_admin_passwords_lock_the_account_like_the_sites(client, staff):
    login_url = client.get("/admin/login/", follow=True).redirect_chain[-1][0]
    assert login_url.startswith(reverse("account_login"))
    for _ in range(5):  # ACCOUNT_RATE_LIMITS: 5 failures per account in 5 minutes
        response = client.post(login_url, {"login": staff.email, "password": "wrong-guess-1"})
        assert response.status_code == 200
        assert TOO_MANY not in response.content.decode()
    # Even the right password is refused while the account is throttled.
    response = client.post(login_url, {"login": staff.email, "password": PASSWORD})
    assert TOO_MANY in response.content.decode()
    assert not logged_in(client)
    assert client.get("/admin/").status_code == 302


def test_a_signed_in_user_who_is_not_staff_is_refused(client, owner):
    client.force_login(owner)
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/admin/").status_code in (302, 403)
