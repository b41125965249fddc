"""Telling a team's managers: e-mail to its owners and admins, and a message to the team's alert
webhook when it has one (a Slack-compatible incoming webhook: a JSON body with "text").

The webhook's address is the team's to choose, and this server is the one that calls it: an
address must be https and resolve to public addresses only, and the call goes to the address
that was checked, so a team cannot make this server call its own internal services
(ALERT_WEBHOOK_ALLOW_PRIVATE lifts both for local development and the test suite)."""

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


def _resolve(url: str) -> tuple[str, str]:
    """(a public address the webhook's host resolves to, '') or ('', why it is refused). Every
    address the name has must be public: one internal answer refuses it."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return "", "The webhook address must start with https://."
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return "", f"{parts.hostname} could not be found."
    addresses = [info[4][0].split("%")[0] for info in infos]
    # is_global: not private, loopback, link-local, reserved, shared (100.64/10, where some
    # clouds keep their metadata service) or any other range not routed on the internet.
    if not addresses or not all(ipaddress.ip_address(a).is_global for a in addresses):
        return "", "The webhook must be on the public internet, not an internal address."
    return addresses[0], ""


def refuse(url: str) -> str:
    """Why this webhook address is not accepted ('' when it is)."""
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and parts.hostname
        return "" if ok else "Give an http(s) address."
    return _resolve(url)[1]


def _send(url: str, text: str) -> httpx.Response:
    """POST to the address that was checked: the name is resolved once, and the connection goes
    to that address with the name as Host and TLS server name (a second lookup could answer an
    internal address: DNS rebinding)."""
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return httpx.post(url, json={"text": text}, timeout=TIMEOUT_S)
    address, why = _resolve(url)
    if why:
        raise httpx.ConnectError(why)
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    pinned = parts._replace(netloc=f"{host}:{parts.port or 443}").geturl()
    return httpx.post(
        pinned,
        json={"text": text},
        headers={"Host": parts.netloc},
        extensions={"sni_hostname": parts.hostname},
        timeout=TIMEOUT_S,
    )


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
    try:
        response = _send(url, text)
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
