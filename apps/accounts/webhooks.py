"""Telling a team's managers: e-mail to its owners and admins, and a message to the team's alert
webhook when it has one (a Slack-compatible incoming webhook: a JSON body with "text").

The webhook's address is the team's to choose, and this server is the one that calls it: an
address must be https and must not name a loopback, private or link-local host, so a team
cannot make this server call its own internal services (ALERT_WEBHOOK_ALLOW_PRIVATE lifts both
for local development and the test suite)."""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail

from vibeflow_site.encryption import CannotDecrypt, decrypt

from .models import ROLES_THAT_MANAGE_MEMBERS, Membership, Team

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0


def refuse(url: str) -> str:
    """Why this webhook address is not accepted ('' when it is)."""
    parts = urlsplit(url)
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return (
            ""
            if parts.scheme in ("http", "https") and parts.hostname
            else "Give an http(s) address."
        )
    if parts.scheme != "https" or not parts.hostname:
        return "The webhook address must start with https://."
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (OSError, UnicodeError):
        return f"{parts.hostname} could not be found."
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved:
            return "The webhook must be on the public internet, not an internal address."
    return ""


def managers(team_id) -> list[str]:
    return list(
        Membership.objects.filter(team_id=team_id, role__in=ROLES_THAT_MANAGE_MEMBERS)
        .values_list("user__email", flat=True)
        .distinct()
    )


def post(team: Team, text: str) -> bool:
    """Send ``text`` to the team's webhook; False when it has none or the call failed (logged:
    an alert's e-mail still went)."""
    if not team.alert_webhook:
        return False
    try:
        url = decrypt(team.alert_webhook)
    except CannotDecrypt:
        log.warning("alert webhook unreadable", extra={"team": str(team.pk)})
        return False
    if refuse(url):  # checked again: a name may resolve elsewhere since it was saved
        log.warning("alert webhook refused", extra={"team": str(team.pk)})
        return False
    try:
        response = httpx.post(url, json={"text": text}, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        log.warning(
            "alert webhook failed", extra={"team": str(team.pk), "detail": type(exc).__name__}
        )
        return False
    if response.status_code >= 300:
        log.warning(
            "alert webhook refused the message",
            extra={"team": str(team.pk), "status": response.status_code},
        )
        return False
    return True


def tell_managers(team_id, subject: str, text: str) -> int:
    """E-mail the team's owners and admins and post to its webhook; returns the messages sent
    (mails plus one for the webhook)."""
    team = Team.objects.get(pk=team_id)
    recipients = managers(team_id)
    sent = send_mail(subject, text, None, recipients) if recipients else 0
    return sent + int(post(team, f"*{subject}*\n{text}"))
