"""Running a queued evaluation on this machine: claim it (the status is the lock), build the spec
the engine evaluates from, and end it succeeded or failed with a sentence, billed in the same
transaction. `tasks.run_evaluation` calls `run_evaluation`."""

from __future__ import annotations

import logging
import traceback
from dataclasses import asdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.billing.metering import record_evaluation
from apps.training.weights import model_source
from workers.evaluation import EvalSpec, EvaluationError, evaluate
from workers.evaluation.judge import JudgeConfig

from .models import EvalStatus, Evaluation
from .reporting import DatabaseEvalReporter
from .signals import announce_finished

log = logging.getLogger(__name__)


def build_spec(evaluation: Evaluation) -> EvalSpec:
    return EvalSpec(
        model=model_source(evaluation.base_model),
        test_file=str(evaluation.dataset_version.folder / "test.jsonl"),
        output_dir=str(evaluation.folder),
        adapter_dir=evaluation.run.adapter_dir if evaluation.run else "",
        max_examples=settings.EVALUATION_MAX_EXAMPLES,
        judge=JudgeConfig(
            api_key=settings.GEMINI_API_KEY,
            model=settings.GEMINI_MODEL,
            base_url=settings.GEMINI_BASE_URL,
            timeout_s=settings.GEMINI_TIMEOUT_S,
            sample_size=settings.EVALUATION_JUDGE_SAMPLES,
        )
        if settings.GEMINI_API_KEY
        else None,
        judge_off_reason="No Gemini key is configured (GEMINI_API_KEY), so no LLM judge ran.",
        benchmarks=tuple(evaluation.benchmarks),
        benchmark_items=settings.EVALUATION_BENCHMARK_ITEMS,
        hub_endpoint=settings.HF_ENDPOINT,
        hub_token=settings.HF_TOKEN,
        hub_cache_dir=str(settings.DATA_DIR / "hub-cache"),
    )


def _claim(evaluation_id) -> Evaluation | None:
    with transaction.atomic():
        evaluation = (
            Evaluation.objects.select_for_update(of=("self",))
            .select_related("run", "base_model", "dataset_version")
            .filter(pk=evaluation_id)
            .first()
        )
        if evaluation is None or evaluation.status != EvalStatus.QUEUED:
            return None  # gone, or a redelivery of one already taken
        evaluation.status = EvalStatus.RUNNING
        evaluation.started_at = timezone.now()
        evaluation.stage = "Starting"
        evaluation.heartbeat_at = evaluation.stage_started_at = evaluation.started_at
        evaluation.save(
            update_fields=["status", "started_at", "stage", "stage_started_at", "heartbeat_at"]
        )
        return evaluation


def run_evaluation(evaluation_id: str) -> str:
    """Claim a queued evaluation, run the engine, store the result or a sentence saying what failed."""
    evaluation = _claim(evaluation_id)
    if evaluation is None:
        return "skipped"
    reporter = DatabaseEvalReporter(evaluation)
    try:
        result = evaluate(build_spec(evaluation), reporter)
    except EvaluationError as exc:
        return _fail(evaluation, reporter, str(exc))
    except Exception as exc:
        reporter.log(traceback.format_exc())
        log.exception("evaluation failed", extra={"evaluation": str(evaluation.pk)})
        return _fail(evaluation, reporter, f"Evaluation failed: {exc}")
    with transaction.atomic():
        Evaluation.objects.filter(pk=evaluation.pk).update(
            status=EvalStatus.SUCCEEDED,
            result=asdict(result),
            stage="Done",
            progress=1.0,
            finished_at=timezone.now(),
        )
        _bill(evaluation)
        announce_finished(evaluation)
    return EvalStatus.SUCCEEDED


def _fail(evaluation, reporter, sentence: str) -> str:
    reporter.log(sentence)
    with transaction.atomic():
        Evaluation.objects.filter(pk=evaluation.pk).update(
            status=EvalStatus.FAILED, error=sentence, finished_at=timezone.now()
        )
        _bill(evaluation)
        announce_finished(evaluation)
    return EvalStatus.FAILED


def _bill(evaluation) -> None:
    """The time it used, in the transaction that ends it."""
    row = Evaluation.objects.select_related("project", "run__hardware").filter(pk=evaluation.pk)
    if row.first() is not None:  # deleted with its project meanwhile: nothing left to bill
        record_evaluation(row.first())
