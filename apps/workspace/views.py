"""The pages that span the apps: the welcome page (a goal becomes a project and the agent's first
message), the project dashboard, its model history and version comparison, and the team's usage page (its figures read training runs,
deployments and the request log as well as billing's usage events)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.access import (
    current_membership,
    get_team_for_user,
    require_write,
    set_current_team,
)
from apps.billing import budgets
from apps.billing.metering import account_for
from apps.billing.statements import events
from apps.brainstorm.conversation import converse
from apps.endpoints.models import prefetch_badges
from apps.projects.access import get_project_for_user
from apps.projects.forms import WelcomeForm
from apps.projects.models import Project
from apps.projects.naming import name_from_goal
from apps.training.forms import MergeForm

from . import history
from . import usage as team_usage
from .dashboard import project_figures


@login_required
@require_http_methods(["GET", "POST"])
def welcome(request):
    membership = current_membership(request)
    form = WelcomeForm(request.POST or None)
    if request.method == "POST":
        require_write(membership)
        if form.is_valid():
            goal = form.cleaned_data["use_case"]
            existing = {
                n.lower()
                for n in Project.objects.filter(team=membership.team).values_list("name", flat=True)
            }
            project = Project.objects.create(
                team=membership.team,
                name=name_from_goal(goal, existing),
                goal=goal,
                created_by=request.user,
            )
            # The goal is the first message to the Brainstorm Agent, whose answer waits on the project page.
            converse(project, request.user, goal)
            messages.success(
                request,
                f"Project “{project.name}” created. The Brainstorm Agent answered in the left panel.",
            )
            return redirect("project_detail", project_id=project.pk)
    return render(
        request, "projects/welcome.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
def project_detail(request, project_id):
    project, membership = get_project_for_user(request.user, project_id)
    set_current_team(request, project.team)  # the sidebar follows the project being looked at
    prefetch_badges(project)  # one query for every endpoint's badge
    request._vibeflow_membership = membership
    return render(
        request,
        "projects/project_detail.html",
        {
            "project": project,
            "membership": membership,
            "figures": project_figures(project),
            "versions": history.dashboard(project),
        },
    )


@login_required
@require_GET
def project_history(request, project_id):
    """The versions as a commit graph: branches, merges, what each scored and cost."""
    project, membership = get_project_for_user(request.user, project_id)
    graph, drawing = history.history(project)
    return render(
        request,
        "projects/history.html",
        {
            "project": project,
            "membership": membership,
            "graph": graph,
            "drawing": drawing,
            "merge_form": MergeForm(project=project),
        },
    )


@login_required
@require_GET
def versions_compare(request, project_id):
    """Every version side by side: quality, losses, cost and time."""
    project, membership = get_project_for_user(request.user, project_id)
    columns = history.compare_all(project)
    return render(
        request,
        "projects/compare_versions.html",
        {"project": project, "membership": membership, "columns": columns},
    )


@login_required
@require_GET
def usage(request, team_id):
    team, membership = get_team_for_user(request.user, team_id)
    month = request.GET.get("month")
    account = account_for(team.pk)
    figures = team_usage.usage(team.pk, month)
    recent = events(team.pk, figures.start, figures.end)[:50]
    return render(
        request,
        "billing/usage.html",
        {
            "team": team,
            "membership": membership,
            "account": account,
            "usage": figures,
            "budget": budgets.budget_of(account),
            "recent": recent,
            "month": f"{figures.start:%Y-%m}",
            "price_per_1k": settings.INFERENCE_PRICE_PER_1K_TOKENS,
        },
    )
