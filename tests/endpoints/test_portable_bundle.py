"""The downloaded zip works away from this server: it names its base model by its public Hub id,
holds no path of this machine, and runs its own README's commands in a clean virtualenv, with the
newest and with the oldest versions its requirements.txt allows, against a Hub that serves the
base model under that id (tests/fakes/hf_hub.py).

The virtualenvs are kept in the temporary folder, keyed by what they install, so only a changed
requirements.txt pays for pip again (about 2 minutes for each of the two). pip reaches the package registry the machine is set
up with; without one the venv tests are skipped, saying so.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from apps.catalog.models import BaseModel
from apps.endpoints import exports
from tests.fakes.hf_hub import FakeHub
from workers.models import bundled
from workers.serving import export

ROOT = Path(__file__).resolve().parents[2]
# Outside the checkout, so CI's fresh clone on the same machine finds them too.
VENVS = Path(tempfile.gettempdir()) / "vibeflow-bundle-venvs"
TINY_ID = "vibeflow-tests/tiny-llama"  # the tiny base model's name on the fake Hub
# The CPU build of torch on local disk; a looser pin would pull a multi-GB CUDA build.
TORCH = f"torch=={version('torch').split('+')[0]}"


def _set_base(run, **fields) -> None:
    BaseModel.objects.filter(pk=run.base_model_id).update(**fields)
    run.refresh_from_db()


def _download(client, run, folder: Path) -> zipfile.ZipFile:
    response = client.get(reverse("run_download", args=[run.pk]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    archive.extractall(folder)
    return archive


def _this_machines_paths(run, tiny_model_dir) -> set[str]:
    places = {
        ROOT,
        settings.DATA_DIR,
        settings.MODEL_CACHE_DIR,
        Path(run.adapter_dir),
        Path(tiny_model_dir),
        Path(tempfile.gettempdir()),
        Path.home(),
        Path(sys.prefix),
        Path(sys.base_prefix),
    }
    return {str(p) for p in places} | {str(Path(p).resolve()) for p in places}


def _assert_no_local_path(archive: zipfile.ZipFile, paths: set[str]) -> None:
    for name in archive.namelist():
        data = archive.read(name)
        for path in paths:
            assert path.encode() not in data, f"{name} holds {path}"


def _readme_commands(bundle: Path) -> list[list[str]]:
    """The indented commands of the README's "Run it with Python" section."""
    section = bundle.joinpath("README.md").read_text().split("## Run it with Python", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [shlex.split(line) for line in section.splitlines() if line.startswith("    ")]


def _environment(venv: Path, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: the venv first on PATH, pip's own settings (registry, certificates,
    proxies), and nothing of this project's (no PYTHONPATH, settings, HF_* or VIBEFLOW_*)."""
    keep = ("PIP_", "LANG", "LC_", "SSL_CERT", "REQUESTS_CA_BUNDLE")
    proxies = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"}
    env = {k: v for k, v in os.environ.items() if k.startswith(keep) or k in proxies}
    local = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        VIRTUAL_ENV=str(venv),
        HOME=str(home),
        NO_PROXY=local,
        no_proxy=local,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        **extra,
    )
    return env


def _constraints(requirements: str, which: str) -> list[str]:
    """torch pinned to this machine's build; for "oldest", every other lower bound as a pin."""
    pins = [TORCH]
    if which == "oldest":
        for line in requirements.splitlines():
            if line.strip() and not line.startswith("#"):
                req = Requirement(line)
                low = [s.version for s in req.specifier if s.operator == ">="]
                if req.name != "torch" and low:
                    pins.append(f"{req.name}=={low[0]}")
    return pins


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes build one venv once
        yield


