"""Training a queued run on this machine: claim it (the status is the lock), build the job the
engine trains from, train with the database reporter and heartbeat, and end it succeeded, stopped
or failed with a sentence. `tasks.run_training` calls `train_run`."""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from workers.training import (
    Hyperparameters,
    JobSpec,
    OutOfGpuMemory,
    QLoRANeedsCuda,
    train,
)
from workers.training.engine import resolve_model_dir
from workers.training.merge import MergeRefused, merge_adapters

from .models import RunStatus, TrainingRun
from .recovery import Heartbeat
from .reporting import DatabaseReporter
from .weights import model_source

log = logging.getLogger(__name__)


def build_spec(run: TrainingRun) -> JobSpec:
    """The plain-data job a worker (here or on a remote GPU) trains from."""
    version = run.dataset_version
    source = model_source(run.base_model)
    test_file = version.folder / "test.jsonl"
    return JobSpec(
        model=source,
        train_file=str(version.folder / "train.jsonl"),
        test_file=str(test_file) if version.test_count else "",
        output_dir=str(run.folder / "output"),
        seed=run.seed,
        init_adapter=run.parent.adapter_dir if run.is_branch else "",
        hyperparameters=Hyperparameters(
            method=run.method,
            lora_r=run.lora_r,
            lora_alpha=run.lora_alpha,
            lora_dropout=run.lora_dropout,
            target_modules=tuple(m for m in run.target_modules.split(",") if m),
            learning_rate=run.learning_rate,
            batch_size=run.batch_size,
            gradient_accumulation=run.gradient_accumulation,
            epochs=run.epochs,
            max_examples=run.max_examples,
            warmup_steps=run.warmup_steps,
            weight_decay=run.weight_decay,
            optimizer=run.optimizer,
            max_seq_length=run.max_seq_length,
            packing=run.packing,
        ),
    )


