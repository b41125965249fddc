from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.models import Team


class ProjectStatus(models.TextChoices):
    """Where the project is, from the user's side (the rule: endpoints.project_status)."""

    DRAFT = "draft", "Draft"
    TRAINING = "training", "Training"
    TRAINED = "trained", "Trained"  # a version is ready to deploy; nothing answers yet
    DEPLOYED = "deployed", "Deployed"


class ProjectQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    goal = models.TextField(
        blank=True, help_text="What the user wants the model to do, in their words"
    )
    # Set by training and deployment as runs and endpoints change state.
    status = models.CharField(
        max_length=10, choices=ProjectStatus.choices, default=ProjectStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # The demo's finished example (showcase.py): deployed by itself once its evaluation ends.
    showcase = models.BooleanField(default=False, editable=False)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "team", name="project_name_unique_per_team"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def run_list(self):
        """The project's versions for its pages, each with its base model in the same query."""
        return self.runs.select_related("base_model")

    @property
    def group_name(self) -> str:
        """The channel-layer group of this project's live updates."""
        return f"project_{self.pk.hex}"

    def archive(self) -> None:
        if self.archived_at is None:
            self.archived_at = timezone.now()
            self.save(update_fields=["archived_at", "updated_at"])

    def unarchive(self) -> None:
        if self.archived_at is not None:
            self.archived_at = None
            self.save(update_fields=["archived_at", "updated_at"])
