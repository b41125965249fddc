"""What the GPU is doing, for the metrics panel: memory used/total and utilisation.

nvidia-ml-py (the `gpu` extra) reads the device as nvidia-smi does, so memory held by
other processes counts too; without it, torch's own view of free/total memory is used
and utilisation is left out rather than guessed.
"""

from __future__ import annotations

_GIB = 1024**3


class GpuProbe:
    def __init__(self, device_index: int = 0):
        self.device_index = device_index
        self._handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        except Exception:  # not installed, or no driver library: fall back to torch
            self._nvml = None

    def sample(self) -> dict:
        if self._handle is not None:
            memory = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
            rates = self._nvml.nvmlDeviceGetUtilizationRates(self._handle)
            return {
                "gpu_memory_used": round(memory.used / _GIB, 2),
                "gpu_memory_total": round(memory.total / _GIB, 2),
                "gpu_utilization": float(rates.gpu),
            }
        import torch

        free, total = torch.cuda.mem_get_info(self.device_index)
        return {
            "gpu_memory_used": round((total - free) / _GIB, 2),
            "gpu_memory_total": round(total / _GIB, 2),
        }


def probe() -> GpuProbe | None:
    import torch

    return GpuProbe() if torch.cuda.is_available() else None
