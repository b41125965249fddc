from __future__ import annotations

from django import forms
from django.conf import settings

from .models import Deployment, DeploymentStatus, Endpoint


def grace_label(seconds: int) -> str:
    if seconds <= 0:
        return "Stop the old key now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"Old key keeps working for {n} {unit}{'s' if n > 1 else ''}"
    return f"Old key keeps working for {seconds} seconds"


class DeployForm(forms.Form):
    endpoint = forms.ModelChoiceField(
        queryset=Endpoint.objects.none(),
        required=False,
        empty_label="A new endpoint",
        help_text="Deploying to an existing endpoint replaces its active version once the new one passes its health check.",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].queryset = Endpoint.objects.filter(project=project)


class EndpointSettingsForm(forms.ModelForm):
    class Meta:
        model = Endpoint
        fields = ["rate_limit_rpm", "tokens_per_minute", "timeout_s"]


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=80, required=False, help_text="What uses it, e.g. “website”")


class RotateKeyForm(forms.Form):
    grace_s = forms.TypedChoiceField(coerce=int, label="Grace period")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grace_s"].choices = [
            (s, grace_label(s)) for s in settings.API_KEY_ROTATION_GRACE_S
        ]
        self.fields["grace_s"].initial = (
            86400 if 86400 in settings.API_KEY_ROTATION_GRACE_S else None
        )


class AbTestForm(forms.Form):
    candidate = forms.ModelChoiceField(queryset=Deployment.objects.none(), label="Version B")
    weight = forms.IntegerField(
        min_value=1, max_value=99, initial=20, label="Share of traffic for B (%)"
    )

    def __init__(self, *args, endpoint, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["candidate"].queryset = endpoint.deployments.filter(
            status=DeploymentStatus.READY, weight=0
        ).select_related("run")
        self.fields["candidate"].label_from_instance = lambda d: f"v{d.run.number}"
