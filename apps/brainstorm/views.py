from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.projects.access import get_project_for_user
from apps.training.services import draft_from_recommendation

from .conversation import converse
from .drafts import draft_for_project
from .models import Message

MAX_TEXT = 2000


def _panel(request, project, membership, error=None, status=200):
    return render(
        request,
        "brainstorm/_panel.html",
        {
            "project": project,
            "agent_messages": project.agent_messages.all(),
            "error": error,
            "current_membership": membership,
        },
        status=status,
    )


@login_required
@require_POST
def send(request, project_id):
    project, membership = get_project_for_user(request.user, project_id, write=True)
    text = (request.POST.get("text") or "").strip()
    error = None
    if not text:
        error = "Type a question or describe your goal first."
    elif len(text) > MAX_TEXT:
        error = f"Keep it under {MAX_TEXT} characters."
    else:
        converse(project, request.user, text)
    if request.htmx:
        return _panel(request, project, membership, error, status=400 if error else 200)
    if error:
        messages.error(request, error)
    return redirect("project_detail", project_id=project.pk)


@login_required
@require_POST
def clear(request, project_id):
    project, membership = get_project_for_user(request.user, project_id, write=True)
    project.agent_messages.all().delete()
    if request.htmx:
        return _panel(request, project, membership)
    return redirect("project_detail", project_id=project.pk)


@login_required
@require_POST
def start(request, message_id):
    """[Start]: the recommendation becomes a draft training configuration."""
    try:
        message = Message.objects.select_related("project").get(
            pk=int(message_id), role=Message.Role.ASSISTANT
        )
    except (Message.DoesNotExist, ValueError, ValidationError):
        raise Http404 from None
    project, _ = get_project_for_user(request.user, message.project_id, write=True)
    if not message.recommendation:
        raise Http404
    with transaction.atomic():
        run = draft_from_recommendation(
            project, message.recommendation, request.user, size=request.POST.get("size", "")
        )
    messages.success(
        request,
        f"Draft v{run.number} made from the recommendation. Review it, then start training.",
    )
    return redirect("run_config", run_id=run.pk)


@login_required
@require_POST
def run_new(request, project_id):
    """A draft configuration from the offline recommender, for the project's goal and latest data."""
    project, _ = get_project_for_user(request.user, project_id, write=True)
    run = draft_for_project(project, request.user)
    return redirect("run_config", run_id=run.pk)
