"""No GPU: the agent, the draft it makes and the configuration page agree on a first run of
about ten minutes, and the longer run is one click away on both."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.brainstorm.models import Message
from apps.brainstorm.recommender import duration_range
from apps.datasets.models import DatasetVersion
from apps.datasets.tasks import analyse_version
from apps.training.configuration import quote
from apps.training.estimates import FIRST_RUN_SECONDS
from apps.training.models import TrainingRun

pytestmark = pytest.mark.django_db

# About 1,000 support conversations of ~3,900 characters (about a thousand tokens each): three
# epochs of them take hours on a CPU.
REPLY = (
    "Thanks for writing in. Open Settings, then Billing, and choose the plan you want; the change "
    "applies at once and the next invoice is prorated. If the button is greyed out, ask an owner "
    "of the team to do it or to give you the billing role. "
) * 16
LONG_CSV = "question,answer\n" + "".join(
    f'"Ticket {i}: how do I change plan number {i} for team {i * 7} without losing data?",'
    f'"Ticket {i}. {REPLY}"\n'
    for i in range(1250)  # a fifth goes to the test split: about 1,000 to train on
)


@pytest.fixture
def version(login, owner, project):
    login(owner).post(
        reverse("dataset_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("support.csv", LONG_CSV.encode())},
    )
    v = DatasetVersion.objects.get(dataset__project=project)
    analyse_version(str(v.pk))
    v.refresh_from_db()
    assert v.is_ready and 900 <= v.train_count <= 1100
    return v


def test_about_1000_examples_no_gpu_gets_a_ten_minute_first_run_everywhere(
    login, owner, project, version
):
    client = login(owner)
    client.post(
        reverse("agent_send", args=[project.pk]),
        {"text": "about 1,000 examples, no GPU"},
        headers={"HX-Request": "true"},
    )
    reply = Message.objects.get(role="assistant")
    rec = reply.recommendation
    assert rec["hardware"] == "cpu" and rec["epochs"] == 1
    assert 0 < rec["max_examples"] < version.train_count  # a sample of the examples

    client.post(reverse("agent_start", args=[reply.pk]))
    run = TrainingRun.objects.get(project=project)
    assert run.dataset_version == version
    assert (run.epochs, run.max_examples) == (rec["epochs"], rec["max_examples"])

    # The draft's estimate is the configuration page's function on the draft's settings...
    e = quote(version, run.base_model, run.hardware, run.method, run.epochs, run.max_examples)
    e = e.estimate
    # ...about ten minutes, within the estimate's own range
    assert e.seconds <= FIRST_RUN_SECONDS and e.seconds_low <= FIRST_RUN_SECONDS <= e.seconds_high
    assert rec["first_run"]["seconds"] == round(e.seconds, 1)
    # ...and the agent said the same time, in the page's words.
    said = duration_range(e)
    assert (
        f"over {run.max_examples:,} of the {version.train_count:,} examples takes about {said}"
        in (reply.text)
    )
    assert "in minutes" not in reply.text and "assumption" in reply.text

    longer = quote(version, run.base_model, run.hardware, run.method, 3).estimate
    assert longer.seconds > 6 * FIRST_RUN_SECONDS  # what a longer run costs here: hours
    assert (
        f"all {version.train_count:,} examples × 3 epochs, takes about {duration_range(longer)}"
        in (reply.text)
    )

    html = client.get(reverse("run_config", args=[run.pk])).content.decode()
    assert f'<p class="big">{said}</p>' in html  # the page's time estimate
    assert "Assumes this CPU trains about 458 tokens a second" in html
    assert (
        f"Quick first run: {run.max_examples:,} of the {version.train_count:,} examples × 1 epoch:"
        f" about {said}" in html
    )
    assert (
        f"Longer run: all {version.train_count:,} examples × 3 epochs: about {duration_range(longer)}"
        in html
    )
    assert "Usually a better fit" in html and "Use the longer run" in html

    # One click: the longer run, priced by the same function.
    client.post(reverse("run_size", args=[run.pk]), {"size": "longer"})
    run.refresh_from_db()
    assert (run.epochs, run.max_examples) == (3, 0)
    html = client.get(reverse("run_config", args=[run.pk])).content.decode()
    assert f'<p class="big">{duration_range(longer)}</p>' in html
    assert "Use the quick first run" in html and "Use the longer run" not in html
    client.post(reverse("run_size", args=[run.pk]), {"size": "quick"})
    run.refresh_from_db()
    assert (run.epochs, run.max_examples) == (rec["epochs"], rec["max_examples"])


def test_the_agent_offers_the_longer_run_in_one_click(login, owner, project, version):
    client = login(owner)
    client.post(
        reverse("agent_send", args=[project.pk]),
        {"text": "about 1,000 examples, no GPU"},
        headers={"HX-Request": "true"},
    )
    reply = Message.objects.get(role="assistant")
    html = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "Start the longer run (all" in html
    client.post(reverse("agent_start", args=[reply.pk]), {"size": "longer"})
    run = TrainingRun.objects.get(project=project)
    assert (run.epochs, run.max_examples) == (3, 0)
    assert run.recommendation == reply.recommendation  # Reset to Recommended: the quick run


def test_viewers_cannot_resize_and_gpu_runs_have_no_sizes(login, owner, viewer, project, version):
    from apps.catalog.models import BaseModel, Hardware

    login(owner).post(reverse("run_new", args=[project.pk]))
    run = TrainingRun.objects.get(project=project)
    assert run.hardware.is_cpu and run.max_examples > 0  # "Configure training" sizes it too
    assert (
        login(viewer).post(reverse("run_size", args=[run.pk]), {"size": "longer"}).status_code
        == 403
    )
    TrainingRun.objects.filter(pk=run.pk).update(
        hardware=Hardware.objects.get(slug="a100-40gb"),
        base_model=BaseModel.objects.get(slug="mistral-7b-instruct"),
        max_examples=0,
        epochs=2,
    )
    login(owner).post(reverse("run_size", args=[run.pk]), {"size": "quick"})
    run.refresh_from_db()
    assert (run.epochs, run.max_examples) == (2, 0)
