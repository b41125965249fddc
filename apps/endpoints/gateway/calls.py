"""One API call from key to log: authentication, routing, upstream, and the log row it leaves."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

import orjson
from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone

from apps.billing.metering import record_request

from .. import ratelimit
from ..keys import hash_key, key_state
from ..models import ApiKey, Deployment, Endpoint, EndpointStatus, LoggedCall, RequestLog
from . import directory, inflight, upstream
from .directory import Route
from .errors import ApiError, budget_exceeded, invalid_key, missing_key, not_ready, unknown_model

log = logging.getLogger("vibeflow.gateway")

# Writing last_used_at on every request would turn each call into a write; once a minute is enough.
LAST_USED_RESOLUTION_S = 60


def price_per_token() -> Decimal:
    return Decimal(settings.INFERENCE_PRICE_PER_1K_TOKENS) / 1000


def cost_of(tokens: int) -> Decimal:
    return (price_per_token() * tokens).quantize(Decimal("0.000001"))


def money(amount: Decimal) -> str:
    """$0.00045, as docs/PRODUCT.md 6.2 writes costs of single requests."""
    text = f"{amount:.6f}".rstrip("0")
    return "$" + (text + "00" if text.endswith(".") else text)


@dataclass
class Call:
    """What the log row of one request will say; filled in as the request goes."""

    route: str
    started: float = field(default_factory=time.monotonic)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    key: ApiKey | None = None
    project_id: uuid.UUID | None = None
    endpoint: Endpoint | None = None
    deployment: Deployment | None = None
    replica: Route | None = None  # the replica answering (a server and the name it knows)
    streamed: bool = False
    from_console: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    status: int = 200
    error_code: str = ""
    live: list = field(default_factory=list)  # the endpoint's deployments taking traffic
    subject: str = ""  # what the rate limit counts: the key's hash, or the console's user
    finished_at: float | None = None  # when the answer was ready (latency excludes the log write)
    limit_headers: dict = field(default_factory=dict)  # x-ratelimit-* of this call's window
    places: inflight.Places | None = None  # its places in flight (released at its last byte)
    content: tuple | None = None  # (messages, answer), when the endpoint keeps them

    def fail(self, error: ApiError) -> ApiError:
        self.status, self.error_code = error.status, error.code
        return error

    def count(self, usage: dict | None) -> None:
        if usage:
            self.tokens_in = int(usage.get("prompt_tokens") or 0)
            self.tokens_out = int(usage.get("completion_tokens") or 0)

    @property
    def cost(self) -> Decimal:
        return cost_of(self.tokens_in + self.tokens_out)

    def headers(self) -> dict[str, str]:
        """What every answer to this call carries: its id (also the log row's) and its limits."""
        return {"x-request-id": str(self.id), **self.limit_headers}

    def label(self, response):
        for name, value in self.headers().items():
            response[name] = value
        return response

    async def release(self) -> None:
        if self.places is not None:
            await asyncio.shield(self.places.release())


def presented_key_hash(request) -> str | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    raw = raw.strip()
    return hash_key(raw) if scheme.lower() == "bearer" and raw else None


def _enforce(call: Call, counted, rpm: int, tpm: int) -> None:
    call.limit_headers = counted.headers(rpm, tpm)
    verdict = counted.verdict(rpm, tpm)
    if not verdict.allowed:
        what = "requests" if verdict.reason == "requests" else "tokens"
        raise call.fail(
            ApiError(
                429,
                f"Rate limit reached: {verdict.limit} {what} per minute for this key. "
                f"Try again in {verdict.retry_after} s, or raise the limit on the endpoint's page.",
                "rate_limit_exceeded",
                type="rate_limit_error" if what == "requests" else "tokens_rate_limit_error",
                headers={"Retry-After": str(verdict.retry_after)},
            )
        )


async def admit(
    request,
    call: Call,
    name,
    *,
    console=None,
    want_endpoint=True,
    default_limits=False,
    bad_body: ApiError | None = None,
):
    """Count the request, check the key (or take the console's project and user), find the
    endpoint called by name, and apply its limits. One Redis round trip; the database only when
    the directory changed since this process last looked (``directory``).

    ``bad_body``: the body failed its checks (answered once the key has been checked, as
    OpenAI does); the endpoint it names, if any, still gives the answer its limit headers."""
    key_hash = None
    if console is None:
        key_hash = presented_key_hash(request)
        if key_hash is None:
            raise call.fail(missing_key())
        call.subject = key_hash
    else:
        call.subject = f"console:{console[1]}"
    # Listing models and sending feedback have a quota of their own: a client that lists the
    # models before each call must not spend its generation quota doing so.
    counted = await ratelimit.count(f"{call.subject}:meta" if default_limits else call.subject)
    want_endpoint = want_endpoint and (bad_body is None or isinstance(name, str))
    entry = await directory.lookup(
        key_hash, console[0] if console else None, name, want_endpoint, counted.version
    )
    if console is None:
        if entry.key is None or key_state(entry.key) in ("revoked", "expired"):
            raise call.fail(invalid_key())
        call.key, call.project_id = entry.key, entry.key.project_id
    else:
        call.project_id = console[0]
    if not want_endpoint:
        if default_limits:  # routes that name no endpoint: their own per-key limit
            _enforce(call, counted, settings.GATEWAY_METADATA_RPM, settings.ENDPOINT_DEFAULT_TPM)
        if bad_body is not None:
            raise call.fail(bad_body)
        return None
    endpoint = entry.endpoint
    if endpoint is None:
        raise call.fail(bad_body or unknown_model(name or "(none)"))
    call.endpoint, call.live = endpoint, list(entry.live)
    rpm = min(endpoint.rate_limit_rpm, entry.plan_rpm or endpoint.rate_limit_rpm)
    call.limit_headers = counted.headers(rpm, endpoint.tokens_per_minute)
    if bad_body is not None:
        raise call.fail(bad_body)
    if endpoint.status == EndpointStatus.STOPPED:
        raise call.fail(not_ready(endpoint.name, "the endpoint is stopped; start it on its page."))
    if entry.spending_stopped:
        raise call.fail(budget_exceeded())
    _enforce(call, counted, rpm, endpoint.tokens_per_minute)
    return endpoint


def route(call: Call) -> Deployment:
    """Pick one of the endpoint's live deployments by its traffic weight (A/B); which of its
    replicas answers is chosen when the call takes its place (proxy._enter)."""
    if not call.live:
        raise call.fail(
            not_ready(
                call.endpoint.name, "no version of it is live yet; it may still be deploying."
            )
        )
    answering = [d for d in call.live if d.routes]
    if not answering:
        raise call.fail(
            not_ready(
                call.endpoint.name,
                "its servers are not answering; it is being moved to another. Try again in a "
                "minute.",
            )
        )
    call.deployment = random.choices(answering, weights=[d.weight for d in answering])[0]
    return call.deployment


def _upstream_error(call: Call, status: int, text: str) -> ApiError:
    """The server's failure, in our words: its own message, addresses and request ids go to
    the log (with this call's id), never to the caller."""
    log.warning(
        "inference server error",
        extra={"request_id": str(call.id), "upstream_status": status, "detail": text[:500]},
    )
    if status >= 500:
        return call.fail(
            ApiError(
                502,
                "The model's server failed while answering; the request was not completed. "
                f"Try again; if it keeps failing, quote request id {call.id}.",
                "upstream_error",
                type="server_error",
            )
        )
    return call.fail(
        ApiError(
            400,
            "The model's server could not process this request. Check the parameters "
            f"against the API documentation; request id {call.id}.",
            "upstream_rejected",
        )
    )


def _transport_error(call: Call, exc: Exception, timeout: float) -> ApiError:
    if upstream.timed_out(exc):
        return call.fail(
            ApiError(
                504,
                f"The model did not answer within the endpoint's {timeout:g} s timeout.",
                "timeout",
                type="server_error",
            )
        )
    return call.fail(
        ApiError(
            502,
            "The model's server could not be reached; the request was not processed.",
            "upstream_unreachable",
            type="server_error",
        )
    )


def upstream_body(body: dict, route: Route) -> dict:
    return {**body, "model": route.served_model}


_JSON = {"Content-Type": "application/json"}


def _headers(route) -> dict[str, str]:
    return _JSON | {"Authorization": route.auth} if route.auth else _JSON


async def post_json(call: Call, path: str, body: dict, timeout: float) -> dict:
    """One request to the call's replica; ``upstream.Unreachable`` when its server could not be
    reached (the caller may try another replica)."""
    route = call.replica
    client = await upstream.session()
    try:
        async with client.post(
            route.url + path,
            data=orjson.dumps(upstream_body(body, route)),
            headers=_headers(route),
            timeout=upstream.timeout(timeout),
        ) as response:
            status, raw = response.status, await response.read()
    except upstream.TRANSPORT_ERRORS as exc:
        if upstream.unreachable(exc):
            raise upstream.Unreachable(exc) from exc
        raise _transport_error(call, exc, timeout) from None
    if status != 200:
        raise _upstream_error(call, status, raw.decode(errors="replace"))
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _upstream_error(call, 502, "its answer was not JSON") from None
    call.count(answer.get("usage"))
    return answer


async def post_many(call: Call, path: str, bodies: list[dict], timeout: float) -> list[dict]:
    """One request per body, at once (``n`` on a server that answers one choice at a time);
    the first failure cancels the rest, whose connections close so the server stops them."""
    if len(bodies) == 1:
        return [await post_json(call, path, bodies[0], timeout)]
    tasks = [asyncio.ensure_future(post_json(call, path, body, timeout)) for body in bodies]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def open_stream(call: Call, path: str, body: dict, timeout: float):
    """Send a streamed request; return aiohttp's response and its first event, the rest
    unread. Errors before the caller's first byte (the first event included: a server whose
    batching loop died answers 200, then an error event) become ordinary error answers, and a
    server that could not be reached ``upstream.Unreachable`` (nothing has reached the caller)."""
    route = call.replica
    # Ask for the usage chunk whatever the caller asked: it is what the log and the bill count.
    body = upstream_body(body, route) | {
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    client = await upstream.session()
    try:
        response = await client.post(
            route.url + path,
            data=orjson.dumps(body),
            headers=_headers(route),
            timeout=upstream.timeout(timeout),
        )
    except upstream.TRANSPORT_ERRORS as exc:
        if upstream.unreachable(exc):
            raise upstream.Unreachable(exc) from exc
        raise _transport_error(call, exc, timeout) from None
    if response.status != 200:
        try:
            text = (await response.read()).decode(errors="replace")
        except upstream.TRANSPORT_ERRORS:
            text = ""
        finally:
            response.release()
        raise _upstream_error(call, response.status, text)
    try:
        first = await _first_event(response)
    except upstream.TRANSPORT_ERRORS as exc:
        response.close()
        if upstream.unreachable(exc):
            raise upstream.Unreachable(exc) from exc
        raise _transport_error(call, exc, timeout) from None
    except (asyncio.CancelledError, GeneratorExit):
        response.close()
        raise
    try:
        chunk = json.loads(first) if first else None
    except ValueError:
        chunk = None
    if not isinstance(chunk, dict) or "error" in chunk:
        response.close()
        raise _upstream_error(call, 500, first or "the stream ended before its first event")
    return response, chunk


async def _first_event(response) -> str | None:
    async for raw in response.content:
        line = raw.decode()
        if line.startswith("data:"):
            data = line[5:].strip()
            return None if data == "[DONE]" else data
    return None


def finish(call: Call) -> None:
    """Write the log row, count the tokens against the key's limit, stamp the key.

    Synchronous, and called once the answer has gone out (LoggedJsonResponse.close, or the end
    of a stream), so the caller never waits for it."""
    latency_ms = (call.finished_at or time.monotonic()) * 1000 - call.started * 1000
    try:
        with transaction.atomic():
            _write_log(call, latency_ms)
        if call.subject:
            ratelimit.add_tokens_sync(call.subject, call.tokens_in + call.tokens_out)
        if call.key is not None:
            now = timezone.now()
            last = call.key.last_used_at
            if last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION_S:
                ApiKey.objects.filter(pk=call.key.pk).update(last_used_at=now)
                call.key.last_used_at = now  # the directory's cached copy too
    except Exception:
        # Never turn an answered request into an error because its log row failed.
        log.exception("request log failed", extra={"request_id": str(call.id)})


_log_thread: ThreadPoolExecutor | None = None


def finish_later(call: Call) -> None:
    """``finish`` off the request path. Django runs a response's close() (and other sync work)
    on one shared thread per process; a log write there made the next request wait for it
    (bench/bench_serving.py measured it as gateway overhead). One background thread of its own,
    with its own database connection, writes the rows in order instead. In-process tests, which
    hold the test's transaction on their own connection, write inline
    (GATEWAY_LOG_IN_BACKGROUND=0)."""
    global _log_thread
    if not settings.GATEWAY_LOG_IN_BACKGROUND:
        finish(call)
        return
    if _log_thread is None:
        _log_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-log")
    _log_thread.submit(_finish_in_background, call)


def _finish_in_background(call: Call) -> None:
    from django.db import connection

    if connection.connection is not None and not connection.is_usable():
        connection.close()  # the database restarted since the last row: connect again
    finish(call)


class LoggedJsonResponse(JsonResponse):
    """A JSON answer that writes its call's log row after it has been sent: Django's handlers
    call close() once the body is out."""

    def __init__(self, data, call: Call, **kwargs):
        super().__init__(data, **kwargs)
        self.call = call
        call.finished_at = time.monotonic()

    def close(self):
        try:
            finish_later(self.call)
        finally:
            super().close()


def _write_log(call: Call, latency_ms: float) -> None:
    """The request's log row and, when it used tokens, its usage event: one transaction."""
    RequestLog.objects.create(
        id=call.id,
        project_id=call.project_id,
        endpoint=call.endpoint,
        deployment=call.deployment,
        replica_id=call.replica.replica_id if call.replica is not None else None,
        api_key=call.key,
        route=call.route,
        status_code=call.status,
        error_code=call.error_code,
        latency_ms=latency_ms,
        tokens_in=call.tokens_in,
        tokens_out=call.tokens_out,
        cost=call.cost,
        streamed=call.streamed,
        from_console=call.from_console,
    )
    endpoint = call.endpoint
    if endpoint is not None and call.tokens_in + call.tokens_out > 0:
        project = endpoint.project  # loaded with the endpoint by the directory
        record_request(
            request_id=call.id,
            team_id=project.team_id,
            project_id=project.pk,
            project_name=project.name,
            endpoint=endpoint,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost=call.cost,
        )
    if call.content is not None and endpoint is not None and call.status == 200:
        if not call.error_code:  # a stream cut by its server keeps nothing
            _keep_content(call)


def _keep_content(call: Call) -> None:
    """The call's prompt and answer, in a savepoint of their own: content that cannot be
    stored never costs the call its log row or its bill."""
    messages, answer = call.content
    try:
        with transaction.atomic():
            LoggedCall.objects.create(
                request_id=call.id, endpoint=call.endpoint, messages=messages, answer=answer
            )
    except Exception:
        log.exception("call content not kept", extra={"request_id": str(call.id)})
