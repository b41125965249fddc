"""The model history through the pages: branch a version, merge two, see the graph, compare.

Versions here are runs made through the pages whose adapters are written directly (random
LoRA weights on the bundled model): what branching and merging read is the adapter on disk,
and training one for each test would cost minutes (the engine's part is in
tests/workers/test_history_engine.py)."""

from __future__ import annotations

import datetime
import io
import json
import tarfile
from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.billing.models import Meter, UsageEvent, UsageKind
from apps.endpoints.models import Deployment, DeploymentStatus, Endpoint
from apps.evaluations.models import EvalStatus, Evaluation
from apps.training.models import MergeMethod, Method, RunStatus, TrainingRun
from apps.training.remote import token_hash
from apps.training.runner import build_spec
from apps.training.tasks import run_training

from .helpers import draft_run

pytestmark = pytest.mark.django_db


def _trained(run: TrainingRun, adapter: str, **fields) -> TrainingRun:
    """``run`` as if it had trained: succeeded, with ``adapter`` as its adapter."""
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED,
        adapter_dir=adapter,
        wall_seconds=95.0,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        **fields,
    )
    run.refresh_from_db()
    return run


@pytest.fixture
def two_versions(login, owner, project, bundled_adapters):
    client = login(owner)
    first = _trained(draft_run(client, project), bundled_adapters[0])
    client.post(reverse("run_new", args=[project.pk]))
    second = project.runs.exclude(pk=first.pk).get()
    second = _trained(second, bundled_adapters[1])
    return client, first, second


def test_a_branch_is_a_draft_that_continues_its_parent(two_versions, project):
    client, first, _ = two_versions
    response = client.post(reverse("run_branch", args=[first.pk]))
    branch = project.runs.get(parent=first)
    assert response.url == reverse("run_config", args=[branch.pk])
    assert branch.status == RunStatus.DRAFT and branch.number == 3 and branch.is_branch
    assert (branch.base_model, branch.lora_r, branch.target_modules) == (
        first.base_model,
        first.lora_r,
        first.target_modules,
    )
    page = unescape(client.get(reverse("run_config", args=[branch.pk])).content.decode())
    assert 'Continues <a href="' + reverse("run_config", args=[first.pk]) + '">v1</a>' in page
    assert "training starts from its adapter" in page
    # What the adapter fixes cannot be changed by a post; what is the round's own can.
    form = {
        "dataset_version": branch.dataset_version_id,
        "base_model": branch.base_model_id,
        "hardware": branch.hardware_id,
        "method": "full",
        "lora_r": 64,
        "lora_alpha": 128,
        "lora_dropout": 0.05,
        "target_modules": "q_proj,k_proj,v_proj,o_proj",
        "learning_rate": 1e-4,
        "batch_size": 4,
        "gradient_accumulation": 1,
        "epochs": 2,
        "max_examples": 0,
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "optimizer": "adamw_torch",
        "max_seq_length": 512,
    }
    page = unescape(client.post(reverse("run_config", args=[branch.pk]), form).content.decode())
    branch.refresh_from_db()
    assert branch.method == Method.LORA  # "full" is not a choice for a branch
    assert "Select a valid choice" in page
    form["method"] = "lora"
    client.post(reverse("run_config", args=[branch.pk]), form)
    branch.refresh_from_db()
    assert branch.lora_r == first.lora_r and branch.target_modules == first.target_modules
    assert branch.learning_rate == 1e-4 and branch.epochs == 2
    # The engine gets the parent's adapter to train on.
    assert build_spec(branch).init_adapter == first.adapter_dir


def test_what_cannot_be_branched_says_why(two_versions, project, login, outsider, viewer):
    client, first, second = two_versions
    TrainingRun.objects.filter(pk=second.pk).update(method=Method.FULL)
    page = unescape(
        client.post(reverse("run_branch", args=[second.pk]), follow=True).content.decode()
    )
    assert "v2 is a full fine-tune: a branch continues a LoRA adapter" in page
    TrainingRun.objects.filter(pk=first.pk).update(adapter_dir="/nowhere")
    page = unescape(
        client.post(reverse("run_branch", args=[first.pk]), follow=True).content.decode()
    )
    assert "v1's adapter is no longer on disk" in page
    assert not project.runs.filter(parent__isnull=False).exists()
    assert login(outsider).post(reverse("run_branch", args=[first.pk])).status_code == 404
    assert login(viewer).post(reverse("run_branch", args=[first.pk])).status_code == 403
    assert login(outsider).get(reverse("project_history", args=[project.pk])).status_code == 404
    assert login(outsider).get(reverse("versions_compare", args=[project.pk])).status_code == 404


