from __future__ import annotations

import re

from django import forms

from .models import Project


class ProjectNameMixin:
    team = None
    instance: Project | None = None

    def clean_name(self):
        name = re.sub(r"\s+", " ", self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        taken = Project.objects.filter(team=self.team, name__iexact=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(
                f"This team already has a project named “{name}”. Pick another name."
            )
        return name


class ProjectForm(ProjectNameMixin, forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True})
    )
    goal = forms.CharField(
        label="What should the model do?",
        required=False,
        max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "e.g. Answer customer support e-mails in our tone"}
        ),
    )

    def __init__(self, *args, team=None, instance=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.instance = instance


class RenameForm(ProjectNameMixin, forms.Form):
    name = forms.CharField(max_length=100)

    def __init__(self, *args, team=None, instance=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.instance = instance


class WelcomeForm(forms.Form):
    use_case = forms.CharField(
        label="Tell me about your use case in plain English",
        min_length=10,
        max_length=2000,
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "placeholder": "I want a model that answers customer support questions about our product, "
                "short and friendly. I have about 1,000 past replies.",
            }
        ),
        error_messages={"min_length": "Say a little more (at least 10 characters) so we can help."},
    )


class DeleteForm(forms.Form):
    confirm = forms.CharField(label="Type the project's name to confirm")

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != self.project.name:
            raise forms.ValidationError(f"Type “{self.project.name}” exactly to delete it.")
        return value
