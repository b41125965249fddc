from django import template

register = template.Library()


@register.inclusion_tag("brainstorm/_panel.html", takes_context=True)
def agent_panel(context, project):
    return {
        "project": project,
        "agent_messages": project.agent_messages.all(),
        "current_membership": context.get("current_membership"),
        "csrf_token": context.get("csrf_token"),
        "request": context.get("request"),
    }