def _merge(client, project, first, second=None, **fields):
    data = {"first": first.pk, "second": getattr(second, "pk", second), "method": "linear"}
    data["weight"] = 0.5
    data.update(fields)  # may name another "second"
    return client.post(reverse("project_merge", args=[project.pk]), data, follow=True)


@pytest.mark.parametrize(
    "fields, sentence",
    [
        ({"second": "same"}, "Choose two different versions to merge."),
        ({"weight": 1}, "between 0 and 1"),
        ({"weight": "half"}, "Enter a number."),
        ({"method": "average"}, "Select a valid choice"),
        ({"density": 0}, "Density must be above 0"),
        ({"second": "00000000-0000-0000-0000-000000000000"}, "trained LoRA versions"),
    ],
)
def test_a_bad_merge_is_refused_and_makes_nothing(two_versions, project, fields, sentence):
    client, first, second = two_versions
    if fields.get("second") == "same":
        fields["second"] = first.pk
    fields = {"second": second.pk, **fields}
    page = unescape(_merge(client, project, first, **fields).content.decode())
    assert sentence in page
    assert project.runs.count() == 2


def test_versions_of_different_bases_or_another_team_do_not_merge(
    two_versions, project, outsider_team, outsider
):
    from apps.catalog.models import BaseModel

    client, first, second = two_versions
    other_base = BaseModel.objects.exclude(pk=first.base_model_id).first()
    TrainingRun.objects.filter(pk=second.pk).update(base_model=other_base)
    page = unescape(_merge(client, project, first, second).content.decode())
    assert "adapters of different base models" in page
    from apps.projects.models import Project

    theirs = Project.objects.create(team=outsider_team, name="theirs", created_by=outsider)
    foreign = TrainingRun.objects.create(
        project=theirs,
        number=1,
        base_model=first.base_model,
        hardware=first.hardware,
        dataset_version=first.dataset_version,
        status=RunStatus.SUCCEEDED,
        adapter_dir=first.adapter_dir,
    )
    page = unescape(_merge(client, project, first, foreign).content.decode())
    assert "Choose one of this project's trained LoRA versions." in page
    assert project.runs.count() == 2


def test_two_versions_merge_into_a_third_that_is_evaluated(two_versions, project, owner):
    client, first, second = two_versions
    page = unescape(_merge(client, project, first, second, weight=0.25).content.decode())
    merged = project.runs.get(merged_with=second)
    assert "v3 is merging v1 and v2" in page
    assert merged.status == RunStatus.QUEUED and merged.parent == first and merged.is_merge
    assert merged.merge_method == MergeMethod.LINEAR
    assert merged.merge_options == {"weights": [0.25, 0.75], "density": 0.5}
    assert run_training(str(merged.pk)) == "succeeded"  # as the gpu worker runs it
    merged.refresh_from_db()
    assert Path(merged.adapter_dir, "adapter_config.json").is_file()
    assert merged.lora_r == 16  # linear: both updates, stacked
    saved = json.loads(Path(merged.adapter_dir, "adapter_config.json").read_text())
    assert merged.lora_alpha == saved["lora_alpha"]  # what a branch of it continues
    assert merged.target_modules == "q_proj,v_proj"
    # Billed as a merge (a merge under a second bills nothing: wall time, whole seconds).
    from apps.billing.metering import record_run

    UsageEvent.objects.filter(source__startswith=f"run:{merged.pk}:").delete()
    merged.started_at = merged.finished_at - datetime.timedelta(seconds=5)
    record_run(merged)
    assert "Merging" in UsageEvent.objects.get(source__startswith=f"run:{merged.pk}:").description
    assert "Merged into a rank-16 adapter" in merged.log_tail
    # Evaluated like any version: queued with it, on the first version's test split.
    evaluation = merged.evaluations.get()
    assert evaluation.status == EvalStatus.QUEUED
    assert evaluation.dataset_version == first.dataset_version

    # The history shows three commits and the base, a merge edge, and what each scored.
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status=EvalStatus.SUCCEEDED,
        result={"base_quality": {"score": 40}, "tuned_quality": {"score": 71}},
    )
    Evaluation.objects.create(
        project=project,
        run=first,
        base_model=first.base_model,
        dataset_version=first.dataset_version,
        status=EvalStatus.SUCCEEDED,
        result={"base_quality": {"score": 40}, "tuned_quality": {"score": 62}},
    )
    UsageEvent.objects.create(
        team=project.team,
        project=project,
        project_name=project.name,
        kind=UsageKind.TRAINING,
        meter=Meter.GPU_SECONDS,
        quantity=Decimal(95),
        unit_price=Decimal("0.001"),
        cost=Decimal("0.095"),
        description="Training v1",
        source=f"run:{first.pk}:1",
    )
    endpoint = Endpoint.objects.create(
        project=project,
        name="support-bot",
        rate_limit_rpm=60,
        tokens_per_minute=10_000,
        timeout_s=30,
    )
    Deployment.objects.create(
        endpoint=endpoint, run=merged, status=DeploymentStatus.READY, weight=100
    )
    page = unescape(client.get(reverse("project_history", args=[project.pk])).content.decode())
    assert page.count('class="history-node') == 4  # base, v1, v2, v3
    # v1 and v2 from the base, v3 from v1, and v3's merge with v2
    assert page.count("history-merge") == 1 and page.count('class="history-edge') == 4
    assert "Merge v1 and v2 (Linear, 0.25/0.75)" in page
    assert "Quality 62 → 71 (+9 vs v1)" in page  # the merge against its first parent
    assert "Quality 40 → 62 (+22 vs the base model)" in page
    assert "Cost $0.09500" in page and "Deployed: support-bot" in page
    assert "Branch from v3" in page  # a merge is a LoRA version like any other
    # Compare all versions and the dashboard read the same facts.
    page = unescape(client.get(reverse("versions_compare", args=[project.pk])).content.decode())
    assert 'id="v3"' in page and "merge of v1 + v2" in page and "LoRA r16" in page
    page = unescape(client.get(reverse("project_detail", args=[project.pk])).content.decode())
    assert "Quality 62/100 · Cost $0.09500 · 2m" in page
    assert reverse("run_log", args=[first.pk]) in page
    assert reverse("versions_compare", args=[project.pk]) in page


