"""Invitation links: a signed invitation id.

The token is derived from SECRET_KEY and the invitation's id, so nothing secret
is stored in the database or passed through the broker; the task that sends the
e-mail recomputes it. Expiry and single use are enforced by the Invitation row.
"""

from __future__ import annotations

from django.core import signing

from .models import Invitation

_SALT = "vibeflow.invitation"


def make_token(invitation: Invitation) -> str:
    return signing.Signer(salt=_SALT).sign(str(invitation.pk))


def invitation_from_token(token: str) -> Invitation | None:
    try:
        invitation_id = signing.Signer(salt=_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Invitation.objects.select_related("team").filter(pk=invitation_id).first()
