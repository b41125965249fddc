"""Dataset pages: upload, analysis by a real worker, fixes as new versions, and isolation."""

import hashlib
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.datasets.models import Dataset, DatasetVersion, StoredFile, VersionStatus
from apps.datasets.preview import iter_rows
from apps.datasets.samples import SAMPLES
from apps.datasets.tasks import analyse_version

SUPPORT = SAMPLES["customer-support"]["file"]


def tmp_files():
    folder = Path(settings.DATA_DIR) / "blobs" / "tmp"
    return list(folder.iterdir()) if folder.exists() else []


def wait_until_done(version, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if version.status != VersionStatus.ANALYSING:
            return version
        time.sleep(0.2)
    raise AssertionError(f"analysis still running: {version.stage} {version.progress}")


def upload(client, project, name, content):
    return client.post(
        reverse("dataset_upload", args=[project.pk]), {"file": SimpleUploadedFile(name, content)}
    )


@pytest.fixture
def ready_version(db, login, owner, project):
    """The support sample imported through the view and analysed by calling the task function."""
    login(owner).post(reverse("dataset_sample", args=[project.pk, "customer-support"]))
    version = DatasetVersion.objects.get(dataset__project=project)
    assert analyse_version(str(version.pk)) == "ready"
    version.refresh_from_db()
    return version


def test_an_upload_is_analysed_by_the_worker(client, owner, project, celery_worker_thread):
    client.force_login(owner)
    content = SUPPORT.read_bytes()
    response = upload(client, project, "support.csv", content)
    version = DatasetVersion.objects.get(dataset__project=project)
    assert response.url == reverse("version_detail", args=[version.pk])

    version = wait_until_done(version)
    assert version.status == VersionStatus.READY, version.error
    assert version.total == 300 and version.train_count + version.test_count == 298
    assert version.mapping["inputs"] == ["customer_message"]
    assert (version.folder / "train.jsonl").exists()

    stored = version.source
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.path.read_bytes() == content
    assert tmp_files() == []

    html = client.get(reverse("version_detail", args=[version.pk])).content.decode()
    assert "Column Detected: “customer_message” → Input Text" in html
    assert "Not needed for training" in html
    assert "Duplicates:" in html and "Remove Duplicates" in html


def test_identical_bytes_are_stored_once(login, owner, project):
    client = login(owner)
    upload(client, project, "a.csv", b"question,answer\nhi?,hello\n")
    upload(client, project, "b.csv", b"question,answer\nhi?,hello\n")
    assert Dataset.objects.count() == 2
    assert StoredFile.objects.count() == 1


@pytest.mark.parametrize("content", [b""])
def test_an_empty_file_is_refused(login, owner, project, content):
    response = upload(login(owner), project, "empty.csv", content)
    assert response.status_code == 400
    assert "The file is empty." in response.content.decode()
    assert not Dataset.objects.exists() and not StoredFile.objects.exists()
    assert tmp_files() == []


def test_no_file_is_refused(login, owner, project):
    response = login(owner).post(
        reverse("dataset_upload", args=[project.pk]), {}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert "Choose one file" in response.content.decode()


def test_an_oversized_upload_leaves_nothing(login, owner, project, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 1024
    response = upload(login(owner), project, "big.csv", b"q,a\n" + b"x,y\n" * 1000)
    assert response.status_code == 413
    assert "larger than the" in response.content.decode()
    assert not Dataset.objects.exists() and not StoredFile.objects.exists()
    assert tmp_files() == []


def test_a_zip_renamed_csv_fails_with_a_sentence(login, owner, project):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("inner.csv", "q,a\n1,2\n")
    upload(login(owner), project, "data.csv", buffer.getvalue())
    version = DatasetVersion.objects.get()
    assert analyse_version(str(version.pk)) == "failed"
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED
    assert "ZIP archive" in version.error
    assert not version.folder.exists()


def test_rows_nested_too_deep_fail_with_a_sentence_not_unexpectedly(login, owner, project):
    deep = b'{"question": ' + b"[" * 10_000 + b"1" + b"]" * 10_000 + b', "answer": "x"}\n'
    good = b'{"question": "Where is my order?", "answer": "It left the warehouse today."}\n'
    client = login(owner)
    upload(client, project, "only.jsonl", deep)
    upload(client, project, "mixed.jsonl", good + deep + good.replace(b"today", b"yesterday"))
    only, mixed = DatasetVersion.objects.order_by("created_at")
    # A file of nothing but such a row says what is wrong with it.
    assert analyse_version(str(only.pk)) == "failed"
    only.refresh_from_db()
    assert only.error == (
        "No row of the file could be read "
        "(line 1: nests objects or lists more than 100 levels deep; flatten it)."
    )
    # Among readable rows it is one unreadable row, and the rest is analysed.
    assert analyse_version(str(mixed.pk)) == "ready"
    mixed.refresh_from_db()
    assert (mixed.total, mixed.report["malformed"][0]["line"]) == (3, 2)


def test_a_field_name_holding_a_nul_never_reaches_the_database(login, owner, project):
    # PostgreSQL's jsonb refuses \u0000: the version's column list once carried it, the task's
    # final write raised and the version stayed "Analysing" for ever.
    good = b'{"question": "Where is my order?", "answer": "It left the warehouse today."}\n'
    hostile = b'{"ques\\u0000tion": "a", "question": "Is it late?", "answer": "No."}\n'
    upload(login(owner), project, "nul.jsonl", hostile + good * 20)
    version = DatasetVersion.objects.get(dataset__project=project)
    assert analyse_version(str(version.pk)) == "ready"
    version.refresh_from_db()
    assert version.columns == ["question", "answer"]
    assert version.total == 21
    # A JSON wrapper's key is named in a notice of the report (jsonb too).
    wrapped = b'{"da\\u0000ta": [' + b",".join([good.strip()] * 20) + b"]}"
    upload(login(owner), project, "nul.json", wrapped)
    version = DatasetVersion.objects.get(dataset__project=project, original_name="nul.json")
    assert analyse_version(str(version.pk)) == "ready"
    version.refresh_from_db()
    assert version.total == 20


def test_a_redelivered_analysis_does_nothing(ready_version):
    assert analyse_version(str(ready_version.pk)) == "skipped"


def test_the_rows_page_filters_sorts_and_pages(login, owner, ready_version):
    client = login(owner)
    url = reverse("version_rows", args=[ready_version.pk])
    html = client.get(url, {"issue": "placeholder"}).content.decode()
    assert "1 row" in html and "???" in html
    html = client.get(
        url, {"sort": "score", "page": "999"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "Page 12 of 12" in html
    assert client.get(url, {"page": "x", "sort": "nonsense", "issue": "bogus"}).status_code == 200


def test_removing_duplicates_makes_a_new_version(login, owner, ready_version):
    client = login(owner)
    response = client.post(
        reverse("version_fix", args=[ready_version.pk]), {"action": "remove_duplicates"}
    )
    child = DatasetVersion.objects.get(parent=ready_version)
    assert response.url == reverse("version_detail", args=[child.pk])
    assert child.number == 2 and child.reason.startswith("Removed") and "duplicate" in child.reason
    assert analyse_version(str(child.pk)) == "ready"
    child.refresh_from_db()
    assert child.report["issue_counts"].get("duplicate", 0) == 0
    assert child.total == ready_version.total - ready_version.report["issue_counts"]["duplicate"]
    ready_version.refresh_from_db()
    assert ready_version.total == 300  # the parent is untouched


def test_deleting_rows_by_hand(login, owner, ready_version):
    client = login(owner)
    client.post(
        reverse("version_fix", args=[ready_version.pk]),
        {"action": "delete_rows", "row": ["0", "1", "nonsense"]},
    )
    assert not DatasetVersion.objects.filter(parent=ready_version).exists()  # garbage refused whole
    client.post(
        reverse("version_fix", args=[ready_version.pk]),
        {"action": "delete_rows", "row": ["0", "1", "99999"]},
    )
    child = DatasetVersion.objects.get(parent=ready_version)
    analyse_version(str(child.pk))
    child.refresh_from_db()
    assert child.total == 298 and child.reason == "Deleted 2 rows by hand"


def test_an_unknown_fix_changes_nothing(login, owner, ready_version):
    login(owner).post(reverse("version_fix", args=[ready_version.pk]), {"action": "drop_table"})
    assert DatasetVersion.objects.count() == 1


def test_a_manual_mapping_is_validated_then_used(login, owner, ready_version):
    client = login(owner)
    url = reverse("version_mapping", args=[ready_version.pk])
    bad = client.post(url, {"inputs": ["customer_message"], "output": "customer_message"})
    assert bad.status_code == 400 and "cannot also be an input" in bad.content.decode()
    bad = client.post(
        url, {"inputs": ["customer_message"], "output": "support_reply", "template": "{nope}"}
    )
    assert bad.status_code == 400 and "Unknown column" in bad.content.decode()
    bad = client.post(url, {"inputs": ["not_a_column"], "output": "support_reply"})
    assert bad.status_code == 400
    assert DatasetVersion.objects.count() == 1

    client.post(
        url,
        {
            "inputs": ["ticket_id", "customer_message"],
            "output": "support_reply",
            "template": "Ticket {ticket_id}: {customer_message}",
        },
    )
    child = DatasetVersion.objects.get(parent=ready_version)
    assert analyse_version(str(child.pk)) == "ready"
    child.refresh_from_db()
    first = next(iter_rows(child.folder))
    assert first["messages"][0]["content"].startswith("Ticket T10000: ")


def test_looks_good_marks_the_version_accepted(login, owner, ready_version):
    login(owner).post(reverse("version_accept", args=[ready_version.pk]))
    ready_version.refresh_from_db()
    assert ready_version.accepted_at is not None


def test_viewers_see_data_but_cannot_change_it(login, viewer, project, ready_version):
    client = login(viewer)
    assert client.get(reverse("version_detail", args=[ready_version.pk])).status_code == 200
    assert upload(client, project, "a.csv", b"q,a\n1,2\n").status_code == 403
    assert (
        client.post(reverse("dataset_sample", args=[project.pk, "customer-support"])).status_code
        == 403
    )
    assert (
        client.post(
            reverse("version_fix", args=[ready_version.pk]), {"action": "remove_duplicates"}
        ).status_code
        == 403
    )
    assert client.post(reverse("version_accept", args=[ready_version.pk])).status_code == 403
    assert DatasetVersion.objects.count() == 1


def test_an_unknown_sample_is_404(login, owner, project):
    assert (
        login(owner).post(reverse("dataset_sample", args=[project.pk, "nope"])).status_code == 404
    )


def test_another_teams_data_is_404_everywhere(login, outsider, project, ready_version):
    client = login(outsider)
    v = ready_version.pk
    for method, url, data in [
        ("get", reverse("dataset_list", args=[project.pk]), {}),
        ("post", reverse("dataset_sample", args=[project.pk, "customer-support"]), {}),
        ("get", reverse("version_detail", args=[v]), {}),
        ("get", reverse("version_status", args=[v]), {}),
        ("get", reverse("version_rows", args=[v]), {}),
        (
            "post",
            reverse("version_mapping", args=[v]),
            {"inputs": ["customer_message"], "output": "support_reply"},
        ),
        ("post", reverse("version_fix", args=[v]), {"action": "remove_duplicates"}),
        ("post", reverse("version_accept", args=[v]), {}),
        ("post", reverse("version_language", args=[v]), {"language": "fr"}),
    ]:
        assert getattr(client, method)(url, data).status_code == 404, url
    assert upload(client, project, "a.csv", b"q,a\n1,2\n").status_code == 404
    assert DatasetVersion.objects.count() == 1
    assert Dataset.objects.count() == 1


def test_a_version_is_compared_with_its_parent_and_any_other(login, owner, ready_version):
    client = login(owner)
    client.post(reverse("version_fix", args=[ready_version.pk]), {"action": "remove_duplicates"})
    child = DatasetVersion.objects.get(parent=ready_version)
    analyse_version(str(child.pk))
    html = client.get(reverse("version_detail", args=[child.pk])).content.decode()
    removed = ready_version.report["issue_counts"]["duplicate"]
    assert "Compare versions" in html and f"-{removed}" in html
    html = client.get(
        reverse("version_detail", args=[ready_version.pk]), {"compare": str(child.pk)}
    ).content.decode()
    assert f"+{removed}" in html or f"-{removed}" in html
    assert (
        client.get(reverse("version_detail", args=[child.pk]), {"compare": "junk"}).status_code
        == 200
    )


def test_an_interrupted_upload_leaves_no_file(rf, settings):
    from apps.datasets.storage import HashingUploadHandler

    request = rf.post("/")
    handler = HashingUploadHandler(request)
    handler.new_file("file", "a.csv", "text/csv", 100)
    handler.receive_data_chunk(b"question,answer\n", 0)
    assert handler.tmp_path.exists()
    handler.upload_interrupted()
    assert not handler.tmp_path.exists()


def test_changing_the_expected_language_rescores_in_a_new_version(login, owner, ready_version):
    client = login(owner)
    assert (
        client.post(
            reverse("version_language", args=[ready_version.pk]), {"language": "xx"}
        ).status_code
        == 302
    )
    assert DatasetVersion.objects.count() == 1
    client.post(reverse("version_language", args=[ready_version.pk]), {"language": "fr"})
    child = DatasetVersion.objects.get(parent=ready_version)
    assert child.reason == "Expected language set to French"
    assert analyse_version(str(child.pk)) == "ready"
    child.refresh_from_db()
    assert child.report["expected_language"] == "fr"
    assert child.report["issue_counts"]["language"] > 0  # English rows now flagged
    assert login(owner).get(reverse("version_detail", args=[child.pk])).status_code == 200


def test_unfilled_template_variables_are_flagged_and_can_be_removed(login, owner, project):
    rows = ["question,answer"] + [
        f"Where is order {n}?,Your order {n} ships on Monday from our warehouse." for n in range(8)
    ]
    rows += ['Who wrote this?,"Dear {{name}}, this was written by {{ author }} for you."']
    rows += ["Can I return it?,Hi {{customer.first_name}}! Returns are free within 30 days."]
    client = login(owner)
    upload(client, project, "templated.csv", "\n".join(rows).encode())
    version = DatasetVersion.objects.get(dataset__project=project)
    assert analyse_version(str(version.pk)) == "ready"
    version.refresh_from_db()
    assert version.report["issue_counts"]["template"] == 2
    html = client.get(reverse("version_detail", args=[version.pk])).content.decode()
    assert "2 rows hold unfilled template variables" in html
    assert "Remove rows with template variables" in html
    client.post(reverse("version_fix", args=[version.pk]), {"action": "remove_templates"})
    child = DatasetVersion.objects.get(parent=version)
    assert child.reason == "Removed 2 rows with unfilled template variables"
    assert analyse_version(str(child.pk)) == "ready"
    child.refresh_from_db()
    assert child.total == version.total - 2 and not child.report["issue_counts"].get("template")


def test_template_variables_are_filled_with_typed_values_as_a_new_version(
    login, owner, outsider, project
):
    rows = ["question,answer"] + [
        f"Where is order {n}?,Your order {n} ships on Monday from our warehouse." for n in range(8)
    ]
    rows += ['Who wrote this?,"Dear {{name}}, this was written by {{ author }} for you."']
    rows += ["Can I return it?,Hi {{name}}! Returns are free within 30 days."]
    client = login(owner)
    upload(client, project, "templated.csv", "\n".join(rows).encode())
    version = DatasetVersion.objects.get(dataset__project=project)
    analyse_version(str(version.pk))
    version.refresh_from_db()
    page = client.get(reverse("version_detail", args=[version.pk]))
    assert page.context["template_variables"] == [("name", 2), ("author", 1)]
    assert 'name="fill-name"' in page.content.decode()
    url = reverse("version_fix", args=[version.pk])
    for bad, says in (
        ({"fill-name": "  ", "fill-author": ""}, "at least one variable"),
        ({"fill-nobody": "x"}, "not in this version"),
        ({"fill-name": "{{x}}"}, "template braces"),
        ({"fill-name": "a" * 201}, "at most 200"),
    ):
        response = client.post(url, {"action": "fill_templates", **bad}, follow=True)
        assert says in response.content.decode(), bad
    assert not DatasetVersion.objects.filter(parent=version).exists()
    assert (
        login(outsider).post(url, {"action": "fill_templates", "fill-name": "Ada"}).status_code
        == 404
    )

    client = login(owner)
    client.post(url, {"action": "fill_templates", "fill-name": "Ada", "fill-author": ""})
    child = DatasetVersion.objects.get(parent=version)
    assert child.reason == "Filled {{name}}"
    assert analyse_version(str(child.pk)) == "ready"
    child.refresh_from_db()
    assert child.total == version.total
    assert child.report["issue_counts"].get("template") == 1  # {{ author }} was left as it was
    texts = [m["content"] for row in iter_rows(child.folder) for m in row["messages"]]
    assert "Hi Ada! Returns are free within 30 days." in texts
    assert any("Dear Ada, this was written by {{ author }}" in t for t in texts)
