"""The /v1/ routes. Async views: a streamed answer holds no thread while tokens trickle in."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..models import DeploymentStatus, Endpoint, EndpointStatus, RequestLog
from . import schemas, upstream
from .calls import (
    Call,
    LoggedJsonResponse,
    admit,
    finish,
    finish_later,
    money,
    open_stream,
    post_json,
    route,
)
from .errors import ApiError, unknown_model

log = logging.getLogger("vibeflow.gateway")

OPENAI_ROUTES = {
    "chat": ("/v1/chat/completions", schemas.ChatCompletionRequest, "chatcmpl-"),
    "completions": ("/v1/completions", schemas.CompletionRequest, "cmpl-"),
}


def _method_not_allowed(allowed: str) -> JsonResponse:
    response = ApiError(405, f"Use {allowed} on this route.", "method_not_allowed").response()
    response["Allow"] = allowed
    return response


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _read_json(request, call: Call) -> dict:
    try:
        size = len(request.body)
    except RequestDataTooBig:  # past Django's own DATA_UPLOAD_MAX_MEMORY_SIZE
        size = settings.GATEWAY_MAX_BODY_BYTES + 1
    if size > settings.GATEWAY_MAX_BODY_BYTES:
        limit_kb = settings.GATEWAY_MAX_BODY_BYTES // 1024
        raise call.fail(
            ApiError(
                413,
                f"The request body is larger than the {limit_kb} KB limit.",
                "request_too_large",
            )
        )
    try:
        payload = json.loads(request.body or b"", parse_constant=_refuse_constant)
        # What cannot be re-encoded for the server (lone surrogates) is refused here, not there.
        json.dumps(payload, allow_nan=False, ensure_ascii=False).encode()
    except (ValueError, UnicodeError, RecursionError):
        raise call.fail(
            ApiError(400, "The request body is not valid JSON.", "invalid_json")
        ) from None
    if not isinstance(payload, dict):
        raise call.fail(ApiError(400, "The request body must be a JSON object.", "invalid_body"))
    return payload


def _closing(call: Call, error: ApiError) -> JsonResponse:
    """The error answer; logged (after sending) when a project can be billed for it."""
    call.fail(error)
    if call.key is None and not call.from_console:
        log.info("gateway refused", extra={"status": error.status, "code": error.code})
        return error.response()
    response = LoggedJsonResponse(error.body(), call, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def _parse(request, call: Call, schema):
    """The parsed body, or the error to answer once the key has been checked (a caller with a
    bad key hears about the key first, as with OpenAI)."""
    try:
        payload = _read_json(request, call)
        return payload, schemas.parse(schema, payload), None
    except ApiError as error:
        return None, None, error


def _sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


class RelayedStream(StreamingHttpResponse):
    """A relayed stream that also cleans up when it never started: a caller gone before the
    first byte leaves the events generator unrun, so its `finally` cannot release the server's
    stream or write the log row."""

    def __init__(self, events, call: Call, response):
        super().__init__(events, content_type="text/event-stream")
        self.call, self.upstream, self.started = call, response, False

    async def _drop_upstream(self):
        self.upstream.close()  # on the loop that owns its connection

    def close(self):
        try:
            if not self.started:
                async_to_sync(self._drop_upstream)()
                self.call.status, self.call.error_code = 499, "client_closed_request"
                self.call.finished_at = time.monotonic()
                finish_later(self.call)
        finally:
            super().close()


def relay(call: Call, response, public_id: str, wants_usage: bool):
    """The server's SSE lines, with our model name and id, a closing [DONE], and the log row."""
    public_model = call.endpoint.name

    async def events():
        streamed.started = True
        pieces = 0  # content chunks: about a token each, counted if no usage chunk arrives
        try:
            async for raw in response.content:  # aiohttp's reader yields whole lines
                line = raw.decode()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:  # the server failed after it started answering
                    error = call.fail(
                        ApiError(
                            502,
                            f"The model's server failed: {chunk['error']}",
                            "upstream_error",
                            type="server_error",
                        )
                    )
                    yield _sse(error.body())
                    break
                chunk["model"], chunk["id"] = public_model, public_id
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                    pieces += 1
                usage = chunk.get("usage")
                if usage:
                    call.count(usage)
                    if not wants_usage:
                        if not chunk.get("choices"):
                            continue
                        chunk.pop("usage")
                yield _sse(chunk)
            yield "data: [DONE]\n\n"
        except upstream.TRANSPORT_ERRORS as exc:
            status = 504 if upstream.timed_out(exc) else 502
            error = call.fail(
                ApiError(
                    status,
                    "The model's server stopped answering mid-stream.",
                    "timeout" if status == 504 else "upstream_error",
                    type="server_error",
                )
            )
            yield _sse(error.body())
            yield "data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            call.status, call.error_code = 499, "client_closed_request"
            response.close()  # drop the connection: the server sees it and stops generating
            raise
        finally:
            response.release()  # back to the pool when read to the end, else closed
            if not call.tokens_out:
                call.tokens_out = pieces  # cut before the usage chunk: bill what was sent
            call.finished_at = time.monotonic()
            if settings.GATEWAY_LOG_IN_BACKGROUND:
                finish_later(call)
            else:
                # Shielded: the log row is written even when the client went away mid-stream.
                await asyncio.shield(sync_to_async(finish)(call))

    streamed = RelayedStream(events(), call, response)
    streamed["Cache-Control"] = "no-cache"
    streamed["X-Accel-Buffering"] = "no"
    streamed["X-Request-Id"] = str(call.id)
    return streamed


