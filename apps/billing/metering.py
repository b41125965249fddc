"""Usage events: GPU seconds of training and evaluation, tokens of inference.

Each `record_*` is called inside the transaction that ends what it meters (a run's terminal
transition, an evaluation's last update, a request's log row), so the usage exists exactly when
the thing it bills for does. Each event's `source` is unique: recording the same thing twice
(a redelivered task) inserts nothing.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from apps.catalog.models import Hardware

from .models import BillingAccount, Meter, Plan, UsageEvent, UsageKind

MONEY = Decimal("0.000001")
UNIT = Decimal("0.0000000001")


def account_for(team_id) -> BillingAccount:
    account = BillingAccount.objects.select_related("plan").filter(team_id=team_id).first()
    if account is None:
        account, _ = BillingAccount.objects.get_or_create(
            team_id=team_id, defaults={"plan": Plan.free()}
        )
    return account


def whole_seconds(seconds: float) -> int:
    return int(Decimal(str(seconds)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def gpu_price_per_second(hardware) -> Decimal:
    return (Decimal(hardware.hourly_price) / 3600).quantize(UNIT)


def _insert(**fields) -> None:
    fields["cost"] = fields.get("cost")
    if fields["cost"] is None:
        fields["cost"] = (fields["quantity"] * fields["unit_price"]).quantize(MONEY)
    # ON CONFLICT (source) DO NOTHING: a second record of the same thing is a no-op.
    UsageEvent.objects.bulk_create([UsageEvent(**fields)], ignore_conflicts=True)


def _duration(seconds: int) -> str:
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m} min" if hours else (f"{m} min {s} s" if m else f"{s} s")


def run_seconds(run) -> int:
    """GPU seconds a run used: the worker's or RunPod's accounting, else its wall time from start
    to end (a failed run reports nothing, but used the hardware until it failed)."""
    if run.gpu_seconds:
        return whole_seconds(run.gpu_seconds)
    if run.started_at is None:
        return 0
    end = run.finished_at or timezone.now()
    return whole_seconds(max(0.0, (end - run.started_at).total_seconds()))


def record_run(run) -> None:
    """A run that ended (succeeded, stopped, failed, cancelled): bill the time it used, at the
    hardware's price now. A stopped run bills only until its stop; the rest of the estimate is
    shown as not billed."""
    seconds = run_seconds(run)
    if seconds <= 0:
        return
    project = run.project
    _insert(
        team_id=project.team_id,
        project=project,
        project_name=project.name,
        kind=UsageKind.TRAINING,
        meter=Meter.GPU_SECONDS,
        quantity=Decimal(seconds),
        unit_price=gpu_price_per_second(run.hardware),
        estimated_cost=run.estimated_cost,
        hardware=run.hardware.name,
        description=(
            f"{'Merging' if getattr(run, 'merge_method', '') else 'Training'} "
            f"{project.name} v{run.number} ({run.get_status_display().lower()}): "
            f"{_duration(seconds)} on {run.hardware.name}"
        ),
        # One event per stretch of running: a resumed run bills its second stretch too.
        source=f"run:{run.pk}:{int(run.started_at.timestamp()) if run.started_at else 0}",
    )


def record_evaluation(evaluation) -> None:
    """An evaluation that ended: its wall time on the hardware it ran on."""
    if evaluation.started_at is None:
        return
    end = evaluation.finished_at or timezone.now()
    seconds = whole_seconds(max(0.0, (end - evaluation.started_at).total_seconds()))
    if seconds <= 0:
        return
    # Evaluations run on this installation's workers: the run's hardware when it trained here,
    # else the CPU entry.
    hardware = None
    if evaluation.run_id and not evaluation.run.remote_pod_id:
        hardware = evaluation.run.hardware
    hardware = hardware or Hardware.objects.filter(is_cpu=True).first()
    if hardware is None:
        return
    project = evaluation.project
    what = f"v{evaluation.run.number}" if evaluation.run_id else "the base model"
    _insert(
        team_id=project.team_id,
        project=project,
        project_name=project.name,
        kind=UsageKind.EVALUATION,
        meter=Meter.GPU_SECONDS,
        quantity=Decimal(seconds),
        unit_price=gpu_price_per_second(hardware),
        hardware=hardware.name,
        description=f"Evaluating {what} of {project.name}: {_duration(seconds)} on {hardware.name}",
        source=f"evaluation:{evaluation.pk}",
    )


def record_request(
    *, request_id, team_id, project_id, project_name, endpoint, tokens_in, tokens_out, cost
) -> None:
    """One answered API request: its tokens at the inference price (errors carry no tokens and
    cost nothing)."""
    tokens = tokens_in + tokens_out
    if tokens <= 0:
        return
    _insert(
        team_id=team_id,
        project_id=project_id,
        project_name=project_name,
        endpoint=endpoint,
        endpoint_name=endpoint.name if endpoint else "",
        kind=UsageKind.INFERENCE,
        meter=Meter.TOKENS,
        quantity=Decimal(tokens),
        unit_price=(cost / tokens).quantize(UNIT),
        cost=cost,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        description=f"{tokens} tokens on {endpoint.name if endpoint else 'the test console'}",
        source=f"request:{request_id}",
    )


def record_serverless(
    *, team_id, project, endpoint, workers: int, seconds: float, unit_price, gpu: str, source
) -> None:
    """RunPod serverless workers that were up for a stretch (``workers`` × ``seconds`` of GPU
    time, read from the endpoint's health), serving an endpoint."""
    quantity = Decimal(str(round(workers * seconds, 3)))
    if quantity <= 0:
        return
    _insert(
        team_id=team_id,
        project=project,
        project_name=project.name,
        endpoint=endpoint,
        endpoint_name=endpoint.name,
        kind=UsageKind.INFERENCE,
        meter=Meter.GPU_SECONDS,
        quantity=quantity,
        unit_price=Decimal(unit_price).quantize(UNIT),
        hardware=f"RunPod serverless {gpu}",
        description=(
            f"{endpoint.name} on RunPod serverless: {workers} GPU{'s' if workers != 1 else ''}"
            f" up for {seconds:.0f} s ({gpu})"
        ),
        source=source,
    )
