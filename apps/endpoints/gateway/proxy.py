"""Calling the model for an admitted request: parse and check the body, admit the caller, route
to a deployment, count the prompt's tokens, take places in flight, then relay the answer
(streamed or whole) in OpenAI's shape. The routes in views.py and the endpoint page's test console
call `proxy`."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse, StreamingHttpResponse

from ..models import MAX_LOGGED_CHARS
from . import content, failover, inflight, parameters, schemas, tokens, upstream
from .calls import (
    Call,
    LoggedJsonResponse,
    admit,
    finish,
    finish_later,
    money,
    open_stream,
    post_json,
    post_many,
    route,
)
from .errors import ApiError

log = logging.getLogger("vibeflow.gateway")

OPENAI_ROUTES = {
    "chat": ("/v1/chat/completions", schemas.ChatCompletionRequest, "chatcmpl-"),
    "completions": ("/v1/completions", schemas.CompletionRequest, "cmpl-"),
}


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def read_json(request, call: Call) -> dict:
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


def closing(call: Call, error: ApiError) -> JsonResponse:
    """The error answer; logged (after sending) when a project can be billed for it."""
    call.fail(error)
    if call.key is None and not call.from_console:
        log.info(
            "gateway refused",
            extra={"status": error.status, "code": error.code, "request_id": str(call.id)},
        )
        return call.label(error.response())
    response = LoggedJsonResponse(error.body(), call, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return call.label(response)


def _parse(request, call: Call, schema):
    """The parsed body, or the error to answer once the key has been checked (a caller with a
    bad key hears about the key first, as with OpenAI)."""
    payload = None
    try:
        payload = read_json(request, call)
        return payload, schemas.parse(schema, payload), None
    except ApiError as error:
        return payload, None, error


def _named(payload, parsed):
    """The model the body names, even when the body failed its checks (for its limits)."""
    if parsed is not None:
        return parsed.model
    return payload.get("model") if isinstance(payload, dict) else None


def _sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


class RelayedStream(StreamingHttpResponse):
    """A relayed stream that also cleans up when it never started: a caller gone before the
    first byte leaves the events generator unrun, so its `finally` cannot release the server's
    stream, the call's places or write the log row."""

    def __init__(self, events, call: Call, response):
        super().__init__(events, content_type="text/event-stream")
        self.call, self.upstream, self.started = call, response, False

    async def _drop_upstream(self):
        self.upstream.close()  # on the loop that owns its connection
        await self.call.release()

    def close(self):
        try:
            if not self.started:
                async_to_sync(self._drop_upstream)()
                self.call.status, self.call.error_code = 499, "client_closed_request"
                self.call.finished_at = time.monotonic()
                finish_later(self.call)
        finally:
            super().close()


def _stream_failed(call: Call, code: str, message: str) -> str:
    """The event that ends a stream that failed after its first byte. The caller has had a 200,
    so the log row says 200 with the error's code: what the caller saw."""
    call.error_code = code
    error = ApiError(502, message, code, type="server_error")
    return _sse(error.body())


