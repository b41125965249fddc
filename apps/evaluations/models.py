from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver

from vibeflow_site.disk import remove_after_commit


class EvalStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Finished"
    FAILED = "failed", "Failed"


class Evaluation(models.Model):
    """Base vs tuned on a dataset version's test split; ``result`` holds workers.evaluation's EvalResult."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="evaluations"
    )
    # None: the base model alone
    run = models.ForeignKey(
        "training.TrainingRun",
        on_delete=models.CASCADE,
        related_name="evaluations",
        null=True,
        blank=True,
    )
    base_model = models.ForeignKey("catalog.BaseModel", on_delete=models.PROTECT)
    # RESTRICT: deleting the project deletes its evaluations with it (see TrainingRun).
    dataset_version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.RESTRICT)
    status = models.CharField(max_length=10, choices=EvalStatus.choices, default=EvalStatus.QUEUED)
    stage = models.CharField(max_length=80, blank=True)
    # When the current step began (counts in its name aside): the page says how long it has run.
    stage_started_at = models.DateTimeField(null=True, blank=True)
    progress = models.FloatField(default=0.0)
    result = models.JSONField(default=dict, blank=True)
    # Standard benchmarks asked for (keys of workers.evaluation.benchmarks.BENCHMARKS)
    benchmarks = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written with every stage and log line: an evaluation silent too long lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Evaluation of {self.run or self.base_model}"

    @property
    def folder(self) -> Path:
        return Path(settings.DATA_DIR) / "evaluations" / str(self.pk)

    @property
    def is_active(self) -> bool:
        return self.status in (EvalStatus.QUEUED, EvalStatus.RUNNING)


@receiver(post_delete, sender=Evaluation)
def _remove_evaluation_files(sender, instance, **kwargs):
    remove_after_commit(instance.folder)