def _registry_reachable(python: Path, env: dict[str, str]) -> bool:
    probe = subprocess.run(
        [python, "-m", "pip", "download", "--no-deps", "--timeout", "15", "--retries", "1"]
        + ["-d", env["HOME"], "transformers"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    return probe.returncode == 0


def _venv(bundle: Path, which: str) -> Path:
    """A virtualenv with what the bundle's README installs, made once per requirements."""
    requirements = bundle.joinpath("requirements.txt").read_text()
    pins = _constraints(requirements, which)
    key = hashlib.sha256(f"{requirements}|{pins}|{sys.version}".encode()).hexdigest()[:12]
    venv = VENVS / f"{which}-{key}"
    with _locked(VENVS / f".{which}-{key}.lock"):
        if (venv / ".complete").is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)  # no system packages
        (venv / "constraints.txt").write_text("\n".join(pins) + "\n")
        env = _environment(venv, venv, PIP_CONSTRAINT=str(venv / "constraints.txt"))
        pip = [c for c in _readme_commands(bundle) if c[0] == "pip"]
        assert pip == [["pip", "install", "-r", "requirements.txt"]]
        installed = subprocess.run(pip[0], cwd=bundle, env=env, capture_output=True, text=True)
        if installed.returncode != 0 and not _registry_reachable(venv / "bin" / "python", env):
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip(
                "SKIPPED: NO PACKAGE REGISTRY. pip cannot reach the package index, so the "
                "download's requirements.txt could not be installed in a clean virtualenv."
            )
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
        freeze = subprocess.run(
            ["pip", "freeze"], env=env, capture_output=True, text=True, check=True
        ).stdout
        (venv / ".complete").write_text(freeze)
    return venv


def _installed(venv: Path) -> dict[str, Version]:
    """What pip put in the venv (its freeze, kept in the marker file)."""
    lines = (venv / ".complete").read_text().splitlines()
    return {
        canonicalize_name(name): Version(pinned)
        for name, _, pinned in (line.partition("==") for line in lines)
        if pinned
    }


def _run_example(bundle: Path, venv: Path, home: Path, hub_url: str) -> subprocess.CompletedProcess:
    (command,) = [c for c in _readme_commands(bundle) if c[0] == "python"]
    assert command[1] == "inference_example.py"
    env = _environment(
        venv,
        home,
        HF_ENDPOINT=hub_url,
        HF_HOME=str(home / "hf"),  # an empty cache: the base model comes from the (fake) Hub
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return subprocess.run(command, cwd=bundle, env=env, capture_output=True, text=True, timeout=300)


def test_it_names_the_bundled_model_by_its_hub_id(
    login, owner, trained_run, tiny_model_dir, tmp_path
):
    _set_base(trained_run, bundled=True)
    archive = _download(login(owner), trained_run, tmp_path / "bundle")
    config = json.loads(archive.read("adapter_config.json"))
    assert config["base_model_name_or_path"] == bundled.HUB_ID
    assert f'BASE_MODEL = "{bundled.HUB_ID}"' in archive.read("inference_example.py").decode()
    assert f"Hugging Face Hub\n(`{bundled.HUB_ID}`)" in archive.read("README.md").decode()
    _assert_no_local_path(archive, _this_machines_paths(trained_run, tiny_model_dir))


def test_it_says_when_the_base_model_has_no_public_id(
    login, owner, trained_run, tiny_model_dir, tmp_path
):
    # The tiny model's catalog row points at a folder on this machine (trained_run sets it).
    assert Path(trained_run.base_model.source).is_absolute()
    archive = _download(login(owner), trained_run, tmp_path / "bundle")
    assert json.loads(archive.read("adapter_config.json"))["base_model_name_or_path"] is None
    assert 'BASE_MODEL = ""' in archive.read("inference_example.py").decode()
    readme = archive.read("README.md").decode()
    assert "has no public Hugging Face Hub id" in readme
    assert "training_args.bin" not in archive.namelist()  # the trainer's pickle holds our paths
    _assert_no_local_path(archive, _this_machines_paths(trained_run, tiny_model_dir))


def test_a_zip_an_older_format_built_is_built_again(
    login, owner, trained_run, tiny_model_dir, tmp_path, monkeypatch
):
    # What the code before the portable format left: a raw zip, a merged one, and the merged
    # marker at "building" (it was never moved on once the zip was written).
    folder = exports.folder(trained_run)
    folder.mkdir(parents=True)
    for name in ("adapter.zip", "merged.zip"):
        with zipfile.ZipFile(folder / name, "w") as old:
            old.writestr("training_args.bin", str(trained_run.adapter_dir))
    (folder / "merged.json").write_text(json.dumps({"state": "building", "error": ""}))
    assert exports.merged_state(trained_run) == {"state": "none"}  # offered to be prepared again

    archive = _download(login(owner), trained_run, tmp_path / "bundle")
    assert "training_args.bin" not in archive.namelist()
    _assert_no_local_path(archive, _this_machines_paths(trained_run, tiny_model_dir))
    assert not (folder / "adapter.zip").exists()
    exports.build_merged(trained_run)
    assert exports.merged_state(trained_run) == {"state": "ready"}
    assert not (folder / "merged.zip").exists() and not (folder / "merged.json").exists()

    # The next format replaces this one's the same way.
    current = exports.adapter_zip(trained_run)
    monkeypatch.setattr(export, "BUNDLE_FORMAT", export.BUNDLE_FORMAT + 1)
    assert exports.adapter_zip(trained_run) != current and not current.exists()
    assert exports.merged_state(trained_run) == {"state": "none"}


@pytest.mark.parametrize("which", ["newest", "oldest"])
def test_the_adapter_runs_in_a_clean_virtualenv(
    which, login, owner, trained_run, tiny_model_dir, tmp_path
):
    _set_base(trained_run, source=TINY_ID)
    bundle = tmp_path / "bundle"
    archive = _download(login(owner), trained_run, bundle)
    assert json.loads(archive.read("adapter_config.json"))["base_model_name_or_path"] == TINY_ID
    _assert_no_local_path(archive, _this_machines_paths(trained_run, tiny_model_dir))
    venv = _venv(bundle, which)
    installed = _installed(venv)
    for pin in _constraints(bundle.joinpath("requirements.txt").read_text(), which):
        req = Requirement(pin)
        assert req.specifier.contains(installed[canonicalize_name(req.name)]), pin
    with FakeHub() as hub:
        hub.add_model(TINY_ID, tiny_model_dir)
        result = _run_example(bundle, venv, tmp_path / "home", hub.url)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip(), result.stderr[-4000:]
    downloads = [r for r in hub.requests if r.startswith(f"GET /{TINY_ID}/resolve/")]
    assert any(r.endswith("/model.safetensors") for r in downloads), hub.requests


@pytest.mark.parametrize("which", ["newest", "oldest"])
def test_the_merged_model_runs_in_a_clean_virtualenv(which, trained_run, tiny_model_dir, tmp_path):
    bundle = tmp_path / "bundle"
    archive = zipfile.ZipFile(exports.build_merged(trained_run))
    archive.extractall(bundle)
    config = json.loads(archive.read("config.json"))
    # transformers 4.x reads RoPE's theta from here, not from 5.x's rope_parameters.
    assert config["rope_theta"] == config["rope_parameters"]["rope_theta"]
    _assert_no_local_path(archive, _this_machines_paths(trained_run, tiny_model_dir))
    venv = _venv(bundle, which)
    with FakeHub() as hub:  # nothing to download: a request would show here
        result = _run_example(bundle, venv, tmp_path / "home", hub.url)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip(), result.stderr[-4000:]
    assert hub.requests == []
