"""The internal endpoints a remote GPU pod calls, authenticated by the run's bearer token.

No session, no CSRF (a machine calls them with a secret, not a browser with a cookie); an
unknown run, a wrong token and a finished run's revoked token all get the same 401, so the
endpoints say nothing about which runs exist.
"""

from __future__ import annotations

import hmac
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from django.db import transaction
from django.http import FileResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .models import RunStatus, TrainingRun
from .remote import token_hash
from .reporting import DatabaseReporter
from .runner import build_spec, fail_run
from .tasks import finish_remote

FILES = ("train.jsonl", "test.jsonl")
MAX_EVENTS = 1000


class Unauthorised(Exception):
    pass


def _run(request, run_id) -> TrainingRun:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    run = (
        TrainingRun.objects.select_related("base_model", "dataset_version", "hardware", "parent")
        .filter(pk=run_id)
        .exclude(remote_token_hash="")
        .first()
    )
    if (
        run is None
        or not token
        or not hmac.compare_digest(token_hash(token), run.remote_token_hash)
    ):
        raise Unauthorised
    return run


def _endpoint(view):
    def wrapped(request, run_id, **kwargs):
        try:
            run = _run(request, run_id)
        except Unauthorised:
            return JsonResponse({"error": "invalid or revoked run token"}, status=401)
        return view(request, run, **kwargs)

    return csrf_exempt(wrapped)


@require_GET
@_endpoint
def spec(request, run):
    job = build_spec(run).as_dict()
    files = [name for name in FILES if job.get(name.replace(".jsonl", "_file"))]
    hyperparameters = dict(job["hyperparameters"])
    # A pod image older than the subset setting refuses unknown fields: send it only when a run
    # uses it, so those images keep training whole-dataset runs until they are rebuilt.
    if not hyperparameters.get("max_examples"):
        hyperparameters.pop("max_examples", None)
    if job["init_adapter"]:
        # Also among the hyperparameters, which an image older than branching refuses (an
        # unknown field) rather than ignoring "init_adapter" and training a fresh adapter.
        hyperparameters["continue_adapter"] = True
    return JsonResponse(
        {
            "model": job["model"],
            "hyperparameters": hyperparameters,
            "seed": job["seed"],
            "files": files,
            # A branch: the pod fetches its parent's adapter (init_adapter below) to train on.
            "init_adapter": bool(job["init_adapter"]),
        }
    )


@require_GET
@_endpoint
def init_adapter(request, run):
    """A branch's starting point, its parent's adapter, as a gzipped tar."""
    folder = Path(run.parent.adapter_dir) if run.is_branch and run.parent else None
    if folder is None or not (folder / "adapter_config.json").is_file():
        return JsonResponse({"error": "this run continues no adapter"}, status=404)
    packed = tempfile.TemporaryFile()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    packed.seek(0)
    return FileResponse(packed, content_type="application/gzip")


@require_GET
@_endpoint
def data_file(request, run, name):
    if name not in FILES or not (run.dataset_version.folder / name).is_file():
        return JsonResponse({"error": "no such file"}, status=404)
    return FileResponse(open(run.dataset_version.folder / name, "rb"))


def _apply(reporter: DatabaseReporter, run, event: dict) -> None:
    kind = event.get("kind")
    if kind == "log":
        reporter.log(str(event.get("message", ""))[:20_000])
    elif kind == "metrics" and isinstance(event.get("values"), dict):
        reporter.metrics(event["values"])
    elif kind == "checkpoint":
        # Checkpoints stay on the pod: recorded, but not a local folder to resume from.
        reporter.checkpoint(
            f"runpod://{run.remote_pod_id}/{event.get('path', '')}",
            int(event.get("step", 0)),
            event.get("eval_loss"),
            bool(event.get("best")),
        )
    elif kind == "alert":
        reporter.alert(str(event.get("code", ""))[:50], str(event.get("message", ""))[:1000])
    else:
        raise ValueError(f"unknown event {kind!r}")


@require_POST
@_endpoint
def events(request, run):
    try:
        batch = json.loads(request.body)["events"]
        if not isinstance(batch, list) or len(batch) > MAX_EVENTS:
            raise ValueError("events must be a list of at most 1000")
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"error": f"bad events: {exc}"}, status=400)
    if run.status == RunStatus.PROVISIONING:
        run.transition(RunStatus.RUNNING)
    reporter = DatabaseReporter(run, run.log_path)
    try:
        for event in batch:
            _apply(reporter, run, event)
    except (ValueError, TypeError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    stop = TrainingRun.objects.filter(pk=run.pk, stop_requested=True).exists()
    return JsonResponse({"stop": stop})


@require_POST
@_endpoint
def adapter(request, run):
    """The trained adapter as a gzipped tar; unpacked with tarfile's "data" filter (no links out,
    no absolute paths, no devices) into the run's folder, replacing an earlier upload."""
    target = run.folder / "output" / "adapter"
    partial = target.with_name("adapter.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=request, mode="r|gz") as tar:
            tar.extractall(partial, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return JsonResponse({"error": f"unreadable adapter archive: {exc}"}, status=400)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return JsonResponse({"stored": str(Path(target).name)})


@require_POST
@_endpoint
def result(request, run):
    try:
        payload = json.loads(request.body)
        status = payload["status"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "a result needs a status"}, status=400)
    adapter_dir = run.folder / "output" / "adapter"
    if status == "failed":
        fail_run(run, f"Training on the RunPod pod failed: {str(payload.get('error'))[:500]}")
    elif status in ("succeeded", "stopped"):
        if (
            not (adapter_dir / "adapter_config.json").is_file()
            and not (adapter_dir / "config.json").is_file()
        ):
            return JsonResponse({"error": "upload the adapter before the result"}, status=409)
        TrainingRun.objects.filter(pk=run.pk).update(
            adapter_dir=str(adapter_dir),
            steps_done=int(payload.get("steps") or 0),
            tokens_seen=int(payload.get("tokens_seen") or 0),
            wall_seconds=float(payload.get("wall_seconds") or 0),
        )
        run.refresh_from_db()
        if status == "stopped":
            if run.status == RunStatus.RUNNING:
                run.transition(RunStatus.STOPPING)
            run.transition(RunStatus.STOPPED)
        else:
            run.transition(RunStatus.SUCCEEDED)  # its evaluation is queued with it (run_changed)
    else:
        return JsonResponse({"error": f"unknown status {status!r}"}, status=400)
    transaction.on_commit(lambda: finish_remote.delay(str(run.pk)))
    return JsonResponse({"status": status})
