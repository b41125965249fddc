"""A team can require two-factor authentication of its members: until a member of such a team
has turned it on, every page sends them to set it up (the account pages, where they do so and
can sign out, excepted)."""

from __future__ import annotations

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.shortcuts import redirect

from .models import Membership

# Paths a member without 2FA still reaches: setting it up, signing out, and what is not a page.
ALLOWED = (
    "/accounts/",
    "/static/",
    "/healthz",
    "/readyz",
    "/v1/",
    "/internal/",
    "/billing/stripe/",
)


def needs_two_factor(user) -> bool:
    return Membership.objects.filter(
        user=user, team__require_2fa=True
    ).exists() and not is_mfa_enabled(user)


class RequireTwoFactor:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(ALLOWED)
            and needs_two_factor(user)
        ):
            messages.warning(
                request,
                "Your team requires two-factor authentication: set up an authenticator app to "
                "go on.",
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)