def relay(call: Call, response, first: dict, public_id: str, wants_usage: bool, keep=None):
    """The server's SSE events, with our model name and id, a closing [DONE], and the log row.
    ``keep``: the prompt's messages when the endpoint keeps content (the answer is gathered)."""
    public_model = call.endpoint.name
    said: list[str] = []  # the first choice's text, gathered only when ``keep``
    said_chars = 0

    def gather(chunk: dict) -> None:
        """The first choice's text (a chat delta's content, a completion's text), up to what
        can be kept (past it, nothing is: content.kept refuses an empty answer)."""
        nonlocal said_chars
        for c in chunk.get("choices") or []:
            if c.get("index", 0) == 0:
                piece = (c.get("delta") or {}).get("content") or c.get("text") or ""
                said_chars += len(piece)
                if said_chars > MAX_LOGGED_CHARS:
                    said.clear()
                else:
                    said.append(piece)

    def ours(chunk: dict) -> str | None:
        """The chunk as the caller gets it (None: not for the caller), counting what it says."""
        nonlocal pieces
        chunk["model"], chunk["id"] = public_model, public_id
        if keep is not None and said_chars <= MAX_LOGGED_CHARS:
            gather(chunk)
        if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
            pieces += 1
        usage = chunk.get("usage")
        if usage:
            call.count(usage)
            if not wants_usage:
                if not chunk.get("choices"):
                    return None
                chunk.pop("usage")
        return _sse(chunk)

    pieces = 0  # content chunks: about a token each, counted if no usage chunk arrives
    # The caller has had the whole answer once [DONE] is on its way. Clients close the
    # connection as soon as they read it (the openai client does), and the server may then never
    # resume this generator (Django drops it; its `finally` runs whenever it is collected): so
    # the call is wrapped up (log row, places) before [DONE] is sent, not after.
    done = False

    async def wrap_up():
        nonlocal done
        if done:
            return
        done = True
        response.release()  # back to the pool when read to the end, else closed
        if not call.tokens_out:
            call.tokens_out = pieces  # cut before the usage chunk: bill what was sent
        if keep is not None:
            call.content = content.kept(keep, "".join(said))
        call.finished_at = time.monotonic()
        if settings.GATEWAY_LOG_IN_BACKGROUND:
            finish_later(call)
        else:
            # Shielded: the log row is written even when the client went away mid-stream.
            await asyncio.shield(sync_to_async(finish)(call))
        await call.release()

    async def events():
        streamed.started = True
        try:
            event = ours(first)
            if event:
                yield event
            async for raw in response.content:  # aiohttp's reader yields whole lines
                line = raw.decode()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:  # the server failed after it started answering
                    log.warning(
                        "inference server failed mid-stream",
                        extra={"request_id": str(call.id), "detail": str(chunk["error"])[:500]},
                    )
                    yield _stream_failed(
                        call,
                        "upstream_error",
                        f"The model's server failed mid-answer; request id {call.id}.",
                    )
                    break
                event = ours(chunk)
                if event:
                    yield event
            await wrap_up()
            yield "data: [DONE]\n\n"
        except upstream.TRANSPORT_ERRORS as exc:
            timed_out = upstream.timed_out(exc)
            yield _stream_failed(
                call,
                "timeout" if timed_out else "upstream_error",
                "The model's server stopped answering mid-stream"
                + (f" (no token within {call.endpoint.timeout_s:g} s)." if timed_out else "."),
            )
            await wrap_up()
            yield "data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            if not done:  # left before the answer ended
                call.status, call.error_code = 499, "client_closed_request"
                response.close()  # drop the connection: the server sees it and stops generating
            raise
        finally:
            await wrap_up()

    streamed = RelayedStream(events(), call, response)
    streamed["Cache-Control"] = "no-cache"
    streamed["X-Accel-Buffering"] = "no"
    return call.label(streamed)


def _busy(call: Call, refused: inflight.Refused) -> ApiError:
    if refused.scope == "server":
        message = (
            "The model's server is busy with other teams' calls, and this team already has "
            f"{refused.held} in flight there, its fair share while it is busy. Try again in 1 s."
        )
    else:
        whose = "this key" if refused.scope == "key" else "this key's team"
        message = (
            f"Too many calls in flight: {whose} has {refused.held} still running, and the limit "
            f"is {refused.limit} at once. Wait for one to finish; try again in 1 s."
        )
    return call.fail(
        ApiError(
            429,
            message,
            "concurrency_limit_exceeded",
            type="rate_limit_error",
            headers={"Retry-After": "1"},
        )
    )


def _capped(weight: int) -> int:
    # One call alone may always run: its weight never exceeds what a key or team may hold.
    return min(
        weight, settings.GATEWAY_MAX_IN_FLIGHT_PER_KEY, settings.GATEWAY_MAX_IN_FLIGHT_PER_TEAM
    )


def _candidates(call: Call, avoid: str = ""):
    """The version's usable replicas (not ``avoid``, a server that just failed), shuffled so
    that equally busy ones share the calls."""
    routes = failover.usable([r for r in call.deployment.routes if r.url != avoid])
    random.shuffle(routes)
    return routes


def _wait_s(endpoint) -> float:
    return min(endpoint.timeout_s, settings.GATEWAY_QUEUE_WAIT_S)


async def _take_places(call: Call, endpoint, weight: int) -> None:
    """The call's places in flight and the least busy replica that admits its team
    (inflight.py: one Redis round trip when a server has room), or a 429."""
    weight = _capped(weight)
    routes = _candidates(call)
    team = str(endpoint.project.team_id)
    servers = [(r.url, r.slots) for r in routes]
    taken = await inflight.take(
        str(call.id), call.subject, team, weight, endpoint.timeout_s, endpoint.pk, servers
    )
    if isinstance(taken, inflight.Refused):
        raise _busy(call, taken)
    call.places, index = taken  # held from here: every way out of the call releases them
    if index is None:  # every server refused the team for now: wait for a place
        index = await inflight.enter(
            call.places, servers, team, weight, endpoint.timeout_s, _wait_s(endpoint)
        )
        if isinstance(index, inflight.Refused):
            raise _busy(call, index)
    call.replica = routes[index]


async def _enter(call: Call, endpoint, weight: int, avoid: str) -> None:
    """A place at another of the version's replicas, after ``avoid`` failed (failover)."""
    routes = _candidates(call, avoid)
    taken = await inflight.enter(
        call.places,
        [(r.url, r.slots) for r in routes],
        str(endpoint.project.team_id),
        _capped(weight),
        endpoint.timeout_s,
        _wait_s(endpoint),
    )
    if isinstance(taken, inflight.Refused):
        raise _busy(call, taken)
    call.replica = routes[taken]