def _claim(run_id) -> TrainingRun | None:
    # The status is the lock: only a queued run is taken, so a redelivered task does nothing.
    with transaction.atomic():
        run = (
            TrainingRun.objects.select_for_update(of=("self",))
            .select_related("base_model", "dataset_version", "hardware")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status != RunStatus.QUEUED:
            return None
        TrainingRun.objects.filter(pk=run.pk).update(
            stop_requested=False, error="", attempts=F("attempts") + 1, heartbeat_at=timezone.now()
        )
        run.transition(RunStatus.RUNNING)
        run.refresh_from_db(fields=["attempts", "heartbeat_at", "stop_requested", "error"])
        return run


def train_run(run_id: str) -> str:
    """Train a queued run and record everything that happens.

    1. Claim the run (queued → running) in a transaction.
    2. Build the job spec and run the engine with the database reporter.
    3. End in succeeded, stopped (a stop was asked) or failed with a sentence and the traceback in the log.
    """
    run = _claim(run_id)
    if run is None:
        return "skipped"
    reporter = DatabaseReporter(run, run.log_path)
    if run.is_merge:
        return merge_run(run, reporter)
    reporter.log(
        f"Starting v{run.number}: {run.base_model.name}, {run.get_method_display()}, on {run.hardware.name}"
    )
    spec = build_spec(run)
    last = run.checkpoints.order_by("-step").first()
    if last is not None and Path(last.path).is_dir():
        # A resumed (or redelivered) run continues from its last checkpoint: same step count,
        # optimizer and scheduler state.
        spec = replace(spec, resume_from=last.path)
        reporter.log(f"Resuming from the checkpoint at step {last.step}")
        # Until the first step after it, the page shows where training goes on from, not the
        # step a lost worker had reached past the checkpoint.
        point = run.points.filter(step=last.step).first()
        TrainingRun.objects.filter(pk=run.pk).update(
            steps_done=last.step,
            tokens_seen=int((point.data if point else {}).get("tokens_seen") or run.tokens_seen),
        )
    heartbeat = Heartbeat(run.pk, run.attempts)
    reporter.superseded = lambda: heartbeat.superseded
    try:
        with heartbeat:
            result = train(spec, reporter)
    except QLoRANeedsCuda as exc:
        return _fail(run, reporter, str(exc))
    except OutOfGpuMemory as exc:
        reporter.log(traceback.format_exc())
        return _fail(run, reporter, str(exc))
    except MemoryError:
        return _fail(
            run,
            reporter,
            "The machine ran out of memory. Try a smaller batch size, QLoRA on a GPU, or a smaller model.",
        )
    except Exception as exc:
        reporter.log(traceback.format_exc())
        log.exception("training failed", extra={"run": str(run.pk)})
        return _fail(run, reporter, f"Training failed: {exc}")
    if heartbeat.superseded:
        # Presumed dead and queued again by the reaper: the run is another worker's now.
        log.warning("run %s was taken over by another worker", run.pk)
        return "superseded"
    TrainingRun.objects.filter(pk=run.pk).update(
        adapter_dir=result.adapter_dir,
        steps_done=result.steps,
        tokens_seen=result.tokens_seen,
        wall_seconds=result.wall_seconds,
        gpu_seconds=result.gpu_seconds,
    )
    run.refresh_from_db()
    if result.stopped_early:
        if run.status == RunStatus.RUNNING:
            run.transition(RunStatus.STOPPING)
        run.transition(RunStatus.STOPPED)
    else:
        # One transaction: a page that reads the run as succeeded also finds its evaluation
        # (the run page stopped polling when it saw "Succeeded" a moment before the evaluation
        # existed, and never showed its link).
        # Its evaluation is queued in this transaction (training.signals.run_changed).
        run.transition(RunStatus.SUCCEEDED)
    return run.status


def merge_run(run: TrainingRun, reporter: DatabaseReporter) -> str:
    """A merge version (history.merge): combine its two parents' adapters with peft, then end it
    succeeded, which queues its evaluation like a trained version's."""
    first, second = run.parent, run.merged_with
    if first is None or second is None or not first.adapter_dir or not second.adapter_dir:
        return _fail(run, reporter, "A version this merge combines was deleted.")
    options = run.merge_options or {}
    weights = options.get("weights") or [0.5, 0.5]
    reporter.log(
        f"Merging v{first.number} ({weights[0]:g}) and v{second.number} ({weights[1]:g}) "
        f"with {run.get_merge_method_display()}"
    )
    heartbeat = Heartbeat(run.pk, run.attempts)
    try:
        with heartbeat:
            result = merge_adapters(
                resolve_model_dir(model_source(run.base_model)),
                [first.adapter_dir, second.adapter_dir],
                weights,
                run.merge_method,
                str(run.folder / "output" / "adapter"),
                density=float(options.get("density") or 0.5),
                seed=run.seed,
            )
    except MergeRefused as exc:
        return _fail(run, reporter, f"The merge could not be made: {exc}")
    except Exception as exc:
        reporter.log(traceback.format_exc())
        log.exception("merge failed", extra={"run": str(run.pk)})
        return _fail(run, reporter, f"The merge failed: {exc}")
    if heartbeat.superseded:  # presumed lost and queued again: the other worker finishes it
        log.warning("merge %s was taken over by another worker", run.pk)
        return "superseded"
    reporter.log(
        f"Merged into a rank-{result.rank} adapter (peft {result.combination}) in "
        f"{result.seconds:.1f} s"
    )
    # What the saved adapter is (a linear merge stacks both ranks and layers): a branch of
    # this version continues exactly this shape. Nothing ran on a GPU: wall time is billed.
    TrainingRun.objects.filter(pk=run.pk).update(
        adapter_dir=result.adapter_dir,
        lora_r=result.rank,
        lora_alpha=result.alpha or run.lora_alpha,
        target_modules=result.target_modules or run.target_modules,
        wall_seconds=result.seconds,
        gpu_seconds=0.0,
    )
    run.refresh_from_db()
    if run.status in (RunStatus.RUNNING, RunStatus.STOPPING):
        run.transition(RunStatus.SUCCEEDED)
    return run.status


def fail_run(run, sentence: str) -> str:
    """End ``run`` failed with a sentence, from outside the engine (a remote pod, recovery)."""
    return _fail(run, DatabaseReporter(run, run.log_path), sentence)


def _fail(run, reporter, sentence: str) -> str:
    reporter.log(sentence)
    TrainingRun.objects.filter(pk=run.pk).update(error=sentence)
    run.refresh_from_db()
    if run.status in (
        RunStatus.RUNNING,
        RunStatus.STOPPING,
        RunStatus.QUEUED,
        RunStatus.PROVISIONING,
    ):
        run.transition(RunStatus.FAILED)
    return "failed"
