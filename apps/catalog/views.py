from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from . import vram
from .executors import executor_for
from .filters import CatalogFilter
from .models import BaseModel, Hardware

MAX_COMPARE = 3


@login_required
@require_GET
def model_list(request):
    form = CatalogFilter(request.GET or None)
    models = form.apply(BaseModel.objects.all())
    template = "catalog/_model_table.html" if request.htmx else "catalog/model_list.html"
    return render(request, template, {"form": form, "models": models})


def _fits(model: BaseModel, hardware: list[Hardware]) -> list[dict]:
    """Whether the model fits each GPU's memory, and whether that GPU can be used here at all."""

    return [
        {
            "hardware": h,
            "labels": {m: h.fit_label(model, m) for m in vram.METHODS},
            "runner": executor_for(h),
        }
        for h in hardware
    ]


@login_required
@require_GET
def model_detail(request, slug):
    model = get_object_or_404(BaseModel, slug=slug)
    hardware = list(Hardware.objects.all())
    return render(
        request,
        "catalog/model_detail.html",
        {
            "model": model,
            "vram": model.vram(),
            "fits": _fits(model, hardware),
            "hardware": hardware,
            "multiples": vram.SIZE_MULTIPLE,
            "overhead": vram.RUNTIME_OVERHEAD_GB,
        },
    )


@login_required
@require_GET
def model_compare(request):
    slugs = [s for s in dict.fromkeys(request.GET.getlist("m")) if s][:MAX_COMPARE]
    models = list(BaseModel.objects.filter(slug__in=slugs))
    models.sort(key=lambda m: slugs.index(m.slug))
    error = None
    if len(models) < 2:
        error = "Pick two or three models to compare."
    hardware = list(Hardware.objects.all())
    columns = [{"model": m, "vram": m.vram(), "fits": _fits(m, hardware)} for m in models]
    return render(
        request,
        "catalog/model_compare.html",
        {
            "columns": columns,
            "error": error,
            "all_models": BaseModel.objects.all(),
            "slots": slugs + [""] * (MAX_COMPARE - len(slugs)),
            "hardware": hardware,
            "methods": vram.METHODS,
        },
        status=400 if error and slugs else 200,
    )


@login_required
@require_GET
def hardware_list(request):

    rows = [(h, executor_for(h)) for h in Hardware.objects.all()]
    return render(request, "catalog/hardware_list.html", {"rows": rows})
