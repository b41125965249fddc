from django import template

from apps.billing.models import Meter
from apps.catalog.models import Hardware

register = template.Library()


@register.simple_tag(takes_context=True)
def quantity_unit(context, event) -> str:
    """What a usage event's quantity counts: tokens, or seconds of CPU or GPU time by what ran
    it. The stored meter stays "gpu_seconds" for both (Stripe's meter); users see which it was."""
    if event.meter == Meter.TOKENS:
        return "tokens"
    # One query per page, not per row: the CPU entries' names, as the events recorded them.
    cpus = context.render_context.get("billing_cpu_names")
    if cpus is None:
        cpus = set(Hardware.objects.filter(is_cpu=True).values_list("name", flat=True))
        context.render_context["billing_cpu_names"] = cpus
    return "s of CPU time" if event.hardware in cpus else "s of GPU time"
