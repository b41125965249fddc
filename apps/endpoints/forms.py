from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import URLValidator

from apps.billing.metering import account_for

from . import runpod_serving
from .models import Deployment, DeploymentStatus, Endpoint, ServerKind


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
    allow_cpu = forms.BooleanField(
        required=False,
        label="Serve on a CPU server if no GPU server holds its base model (slow)",
    )
    serverless = forms.BooleanField(
        required=False,
        label="Serve on RunPod serverless (GPUs started on calls, none when idle)",
    )

    def clean_serverless(self):
        value = self.cleaned_data["serverless"]
        if value and not runpod_serving.enabled():
            raise forms.ValidationError(
                "RunPod serverless is not set up on this installation (no RunPod API key)."
            )
        return value

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].queryset = Endpoint.objects.filter(project=project)


class EndpointSettingsForm(forms.ModelForm):
    class Meta:
        model = Endpoint
        fields = [
            "rate_limit_rpm",
            "tokens_per_minute",
            "timeout_s",
            "replicas",
            "autoscale",
            "min_replicas",
            "max_replicas",
            "target_in_flight",
            "log_content",
            "content_retention_days",
        ]
        help_texts = {
            "replicas": "Copies of the live version, each on its own server; calls go to the "
            "least busy, and to another when one stops answering.",
            "autoscale": "Add a replica when calls in flight stay above the target per replica "
            "for a minute; remove one when the busiest moment of the last five minutes would "
            "have fitted on fewer.",
        }

    # Left out of a post: unchanged (the checkbox excepted: a box not ticked is off).
    OPTIONAL = (
        "replicas",
        "min_replicas",
        "max_replicas",
        "target_in_flight",
        "content_retention_days",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.OPTIONAL:
            self.fields[name].required = False

    def _plan(self):
        return account_for(self.instance.project.team_id).effective_plan

    def _within_plan(self, value):
        plan = self._plan()
        if value is not None and value > plan.max_replicas:
            raise forms.ValidationError(
                f"The {plan.name} plan allows up to {plan.max_replicas} "
                f"replica{'s' if plan.max_replicas != 1 else ''} per endpoint; upgrade the plan "
                "on the team's billing page for more."
            )
        return value

    def clean_replicas(self):
        return self._within_plan(self.cleaned_data["replicas"])

    def clean_max_replicas(self):
        return self._within_plan(self.cleaned_data["max_replicas"])

    def clean(self):
        cleaned = super().clean()
        for name in self.OPTIONAL:
            if name in cleaned and cleaned[name] is None:
                cleaned[name] = getattr(self.instance, name)
        fewest, most = cleaned.get("min_replicas"), cleaned.get("max_replicas")
        if fewest is not None and most is not None and fewest > most:
            self.add_error("min_replicas", "The fewest replicas cannot be more than the most.")
        elif (
            cleaned.get("autoscale")
            and cleaned.get("replicas") is not None
            and fewest is not None
            and most is not None
        ):
            # The autoscaler moves the count from here, within the bounds.
            cleaned["replicas"] = min(max(cleaned["replicas"], fewest), most)
        return cleaned

    def clean_rate_limit_rpm(self):
        value = self.cleaned_data["rate_limit_rpm"]
        plan = account_for(self.instance.project.team_id).effective_plan
        if value > plan.rate_limit_rpm:
            raise forms.ValidationError(
                f"The {plan.name} plan allows up to {plan.rate_limit_rpm:,} requests per minute "
                "per key; upgrade the plan on the team's billing page for more."
            )
        return value


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


class HubPushForm(forms.Form):
    repo_id = forms.CharField(
        max_length=200,
        label="Repository",
        help_text="namespace/name: your Hub user name or an organisation you can write to. "
        "An existing repository gets a new commit.",
    )
    private = forms.BooleanField(required=False, initial=True, label="Private repository")
    merged = forms.TypedChoiceField(
        coerce=lambda v: v == "merged",
        choices=[("adapter", "The adapter (small; loads on the base model with peft)")],
        initial="adapter",
        label="What to push",
        widget=forms.RadioSelect,
    )
    token = forms.CharField(
        required=False,
        max_length=200,
        strip=True,
        label="Hugging Face token",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="A token with write access (huggingface.co/settings/tokens). It is stored "
        "encrypted, for you alone, and never shown again.",
    )

    def __init__(self, *args, has_token: bool, merged_ready: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_token = has_token
        if merged_ready:
            self.fields["merged"].choices = self.fields["merged"].choices + [
                ("merged", "The merged model (base + adapter; as large as the base model)")
            ]
        if has_token:
            self.fields["token"].label = "Replace the saved token (optional)"

    def clean_repo_id(self):
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        value = self.cleaned_data["repo_id"].strip().strip("/")
        try:
            validate_repo_id(value)
        except HFValidationError:
            raise forms.ValidationError(
                "Use namespace/name with letters, digits, '-', '_' or '.', up to 96 characters "
                "each, e.g. alice/support-bot-v1."
            ) from None
        return value

    def clean_token(self):
        token = self.cleaned_data["token"]
        if token and any(c.isspace() for c in token):
            raise forms.ValidationError("A token has no spaces: paste it again.")
        if not token and not self.has_token:
            raise forms.ValidationError("Paste a Hugging Face token with write access.")
        return token


class AnnounceForm(forms.Form):
    """What an inference server says about itself on start (servers.announce)."""

    url = forms.CharField(max_length=300, validators=[URLValidator(schemes=["http", "https"])])
    # RunPod endpoints are made by VibeFlow itself (runpod_serving.py), never announced: the
    # gateway sends the RunPod key to a server of that kind.
    kind = forms.ChoiceField(
        choices=[(k, label) for k, label in ServerKind.choices if k != ServerKind.RUNPOD]
    )
    name = forms.CharField(max_length=80, required=False)
    base_model = forms.CharField(max_length=300, required=False)
    capacity = forms.IntegerField(min_value=1, max_value=1000, required=False)
    slots = forms.IntegerField(min_value=1, max_value=10_000, required=False)

    def clean_url(self):
        return self.cleaned_data["url"].rstrip("/")


class BuildDatasetForm(forms.Form):
    """Which kept production calls become a new dataset version (production.py)."""

    selection = forms.ChoiceField(
        choices=[
            ("corrected", "Low-scored calls with a correction (teach the corrections)"),
            ("day", "Every kept call of one day (low-scored ones only with a correction)"),
        ],
        initial="corrected",
        widget=forms.RadioSelect,
    )
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("selection") == "day" and not data.get("day"):
            self.add_error("day", "Choose the day whose calls to use.")
        return data
