"""A small dataset and a run made through the pages, as a user makes them."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.datasets.models import DatasetVersion
from apps.datasets.tasks import analyse_version
from apps.training.models import TrainingRun

# 10 rows: 8 train, 2 test; at batch 4 that is 2 steps (and one checkpoint) per epoch.
SMALL_CSV = b"question,answer\n" + b"".join(
    f"How do I do task number {i}?,Open the menu and pick task {i} then press save.\n".encode()
    for i in range(10)
)


def draft_run(client, project, csv: bytes = SMALL_CSV, **fields) -> TrainingRun:
    """Upload ``csv`` (SMALL_CSV), analyse it here, and make a draft run from the
    recommendation."""
    client.post(
        reverse("dataset_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("small.csv", csv)},
    )
    analyse_version(str(DatasetVersion.objects.get(dataset__project=project).pk))
    client.post(reverse("run_new", args=[project.pk]))
    run = TrainingRun.objects.get(project=project)
    TrainingRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run
