"""A queued run's or evaluation's place in the `gpu` queue, for their pages."""

from django import template

from .. import queue

register = template.Library()


@register.simple_tag
def run_waiting(run) -> str:
    return queue.run_waiting(run)


@register.simple_tag
def evaluation_waiting(evaluation) -> str:
    return queue.evaluation_waiting(evaluation)
