"""Refuse requests no page can mean, once for the whole site, before any view reads them.

A NUL character (`%00`) in a path or a query string reaches views as text, and PostgreSQL
refuses NUL in text: the first query that carried it answered 500. No route, slug, id or
parameter of ours can contain one, so such a request is a 400 at the edge, on every page and
on the /v1/ API (there in OpenAI's error shape, as its callers expect). A cookie can carry one
too (an octal `\\000` in a quoted value, which Django's cookie parser decodes): the session
lookup then failed the same way on every page.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.http.cookie import parse_cookie

from apps.endpoints.gateway.errors import ApiError

PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Bad request</title>'
    "</head><body><h1>This address cannot be opened</h1>"
    "<p>The address (or a cookie sent with it) contains a character that web addresses cannot "
    "carry (a NUL, <code>%00</code>). Check the link you followed or the address you typed.</p>"
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


def request_has_nul(scope) -> bool:
    return url_has_nul(scope) or cookies_have_nul(scope)


def api_error() -> ApiError:
    return ApiError(
        400,
        "The request URL or a cookie contains a NUL character (%00), which no route or "
        "parameter accepts.",
        "invalid_request_url",
    )


class RefuseNul:
    """ASGI middleware: a 400 for an HTTP request whose URL or cookies hold a NUL, a refused
    handshake for such a WebSocket (its session lookup would fail alike); the rest passes."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or not request_has_nul(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 4400})
            return
        if scope["path"].startswith("/v1/"):
            body = json.dumps(api_error().body()).encode()
            content_type = b"application/json"
        else:
            body = PAGE.encode()
            content_type = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


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
