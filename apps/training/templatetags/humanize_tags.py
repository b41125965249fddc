from django import template

from ..estimates import format_duration

register = template.Library()


@register.filter
def money(value, places=None):
    """Dollars with enough digits that a small sum never reads as zero: 12.5 → '12.50', 0.0026 → '0.0026'."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return ""
    if places is None:
        places = 2 if abs(amount) >= 0.1 or amount == 0 else 4
    return f"{amount:,.{int(places)}f}"


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
