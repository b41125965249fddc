"""The /v1/ routes. Async views: a streamed answer holds no thread while tokens trickle in."""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..models import (
    DeploymentStatus,
    Endpoint,
    EndpointStatus,
    LoggedCall,
    RequestLog,
    request_log_id,
)
from . import proxy, schemas
from .calls import (
    Call,
    admit,
)
from .errors import ApiError, unknown_model
from .proxy import closing, read_json

log = logging.getLogger("vibeflow.gateway")


def _method_not_allowed(allowed: str) -> JsonResponse:
    response = Call("unknown").label(
        ApiError(405, f"Use {allowed} on this route.", "method_not_allowed").response()
    )
    response["Allow"] = allowed
    return response


@csrf_exempt
async def chat_completions(request):
    if request.method != "POST":
        return _method_not_allowed("POST")
    return await proxy.proxy(Call("chat.completions"), request, "chat")


@csrf_exempt
async def completions(request):
    if request.method != "POST":
        return _method_not_allowed("POST")
    return await proxy.proxy(Call("completions"), request, "completions")


@csrf_exempt
async def complete(request):
    """The route of docs/PRODUCT.md 6.2: {"prompt", "max_tokens"} → {"id", "completion", "tokens_used", "cost"}."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    return await proxy.complete(Call("complete"), request)


def _model_object(endpoint: Endpoint) -> dict:
    return {
        "id": endpoint.name,
        "object": "model",
        "created": int(endpoint.created_at.timestamp()),
        "owned_by": "vibeflow",
    }


async def _live_endpoints(project_id):
    return [
        e
        async for e in Endpoint.objects.filter(
            project_id=project_id,
            status=EndpointStatus.LIVE,
            deployments__status=DeploymentStatus.READY,
            deployments__weight__gt=0,
        ).distinct()
    ]


@csrf_exempt
async def models(request, name=None):
    """GET /v1/models lists the key's project's live endpoints; /v1/models/<name> is one."""
    if request.method != "GET":
        return _method_not_allowed("GET")
    call = Call("models")
    try:
        await admit(request, call, None, want_endpoint=False, default_limits=True)
        live = await _live_endpoints(call.project_id)
        if name is None:
            return call.label(
                JsonResponse({"object": "list", "data": [_model_object(e) for e in live]})
            )
        found = [e for e in live if e.name == name]
        if not found:
            raise call.fail(unknown_model(name))
    except ApiError as error:
        return closing(call, error)
    return call.label(JsonResponse(_model_object(found[0])))


@csrf_exempt
async def feedback(request):
    """Callers rate an answer (1-5) by its id; the endpoint page shows quality per version."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    call = Call("feedback")
    try:
        await admit(request, call, None, want_endpoint=False, default_limits=True)
        key = call.key
        parsed = schemas.parse(schemas.FeedbackRequest, read_json(request, call))
        request_id = request_log_id(parsed.id)
        updated = request_id and await RequestLog.objects.filter(
            pk=request_id, project_id=key.project_id
        ).aupdate(feedback=parsed.score)
        if not updated:
            raise call.fail(
                ApiError(
                    404,
                    f"No request with id '{parsed.id}' in this key's project.",
                    "request_not_found",
                    param="id",
                )
            )
        answer = {"id": parsed.id, "score": parsed.score, "recorded": True}
        if parsed.correction is not None:
            # Kept beside the call's prompt and answer: only an endpoint that keeps them has any.
            answer["correction_kept"] = bool(
                await LoggedCall.objects.filter(request_id=request_id).aupdate(
                    correction=parsed.correction
                )
            )
    except ApiError as error:
        return closing(call, error)
    return call.label(JsonResponse(answer))


async def not_found(request, rest=""):
    return Call("unknown").label(
        ApiError(404, f"Unknown API route: {request.path}", "unknown_route").response()
    )
