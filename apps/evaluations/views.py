from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.training.access import get_run_for_user

from . import summary
from .access import get_evaluation_for_user
from .services import NotEvaluable, queue_for_run

FILES = ("metrics.json", "examples-comparison.json")
EXAMPLES_PER_PAGE = 5


@login_required
@require_POST
def evaluation_start(request, run_id):
    run, _ = get_run_for_user(request.user, run_id, write=True)
    try:
        evaluation = queue_for_run(run, request.user)
    except NotEvaluable as exc:
        messages.error(request, str(exc))
        return redirect("run_config", run_id=run.pk)
    return redirect("evaluation_detail", evaluation_id=evaluation.pk)


def _context(evaluation, membership):
    context = {"evaluation": evaluation, "project": evaluation.project, "membership": membership}
    if evaluation.result:
        strengths, weaknesses = summary.observations(evaluation.result)
        context |= {
            "rows": summary.rows(evaluation.result),
            "verdict": summary.verdict(evaluation.result),
            "strengths": strengths,
            "weaknesses": weaknesses,
            "judge_rows": summary.judge_rows(evaluation.result),
            "problems": summary.problems(evaluation),
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
    """Side by side (spec 5.4): input, reference, base and tuned answers, paged; ?worse=1 filters."""
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
