from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.urls import reverse

from vibeflow_site.encryption import decrypt, encrypt


class AccountAdapter(DefaultAccountAdapter):
    def get_signup_redirect_url(self, request):
        # A new account lands on the first-launch welcome page.
        return reverse("welcome")


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Sign-in with GitHub or Google: a new account lands where a new e-mail account does."""

    def get_connect_redirect_url(self, request, socialaccount):
        return reverse("home")


class MFAAdapter(DefaultMFAAdapter):
    """Authenticator secrets are kept encrypted with the server's key ring, like Hub tokens
    (allauth's own default stores them as they are)."""

    def encrypt(self, text: str) -> str:
        return encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt(encrypted_text)
