from __future__ import annotations

import re

from django import forms

from apps.datasets.models import DatasetVersion, VersionStatus

from .history import (
    ADAPTER_METHODS,
    LOCKED,
    HistoryRefused,
    MergeRequest,
    check_merge,
)
from .models import CONFIG_FIELDS, MergeMethod, Method, RunStatus, TrainingRun

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")

HELP = {
    "lora_r": "How much the model adapts. Higher = more capacity, slower and more memory. Typical 4–64; 8 suits 1K–10K examples.",
    "lora_alpha": "Scales the adapter's effect; usually twice the rank.",
    "lora_dropout": "Randomly drops adapter inputs while training to reduce overfitting; 0–0.1 is typical.",
    "target_modules": "Which layers get adapters, comma-separated (e.g. q_proj,v_proj).",
    "learning_rate": "Step size of each update. Too high diverges, too low learns nothing. LoRA: 1e-4 to 5e-4.",
    "batch_size": "Examples processed together on the device; bounded by memory.",
    "gradient_accumulation": "Batches summed before each update: effective batch = batch × this.",
    "epochs": "Passes over the training set. More can overfit small datasets.",
    "max_examples": "Train on at most this many examples, picked at random (the same ones every time); 0 uses them all. Fewer finishes sooner: a quick first run on a CPU uses it.",
    "warmup_steps": "Steps during which the learning rate ramps up from zero.",
    "weight_decay": "Pulls weights toward zero to reduce overfitting.",
    "optimizer": "How updates are computed; AdamW is the standard.",
    "max_seq_length": "Longer examples are truncated to this many tokens (and counted).",
    "packing": "Puts a batch's examples back to back with no padding, so no compute is spent on padding tokens. Each example still only sees itself. Off by default: without FlashAttention kernels it measured no faster on CPU and slower on an H100 (bench/results).",
}


class TrainingConfigForm(forms.ModelForm):
    class Meta:
        model = TrainingRun
        fields = list(CONFIG_FIELDS)
        help_texts = HELP

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset_version"].queryset = DatasetVersion.objects.filter(
            dataset__project=project, status=VersionStatus.READY
        ).select_related("dataset")
        self.fields["dataset_version"].label_from_instance = lambda v: (
            f"{v.dataset.name} v{v.number} ({v.train_count} train)"
        )
        self.fields["dataset_version"].required = False
        # Left empty (or absent, from a form saved before it existed) means every example.
        self.fields["max_examples"].required = False
        self.fields["learning_rate"].widget = forms.NumberInput(attrs={"step": "any"})
        self.fields["lora_dropout"].widget = forms.NumberInput(attrs={"step": "any"})
        self.fields["weight_decay"].widget = forms.NumberInput(attrs={"step": "any"})
        if self.instance.is_branch:
            # The parent's adapter fixes its base model and shape: what is posted for these is
            # ignored (disabled fields keep the instance's values), and only LoRA methods train it.
            parent = self.instance.parent
            for name in LOCKED:
                self.fields[name].disabled = True
                self.fields[
                    name
                ].help_text = f"Fixed by v{parent.number}'s adapter, which this version continues."
            self.fields["method"].choices = [
                c for c in self.fields["method"].choices if c[0] in ADAPTER_METHODS
            ]

    def clean(self):
        data = super().clean()
        if data.get("max_examples") is None and "max_examples" not in self.errors:
            data["max_examples"] = 0
        ranges = {
            "lora_r": (1, 256, "LoRA rank must be between 1 and 256."),
            "lora_alpha": (1, 1024, "LoRA alpha must be between 1 and 1024."),
            "lora_dropout": (0, 0.5, "Dropout must be between 0 and 0.5."),
            "learning_rate": (
                1e-6,
                1e-2,
                "A learning rate outside 0.000001–0.01 either learns nothing or diverges.",
            ),
            "batch_size": (1, 256, "Batch size must be between 1 and 256."),
            "gradient_accumulation": (1, 128, "Gradient accumulation must be between 1 and 128."),
            "epochs": (1, 50, "Epochs must be between 1 and 50."),
            "max_examples": (
                0,
                100_000_000,
                "Train on at most: 0 for every example, or how many to use.",
            ),
            "warmup_steps": (0, 100_000, "Warmup steps cannot be negative."),
            "weight_decay": (0, 1, "Weight decay must be between 0 and 1."),
            "max_seq_length": (
                32,
                131_072,
                "Max sequence length must be between 32 and 131,072 tokens.",
            ),
        }
        for name, (low, high, message) in ranges.items():
            if self.fields[name].disabled:
                continue  # fixed by the adapter a branch continues (a merge's may be larger)
            value = data.get(name)
            if value is not None and not low <= value <= high:
                self.add_error(name, message)
        modules = [m.strip() for m in (data.get("target_modules") or "").split(",") if m.strip()]
        if self.fields["target_modules"].disabled:
            pass  # the parent adapter's layers, as it recorded them
        elif not modules or not all(_MODULE.match(m) for m in modules):
            self.add_error(
                "target_modules", "List layer names separated by commas, like q_proj,v_proj."
            )
        else:
            data["target_modules"] = ",".join(modules)
        model, hardware, method = data.get("base_model"), data.get("hardware"), data.get("method")
        if model and hardware and method:
            if method == Method.QLORA and hardware.is_cpu:
                self.add_error(
                    "method", "QLoRA needs an NVIDIA GPU: choose a GPU, or LoRA on this CPU."
                )
            else:
                label = hardware.fit_label(model, method)
                if label == "needs QLoRA":
                    self.add_error(
                        "hardware",
                        f"{model.name} with {Method(method).label} does not fit {hardware.name}; QLoRA would.",
                    )
                elif label == "does not fit":
                    self.add_error(
                        "hardware",
                        f"{model.name} with {Method(method).label} does not fit {hardware.name}.",
                    )
            if data.get("max_seq_length") and data["max_seq_length"] > model.context_length:
                self.add_error(
                    "max_seq_length", f"{model.name} reads at most {model.context_length} tokens."
                )
        return data


class MergeForm(forms.Form):
    """Two of the project's versions, combined (history.merge)."""

    first = forms.ModelChoiceField(queryset=TrainingRun.objects.none(), label="First version")
    second = forms.ModelChoiceField(queryset=TrainingRun.objects.none(), label="Second version")
    method = forms.ChoiceField(choices=MergeMethod.choices, initial=MergeMethod.LINEAR)
    weight = forms.FloatField(
        initial=0.5,
        label="First version's weight",
        help_text="Between 0 and 1; the second version gets the rest.",
    )
    density = forms.FloatField(
        initial=0.5,
        required=False,
        help_text="TIES and DARE: the share of each version's changes kept (0-1).",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        versions = (
            project.runs.filter(
                status__in=[RunStatus.SUCCEEDED, RunStatus.STOPPED], method__in=ADAPTER_METHODS
            )
            .select_related("base_model")
            .order_by("number")
        )
        for name in ("first", "second"):
            self.fields[name].queryset = versions
            self.fields[name].label_from_instance = lambda r: f"v{r.number} ({r.base_model.name})"
            self.fields[name].error_messages["invalid_choice"] = (
                "Choose one of this project's trained LoRA versions."
            )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("density") is None:
            data["density"] = 0.5
        try:
            check_merge(self.request_for(data))
        except HistoryRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    @staticmethod
    def request_for(data) -> MergeRequest:
        return MergeRequest(
            data["first"], data["second"], data["method"], data["weight"], data["density"]
        )

    def error_sentence(self) -> str:
        for errors in self.errors.values():
            return errors[0]
        return "Check the merge's settings."
