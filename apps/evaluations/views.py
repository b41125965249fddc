from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.projects.access import get_project_for_user
from apps.training.access import get_run_for_user
from workers.evaluation.benchmarks import BENCHMARKS

from . import summary
from .access import get_evaluation_for_user
from .forms import EvaluationStartForm
from .models import EvalStatus, Evaluation
from .services import NotEvaluable, queue_for_base_model, queue_for_run, test_sets

FILES = ("metrics.json", "examples-comparison.json", "benchmark-results.json")
EXAMPLES_PER_PAGE = 5


@login_required
@require_POST
def evaluation_start(request, run_id):
    run, _ = get_run_for_user(request.user, run_id, write=True)
    form = EvaluationStartForm(request.POST, project=run.project)
    if not form.is_valid():
        messages.error(request, form.error_sentence())
        return redirect("run_config", run_id=run.pk)
    version, chosen = form.cleaned_data["dataset_version"], form.cleaned_data["benchmarks"]
    try:
        evaluation = queue_for_run(run, request.user, version, chosen)
    except NotEvaluable as exc:
        messages.error(request, str(exc))
        return redirect("run_config", run_id=run.pk)
    return redirect("evaluation_detail", evaluation_id=evaluation.pk)


def _context(evaluation, membership):
    context = {
        "evaluation": evaluation,
        "project": evaluation.project,
        "membership": membership,
        "test_sets": test_sets(evaluation.project) if evaluation.run_id else [],
        "benchmark_choices": BENCHMARKS.values(),
    }
    if evaluation.result:
        strengths, weaknesses = summary.observations(evaluation.result)
        context |= {
            "rows": summary.rows(evaluation.result),
            "verdict": summary.verdict(evaluation.result),
            "strengths": strengths,
            "weaknesses": weaknesses,
            "judge_rows": summary.judge_rows(evaluation.result),
            "problems": summary.problems(evaluation),
            "errors": summary.error_analysis(_examples(evaluation)),
        }
    return context


@login_required
@require_GET
def evaluation_detail(request, evaluation_id):
    evaluation, membership = get_evaluation_for_user(request.user, evaluation_id)
    return render(request, "evaluations/detail.html", _context(evaluation, membership))


@login_required
@require_GET
def evaluation_progress(request, evaluation_id):
    """Polled by the page while the evaluation runs; reloads the page once it ends."""
    evaluation, membership = get_evaluation_for_user(request.user, evaluation_id)
    response = render(request, "evaluations/_progress.html", _context(evaluation, membership))
    if not evaluation.is_active:
        response["HX-Refresh"] = "true"
    return response


def _examples(evaluation) -> list[dict]:
    path = evaluation.folder / "examples-comparison.json"
    return json.loads(path.read_text()) if path.is_file() else []


@login_required
@require_GET
def evaluation_examples(request, evaluation_id):
    """Side by side (docs/PRODUCT.md 5.4): input, reference, base and tuned answers, paged; ?worse=1 filters."""
    evaluation, membership = get_evaluation_for_user(request.user, evaluation_id)
    examples = _examples(evaluation)
    worse = request.GET.get("worse") == "1"
    if worse:
        examples = [e for e in examples if e.get("tuned_f1", 0) < e.get("base_f1", 0)]
    page = Paginator(examples, EXAMPLES_PER_PAGE).get_page(request.GET.get("page"))
    context = _context(evaluation, membership) | {"page": page, "worse": worse}
    template = "evaluations/_examples.html" if request.htmx else "evaluations/examples.html"
    return render(request, template, context)


@login_required
@require_GET
def evaluation_file(request, evaluation_id, name):
    evaluation, _ = get_evaluation_for_user(request.user, evaluation_id)
    if name not in FILES:
        raise Http404
    path = evaluation.folder / name
    if not path.is_file():
        return HttpResponse("This evaluation has not written that file.", status=404)
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name)


@login_required
@require_GET
def evaluation_compare(request, project_id):
    """Two versions side by side (?a=&b= evaluation ids of this project), on the same test set."""
    project, membership = get_project_for_user(request.user, project_id)
    finished = list(
        Evaluation.objects.filter(project=project, status=EvalStatus.SUCCEEDED, run__isnull=False)
        .select_related("run", "dataset_version__dataset")
        .order_by("run__number", "-created_at")
    )
    by_id = {str(e.pk): e for e in finished}
    a, b = by_id.get(request.GET.get("a", "")), by_id.get(request.GET.get("b", ""))
    context = {
        "project": project,
        "membership": membership,
        "evaluations": finished,
        "a": a,
        "b": b,
        "rows": summary.compare_rows(a.result, b.result) if a and b else [],
        "same_test_set": bool(a and b and a.dataset_version_id == b.dataset_version_id),
    }
    return render(request, "evaluations/compare.html", context)


@login_required
@require_POST
def evaluation_start_base(request, evaluation_id):
    """From an evaluation's page: its base model alone, on the test set chosen there."""
    evaluation, _ = get_evaluation_for_user(request.user, evaluation_id, write=True)
    form = EvaluationStartForm(request.POST, project=evaluation.project, require_test_set=True)
    if not form.is_valid():
        messages.error(request, form.error_sentence())
        return redirect("evaluation_detail", evaluation_id=evaluation.pk)
    version = form.cleaned_data["dataset_version"]
    base = queue_for_base_model(evaluation.project, evaluation.base_model, version, request.user)
    return redirect("evaluation_detail", evaluation_id=base.pk)
