"""No log line carries a cookie, an Authorization header, a bearer token or an API key."""

import io
import logging

import pytest
import structlog
from django.conf import settings
from django.urls import reverse

from vibeflow_site.log_redaction import redact_text

SESSION = "s3ss10nk3yth4tmustn0tl34k"
CSRF = "csrft0k3nth4tmustn0tl34k"
API_KEY = "vf_live_" + "Kx9-_q" * 7
HF_TOKEN = "hf_t0k3nth4tmustn0tl34k"
SECRETS = (SESSION, CSRF, API_KEY, HF_TOKEN)

# What an ASGI server holds for a socket: every header, the session cookie among them.
SCOPE = {
    "type": "websocket",
    "path": "/ws/nothing/",
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"cookie", f"csrftoken={CSRF}; sessionid={SESSION}".encode()),
        (b"authorization", f"Bearer {API_KEY}".encode()),
    ],
}


def formatter(name: str) -> logging.Formatter:
    """The formatter settings.LOGGING configures under `name`, built as dictConfig builds it."""
    config = dict(settings.LOGGING["formatters"][name])
    factory = config.pop("()")
    return factory(**config)


@pytest.fixture(params=["json", "console"])
def log_output(request):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(request.param))
    logger = logging.getLogger("tests.log_redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)
    logger.propagate = True


def assert_redacted(output: str) -> None:
    for secret in SECRETS:
        assert secret not in output
    assert "[redacted]" in output


def route(scope):
    raise ValueError(f"No route found for path {scope['path']!r}.")


def test_a_traceback_whose_frames_hold_the_scope_shows_no_cookie(log_output):
    # The finding: Channels' "No route found" traceback printed the scope in its frames' locals.
    try:
        route(dict(SCOPE))
    except ValueError:
        logging.getLogger("tests.log_redaction").exception("Exception inside application")
    output = log_output.getvalue()
    for secret in SECRETS:
        assert secret not in output
    # The traceback itself is still there to read.
    assert "No route found for path '/ws/nothing/'" in output
    assert "in route" in output


def test_headers_in_a_message_or_its_arguments_are_redacted(log_output):
    log = logging.getLogger("tests.log_redaction")
    log.warning("upstream refused: Authorization: Bearer %s", HF_TOKEN)
    log.info("scope %s", SCOPE)
    log.info("request", extra={"headers": {"Cookie": f"sessionid={SESSION}"}})
    output = log_output.getvalue()
    assert_redacted(output)
    assert "upstream refused" in output and "/ws/nothing/" in output


def test_structlog_fields_are_redacted(log_output):
    log = structlog.get_logger("tests.log_redaction")
    log.info("gateway call", authorization=f"Bearer {API_KEY}", scope=SCOPE, key_used=API_KEY)
    log.info("cookie seen", headers=[("Cookie", f"sessionid={SESSION}; csrftoken={CSRF}")])
    output = log_output.getvalue()
    assert_redacted(output)
    assert "gateway call" in output and "vf_live_[redacted]" in output


def test_the_site_handler_redacts():
    # The handler settings.LOGGING puts on the root logger, writing somewhere we can read.
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    handler = next(
        h for h in handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        logging.getLogger("daphne.server").error("headers: %s", SCOPE["headers"])
    finally:
        handler.setStream(previous)
    assert_redacted(stream.getvalue())


@pytest.mark.parametrize(
    "text, kept",
    [
        ("Cookie: sessionid=abc; csrftoken=def", "Cookie: "),
        ("{'HTTP_COOKIE': 'a=b', 'HTTP_AUTHORIZATION': 'Bearer abcdefgh123'}", "'HTTP_COOKIE': '"),
        ("(b'cookie', b'a=b')", "(b'cookie', b'"),
        (
            "curl -H 'Authorization: Bearer abcdefgh123' http://x/v1/models",
            "curl -H 'Authorization: ",
        ),
        (f"called with {API_KEY} twice", "called with vf_live_[redacted] twice"),
    ],
)
def test_redact_text_keeps_the_name_and_drops_the_value(text, kept):
    redacted = redact_text(text)
    assert kept in redacted
    assert "[redacted]" in redacted
    for value in ("a=b", "abc", "abcdefgh123", API_KEY):
        assert value not in redacted


def test_redact_text_leaves_ordinary_words_alone():
    text = "The basic plan allows 3 runs; no CSRF cookie was set; token counts: 45"
    assert redact_text(text) == text


@pytest.mark.django_db
def test_a_password_reset_link_in_a_request_line_is_redacted(client, owner):
    # Every request is logged with its path (django_structlog's request_started): the key of a
    # password reset link, valid until used, set a new password for whoever read the log.
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    key = default_token_generator.make_token(owner)
    url = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(owner), "key": key},
    )
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    handler = next(
        h for h in handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        assert client.get(url).status_code == 302  # the key goes to the session
    finally:
        handler.setStream(previous)
    output = stream.getvalue()
    assert "/accounts/password/reset/key/" in output  # the request was logged...
    assert key not in output and key.split("-")[1] not in output  # ...without its key


@pytest.mark.parametrize(
    "path, secret",
    [
        ("GET /accounts/password/reset/key/2-cb0x7k-5d1f0a9c2b3e4d5f6a7b/", "5d1f0a9c2b3e4d5f6a7b"),
        ("GET /accounts/confirm-email/MQ:1vWxYz:abcDEF123ghi/", "MQ:1vWxYz:abcDEF123ghi"),
        ("POST /invitations/Zx8-token_value_1234/ 302", "Zx8-token_value_1234"),
    ],
)
def test_tokens_in_paths_are_redacted(path, secret):
    assert secret not in redact_text(path)
    assert "[redacted]" in redact_text(path)


def test_a_standard_loggers_extra_fields_reach_the_line_redacted(log_output):
    # An operator's detail travels in `extra=` (a failed deploy's server address); the line also
    # says its level and logger, like structlog's own lines.
    logging.getLogger("tests.log_redaction").error(
        "deployment failed",
        extra={"server": "http://10.0.0.7:8100", "detail": f"Authorization: Bearer {API_KEY}"},
    )
    output = log_output.getvalue()
    assert "http://10.0.0.7:8100" in output and "error" in output.lower()
    assert "tests.log_redaction" in output
    assert API_KEY not in output
