from django import template

register = template.Library()


@register.filter
def times(value, char):
    """3|times:"⚡" → ⚡⚡⚡"""
    try:
        return char * int(value)
    except (TypeError, ValueError):
        return ""


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key, "")
