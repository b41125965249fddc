"""Endpoint alerts that reach people: an outage or a run of failed calls opens an incident, the
team's owners and admins hear of it once (e-mail, and the team's webhook), it closes when the
condition clears, and the next one is told again. The webhook's address is checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Team
from apps.billing.metering import account_for
from apps.billing.models import BillingAccount
from apps.endpoints import incidents, monitoring
from apps.endpoints.models import Incident, IncidentKind
from tests.fakes.webhook import FakeWebhook

from .test_honest_status import call, live, outage  # noqa: F401  (live: a fixture)


@pytest.fixture
def hook(settings, team, owner, login):
    """The team's alert webhook, set on its page."""
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    with FakeWebhook() as fake:
        response = login(owner).post(reverse("team_webhook", args=[team.pk]), {"url": fake.url})
        assert response.status_code == 302
        yield fake


def tell_opened(endpoint) -> int:
    """What the queued tasks do (``tasks.tell_incident``), for each incident opened."""
    return sum(incidents.tell(i.pk) for i in endpoint.incidents.filter(notified_at__isnull=True))


def test_an_outage_is_told_once_by_mail_and_webhook_and_the_next_one_again(
    live,  # noqa: F811
    hook,
    owner,
    admin_user,
    member,
    login,
):
    endpoint = live.endpoint
    outage(live)
    monitoring.note_health(endpoint)  # as check_endpoints does
    report = incidents.review(endpoint)
    assert set(report["opened"]) == {IncidentKind.DOWN, IncidentKind.ERRORS}
    assert tell_opened(endpoint) == 4  # two mails and two webhook posts
    (down_mail,) = [m for m in mail.outbox if "not answering" in m.subject]
    assert sorted(down_mail.to) == ["admin@example.com", "owner@example.com"]  # not members
    assert "support-bot has not been answering since" in down_mail.body
    texts = [m["text"] for m in hook.messages]
    assert len(texts) == 2 and any("calls to support-bot failed" in t for t in texts)

    # Later rounds while it lasts: nothing more is sent.
    assert incidents.review(endpoint) == {"opened": [], "closed": []}
    assert tell_opened(endpoint) == 0
    assert all(incidents.tell(i.pk) == 0 for i in Incident.objects.all())
    assert len(mail.outbox) == 2 and len(hook.messages) == 2

    html = login(member).get(reverse("endpoint_detail", args=[endpoint.pk])).content.decode()
    assert 'id="incidents"' in html and "ongoing" in html

    # It answers again and the failed calls age out of the window: both close.
    endpoint.record_health(None)
    later = timezone.now() + timedelta(minutes=20)
    assert set(incidents.review(endpoint, now=later)["closed"]) == {"down", "errors"}
    assert not Incident.objects.filter(closed_at__isnull=True).exists()

    # A new outage is a new incident, told again (the failed calls, still in the real window,
    # open theirs again too).
    endpoint.record_health(timezone.now())
    assert set(incidents.review(endpoint)["opened"]) == {"down", "errors"}
    assert Incident.objects.filter(kind=IncidentKind.DOWN).count() == 2
    assert tell_opened(endpoint) == 4
    assert len([m for m in mail.outbox if "not answering" in m.subject]) == 2


def test_slow_answers_open_an_incident_only_with_enough_calls(live, settings):  # noqa: F811
    now = timezone.now()
    for i in range(settings.INCIDENT_MIN_CALLS - 1):
        call(live, now - timedelta(seconds=i), latency=9000.0)
    assert incidents.conditions(live.endpoint) == {}
    call(live, now, latency=9000.0)
    (message,) = incidents.conditions(live.endpoint).values()
    assert "p95 latency is 9.0 s" in message


def test_a_failing_webhook_still_leaves_the_mail(live, team, owner, settings):  # noqa: F811
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    from vibeflow_site.encryption import encrypt

    with FakeWebhook(status=500) as broken:
        Team.objects.filter(pk=team.pk).update(alert_webhook=encrypt(broken.url))
        live.endpoint.record_health(timezone.now())
        incidents.review(live.endpoint)
        assert tell_opened(live.endpoint) == 1  # the mail; the hook answered 500
        assert len(broken.messages) == 1 and len(mail.outbox) == 1


def test_the_budget_alert_goes_to_the_webhook_too(team, owner, hook):
    from apps.billing.alerts import send_budget_alert

    account_for(team.pk)
    BillingAccount.objects.filter(team=team).update(monthly_budget_usd=100)
    assert send_budget_alert(str(team.pk), 80, "80") == 2
    assert "80% of its monthly budget" in hook.messages[-1]["text"]


def test_the_webhook_address_is_checked_and_kept_secret(
    team, owner, member, outsider, login, settings
):
    url = reverse("team_webhook", args=[team.pk])
    client = login(owner)
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    for bad, says in (
        ("ftp://hooks.example/x", "must start with https://"),
        ("http://hooks.example/x", "must start with https://"),
        ("https://127.0.0.1/x", "not an internal address"),
        ("https://10.1.2.3/services/x", "not an internal address"),
        ("https://100.100.100.200/latest/meta-data", "not an internal address"),  # shared range
        ("https://169.254.169.254/", "not an internal address"),
        ("https://localhost:8100/v1/", "not an internal address"),
        ("https://" + "a" * 600 + ".example/", "at most 500"),
    ):
        response = client.post(url, {"url": bad})
        assert response.status_code == 400, bad
        assert says in response.content.decode(), bad
    assert Team.objects.get(pk=team.pk).alert_webhook == ""
    assert login(member).post(url, {"url": "https://hooks.example/x"}).status_code == 403
    assert login(outsider).post(url, {"url": "https://hooks.example/x"}).status_code == 404

    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    client = login(owner)  # the test client is one: the last login was the outsider's
    secret = "http://127.0.0.1:9/services/T000/B000/XXXXsecret"
    assert client.post(url, {"url": secret}).status_code == 302
    saved = Team.objects.get(pk=team.pk)
    assert saved.alert_webhook and secret not in saved.alert_webhook  # encrypted
    page = client.get(reverse("team_detail", args=[team.pk])).content.decode()
    assert "127.0.0.1" in page and "XXXXsecret" not in page  # only the host is shown
    assert client.post(url, {"url": ""}).status_code == 302
    assert Team.objects.get(pk=team.pk).alert_webhook == ""
