from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from apps.accounts.access import current_membership, require_write

from .access import get_project_for_user
from .forms import DeleteForm, ProjectForm, RenameForm
from .live import broadcast_project_changed
from .models import Project


def home(request):
    if not request.user.is_authenticated:
        # A visitor sees what VibeFlow is before being asked to log in.
        return render(request, "projects/landing.html")
    membership = current_membership(request)
    if not Project.objects.active().filter(team=membership.team).exists():
        return redirect("welcome")
    return redirect("project_list")


@login_required
def project_list(request):
    membership = current_membership(request)
    show_archived = request.GET.get("archived") == "1"
    projects = Project.objects.filter(team=membership.team, archived_at__isnull=not show_archived)
    return render(
        request,
        "projects/project_list.html",
        {"projects": projects, "show_archived": show_archived},
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request):
    membership = current_membership(request)
    form = ProjectForm(request.POST or None, team=membership.team)
    if request.method == "POST":
        require_write(membership)
        if form.is_valid():
            try:
                project = Project.objects.create(
                    team=membership.team, created_by=request.user, **form.cleaned_data
                )
            except IntegrityError:  # the same name created a moment ago in another tab
                form.add_error(
                    "name", "This team already has a project with that name. Pick another name."
                )
            else:
                messages.success(request, f"Project “{project.name}” created.")
                return redirect("project_detail", project_id=project.pk)
    return render(
        request, "projects/project_create.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_rename(request, project_id):
    project, membership = get_project_for_user(request.user, project_id, write=True)
    form = RenameForm(
        request.POST or None, team=project.team, instance=project, initial={"name": project.name}
    )
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            project.name = form.cleaned_data["name"]
            try:
                project.save(update_fields=["name", "updated_at"])
            except IntegrityError:
                form.add_error(
                    "name", "This team already has a project with that name. Pick another name."
                )
            else:
                broadcast_project_changed(project)
        if not form.errors:
            if request.htmx:
                response = render(
                    request, "projects/_title.html", {"project": project, "membership": membership}
                )
                return trigger_client_event(response, "projectChanged", {"id": str(project.pk)})
            messages.success(request, "Project renamed.")
            return redirect("project_detail", project_id=project.pk)
    template = "projects/_rename_form.html" if request.htmx else "projects/project_rename.html"
    return render(
        request, template, {"project": project, "form": form}, status=400 if form.errors else 200
    )


@login_required
@require_POST
def project_archive(request, project_id):
    project, _ = get_project_for_user(request.user, project_id, write=True)
    if request.POST.get("archived") == "0":
        project.unarchive()
        messages.success(request, f"“{project.name}” is back in the sidebar.")
    else:
        project.archive()
        messages.success(request, f"“{project.name}” archived. Find it under Projects → Archived.")
    broadcast_project_changed(project)
    return redirect("project_detail", project_id=project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request, project_id):
    project, _ = get_project_for_user(request.user, project_id, write=True)
    form = DeleteForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        name = project.name
        project.delete()
        messages.success(request, f"Project “{name}” deleted.")
        return redirect("home")
    return render(
        request,
        "projects/project_delete.html",
        {"project": project, "form": form},
        status=400 if form.errors else 200,
    )