def test_a_merge_whose_adapter_vanished_fails_with_a_sentence(two_versions, project):
    client, first, second = two_versions
    _merge(client, project, first, second)
    merged = project.runs.get(merged_with=second)
    TrainingRun.objects.filter(pk=second.pk).update(adapter_dir="/nowhere/adapter")
    assert run_training(str(merged.pk)) == "failed"
    merged.refresh_from_db()
    assert merged.error.startswith("The merge could not be made:")
    assert "no readable LoRA adapter" in merged.error


def test_a_remote_branch_fetches_its_parents_adapter(two_versions, project, tmp_path):
    """On a RunPod pod the branch's adapter comes over the run's authenticated callback."""
    from workers.remote import Callback, _spec

    client, first, _ = two_versions
    client.post(reverse("run_branch", args=[first.pk]))
    branch = project.runs.get(parent=first)
    TrainingRun.objects.filter(pk=branch.pk).update(
        status=RunStatus.PROVISIONING, remote_token_hash=token_hash("secret-token")
    )
    url = f"/internal/runs/{branch.pk}/"
    headers = {"Authorization": "Bearer secret-token"}
    job = client.get(url + "spec", headers=headers).json()
    assert job["init_adapter"] is True
    # An older pod image refuses unknown hyperparameters: it fails rather than train afresh.
    assert job["hyperparameters"]["continue_adapter"] is True
    assert client.get(url + "init-adapter").status_code == 401  # the token is required
    # A run that continues nothing has no adapter to give.
    TrainingRun.objects.filter(pk=first.pk).update(remote_token_hash=token_hash("t2"))
    other = client.get(
        f"/internal/runs/{first.pk}/init-adapter", headers={"Authorization": "Bearer t2"}
    )
    assert other.status_code == 404

    class ThroughTheTestClient(Callback):
        """The pod's callback, its requests answered by this site's views."""

        def request(self, path, body=None, content_type="application/json"):
            response = client.get(url + path, headers=self.headers)
            assert response.status_code == 200, (path, response.status_code)
            if response.streaming:
                return b"".join(response.streaming_content)
            return response.content

    spec = _spec(ThroughTheTestClient(url, "secret-token"), tmp_path)
    config = json.loads(Path(spec.init_adapter, "adapter_config.json").read_text())
    assert config["r"] == first.lora_r and spec.hyperparameters.lora_r == first.lora_r
    with tarfile.open(
        fileobj=io.BytesIO(ThroughTheTestClient(url, "secret-token").request("init-adapter")),
        mode="r:gz",
    ) as tar:
        assert "./adapter_config.json" in tar.getnames()


def test_a_merge_is_checked_like_a_start(two_versions, project):
    """The plan's runs at a time apply: a merge is refused while the team's runs are busy."""
    from apps.billing.metering import account_for

    client, first, second = two_versions
    limit = account_for(project.team_id).effective_plan.concurrent_runs
    for _ in range(limit):
        client.post(reverse("run_new", args=[project.pk]))
    project.runs.filter(status=RunStatus.DRAFT).update(status=RunStatus.QUEUED)
    page = unescape(_merge(client, project, first, second).content.decode())
    assert "Wait for one to finish, or upgrade the plan." in page
    assert not project.runs.filter(merged_with__isnull=False).exists()
