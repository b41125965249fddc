"""Serving on GPU nodes and here, without Django: package a version, load it, health-check it.

The servers themselves are not ours: `transformers serve` on CPU (it loads local model
directories on demand by path) and `vllm serve --enable-lora` on GPUs (adapters loaded at run
time). This package prepares what they serve and talks to them over their HTTP APIs.
"""

from .merge import package_merged
from .server import ServerError, health_check, load_lora_adapter, load_model, server_alive

__all__ = [
    "ServerError",
    "health_check",
    "load_lora_adapter",
    "load_model",
    "package_merged",
    "server_alive",
]
