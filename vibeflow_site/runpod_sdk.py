"""The runpod SDK with this installation's key and addresses: training pods
(apps/training/remote.py) and serverless endpoints (apps/endpoints/runpod_serving.py) both take
it from here. The SDK keeps its key and its serverless address as module globals; setting them
on each use lets tests point it at a local server."""

from __future__ import annotations

from django.conf import settings


class RunPodUnavailable(Exception):
    pass


def sdk():
    import runpod

    if not settings.RUNPOD_API_KEY:
        raise RunPodUnavailable("RUNPOD_API_KEY is not set.")
    runpod.api_key = settings.RUNPOD_API_KEY
    runpod.endpoint_url_base = settings.RUNPOD_ENDPOINT_BASE_URL
    return runpod
