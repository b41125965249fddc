from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.projects.access import get_project_for_user

from . import analysis, discovery, preview
from .access import get_version_for_user
from .compare import compare_reports
from .forms import MappingForm
from .intake import start_version
from .models import JUST_ACCEPTED_SESSION_KEY, Dataset, DatasetVersion, VersionStatus
from .quality import ISSUE_LABELS, language_name
from .quality import LANGUAGE_NAMES as LANGUAGE_CHOICES
from .samples import SAMPLES
from .storage import HashingUploadHandler, store, store_path
from .tasks import analyse_version

FIXES = {
    "remove_missing": (["missing"], "Removed {n} rows with an empty input or output"),
    "remove_duplicates": (["duplicate"], "Removed {n} duplicate rows"),
    "drop_malformed": (["malformed"], "Dropped {n} rows that could not be read"),
    "remove_placeholders": (["placeholder"], "Removed {n} rows with placeholder text"),
    "remove_templates": (["template"], "Removed {n} rows with unfilled template variables"),
}


@login_required
@require_GET
def dataset_list(request, project_id):
    project, membership = get_project_for_user(request.user, project_id)
    return _list_page(request, project, membership)


def _list_page(request, project, membership, status=200):
    context = {
        "project": project,
        "membership": membership,
        "datasets": project.datasets.prefetch_related("versions"),
        "samples": SAMPLES,
        "max_mb": _max_mb(),
    }
    return render(request, "datasets/dataset_list.html", context, status=status)


def _max_mb() -> int:
    return settings.DATASET_MAX_UPLOAD_BYTES // (1024 * 1024)


def _start(project, user, stored, name: str, reason: str) -> DatasetVersion:
    return start_version(project, user, stored, name, reason)


