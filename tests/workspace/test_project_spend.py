"""The project dashboard's Total spend is the sum of the project's usage events, with where it
came from; another project's and another team's events never count."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.billing.models import UsageEvent, UsageKind
from apps.projects.models import Project
from apps.workspace.dashboard import project_figures

pytestmark = pytest.mark.django_db


def _event(project, kind, cost, source):
    UsageEvent.objects.create(
        team=project.team,
        project=project,
        project_name=project.name,
        kind=kind,
        meter="tokens" if kind == UsageKind.INFERENCE else "gpu_seconds",
        quantity=Decimal(1),
        unit_price=Decimal(cost),
        cost=Decimal(cost),
        description=str(kind),
        source=source,
    )


def _spend(project):
    return next(f for f in project_figures(project) if f.label == "Total spend")


def test_no_usage_says_so(project):
    figure = _spend(project)
    assert (figure.value, figure.source) == ("$0.00", "no usage recorded for this project")


def test_spend_adds_up_the_projects_events_by_kind(project, team, owner, outsider, outsider_team):
    _event(project, UsageKind.TRAINING, "1.25", "run:a")
    _event(project, UsageKind.TRAINING, "0.50", "run:b")
    _event(project, UsageKind.INFERENCE, "0.00045", "request:a")
    sibling = Project.objects.create(team=team, name="Other", created_by=owner)
    _event(sibling, UsageKind.EVALUATION, "9", "evaluation:a")
    stranger = Project.objects.create(team=outsider_team, name="Theirs", created_by=outsider)
    _event(stranger, UsageKind.TRAINING, "100", "run:c")
    figure = _spend(project)
    assert figure.value == "$1.75"
    assert figure.source == "3 usage events: training $1.75, inference $0.00045"


def test_a_small_sum_never_reads_as_zero(project):
    _event(project, UsageKind.INFERENCE, "0.00045", "request:a")
    assert _spend(project).value == "$0.00045"


def test_the_page_shows_it(login, owner, project):
    _event(project, UsageKind.TRAINING, "2", "run:a")
    html = login(owner).get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "$2.00" in html and "1 usage event: training $2.00" in html
