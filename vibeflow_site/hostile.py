"""Refuse requests no page can mean, once for the whole site, before any view reads them.

A NUL character (`%00`) in a path or a query string reaches views as text, and PostgreSQL
refuses NUL in text: the first query that carried it answered 500. No route, slug, id or
parameter of ours can contain one, so such a request is a 400 at the edge, on every page and
on the /v1/ API (there in OpenAI's error shape, as its callers expect). A cookie can carry one
too (an octal `\\000` in a quoted value, which Django's cookie parser decodes): the session
lookup then failed the same way on every page. So can another header (Daphne's Twisted refuses
a raw NUL in a header itself, with a bare 400; other servers pass it on) and an API call's JSON
body, as a raw byte or as `\\u0000`.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.http.cookie import parse_cookie

from apps.endpoints.gateway.errors import ApiError

from .limits import is_api, send_answer, send_api_error

PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Bad request</title>'
    "</head><body><h1>This address cannot be opened</h1>"
    "<p>The address (or a cookie or header sent with it) contains a character that web addresses "
    "cannot carry (a NUL, <code>%00</code>). Check the link you followed or the address you "
    "typed.</p>"
    '<p><a href="/">Go to your projects</a></p></body></html>'
)


def url_has_nul(scope) -> bool:
    """True when the decoded path or query string holds a NUL (the server decodes the path;
    the query string arrives still %-encoded)."""
    if "\x00" in scope.get("path", ""):
        return True
    return b"\x00" in unquote_to_bytes(scope.get("query_string") or b"")


def cookies_have_nul(scope) -> bool:
    """True when a cookie of ours (the session's, the CSRF token's), as Django will decode it,
    holds a NUL. Other cookies are never read by us, and on localhost another program's cookies
    come along with ours: refusing those would shut a user out of every page."""
    ours = {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME}
    for name, value in scope.get("headers") or ():
        if name.lower() == b"cookie":
            # As Django reads it: header bytes as latin-1, then the cookie's own escapes.
            cookies = parse_cookie(value.decode("latin-1"))
            if any("\x00" in v for k, v in cookies.items() if k in ours):
                return True
    return False


def header_with_nul(scope) -> str | None:
    """The name of a header (cookies aside, see above) whose name or value holds a NUL byte."""
    for name, value in scope.get("headers") or ():
        if name.lower() != b"cookie" and (b"\x00" in name or b"\x00" in value):
            return name.decode("latin-1")
    return None


def nul_refusal(scope) -> ApiError | None:
    """The API's answer to a request whose URL, cookies or headers hold a NUL; None if none do."""
    if url_has_nul(scope) or cookies_have_nul(scope):
        return ApiError(
            400,
            "The request URL or a cookie contains a NUL character (%00), which no route or "
            "parameter accepts.",
            "invalid_request_url",
        )
    if (header := header_with_nul(scope)) is not None:
        return ApiError(
            400,
            f"The request's '{header}' header contains a NUL character, which no header accepts.",
            "invalid_header",
        )
    return None


class RefuseNul:
    """ASGI middleware: a 400 for an HTTP request whose URL, cookies or headers hold a NUL, a
    refused handshake for such a WebSocket (its session lookup would fail alike); the rest
    passes."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        error = nul_refusal(scope)
        if error is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 4400})
            return
        if scope["path"].startswith("/v1/"):
            await send_api_error(send, error)
        else:
            await send_answer(send, 400, PAGE.encode(), api=False)


def _nul_at(payload) -> tuple | None:
    """Where in a decoded JSON document a string (or an object's key) holds a NUL: the path of
    keys and indexes to it, () for the document itself; None when nothing does. A loop, not
    recursion: the document may be nested as deep as the decoder allows."""
    stack = [((), payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, dict):
            for key in value:
                if "\x00" in key:
                    return (*path, key)
            stack.extend(reversed([((*path, k), v) for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([((*path, i), v) for i, v in enumerate(value)]))
    return None


def body_nul_refusal(body: bytes) -> ApiError | None:
    """The answer to an API body that holds a NUL, naming the parameter when it is JSON."""
    if b"\x00" not in body and b"\\u0000" not in body:
        return None  # nearly every call: two scans of at most GATEWAY_MAX_BODY_BYTES
    try:
        # strict=False takes raw control characters inside strings, so a raw NUL in a value is
        # found with its parameter. Bytes as the gateway decodes them (UTF-16 JSON has NUL bytes
        # that are not NUL characters).
        path = _nul_at(json.loads(body, strict=False))
    except (ValueError, RecursionError):
        path = () if b"\x00" in body else None  # not JSON: a raw NUL somewhere is still one
    if path is None:
        return None  # "\\u0000" as text, or a duplicate key's value the decoder dropped
    if not path:
        return ApiError(
            400,
            "The request body contains a NUL character, which no parameter accepts.",
            "invalid_value",
        )
    param = ".".join(str(part) for part in path)
    return ApiError(
        400,
        f"Invalid value for '{param}': must not contain a NUL character.",
        "invalid_value",
        param=param,
    )


class RefuseNulInApiBodies:
    """ASGI middleware, inside RequestBodyLimit: an API call's body is read whole (at most
    GATEWAY_MAX_BODY_BYTES, which the limit enforces outside), checked for a NUL, and replayed
    to the gateway in one message. Other paths stream through untouched: a dataset upload is
    never held in memory here."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_api(scope["path"]):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the caller left, or the body limit has answered
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        error = body_nul_refusal(body)
        if error is not None:
            return await send_api_error(send, error)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the caller's disconnect, in time
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


FORM_PAGE = (
    PAGE.replace("This address cannot be opened", "This form cannot be sent")
    .replace(
        "The address (or a cookie sent with it) contains",
        "A field of the form contains",
    )
    .replace(
        "Check the link you followed or the address you typed.", "Remove it and send it again."
    )
)


class RefuseNulInForms:
    """Django middleware: the same refusal for a posted form. Forms' fields refuse a NUL, but a
    view that reads ``request.POST`` itself (the agent's message box, the plan chosen at
    checkout) passed it on to PostgreSQL. The form is read where CSRF's check reads it anyway:
    for views that are not CSRF-exempt. Exempt views read their own bodies (the dataset upload
    installs its own upload handler first; the API and webhooks take JSON)."""

    FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            request.method == "POST"
            and request.content_type in self.FORMS
            and not getattr(view_func, "csrf_exempt", False)
            and any("\x00" in key + "".join(values) for key, values in request.POST.lists())
        ):
            return HttpResponseBadRequest(FORM_PAGE)
        return None
