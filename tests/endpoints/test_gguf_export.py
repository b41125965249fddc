"""GGUF downloads: a trained version of the bundled model written as GGUF (F16 and Q8_0) loads
back in transformers and answers as the merged model does; the Ollama bundle carries the file
and a Modelfile; the page builds it through a task and refuses what it cannot do."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch
from django.conf import settings as django_settings
from django.urls import reverse

from apps.catalog.models import BaseModel, Hardware
from apps.endpoints import exports
from apps.training.models import RunStatus, TrainingRun
from workers.models.bundled import ensure_bundled_model
from workers.serving import gguf_export
from workers.training.engine import train
from workers.training.reporter import ListReporter
from workers.training.spec import Hyperparameters, JobSpec, ModelSource

QUESTIONS = ["How do I reset my password?", "Where is my order?"]


@pytest.fixture
def bundled_version(project, owner, chat_files, tmp_path):
    """A version of the bundled model that really trained (two steps of LoRA)."""
    model_dir = ensure_bundled_model(django_settings.MODEL_CACHE_DIR)
    train_file, _ = chat_files
    result = train(
        JobSpec(
            ModelSource("path", str(model_dir)),
            train_file,
            str(tmp_path / "run"),
            hyperparameters=Hyperparameters(batch_size=4, max_steps=2, save_steps=2),
        ),
        ListReporter(),
    )
    return TrainingRun.objects.create(
        project=project,
        number=1,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        status=RunStatus.SUCCEEDED,
        adapter_dir=result.adapter_dir,
        created_by=owner,
    )


def answers(model, tokenizer) -> list[str]:
    out = []
    for question in QUESTIONS:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.no_grad():
            tokens = model.generate(**ids, max_new_tokens=10, do_sample=False)
        out.append(tokenizer.decode(tokens[0][ids["input_ids"].shape[1] :]))
    return out


def download(client, run, kind, tmp_path):
    response = client.get(reverse("run_download_gguf", args=[run.pk, kind]) + "?file=1")
    assert response.status_code == 200
    name = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    path = tmp_path / name
    path.write_bytes(b"".join(response.streaming_content))
    return path


def test_a_trained_version_as_gguf_answers_like_the_merged_model(
    bundled_version, owner, login, tmp_path
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, client = bundled_version, login(owner)
    page = client.get(reverse("run_download_gguf", args=[run.pk, "f16"])).content.decode()
    assert "Prepare it" in page
    assert client.post(reverse("run_download_gguf", args=[run.pk, "f16"])).status_code == 302
    assert exports.gguf_state(run, "f16")["state"] == "queued"
    assert exports.prepare_gguf(str(run.pk), "f16") == "ready"  # what the task runs
    assert exports.prepare_gguf(str(run.pk), "q8_0") == "ready"

    merged_dir = exports.folder(run) / "merged-model"
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    merged = answers(AutoModelForCausalLM.from_pretrained(merged_dir), tokenizer)
    for kind in ("f16", "q8_0"):
        path = download(client, run, kind, tmp_path)
        assert path.name == f"{run.project.name.lower().replace(' ', '-')}-v1-{kind}.gguf"
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32
        )
        reread = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        assert reread("Hello world")["input_ids"] == tokenizer("Hello world")["input_ids"]
        if kind == "f16":  # the same greedy answers; Q8_0 may round a near tie another way
            assert answers(model, reread) == merged
        else:
            assert answers(model, reread)[0].split()[:3] == merged[0].split()[:3]


def test_the_ollama_bundle_holds_the_file_and_a_modelfile(bundled_version, owner, login):
    run, client = bundled_version, login(owner)
    assert exports.prepare_gguf(str(run.pk), "ollama") == "ready"
    response = client.get(reverse("run_download_gguf", args=[run.pk, "ollama"]) + "?file=1")
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    gguf_name = f"{run.project.name.lower().replace(' ', '-')}-v1-q8_0.gguf"
    assert set(bundle.namelist()) == {gguf_name, "Modelfile", "README.txt"}
    modelfile = bundle.read("Modelfile").decode()
    assert modelfile.startswith(f"FROM ./{gguf_name}\n")
    assert "<|im_start|>assistant" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "ollama create" in bundle.read("README.txt").decode()


def test_what_cannot_be_converted_says_why(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt_neox"}')
    with pytest.raises(gguf_export.CannotExport, match="Llama-architecture"):
        gguf_export.export(tmp_path, tmp_path / "out.gguf")
    with pytest.raises(gguf_export.CannotExport, match="Unknown GGUF type"):
        gguf_export.export(tmp_path, tmp_path / "out.gguf", "q2_k")
    assert gguf_export.modelfile("m.gguf", "{{ messages }}", 'Say """hi"""').count("FROM") == 1
    # Llama 3.1's scaled rotary positions, and SentencePiece-style BPE (Llama 2, Mistral).
    llama = {"model_type": "llama", "num_attention_heads": 4, "hidden_size": 8}
    (tmp_path / "config.json").write_text(
        json.dumps(llama | {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}})
    )
    with pytest.raises(gguf_export.CannotExport, match="scales its rotary positions"):
        gguf_export.export(tmp_path, tmp_path / "out.gguf")
    (tmp_path / "config.json").write_text(json.dumps(llama))
    (tmp_path / "tokenizer.json").write_text(
        json.dumps({"model": {"type": "BPE"}, "pre_tokenizer": {"type": "Metaspace"}})
    )
    with pytest.raises(gguf_export.CannotExport, match="Only byte-level BPE"):
        gguf_export.export(tmp_path, tmp_path / "out.gguf")
    assert not list(tmp_path.glob("out.*"))  # nothing half-written


def test_unknown_formats_and_other_teams_are_404s(project, owner, outsider, login, tmp_path):
    run = TrainingRun.objects.create(
        project=project,
        number=1,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        status=RunStatus.SUCCEEDED,
        adapter_dir=str(tmp_path),
        created_by=owner,
    )
    assert login(owner).get(f"/runs/{run.pk}/download/gguf/q4_k/").status_code == 404
    url = reverse("run_download_gguf", args=[run.pk, "f16"])
    assert login(outsider).get(url).status_code == 404
    assert login(outsider).post(url).status_code == 404
    assert exports.gguf_state(run, "f16") == {"state": "none"}


def test_a_build_lost_mid_way_can_be_tried_again(project, owner, tmp_path):
    """A task that died leaves its marker at "building": after an hour without a change the
    page reads it as failed and offers to try again (the merged download and GGUF alike)."""
    import os
    import time

    run = TrainingRun.objects.create(
        project=project,
        number=1,
        base_model=BaseModel.objects.get(slug="smollm2-135m-instruct"),
        hardware=Hardware.objects.get(slug="cpu"),
        status=RunStatus.SUCCEEDED,
        adapter_dir=str(tmp_path),
        created_by=owner,
    )
    exports.set_gguf_state(run, "f16", "building", progress=0.4)
    exports.set_merged_state(run, "building")
    assert exports.gguf_state(run, "f16")["state"] == "building"
    assert exports.merged_state(run)["state"] == "building"
    long_ago = time.time() - exports.MARKER_STALE_S - 1
    for marker in exports.folder(run).glob("*.json"):
        os.utime(marker, (long_ago, long_ago))
    assert exports.gguf_state(run, "f16")["state"] == "failed"
    assert exports.merged_state(run) == {
        "state": "failed",
        "error": "The build stopped before it finished; try again.",
    }
    assert not list(exports.folder(run).glob("*.tmp"))  # markers are renamed into place
