"""Where a run trains, decided from its hardware and what this installation has switched on.

- the CPU entry: a worker of this installation (the `gpu` queue; `./vibeflow run`'s worker takes it)
- a GPU, with RUNPOD_API_KEY and VIBEFLOW_PUBLIC_URL set: a RunPod pod (apps/training/remote.py)
- a GPU, with VIBEFLOW_GPU_WORKERS=1: a self-hosted GPU worker on the `gpu` queue
- otherwise the GPU cannot be used here, and the page says why rather than training elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

LOCAL, GPU_QUEUE, RUNPOD = "local", "gpu-queue", "runpod"


@dataclass(frozen=True)
class Executor:
    kind: str | None
    reason: str = ""  # why there is none

    @property
    def available(self) -> bool:
        return self.kind is not None


def executor_for(hardware) -> Executor:
    if hardware.is_cpu:
        return Executor(LOCAL)
    if settings.RUNPOD_API_KEY and hardware.runpod_gpu_id:
        if not settings.VIBEFLOW_PUBLIC_URL:
            return Executor(
                None,
                "RunPod is configured but VIBEFLOW_PUBLIC_URL is not: a pod needs this site's public address to report to.",
            )
        return Executor(RUNPOD)
    if settings.GPU_WORKERS:
        return Executor(GPU_QUEUE)
    return Executor(
        None,
        f"{hardware.name} is not available here: set RUNPOD_API_KEY (and VIBEFLOW_PUBLIC_URL) to "
        "rent it on RunPod, or run GPU workers (VIBEFLOW_GPU_WORKERS=1). The local CPU works now.",
    )
