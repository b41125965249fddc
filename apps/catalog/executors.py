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
    reason: str = ""  # why there is none, in a sentence for users
    why: str = ""  # the same, short, for a line of the hardware list
    detail: str = ""  # what the operator would change: for the log and staff, not for users

    @property
    def available(self) -> bool:
        return self.kind is not None


NO_GPU_HELP = (
    "Choose this server's CPU to train now, or ask your administrator to connect a GPU provider."
)


def _unavailable(hardware, why: str, detail: str, next_step: str = NO_GPU_HELP) -> Executor:
    return Executor(
        None, f"{hardware.name} can't be used on this installation: {why}. {next_step}", why, detail
    )


def executor_for(hardware) -> Executor:
    if hardware.is_cpu:
        return Executor(LOCAL)
    if settings.RUNPOD_API_KEY and hardware.runpod_gpu_id:
        if not settings.VIBEFLOW_PUBLIC_URL:
            return _unavailable(
                hardware,
                "its GPU provider is not fully set up yet",
                "RunPod is configured but VIBEFLOW_PUBLIC_URL is not: a pod needs this site's "
                "public address to report to.",
            )
        return Executor(RUNPOD)
    if settings.GPU_WORKERS:
        return Executor(GPU_QUEUE)
    if settings.RUNPOD_API_KEY:
        return _unavailable(
            hardware,
            "the GPU provider connected here does not offer it",
            f"RunPod does not offer {hardware.name} (no RunPod GPU id); self-hosted GPU workers "
            "(VIBEFLOW_GPU_WORKERS=1) could train it.",
            "Choose another GPU, or this server's CPU.",
        )
    return _unavailable(
        hardware,
        "no GPU provider is connected",
        "Set RUNPOD_API_KEY (and VIBEFLOW_PUBLIC_URL) to rent GPUs on RunPod, or run GPU workers "
        "(VIBEFLOW_GPU_WORKERS=1).",
    )