async def proxy(call: Call, request, kind: str, *, console: tuple | None = None):
    """An OpenAI route end to end. ``console``: (project id, user id) for the page's test
    console, which a member's session authenticates instead of a key."""
    path, schema, id_prefix = OPENAI_ROUTES[kind]
    try:
        payload, parsed, bad_body = _parse(request, call, schema)
        endpoint = await admit(
            request,
            call,
            parsed.model if parsed else None,
            console=console,
            want_endpoint=bad_body is None,
        )
        if bad_body:
            raise bad_body
        route(call)
        body = dict(payload)
        if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
            body["max_tokens"] = settings.GATEWAY_DEFAULT_MAX_TOKENS
        public_id = id_prefix + call.id.hex
        if parsed.stream:
            call.streamed = True
            options = payload.get("stream_options")
            wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            upstream = await open_stream(call, path, body, endpoint.timeout_s)
            return relay(call, upstream, public_id, wants_usage)
        answer = await post_json(call, path, body, endpoint.timeout_s)
    except ApiError as error:
        return _closing(call, error)
    answer["model"], answer["id"] = endpoint.name, public_id
    response = LoggedJsonResponse(answer, call)
    response["X-Request-Id"] = str(call.id)
    return response


@csrf_exempt
async def chat_completions(request):
    if request.method != "POST":
        return _method_not_allowed("POST")
    return await proxy(Call("chat.completions"), request, "chat")


@csrf_exempt
async def completions(request):
    if request.method != "POST":
        return _method_not_allowed("POST")
    return await proxy(Call("completions"), request, "completions")


@csrf_exempt
async def complete(request):
    """The spec's route: {"prompt", "max_tokens"} → {"id", "completion", "tokens_used", "cost"}."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    call = Call("complete")
    try:
        _, parsed, bad_body = _parse(request, call, schemas.CompleteRequest)
        endpoint = await admit(
            request, call, parsed.model if parsed else None, want_endpoint=bad_body is None
        )
        if bad_body:
            raise bad_body
        route(call)
        body = {
            "messages": [{"role": "user", "content": parsed.prompt}],
            "max_tokens": parsed.max_tokens,
        }
        if parsed.temperature is not None:
            body["temperature"] = parsed.temperature
        answer = await post_json(call, "/v1/chat/completions", body, endpoint.timeout_s)
    except ApiError as error:
        return _closing(call, error)
    choice = (answer.get("choices") or [{}])[0]
    return LoggedJsonResponse(
        {
            "id": f"req_{call.id.hex}",
            "model": endpoint.name,
            "completion": (choice.get("message") or {}).get("content") or "",
            "tokens_used": call.tokens_in + call.tokens_out,
            "cost": money(call.cost),
        },
        call,
    )


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
            return JsonResponse({"object": "list", "data": [_model_object(e) for e in live]})
        found = [e for e in live if e.name == name]
        if not found:
            raise call.fail(unknown_model(name))
    except ApiError as error:
        return _closing(call, error)
    return JsonResponse(_model_object(found[0]))


def _request_id(public_id: str) -> str:
    for prefix in ("req_", "chatcmpl-", "cmpl-"):
        if public_id.startswith(prefix):
            return public_id[len(prefix) :]
    return public_id


@csrf_exempt
async def feedback(request):
    """Callers rate an answer (1-5) by its id; the endpoint page shows quality per version."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    call = Call("feedback")
    try:
        await admit(request, call, None, want_endpoint=False, default_limits=True)
        key = call.key
        parsed = schemas.parse(schemas.FeedbackRequest, _read_json(request, call))
        try:
            request_id = uuid.UUID(_request_id(parsed.id))
        except ValueError:
            request_id = None
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
    except ApiError as error:
        return _closing(call, error)
    return JsonResponse({"id": parsed.id, "score": parsed.score, "recorded": True})


async def not_found(request, rest=""):
    return ApiError(404, f"Unknown API route: {request.path}", "unknown_route").response()
