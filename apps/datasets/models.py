from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from apps.projects.models import Project
from vibeflow_site.disk import remove_after_commit


class StoredFile(models.Model):
    """An uploaded file, stored once under the data directory by its sha256 and never modified."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.sha256[:12]} ({self.size:,} bytes)"

    @property
    def path(self) -> Path:
        return blob_path(self.sha256)


def blob_path(sha256: str) -> Path:
    return Path(settings.DATA_DIR) / "blobs" / sha256[:2] / sha256[2:4] / sha256


class Dataset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    expected_language = models.CharField(
        max_length=8, default="en", help_text="ISO code of the language the examples should be in"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    @property
    def latest(self) -> DatasetVersion | None:
        return self.versions.order_by("-number").first()


class VersionStatus(models.TextChoices):
    ANALYSING = "analysing", "Analysing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


# The session key holding the version a user last accepted ("Looks good!"): the training
# configuration they go to next preselects it.
JUST_ACCEPTED_SESSION_KEY = "datasets:just_accepted"


class DatasetVersion(models.Model):
    """One immutable state of a dataset: its mapping, processed rows, report and split.

    Every fix makes a new version pointing at its parent; nothing here is edited
    once the version is ready (only `accepted_at`, the user's "Looks good").
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    # Set when the file is stored; a Hub import gets it once the download is done.
    source = models.ForeignKey(
        StoredFile, on_delete=models.PROTECT, null=True, blank=True, related_name="versions"
    )
    hub_source = models.JSONField(
        default=dict, blank=True, help_text="{repo_id, filename} of a Hub import"
    )
    original_name = models.CharField(max_length=255)
    reason = models.CharField(max_length=300, help_text="Why this version exists, in words")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    status = models.CharField(
        max_length=10, choices=VersionStatus.choices, default=VersionStatus.ANALYSING
    )
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=100, default="Queued")
    error = models.TextField(blank=True)

    format = models.CharField(max_length=10, blank=True)
    columns = models.JSONField(default=list)
    proposal = models.JSONField(default=dict, help_text="What detection proposed")
    mapping = models.JSONField(
        default=dict, blank=True, help_text="What was used; empty means use the proposal"
    )
    # What a derived version leaves out of its parent: {"issues": [...], "rows": [...]}.
    drop = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict)
    total = models.PositiveIntegerField(default=0)
    train_count = models.PositiveIntegerField(default=0)
    test_count = models.PositiveIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_number_unique")
        ]

    def __str__(self):
        return f"{self.dataset.name} v{self.number}"

    @property
    def folder(self) -> Path:
        return (
            Path(settings.DATA_DIR)
            / "datasets"
            / str(self.dataset_id)
            / f"v{self.number}-{self.pk.hex[:8]}"
        )

    @property
    def is_ready(self) -> bool:
        return self.status == VersionStatus.READY

    @classmethod
    def create_next(cls, dataset: Dataset, **fields) -> DatasetVersion:
        # Lock the dataset row so two fixes at once cannot take the same number.
        with transaction.atomic():
            Dataset.objects.select_for_update().get(pk=dataset.pk)
            last = dataset.versions.aggregate(models.Max("number"))["number__max"] or 0
            return cls.objects.create(dataset=dataset, number=last + 1, **fields)

    def set_progress(self, fraction: float, stage: str) -> None:
        DatasetVersion.objects.filter(pk=self.pk, status=VersionStatus.ANALYSING).update(
            progress=round(min(max(fraction, 0.0), 1.0), 3), stage=stage[:100]
        )


@receiver(post_delete, sender=DatasetVersion)
def _remove_version_files(sender, instance, **kwargs):
    # The uploaded file itself stays: blobs are shared by content across datasets and teams.
    remove_after_commit(instance.folder)


@receiver(post_delete, sender=Dataset)
def _remove_dataset_folder(sender, instance, **kwargs):
    remove_after_commit(Path(settings.DATA_DIR) / "datasets" / str(instance.pk))


def latest_version(project) -> DatasetVersion | None:
    """The project's newest accepted version, else its newest ready one: what a new run trains
    on and what the agent sizes a first run from."""
    versions = DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.READY)
    return (
        versions.filter(accepted_at__isnull=False).order_by("-created_at").first()
        or versions.order_by("-created_at").first()
    )
