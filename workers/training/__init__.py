"""The fine-tuning engine: a JobSpec in, events through a Reporter, a Result out. No Django here."""

from .engine import OutOfGpuMemory, QLoRANeedsCuda, train
from .reporter import ListReporter, Reporter
from .spec import Hyperparameters, JobSpec, ModelSource, Result

__all__ = [
    "Hyperparameters",
    "JobSpec",
    "ListReporter",
    "ModelSource",
    "OutOfGpuMemory",
    "QLoRANeedsCuda",
    "Reporter",
    "Result",
    "train",
]
