import pytest
from django.urls import reverse


def test_it_answers_liveness_without_touching_services(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_rejects_post_on_liveness(client):
    assert client.post(reverse("healthz")).status_code == 405


@pytest.mark.django_db
def test_it_is_not_ready_without_a_worker(client):
    response = client.get(reverse("readyz"))
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["workers"] == {
        "ok": False,
        "names": [],
        "error": "no Celery worker answered",
    }


def test_it_is_ready_when_a_worker_answers(client, celery_worker_thread):
    response = client.get(reverse("readyz"))
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert len(body["checks"]["workers"]["names"]) >= 1
