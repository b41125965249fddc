from __future__ import annotations

import uuid
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from apps.billing.metering import record_run
from apps.catalog.models import BaseModel, Hardware
from apps.datasets.models import DatasetVersion
from apps.projects.models import Project
from vibeflow_site.disk import remove_after_commit

from .signals import announce_finished, run_changed


class RunStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    PROVISIONING = "provisioning", "Provisioning"
    RUNNING = "running", "Running"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# The run's state machine, in one place: every change goes through TrainingRun.transition.
TRANSITIONS: dict[str, set[str]] = {
    RunStatus.DRAFT: {RunStatus.QUEUED, RunStatus.CANCELLED},
    RunStatus.QUEUED: {
        RunStatus.PROVISIONING,
        RunStatus.RUNNING,
        RunStatus.CANCELLED,
        RunStatus.FAILED,
    },
    RunStatus.PROVISIONING: {
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        RunStatus.STOPPING,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
    },
    # → queued: the worker was lost and the reaper queues the run again (apps/training/recovery.py)
    RunStatus.RUNNING: {
        RunStatus.STOPPING,
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.QUEUED,
    },
    RunStatus.STOPPING: {RunStatus.STOPPED, RunStatus.SUCCEEDED, RunStatus.FAILED},
    RunStatus.STOPPED: {RunStatus.QUEUED},  # resume: train on from the last checkpoint
    RunStatus.SUCCEEDED: set(),
    RunStatus.FAILED: set(),
    RunStatus.CANCELLED: set(),
}


class InvalidTransition(Exception):
    pass


ACTIVE = ("queued", "provisioning", "running", "stopping")


def run_group(run_id) -> str:
    """The channel group of a run's open pages."""
    return f"run_{str(run_id).replace('-', '')}"


