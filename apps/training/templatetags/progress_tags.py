"""A run's lost worker and how long a step has taken, for the pages (the queue line of a run or
an evaluation: queue_tags, in the evaluations app)."""

from django import template
from django.utils import timezone

from .. import panel, progress

register = template.Library()


@register.simple_tag
def worker_lost(run) -> str:
    return progress.worker_lost(run)


@register.simple_tag
def live_panel(run):
    """The run's live figures and efficiency ratings (training.panel)."""
    return panel.live_panel(run)


@register.simple_tag
def run_badge(run) -> str:
    """The run's state in a word or two: its status, unless its worker was lost."""
    if progress.worker_lost(run):
        return "Waiting to resume" if run.status == "queued" else "Not responding"
    return run.get_status_display()


@register.filter
def since(moment) -> str:
    """How long ago ``moment`` was: '8 s', '2 min 5 s', '1 h 4 min'."""
    if not moment:
        return ""
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
