"""What the deploy form offers, from this installation's settings."""

from django import template

from apps.endpoints import runpod_serving

register = template.Library()


@register.simple_tag
def runpod_serverless_on() -> bool:
    return runpod_serving.enabled()