def _announce_status(run_id, status: str) -> None:
    """Tell the run's open pages; best effort, the page reloads the truth from the database."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            run_group(run_id), {"type": "run.status", "status": status}
        )
    except Exception:
        pass


class Method(models.TextChoices):
    LORA = "lora", "LoRA"
    QLORA = "qlora", "QLoRA"
    FULL = "full", "Full fine-tuning"


class MergeMethod(models.TextChoices):
    """How two LoRA versions combine (peft's ``add_weighted_adapter``)."""

    LINEAR = "linear", "Linear (weighted sum of both updates)"
    TIES = "ties", "TIES (keeps each weight's dominant sign, trims small changes)"
    DARE = "dare", "DARE (drops changes at random, rescales the rest)"


class Optimizer(models.TextChoices):
    ADAMW = "adamw_torch", "AdamW"
    ADAMW_8BIT = "adamw_8bit", "AdamW 8-bit"
    SGD = "sgd", "SGD"


# The settings a user chooses for a run: the configuration form's fields, and what a branch
# copies from its parent (history.py, with the seed).
CONFIG_FIELDS = (
    "dataset_version",
    "base_model",
    "hardware",
    "method",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "learning_rate",
    "batch_size",
    "gradient_accumulation",
    "epochs",
    "max_examples",
    "warmup_steps",
    "weight_decay",
    "optimizer",
    "max_seq_length",
    "packing",
)


class TrainingRun(models.Model):
    """One training of a base model on a dataset version: first a draft configuration, then a run."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    dataset_version = models.ForeignKey(
        # RESTRICT, not PROTECT: a version a run trained on can't be deleted alone, but the
        # whole project (which takes its runs with it) can.
        DatasetVersion,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="runs",
    )
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="runs")
    hardware = models.ForeignKey(Hardware, on_delete=models.PROTECT, related_name="runs")
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.LORA)
    lora_r = models.PositiveIntegerField("LoRA rank (r)", default=8)
    lora_alpha = models.PositiveIntegerField("LoRA alpha", default=16)
    lora_dropout = models.FloatField("LoRA dropout", default=0.05)
    target_modules = models.CharField(max_length=200, default="q_proj,v_proj")
    learning_rate = models.FloatField(default=5e-4)
    batch_size = models.PositiveIntegerField("Batch size", default=4)
    gradient_accumulation = models.PositiveIntegerField("Gradient accumulation", default=2)
    epochs = models.PositiveIntegerField(default=3)
    # 0: every training example. A quick first run on a CPU trains on a seeded sample of them.
    max_examples = models.PositiveIntegerField(
        "Train on at most (examples)",
        default=0,
        help_text="0 trains on every example; a number trains on that many, picked at random",
    )
    warmup_steps = models.PositiveIntegerField(default=10)
    weight_decay = models.FloatField(default=0.01)
    optimizer = models.CharField(max_length=20, choices=Optimizer.choices, default=Optimizer.ADAMW)
    max_seq_length = models.PositiveIntegerField(default=1024)
    packing = models.BooleanField(
        default=False,
        help_text="Train on the examples of a batch back to back instead of padding them to one length",
    )
    seed = models.PositiveIntegerField(default=42)
    # What recommended these settings and why: reasons, risks and which recommender answered.
    recommendation = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stop_requested = models.BooleanField(default=False)
    # Crash recovery: the worker training the run writes heartbeat_at every few seconds; the
    # reaper queues a run whose heartbeat went quiet again. attempts counts the claims.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Alerts raised while training (docs/PRODUCT.md 4.4): [{code, message, step}], shown as banners on the page.
    alerts = models.JSONField(default=list, blank=True)
    # Remote GPU (RunPod): the pod, and the sha256 of the run's bearer token (cleared when it ends).
    remote_pod_id = models.CharField(max_length=100, blank=True)
    remote_token_hash = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, help_text="What went wrong, in a sentence")
    log_tail = models.TextField(blank=True, help_text="The last lines of the run's log file")
    adapter_dir = models.CharField(max_length=500, blank=True)
    steps_done = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    tokens_seen = models.BigIntegerField(default=0)
    wall_seconds = models.FloatField(default=0.0)
    gpu_seconds = models.FloatField(default=0.0)
    estimated_cost = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="What the estimate said at Start (USD); what was not used is never billed",
    )
    # The model history (history.py): the version this one continued from (a branch trains
    # on from its adapter; empty: from the base model), and for a merge the second version
    # it combined with its parent, how, and with what options ({"weights": [parent's,
    # other's], "density": TIES/DARE's share kept}).
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    merged_with = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    merge_method = models.CharField(max_length=10, choices=MergeMethod.choices, blank=True)
    merge_options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="run_number_unique")
        ]

    def __str__(self):
        return f"{self.project.name} v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.status == RunStatus.DRAFT

    @property
    def is_merge(self) -> bool:
        return bool(self.merge_method)

    @property
    def is_branch(self) -> bool:
        """Trains on from its parent's adapter (a merge has parents but does not train)."""
        return self.parent_id is not None and not self.merge_method

    @classmethod
    def create_next(cls, project: Project, **fields) -> TrainingRun:
        with transaction.atomic():
            Project.objects.select_for_update().get(
                pk=project.pk
            )  # two drafts at once get distinct numbers
            last = project.runs.aggregate(models.Max("number"))["number__max"] or 0
            return cls.objects.create(project=project, number=last + 1, **fields)

    def transition(self, new: str) -> None:
        """Move to ``new`` if the state machine allows it from the state stored in the database."""
        with transaction.atomic():
            current = TrainingRun.objects.select_for_update().get(pk=self.pk)
            if new not in TRANSITIONS[current.status]:
                raise InvalidTransition(
                    f"A {current.get_status_display().lower()} run cannot become {new}."
                )
            fields = {"status": new, "updated_at": timezone.now()}
            if new == RunStatus.QUEUED:
                fields["queued_at"] = timezone.now()
            elif new == RunStatus.RUNNING:
                fields["started_at"] = timezone.now()
                fields["gpu_seconds"] = 0.0  # this stretch's; the last one is billed already
            elif new in (
                RunStatus.STOPPED,
                RunStatus.SUCCEEDED,
                RunStatus.FAILED,
                RunStatus.CANCELLED,
            ):
                fields["finished_at"] = timezone.now()
            TrainingRun.objects.filter(pk=self.pk).update(**fields)
            for key, value in fields.items():
                setattr(self, key, value)
            if "finished_at" in fields and not current.remote_pod_id:
                # Billed in the transaction that ends the run; a RunPod run is billed from the
                # pod's own uptime once it is terminated (tasks.finish_remote).
                record_run(
                    TrainingRun.objects.select_related("project", "hardware").get(pk=self.pk)
                )
            # In this transaction: what follows from the change (the project's status, a
            # succeeded run's evaluation) commits with it or not at all.
            run_changed.send(TrainingRun, run=self, status=new)
            transaction.on_commit(lambda: _announce_status(self.pk, new))
            if "finished_at" in fields:
                announce_finished(self)

    def request_stop(self) -> None:
        """Stop: the engine saves a checkpoint and ends after the current step (running →
        stopping). The stop button and the budget's stop both ask this way; raises
        InvalidTransition when the run is no longer running."""
        with transaction.atomic():
            TrainingRun.objects.filter(pk=self.pk).update(stop_requested=True)
            self.transition(RunStatus.STOPPING)
            self.stop_requested = True

    @property
    def folder(self) -> Path:
        """Where the run's log, checkpoints and adapter are written on this installation."""
        return Path(settings.DATA_DIR) / "runs" / str(self.pk)

    @property
    def log_path(self) -> Path:
        return self.folder / "train.log"


class MetricPoint(models.Model):
    """The metrics of one step; train and eval logs of the same step merge into one point."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="points")
    step = models.PositiveIntegerField()
    data = models.JSONField()

    class Meta:
        ordering = ["step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="one_point_per_step")]

    def __str__(self):
        return f"{self.run} step {self.step}"


class Checkpoint(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    path = models.CharField(max_length=500)
    eval_loss = models.FloatField(null=True, blank=True)
    best = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["step"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step"], name="one_checkpoint_per_step")
        ]

    def __str__(self):
        return f"{self.run} checkpoint {self.step}"


@receiver(post_delete, sender=TrainingRun)
def _remove_run_files(sender, instance, **kwargs):
    """Checkpoints, the adapter, the merged serving copy and the built downloads."""
    data, key = Path(settings.DATA_DIR), str(instance.pk)
    remove_after_commit(
        data / "runs" / key,
        data / "serving" / "runs" / key,
        data / "exports" / key,
        instance.adapter_dir,
    )
