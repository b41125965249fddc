"""Push a version to a Hugging Face model repository (docs/PRODUCT.md 6.3), with the user's own token.

`run_push(push_id)` runs in a task (`tasks.push_to_hub`) and calls `push(hub_push, token)`: it
creates the repository if needed (or updates it) and commits the adapter (or the merged model),
the tokenizer, requirements.txt, inference_example.py and a model card generated from the run and
its evaluation, in one commit. The files are the download's
(`workers.serving.export.portable_files`): they name the base model by its public Hub id and
hold nothing of this server.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import HubToken
from apps.evaluations.models import EvalStatus
from apps.evaluations.summary import verdict
from vibeflow_site import hf
from vibeflow_site.encryption import CannotDecrypt
from workers.serving.export import EXAMPLE, REQUIREMENTS, portable_files

from . import exports
from .models import HubPush, PushStatus

log = logging.getLogger(__name__)

OFFLINE = (
    "The Hugging Face Hub can't be reached from this server (no network, or it is down). "
    "Nothing was uploaded; push again when it is back, or download the zip instead."
)


class HubPushError(Exception):
    """A push that could not be done, said in a sentence for the page."""


def default_repo_id(run, hub_username: str) -> str:
    name = f"{slugify(run.project.name) or 'model'}-v{run.number}"
    return f"{hub_username}/{name}" if hub_username else name


def verify_token(token: str) -> str:
    """The Hub user name the token belongs to; HubPushError when the Hub refuses it or is offline."""
    from huggingface_hub.errors import HfHubHTTPError

    if not hf.hub_reachable():
        raise HubPushError(OFFLINE)
    try:
        return hf.api(token).whoami()["name"]
    except HfHubHTTPError as exc:
        raise explain(exc) from exc
    except hf.network_errors() as exc:
        raise HubPushError(OFFLINE) from exc


def explain(exc: Exception) -> HubPushError:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HubPushError):
        return exc
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            return HubPushError(
                "The Hub refused your token. Create one with write access at "
                "huggingface.co/settings/tokens and save it again."
            )
        if status == 403:
            return HubPushError(
                "Your token may not write to that repository: use a write token, or a namespace "
                "(your user name or an organisation you belong to) that it can write to."
            )
        server = getattr(exc, "server_message", "") or ""
        return HubPushError(
            f"The Hub answered with an error ({status or 'no status'}"
            f"{': ' + server.strip() if server.strip() else ''}). Nothing was changed."
        )
    return HubPushError(OFFLINE)


def model_card(run, merged: bool) -> str:
    """README.md for the repository: the Hub's YAML metadata, then where the model came from and
    how it scored, every figure read off the run and its evaluation."""
    from huggingface_hub import ModelCardData

    base_id = exports.public_id(run.base_model)
    # Linked on the Hub when public; a base from this server's disk is named, never its path.
    base = f"[{base_id}](https://huggingface.co/{base_id})" if base_id else run.base_model.name
    data = ModelCardData(
        base_model=base_id,  # None leaves it out of the metadata
        library_name="transformers" if merged else "peft",
        pipeline_tag="text-generation",
        tags=["vibeflow", run.method, "text-generation"] + ([] if merged else ["lora"]),
    )
    version = run.dataset_version
    lines = [
        "---",
        data.to_yaml(),
        "---",
        "",
        f"# {run.project.name} v{run.number}",
        "",
        (
            f"{base} "
            + ("with a " if merged else "+ a ")
            + f"{run.get_method_display()} adapter"
            + (" merged into it" if merged else "")
            + ", fine-tuned with VibeFlow."
            + (
                ""
                if base_id
                else " The base model has no public Hugging Face Hub id: it came from the disk"
                " of the VibeFlow server that trained this version."
            )
        ),
        "",
        "## Training",
        "",
        "| | |",
        "| --- | --- |",
        f"| Base model | {base} |",
        f"| Method | {run.get_method_display()}, rank {run.lora_r}, alpha {run.lora_alpha}, "
        f"dropout {run.lora_dropout}, modules {run.target_modules} |",
        f"| Data | {version.dataset.name} v{version.number}: {version.train_count} training and "
        f"{version.test_count} test examples |",
        f"| Epochs | {run.epochs} |",
        f"| Learning rate | {run.learning_rate:g} |",
        f"| Batch | {run.batch_size} × {run.gradient_accumulation} accumulation |",
        f"| Max sequence length | {run.max_seq_length} |",
        f"| Steps | {run.steps_done} ({run.tokens_seen:,} tokens seen) |",
        f"| Hardware | {run.hardware.name}, {run.wall_seconds / 60:.1f} min |",
        f"| Seed | {run.seed} |",
    ]
    evaluation = run.evaluations.filter(status=EvalStatus.SUCCEEDED).first()
    if evaluation:
        lines += _evaluation_section(evaluation)
    if merged:
        use = "loads the merged model from this folder."
    elif base_id:
        use = f"loads the adapter from this folder and puts it on {base_id} with peft."
    else:
        use = (
            "loads the adapter from this folder and puts it on the base model with peft: set "
            "`BASE_MODEL` in it to a folder with that model first."
        )
    lines += [
        "",
        "## Use it",
        "",
        "```bash",
        "pip install -r requirements.txt",
        'python inference_example.py "your question"',
        "```",
        "",
        f"`inference_example.py` {use}",
        "",
    ]
    return "\n".join(lines)


def _evaluation_section(evaluation) -> list[str]:
    result = evaluation.result
    summary = verdict(result)
    base, tuned = result.get("base") or {}, result.get("tuned") or {}
    lines = ["", "## Evaluation", ""]
    if summary["score"] is not None:
        lines.append(
            f"Quality score {summary['score']:.0f}/100 on the held-out test split"
            + (
                f" ({summary['improvement']:+.0f} against the base model)."
                if summary["improvement"] is not None
                else "."
            )
        )
        lines.append("")
    lines += ["| Metric | Base model | Fine-tuned |", "| --- | --- | --- |"]
    for key, label in (
        ("f1", "Token F1"),
        ("exact_match", "Exact match"),
        ("rouge_l", "ROUGE-L"),
        ("bleu", "BLEU"),
    ):
        if key in base:
            b, t = base[key], tuned.get(key)
            lines.append(f"| {label} | {b:.3f} | {'—' if t is None else f'{t:.3f}'} |")
    return lines


def _files(run, merged: bool) -> Path:
    if not merged:
        return Path(run.adapter_dir)
    folder = exports.folder(run) / "merged-model"
    if exports.merged_state(run)["state"] != "ready" or not folder.is_dir():
        raise HubPushError("Prepare the merged model first (Download → merged), then push it.")
    return folder


def push(hub_push, token: str, *, on_stage=lambda stage: None) -> tuple[str, str]:
    """Create or update the repository and commit the version in one commit.

    Returns (repository URL, commit URL)."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    run = hub_push.run
    folder = _files(run, hub_push.merged)
    base_id = exports.public_id(run.base_model)
    if not hf.hub_reachable():
        raise HubPushError(OFFLINE)
    api = hf.api(token)
    try:
        on_stage("Creating the repository")
        repo = api.create_repo(
            hub_push.repo_id, repo_type="model", private=hub_push.private, exist_ok=True
        )
        operations = [
            CommitOperationAdd(name, content) for name, content in portable_files(folder, base_id)
        ]
        operations += [
            CommitOperationAdd("README.md", model_card(run, hub_push.merged).encode()),
            CommitOperationAdd("requirements.txt", REQUIREMENTS.encode()),
            CommitOperationAdd("inference_example.py", EXAMPLE.format(base=base_id or "").encode()),
        ]
        on_stage(f"Uploading {len(operations)} files")
        commit = api.create_commit(
            repo.repo_id,
            operations,
            commit_message=f"VibeFlow: {run.project.name} v{run.number}",
            repo_type="model",
        )
    except HfHubHTTPError as exc:
        raise explain(exc) from exc
    except hf.network_errors() as exc:
        raise HubPushError(OFFLINE) from exc
    return str(repo), commit.commit_url


