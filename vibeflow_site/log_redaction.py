"""Keep credentials out of every log line: cookies, Authorization headers, bearer tokens, API keys.

Logs are read by more people and kept longer than the secrets they might carry: a session cookie
or a `vf_live_` key in a log line is an account or an endpoint for whoever reads it. The site
never logs them on purpose, but tracebacks and reprs carry what they find (an ASGI scope holds
every request header), so the logging formatters scrub every line (settings.LOGGING):
`redact_event` walks the event before it is rendered, `redact_rendered` checks the rendered line
once more for what a repr of some other object may have let through.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"

# Header and field names whose value is a credential, compared lower-case with "_" as "-" and
# WSGI's "http-" prefix dropped (HTTP_COOKIE, Set-Cookie, x_api_key...).
SENSITIVE_NAMES = frozenset(
    {
        "cookie",
        "set-cookie",
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "password",
        "token",
        "secret",
        "sessionid",
        "csrftoken",
    }
)
_NAMES = r"(?:http_)?(?:(?:set[-_])?cookie|(?:proxy[-_])?authorization|(?:x[-_])?api[-_]key)"

# Credentials recognisable by their own shape, wherever they stand (rendered JSON included).
_TOKEN_PATTERNS = [
    # Our API keys: the prefix stays, to tell a key was there.
    (re.compile(r"vf_live_[A-Za-z0-9_\-]+"), "vf_live_" + REDACTED),
    # Bearer credentials (a header's value, a curl line, an exception message).
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=\-]{8,}"), r"\1\2" + REDACTED),
    # Django's session and CSRF cookies, in a Cookie header or anything quoting one.
    (
        re.compile(r"(?i)\b(sessionid|csrftoken|csrfmiddlewaretoken)=[^;,\s'\"\\]+"),
        r"\1=" + REDACTED,
    ),
    # Tokens that travel in a URL's path, which every request's log line carries: a password
    # reset link's key (valid until used: it sets a new password), an e-mail confirmation key,
    # a team invitation's token.
    (re.compile(r"(/password/reset/key/[0-9A-Za-z]+-)[^/\s'\"\\?#]+"), r"\1" + REDACTED),
    (re.compile(r"(/(?:confirm-email|invitations)/)[^/\s'\"\\?#]+"), r"\1" + REDACTED),
]

# A sensitive name then its value, as raw text has them: a dict or keyword repr
# "'HTTP_COOKIE': '...'" / "cookie='...'", an ASGI header tuple "(b'cookie', b'...')", a header
# line "Cookie: a=b; c=d".
_FIELD_PATTERNS = [
    (
        re.compile(
            rf"""(?ix)
            (?P<name>(?:b?['"])?\b(?:{_NAMES})['"]?)    # the name, maybe quoted
            (?P<sep>\s*[:=]\s*b?|\s*,\s*b)               # : or = before a value, or a bytes pair
            (?P<q>['"])(?:\\.|(?!(?P=q)).)*(?P=q)       # the quoted value, escapes included
            """
        ),
        rf"\g<name>\g<sep>\g<q>{REDACTED}\g<q>",
    ),
    (
        re.compile(rf"(?im)(?P<name>\b(?:{_NAMES}))(?P<sep>[ \t]*:[ \t]*)(?!b?['\"])[^\r\n]+"),
        rf"\g<name>\g<sep>{REDACTED}",
    ),
]


def redact_text(text: str) -> str:
    """The text with every credential it holds replaced."""
    for pattern, replacement in _FIELD_PATTERNS + _TOKEN_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_sensitive_name(name: Any) -> bool:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    if not isinstance(name, str):
        return False
    name = name.lower().replace("_", "-").removeprefix("http-")
    return name in SENSITIVE_NAMES


def redact_value(value: Any) -> Any:
    """The value with credentials replaced, through dicts, lists and tuples; a (name, value)
    pair whose name is a header like Cookie loses its value (an ASGI scope's headers)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        text = value.decode("latin-1")
        redacted = redact_text(text)
        return value if redacted == text else redacted.encode("latin-1")
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive_name(k) else redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and _is_sensitive_name(value[0]):
            hidden = REDACTED.encode() if isinstance(value[1], bytes) else REDACTED
            return type(value)((value[0], hidden))
        return type(value)(redact_value(item) for item in value)
    return value


def redact_event(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor, before the renderer: the event's fields, credentials replaced."""
    return {
        key: REDACTED if _is_sensitive_name(key) else redact_value(value)
        for key, value in event_dict.items()
    }


def redact_rendered(logger, method_name: str, line: str) -> str:
    """structlog processor, after the renderer: credentials by their shape alone (a field
    pattern could run past the end of a value in escaped JSON)."""
    for pattern, replacement in _TOKEN_PATTERNS:
        line = pattern.sub(replacement, line)
    return line