def _go(request, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@csrf_exempt
@login_required
@require_POST
def upload(request, project_id):
    # Our handler must be in place before anything reads the body, CSRF included.
    request.upload_handlers = [HashingUploadHandler(request)]
    return _upload(request, project_id)


@csrf_protect
def _upload(request, project_id):
    project, membership = get_project_for_user(request.user, project_id, write=True)
    files = request.FILES.getlist("file")
    if getattr(request, "upload_too_large", False):
        message = f"The file is larger than the {_max_mb()} MB limit."
        return _upload_error(request, project, membership, message, 413)
    if len(files) != 1:
        for f in files:
            f.discard()
        return _upload_error(request, project, membership, "Choose one file to upload.", 400)
    upload = files[0]
    if upload.size == 0:
        upload.discard()
        return _upload_error(request, project, membership, "The file is empty.", 400)
    stored = store(upload)
    version = _start(project, request.user, stored, upload.name, f"Uploaded {upload.name}")
    return _go(request, reverse("version_detail", args=[version.pk]))


def _upload_error(request, project, membership, message: str, status: int):
    if request.htmx:
        return HttpResponse(
            f'<p class="message message-error" role="alert">{message}</p>', status=status
        )
    messages.error(request, message)
    return _list_page(request, project, membership, status=status)


@login_required
@require_POST
def import_sample(request, project_id, sample):
    project, _ = get_project_for_user(request.user, project_id, write=True)
    if sample not in SAMPLES:
        raise Http404
    info = SAMPLES[sample]
    stored = store_path(info["file"])
    version = _start(
        project, request.user, stored, info["file"].name, f"Imported the sample “{info['title']}”"
    )
    return _go(request, reverse("version_detail", args=[version.pk]))


def _version_context(version, membership):
    report = version.report or {}
    proposal = version.proposal or {}
    mapping = version.mapping or proposal
    form = None
    if version.is_ready and version.columns and mapping.get("kind") == "columns":
        form = MappingForm(
            columns=version.columns,
            initial={
                "inputs": mapping.get("inputs"),
                "output": mapping.get("output"),
                "system": mapping.get("system") or "",
                "template": mapping.get("template"),
            },
        )
    return {
        "version": version,
        "dataset": version.dataset,
        "project": version.dataset.project,
        "membership": membership,
        "report": report,
        "mapping": mapping,
        "proposal": proposal,
        "form": form,
        "versions": version.dataset.versions.order_by("-number"),
        "language_name": language_name(report.get("language")),
        "language_choices": LANGUAGE_CHOICES,
        "issue_labels": ISSUE_LABELS,
        "manual": bool(proposal)
        and proposal.get("confidence", 1) < 0.6
        and not version.parent_id
        and mapping is proposal,
        # The variables to offer to fill, read from the flagged rows only when there are some.
        "template_variables": analysis.template_variables(version.folder)
        if version.is_ready and report.get("issue_counts", {}).get("template")
        else [],
    }


@login_required
@require_GET
def version_detail(request, version_id):
    version, membership = get_version_for_user(request.user, version_id)
    context = _version_context(version, membership)
    if version.is_ready:
        context.update(
            page=preview.page_rows(version.folder), issue=None, sort="row", sorts=preview.SORTS
        )
        # Compare with the parent by default, or with any ready version of the same dataset.
        others = version.dataset.versions.filter(status=VersionStatus.READY).exclude(pk=version.pk)
        chosen = request.GET.get("compare")
        other = others.filter(pk=chosen).first() if _is_uuid(chosen) else None
        if other is None and version.parent is not None and version.parent.is_ready:
            other = version.parent
        if other is not None:
            context.update(
                compare_with=other, comparison=compare_reports(other.report, version.report)
            )
        context["compare_choices"] = others
    return render(request, "datasets/version_detail.html", context)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@login_required
@require_GET
def version_status(request, version_id):
    version, membership = get_version_for_user(request.user, version_id)
    if version.status != VersionStatus.ANALYSING and request.htmx:
        # Analysis finished: reload the whole page to show the report.
        return HttpResponseClientRedirect(reverse("version_detail", args=[version.pk]))
    return render(request, "datasets/_progress.html", {"version": version})


@login_required
@require_GET
def version_rows(request, version_id):
    version, membership = get_version_for_user(request.user, version_id)
    if not version.is_ready:
        raise Http404
    issue = request.GET.get("issue") or None
    sort = request.GET.get("sort") if request.GET.get("sort") in preview.SORTS else "row"
    try:
        page_number = int(request.GET.get("page", 1))
    except ValueError:
        page_number = 1
    page = preview.page_rows(version.folder, page=page_number, issue=issue, sort=sort)
    context = {
        "version": version,
        "page": page,
        "issue": issue,
        "sort": sort,
        "sorts": preview.SORTS,
        "issue_labels": ISSUE_LABELS,
        "membership": membership,
    }
    template = "datasets/_rows.html" if request.htmx else "datasets/version_rows.html"
    return render(request, template, context)


def _refuse_unless_ready(request, version):
    """Changes start from a finished analysis; until then, say so and go back to the version."""
    if version.is_ready:
        return None
    messages.error(request, "Wait for the analysis to finish first.")
    return redirect("version_detail", version_id=version.pk)


def _derive(
    request, version, *, reason: str, drop: dict | None = None, mapping: dict | None = None
):
    child = DatasetVersion.create_next(
        version.dataset,
        parent=version,
        source=version.source,
        original_name=version.original_name,
        reason=reason,
        created_by=request.user,
        drop=drop or {},
        mapping=mapping or {},
    )
    analyse_version.delay_on_commit(str(child.pk))
    return child


@login_required
@require_POST
def version_mapping(request, version_id):
    version, membership = get_version_for_user(request.user, version_id, write=True)
    if (refusal := _refuse_unless_ready(request, version)) is not None:
        return refusal
    form = MappingForm(request.POST, columns=version.columns)
    if not form.is_valid():
        context = _version_context(version, membership)
        context.update(
            form=form,
            manual=True,
            page=preview.page_rows(version.folder),
            issue=None,
            sort="row",
            sorts=preview.SORTS,
        )
        return render(request, "datasets/version_detail.html", context, status=400)
    mapping = form.mapping()
    child = _derive(request, version, reason="Changed the column mapping", mapping=mapping)
    return redirect("version_detail", version_id=child.pk)


@login_required
@require_POST
def version_fix(request, version_id):
    version, _ = get_version_for_user(request.user, version_id, write=True)
    if (refusal := _refuse_unless_ready(request, version)) is not None:
        return refusal
    action = request.POST.get("action")
    counts = (version.report or {}).get("issue_counts", {})
    if action in FIXES:
        issues, text = FIXES[action]
        n = sum(counts.get(i, 0) for i in issues)
        if n == 0:
            messages.info(request, "Nothing to remove: no row has that problem.")
            return redirect("version_detail", version_id=version.pk)
        child = _derive(request, version, reason=text.format(n=n), drop={"issues": issues})
    elif action == "fill_templates":
        fill, problem = _fill_values(request, version)
        if problem:
            messages.error(request, problem)
            return redirect("version_detail", version_id=version.pk)
        names = ", ".join("{{" + name + "}}" for name in fill)
        child = _derive(request, version, reason=f"Filled {names}", drop={"fill": fill})
    elif action == "delete_rows":
        try:
            rows = sorted({int(i) for i in request.POST.getlist("row")})
        except ValueError:
            rows = []
        rows = [i for i in rows if 0 <= i < version.total]
        if not rows:
            messages.error(request, "Select at least one row to delete.")
            return redirect("version_detail", version_id=version.pk)
        child = _derive(
            request,
            version,
            reason=f"Deleted {len(rows)} row{'s' if len(rows) != 1 else ''} by hand",
            drop={"rows": rows},
        )
    else:
        messages.error(request, "Unknown fix.")
        return redirect("version_detail", version_id=version.pk)
    messages.success(request, f"Creating version {child.number}: {child.reason.lower()}.")
    return _go(request, reverse("version_detail", args=[child.pk]))


MAX_FILL_CHARS = 200


def _fill_values(request, version) -> tuple[dict[str, str], str]:
    """The values typed for the version's template variables (``fill-<name>``), or why not."""
    known = {name for name, _ in analysis.template_variables(version.folder)}
    fill = {}
    for key, value in request.POST.items():
        if not key.startswith("fill-"):
            continue
        name, value = key.removeprefix("fill-"), value.strip()
        if name not in known:
            return {}, "That variable is not in this version; reload the page."
        if not value:
            continue  # left empty: that variable stays as it is
        if len(value) > MAX_FILL_CHARS:
            return {}, f"A value can be at most {MAX_FILL_CHARS} characters."
        if "{{" in value or "}}" in value:
            return {}, "A value cannot hold template braces itself."
        fill[name] = value
    if not fill:
        return {}, "Type a value for at least one variable."
    return fill, ""


@login_required
@require_POST
def version_accept(request, version_id):
    version, _ = get_version_for_user(request.user, version_id, write=True)
    if (refusal := _refuse_unless_ready(request, version)) is not None:
        return refusal
    DatasetVersion.objects.filter(pk=version.pk, accepted_at__isnull=True).update(
        accepted_at=timezone.now()
    )
    request.session[JUST_ACCEPTED_SESSION_KEY] = str(version.pk)
    messages.success(request, f"Version {version.number} is ready for training.")
    return redirect("version_detail", version_id=version.pk)


@login_required
@require_GET
def discover(request, project_id):
    project, membership = get_project_for_user(request.user, project_id)
    query = (request.GET.get("q") or "").strip()[:100]
    results, error = [], None
    if query:
        try:
            results = discovery.search(query)
        except discovery.DiscoveryUnavailable as exc:
            error = str(exc)
    context = {
        "project": project,
        "membership": membership,
        "query": query,
        "results": results,
        "error": error,
        "samples": SAMPLES,
    }
    template = "datasets/_discover_results.html" if request.htmx else "datasets/discover.html"
    return render(request, template, context)


@login_required
@require_POST
def hub_import(request, project_id):
    project, membership = get_project_for_user(request.user, project_id, write=True)
    repo_id = (request.POST.get("repo_id") or "").strip()
    error = None
    if not discovery.valid_repo_id(repo_id):
        error = (
            "That is not a Hub dataset id. It looks like owner/name, e.g. “acme/support-replies”."
        )
    else:
        try:
            info = discovery.describe(repo_id)
        except discovery.DiscoveryUnavailable as exc:
            error = str(exc)
        else:
            wanted = request.POST.get("filename")
            chosen = (
                next((f for f in info.data_files if f.name == wanted), None)
                if wanted
                else discovery.pick_file(info)
            )
            if chosen is None:
                error = (
                    f"{repo_id} has no CSV, JSON, JSONL or Parquet file under the "
                    f"{_max_mb()} MB limit that we can import."
                )
            elif (chosen.size or 0) > settings.DATASET_MAX_UPLOAD_BYTES:
                error = f"{chosen.name} is larger than the {_max_mb()} MB limit."
    if error:
        context = {
            "project": project,
            "membership": membership,
            "query": repo_id,
            "results": [],
            "error": error,
            "samples": SAMPLES,
        }
        return render(request, "datasets/discover.html", context, status=400)
    dataset = Dataset.objects.create(project=project, name=repo_id[:200], created_by=request.user)
    version = DatasetVersion.create_next(
        dataset,
        source=None,
        hub_source={"repo_id": repo_id, "filename": chosen.name},
        original_name=chosen.name.rsplit("/", 1)[-1],
        reason=f"Imported {chosen.name} from {repo_id} on the Hub",
        created_by=request.user,
    )
    analyse_version.delay_on_commit(str(version.pk))
    return _go(request, reverse("version_detail", args=[version.pk]))


@login_required
@require_POST
def version_language(request, version_id):
    version, _ = get_version_for_user(request.user, version_id, write=True)
    code = request.POST.get("language", "")
    if code not in LANGUAGE_CHOICES:
        messages.error(request, "Choose one of the listed languages.")
        return redirect("version_detail", version_id=version.pk)
    if (refusal := _refuse_unless_ready(request, version)) is not None:
        return refusal
    dataset = version.dataset
    dataset.expected_language = code
    dataset.save(update_fields=["expected_language"])
    child = _derive(
        request,
        version,
        reason=f"Expected language set to {language_name(code)}",
        mapping=version.mapping,
    )
    return redirect("version_detail", version_id=child.pk)