def run_push(push_id: str) -> str:
    """Take a queued push and do it: "succeeded", "failed" with a sentence on the row, or "gone".
    The token is read from the requesting user's encrypted row here; it never travels through the
    broker. `tasks.push_to_hub` calls it."""
    with transaction.atomic():
        hub_push = (
            HubPush.objects.select_for_update(of=("self",))
            .select_related("run__project", "run__base_model", "run__hardware")
            .filter(pk=push_id, status__in=[PushStatus.QUEUED, PushStatus.RUNNING])
            .first()
        )
        if hub_push is None:
            return "gone"  # deleted, or already finished
        # RUNNING: redelivered after its worker died (acks_late); pushing again is harmless, the
        # Hub skips files that have not changed.
        hub_push.status, hub_push.stage = PushStatus.RUNNING, "Preparing the files"
        hub_push.save(update_fields=["status", "stage"])

    def on_stage(stage: str) -> None:
        HubPush.objects.filter(pk=hub_push.pk).update(stage=stage)

    try:
        row = HubToken.objects.filter(user_id=hub_push.requested_by_id).first()
        if row is None:
            raise HubPushError("Your Hugging Face token was removed: save it again and push.")
        try:
            token = row.reveal()
        except CannotDecrypt as exc:
            raise HubPushError(
                "Your saved Hugging Face token can no longer be read (the server's key changed): "
                "save it again and push."
            ) from exc
        repo_url, commit_url = push(hub_push, token, on_stage=on_stage)
    except HubPushError as exc:
        HubPush.objects.filter(pk=hub_push.pk).update(
            status=PushStatus.FAILED, stage="", error=str(exc), finished_at=timezone.now()
        )
        return "failed"
    except Exception:
        log.exception("hub push failed", extra={"push": push_id})
        HubPush.objects.filter(pk=hub_push.pk).update(
            status=PushStatus.FAILED,
            stage="",
            error="The push failed unexpectedly. Try again; if it fails again, contact your administrator.",
            finished_at=timezone.now(),
        )
        return "failed"
    HubPush.objects.filter(pk=hub_push.pk).update(
        status=PushStatus.SUCCEEDED,
        stage="",
        repo_url=repo_url,
        commit_url=commit_url,
        finished_at=timezone.now(),
    )
    return "succeeded"
