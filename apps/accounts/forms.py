from django import forms

from . import webhooks
from .models import Membership, Role


class TeamForm(forms.Form):
    name = forms.CharField(
        max_length=100, strip=True, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if not name:
            raise forms.ValidationError("Give the team a name.")
        return name


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, team=None, actor: Membership | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.actor = actor
        if actor is not None and actor.role != Role.OWNER:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if self.team is not None:
            if self.team.memberships.filter(user__email__iexact=email).exists():
                raise forms.ValidationError(f"{email} is already a member of this team.")
            if self.team.invitations.filter(email__iexact=email, accepted_at__isnull=True).exists():
                raise forms.ValidationError(
                    f"{email} already has an open invitation. Revoke it first to send a new one."
                )
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AlertWebhookForm(forms.Form):
    url = forms.URLField(
        label="Alert webhook (Slack-compatible incoming webhook)",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="Alerts also go here as a message; leave it empty to send e-mail only.",
    )

    def clean_url(self):
        url = self.cleaned_data["url"]
        if url:
            problem = webhooks.refuse(url)
            if problem:
                raise forms.ValidationError(problem)
        return url
