"""A failed deploy tells the user what happened and what they can do; the operator's detail
(the server's address, which process to check) goes to the log and stays on the row."""

from __future__ import annotations

import logging
import socket
from html import unescape

from django.urls import reverse

from apps.endpoints.models import Deployment, DeploymentStatus
from apps.endpoints.services import deploy_run
from apps.endpoints.tasks import serve_deployment


def test_an_unanswering_server_is_a_sentence_for_users(trained_run, owner, login, settings, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # vLLM's path takes the adapter as it is: straight to the server, which is not there.
    settings.INFERENCE_BACKEND, settings.INFERENCE_SERVER_URL = "vllm", url
    settings.SERVING_START_TIMEOUT_S = 1
    deployment = deploy_run(trained_run, owner)
    with caplog.at_level(logging.WARNING, logger="apps.endpoints.serving"):
        assert serve_deployment(str(deployment.pk)) == "failed"

    deployment = Deployment.objects.get(pk=deployment.pk)
    assert deployment.status == DeploymentStatus.FAILED
    assert deployment.error == (
        "The model server did not answer. Try again in a minute; if it keeps failing, "
        "contact your administrator."
    )
    # The operator's version: on the row (the admin shows it) and in the log.
    assert url in deployment.detail and "Procfile" in deployment.detail
    logged = [r for r in caplog.records if r.getMessage() == "deployment failed"]
    assert logged and url in logged[0].detail and logged[0].server_url == url

    html = unescape(
        login(owner).get(reverse("deployment_progress", args=[deployment.pk])).content.decode()
    )
    assert "The model server did not answer" in html and "contact your administrator" in html
    assert "Procfile" not in html and url not in html
