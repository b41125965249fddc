"""A remote GPU pod's entry point: fetch the job from VibeFlow, train, report back, upload the adapter.

    python -m workers.remote        (env VIBEFLOW_CALLBACK_URL, VIBEFLOW_RUN_TOKEN)

The pod (deploy/docker/gpu-worker.Dockerfile on RunPod) holds no database or broker
credentials: everything goes through the run's internal HTTPS endpoints with the run's
bearer token, which the web side keeps hashed and revokes when the run ends.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
import traceback
import urllib.request
from dataclasses import asdict, replace
from pathlib import Path

from workers.training import Hyperparameters, JobSpec, ModelSource, train

FLUSH_EVERY_S = 2.0


class Callback:
    def __init__(self, base_url: str, token: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout

    def request(self, path: str, body: bytes | None = None, content_type="application/json"):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base_url + path, data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=self.timeout) as response:
            return response.read()

    def get_json(self, path: str) -> dict:
        return json.loads(self.request(path))

    def post_json(self, path: str, payload: dict) -> dict:
        return json.loads(self.request(path, json.dumps(payload).encode()) or b"{}")


class HttpReporter:
    """The engine's Reporter over HTTP: events batched every few seconds; the answer carries the stop."""

    def __init__(self, callback: Callback):
        self.callback = callback
        self.pending: list[dict] = []
        self.last_flush = 0.0
        self.stop = False

    def _add(self, event: dict, now: bool = False) -> None:
        self.pending.append(event)
        if now or time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        events, self.pending = self.pending, []
        answer = self.callback.post_json("events", {"events": events})
        self.stop = bool(answer.get("stop"))
        self.last_flush = time.monotonic()

    def log(self, message: str) -> None:
        self._add({"kind": "log", "message": message})

    def metrics(self, values: dict) -> None:
        self._add({"kind": "metrics", "values": values})

    def checkpoint(self, path: str, step: int, eval_loss: float | None, best: bool) -> None:
        self._add(
            {
                "kind": "checkpoint",
                "path": path,
                "step": step,
                "eval_loss": eval_loss,
                "best": best,
            },
            now=True,
        )

    def alert(self, code: str, message: str) -> None:
        self._add({"kind": "alert", "code": code, "message": message}, now=True)

    def should_stop(self) -> bool:
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()
        return self.stop


def _spec(callback: Callback, work: Path) -> JobSpec:
    job = callback.get_json("spec")
    files = {}
    for name in job["files"]:
        path = work / name
        path.write_bytes(callback.request(f"files/{name}"))
        files[name] = str(path)
    source = job["model"]
    hyperparameters = dict(job["hyperparameters"])
    init_adapter = ""
    # A branch: train on from the parent version's adapter, fetched from the site.
    if hyperparameters.pop("continue_adapter", False) or job.get("init_adapter"):
        folder = work / "init_adapter"
        folder.mkdir()
        packed = io.BytesIO(callback.request("init-adapter"))
        with tarfile.open(fileobj=packed, mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
        init_adapter = str(folder)
    return JobSpec(
        model=ModelSource(source["kind"], source.get("value", ""), str(work / "models")),
        train_file=files["train.jsonl"],
        test_file=files.get("test.jsonl", ""),
        output_dir=str(work / "output"),
        hyperparameters=Hyperparameters(
            **{**hyperparameters, "target_modules": tuple(hyperparameters["target_modules"])}
        ),
        seed=job["seed"],
        init_adapter=init_adapter,
    )


def _tar(folder: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def main() -> int:
    callback = Callback(os.environ["VIBEFLOW_CALLBACK_URL"], os.environ["VIBEFLOW_RUN_TOKEN"])
    reporter = HttpReporter(callback)
    with tempfile.TemporaryDirectory() as work:
        try:
            spec = _spec(callback, Path(work))
            reporter.log("The GPU pod has the job and its data")
            result = train(spec, reporter)
            reporter.flush()
            callback.request("adapter", _tar(result.adapter_dir), "application/gzip")
            payload = asdict(replace(result, adapter_dir=""))
            payload["status"] = "stopped" if result.stopped_early else "succeeded"
            callback.post_json("result", payload)
            return 0
        except Exception as exc:
            reporter.pending.append({"kind": "log", "message": traceback.format_exc()})
            try:
                reporter.flush()
            finally:
                callback.post_json("result", {"status": "failed", "error": str(exc)})
            return 1


if __name__ == "__main__":
    raise SystemExit(main())