async def _exchange(call: Call, endpoint, weight: int, send):
    """``send()`` to the call's replica; when its server cannot be reached, once more to
    another replica (failover.py). Nothing has reached the caller when this moves a call."""
    try:
        return await send()
    except upstream.Unreachable as exc:
        await failover.unreachable(call.replica, exc.__cause__ or exc, call.id)
        if not any(r.url != call.replica.url for r in call.deployment.routes):
            raise _unreachable(call, endpoint) from None
    await call.places.leave_server()
    await _enter(call, endpoint, weight, avoid=call.replica.url)
    try:
        return await send()
    except upstream.Unreachable as exc:
        await failover.unreachable(call.replica, exc.__cause__ or exc, call.id)
        raise _unreachable(call, endpoint) from None


def _unreachable(call: Call, endpoint) -> ApiError:
    return call.fail(
        ApiError(
            502,
            "The model's server could not be reached; the request was not processed.",
            "upstream_unreachable",
            type="server_error",
        )
    )


async def proxy(call: Call, request, kind: str, *, console: tuple | None = None):
    """An OpenAI route end to end. ``console``: (project id, user id) for the page's test
    console, which a member's session authenticates instead of a key."""
    path, schema, id_prefix = OPENAI_ROUTES[kind]
    try:
        payload, parsed, bad_body = _parse(request, call, schema)
        endpoint = await admit(
            request, call, _named(payload, parsed), console=console, bad_body=bad_body
        )
        deployment = route(call)
        plan = parameters.plan(kind, parsed, payload, deployment.backend)
        prompt = await tokens.check(kind, plan.bodies[0], plan.texts, deployment)
        weight = tokens.weight(prompt, plan.bodies[0], len(plan.bodies))
        await _take_places(call, endpoint, weight)
        public_id = id_prefix + call.id.hex
        if parsed.stream:
            call.streamed = True
            options = payload.get("stream_options")
            wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            response, first = await _exchange(
                call,
                endpoint,
                weight,
                lambda: open_stream(call, path, plan.bodies[0], endpoint.timeout_s),
            )
            keep = content.prompt_messages(kind, payload) if endpoint.log_content else None
            return relay(call, response, first, public_id, wants_usage, keep)
        answers = await _exchange(
            call,
            endpoint,
            weight,
            lambda: post_many(call, path, plan.bodies, endpoint.timeout_s),
        )
        answer = parameters.merge(kind, answers, plan.copies) if len(answers) > 1 else answers[0]
        call.count(answer.get("usage"))
        if endpoint.log_content:
            call.content = content.kept(
                content.prompt_messages(kind, payload), content.answer_text(kind, answer)
            )
    except ApiError as error:
        await call.release()
        return closing(call, error)
    except BaseException:
        await call.release()
        raise
    await call.release()
    answer["model"], answer["id"] = endpoint.name, public_id
    return call.label(LoggedJsonResponse(answer, call))


async def complete(call: Call, request):
    """The route of docs/PRODUCT.md 6.2: {"prompt", "max_tokens"} → {"id", "completion",
    "tokens_used", "cost"}, admitted like the OpenAI routes."""
    try:
        payload, parsed, bad_body = _parse(request, call, schemas.CompleteRequest)
        endpoint = await admit(request, call, _named(payload, parsed), bad_body=bad_body)
        deployment = route(call)
        body = {
            "model": endpoint.name,
            "messages": [{"role": "user", "content": parsed.prompt}],
            "max_tokens": parsed.max_tokens,
        }
        if parsed.temperature is not None:
            body["temperature"] = parsed.temperature
        # The same admission as the OpenAI routes: tokens counted, places in flight.
        chat = schemas.parse(schemas.ChatCompletionRequest, body)
        plan = parameters.plan("chat", chat, body, deployment.backend)
        prompt = await tokens.check("chat", plan.bodies[0], plan.texts, deployment)
        weight = tokens.weight(prompt, plan.bodies[0], 1)
        await _take_places(call, endpoint, weight)
        answer = await _exchange(
            call,
            endpoint,
            weight,
            lambda: post_json(call, "/v1/chat/completions", plan.bodies[0], endpoint.timeout_s),
        )
    except ApiError as error:
        await call.release()
        return closing(call, error)
    except BaseException:
        await call.release()
        raise
    await call.release()
    choice = (answer.get("choices") or [{}])[0]
    if endpoint.log_content:
        call.content = content.kept(
            content.prompt_messages("complete", payload), content.answer_text("chat", answer)
        )
    return call.label(
        LoggedJsonResponse(
            {
                "id": f"req_{call.id.hex}",
                "model": endpoint.name,
                "completion": (choice.get("message") or {}).get("content") or "",
                "tokens_used": call.tokens_in + call.tokens_out,
                "cost": money(call.cost),
            },
            call,
        )
    )
