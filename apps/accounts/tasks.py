from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .invitations import make_token
from .models import Invitation


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(invitation_id: str, base_url: str) -> bool:
    """Mail the invitation link. Re-reads the row: a revoked or used invitation sends nothing."""
    invitation = (
        Invitation.objects.select_related("team", "invited_by").filter(pk=invitation_id).first()
    )
    if invitation is None or invitation.accepted_at is not None:
        return False
    link = base_url.rstrip("/") + f"/invitations/{make_token(invitation)}/"
    context = {"invitation": invitation, "link": link, "days": settings.INVITATION_DAYS}
    send_mail(
        subject=f"You're invited to {invitation.team.name} on VibeFlow",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )
    return True
