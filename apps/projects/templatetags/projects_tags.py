from django import template

from ..models import Project

register = template.Library()


@register.inclusion_tag("projects/_sidebar.html", takes_context=True)
def project_sidebar(context):
    team = context.get("current_team")
    active = context.get("project")
    projects = Project.objects.active().filter(team=team) if team else Project.objects.none()
    return {
        "projects": projects,
        "active_project": active,
        "current_membership": context.get("current_membership"),
        "request": context.get("request"),
    }
