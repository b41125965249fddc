from django import template

from ..estimates import format_duration

register = template.Library()


@register.filter
def money(value, places=2):
    """Dollars with enough digits to show small sums: 0.0959 → '0.10', money:4 → '0.0001'."""
    try:
        return f"{float(value):,.{int(places)}f}"
    except (TypeError, ValueError):
        return ""


@register.filter
def duration(seconds):
    try:
        return format_duration(float(seconds))
    except (TypeError, ValueError):
        return ""


@register.filter
def split(value):
    return str(value).split()


@register.filter
def field(form, name):
    return form[name]
