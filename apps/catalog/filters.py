"""Catalog filters from query parameters, validated: a bad value is ignored, never an error page."""

from __future__ import annotations

from django import forms

from .models import ModelKind

SIZE_CHOICES = [
    ("", "Any size"),
    ("small", "Under 2B"),
    ("medium", "2B–10B"),
    ("large", "Over 10B"),
]
SPEED_CHOICES = [
    ("", "Any speed"),
    ("2", "⚡⚡ or faster"),
    ("3", "⚡⚡⚡ or faster"),
    ("4", "⚡⚡⚡⚡"),
]
COST_CHOICES = [("", "Any cost"), ("1", "$"), ("2", "$$ or less")]


class CatalogFilter(forms.Form):
    size = forms.ChoiceField(choices=SIZE_CHOICES, required=False, label="Parameters")
    speed = forms.ChoiceField(choices=SPEED_CHOICES, required=False, label="Speed")
    cost = forms.ChoiceField(choices=COST_CHOICES, required=False, label="Cost")
    kind = forms.ChoiceField(
        choices=[("", "Any type"), *ModelKind.choices], required=False, label="Type"
    )
    q = forms.CharField(required=False, max_length=50, label="Search")

    def apply(self, queryset):
        if not self.is_valid():
            return queryset
        d = self.cleaned_data
        if d["size"] == "small":
            queryset = queryset.filter(params_billions__lt=2)
        elif d["size"] == "medium":
            queryset = queryset.filter(params_billions__gte=2, params_billions__lte=10)
        elif d["size"] == "large":
            queryset = queryset.filter(params_billions__gt=10)
        if d["speed"]:
            queryset = queryset.filter(speed__gte=int(d["speed"]))
        if d["cost"]:
            queryset = queryset.filter(cost__lte=int(d["cost"]))
        if d["kind"]:
            queryset = queryset.filter(kind=d["kind"])
        if d["q"]:
            queryset = queryset.filter(name__icontains=d["q"]) | queryset.filter(
                best_for__icontains=d["q"]
            )
        return queryset
