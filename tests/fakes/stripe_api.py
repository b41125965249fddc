"""A local HTTP server that speaks the parts of the Stripe v1 API that VibeFlow's billing uses.

The real stripe SDK is pointed at it (stripe.StripeClient(key, base_addresses={"api": fake.url})):
customers (POST /v1/customers, GET /v1/customers/<id>), Checkout sessions
(POST /v1/checkout/sessions), billing portal sessions (POST /v1/billing_portal/sessions),
subscriptions (GET, POST and DELETE /v1/subscriptions/<id>) and meter events
(POST /v1/billing/meter_events). Bodies arrive the way the SDK sends v1 requests: form-encoded
with bracketed keys (line_items[0][price]=..., metadata[team_id]=...), which parse_form turns
back into dicts and lists. Answers and errors have Stripe's shapes ({"error": {"type", "code",
"message", "param"}}), so the SDK raises its own exception classes.

Like Stripe it asks for "Authorization: Bearer <secret key>", replays the first answer to a POST
whose Idempotency-Key it has seen (and refuses the key with other parameters), and refuses a
second meter event with an identifier it already has ("An event already exists with identifier
<id>."). `down` and `fail_meter_events_after` stage outages (HTTP 503, type api_error).
Subscriptions are made by tests with add_subscription (or complete_checkout), as if Checkout had
completed. sign() and event() build webhook deliveries that stripe.Webhook.construct_event accepts.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, unquote, urlsplit

from ._http import LocalServer, send_json

API_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 pins (stripe._api_version._ApiVersion)

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(body: str) -> dict:
    """Turn Stripe's form encoding (a[b][0][c]=v) back into nested dicts and lists of strings."""
    result: dict = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if not match:
            result[raw_key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: dict | list = result
        for part, after in zip(parts, parts[1:] + [None], strict=True):
            if after is None:
                _put(node, part, value)
            else:
                child = _get(node, part)
                if child is None:
                    child = [] if after == "" or after.isdigit() else {}
                    _put(node, part, child)
                node = child
    return result


def _get(node: dict | list, part: str):
    if isinstance(node, dict):
        return node.get(part)
    index = int(part) if part.isdigit() else len(node)
    return node[index] if index < len(node) else None


def _put(node: dict | list, part: str, value) -> None:
    if isinstance(node, dict):
        node[part] = value
        return
    index = int(part) if part.isdigit() else len(node)
    node.extend([None] * (index + 1 - len(node)))
    node[index] = value


def _flag(value) -> bool:
    return str(value).lower() == "true"


def _new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends with `payload`: t=<unix>,v1=<HMAC-SHA256 hex>."""
    if isinstance(payload, bytes):
        payload = payload.decode()
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(type: str, obj: dict, *, created: int | None = None, id: str | None = None) -> dict:
    """A Stripe event envelope around `obj`, as a webhook delivers it (json.dumps it, then sign)."""
    return {
        "id": id or _new_id("evt_test_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


class StripeError(Exception):
    def __init__(self, status: int, type: str, message: str, code=None, param=None):
        self.status = status
        self.body = {"type": type, "message": message}
        if code:
            self.body["code"] = code
        if param:
            self.body["param"] = param


def _missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404 if param == "id" else 400,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def _require(params: dict, *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise StripeError(
                400,
                "invalid_request_error",
                f"Missing required param: {name}.",
                code="parameter_missing",
                param=name,
            )


class FakeStripe(LocalServer):
    # kept on a checkout session for tests to read, but not answered (Stripe expands line_items only)
    _SESSION_INPUTS = ("line_items", "subscription_data")

    def __init__(self, api_key: str = "sk_test_vibeflow"):
        self.api_key = api_key
        self.customers: dict[str, dict] = {}
        self.checkout_sessions: dict[str, dict] = {}
        self.portal_sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.meter_events: list[dict] = []  # in arrival order
        self.requests: list[str] = []  # "METHOD /path", every request, refused ones included
        self.idempotent: dict[str, tuple[tuple, int, dict]] = {}  # key -> (request, status, body)
        self.down = False
        self.fail_meter_events_after: int | None = None
        self.lock = threading.RLock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._handle()

            def do_POST(self):
                self._handle()

            def do_DELETE(self):
                self._handle()

            def _handle(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = parse_form(body if self.command != "GET" else url.query)
                with fake.lock:
                    status, payload, headers = fake._respond(
                        self.command, unquote(url.path), body, params, self.headers
                    )
                headers["Request-Id"] = _new_id("req_")
                send_json(self, status, payload, headers)

        self._serve(Handler)

    # -- for tests ------------------------------------------------------------------------------

    def add_customer(self, email: str = "", name: str = "", **fields) -> dict:
        customer = {
            "id": _new_id("cus_"),
            "object": "customer",
            "created": int(time.time()),
            "email": email or None,
            "name": name or None,
            "description": None,
            "livemode": False,
            "metadata": {},
        }
        customer.update(fields)
        with self.lock:
            self.customers[customer["id"]] = customer
        return customer

    def add_subscription(self, customer: str, price_id: str, status: str = "active", **fields):
        """A subscription of `customer` to `price_id`, as if Checkout had completed; `fields`
        override the object's own (metadata, cancel_at_period_end, current_period_end, ...)."""
        now = int(time.time())
        period_end = fields.pop("current_period_end", now + 30 * 86400)
        sub_id = fields.pop("id", None) or _new_id("sub_")
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "created": now,
            "start_date": now,
            "livemode": False,
            "metadata": {},
            "items": {
                "object": "list",
                "data": [self._item(sub_id, price_id, now, period_end)],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
        }
        subscription.update(fields)
        with self.lock:
            self.subscriptions[sub_id] = subscription
        return subscription

    def complete_checkout(self, session_id: str) -> dict:
        """Finish a Checkout session in subscription mode as a paying customer would: makes the
        subscription (first line item's price, subscription_data[metadata]) and answers the
        completed session, the data.object of checkout.session.completed."""
        with self.lock:
            session = self.checkout_sessions[session_id]
            if not session.get("customer"):
                session["customer"] = self.add_customer(email=session.get("customer_email"))["id"]
            items = session.get("line_items") or [{}]
            metadata = (session.get("subscription_data") or {}).get("metadata") or {}
            subscription = self.add_subscription(
                session["customer"], items[0].get("price"), metadata=dict(metadata)
            )
            session.update(status="complete", payment_status="paid")
            session["subscription"] = subscription["id"]
            return self._public_session(session)

    # -- the API ---------------------------------------------------------------------------------

    def _respond(self, method: str, path: str, body: str, params: dict, headers):
        self.requests.append(f"{method} {path}")
        if self.down:
            return _error(StripeError(503, "api_error", "Stripe is unavailable (FakeStripe.down)."))
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return _error(
                StripeError(
                    401,
                    "invalid_request_error",
                    "You did not provide an API key. You need to provide your API key in the "
                    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                    "YOUR_SECRET_KEY').",
                )
            )
        if auth[len("Bearer ") :] != self.api_key:
            key = auth[len("Bearer ") :]
            return _error(
                StripeError(401, "invalid_request_error", f"Invalid API Key provided: {key[:8]}***")
            )
        if (
            path == "/v1/billing/meter_events"
            and self.fail_meter_events_after is not None
            and len(self.meter_events) >= self.fail_meter_events_after
        ):
            return _error(
                StripeError(503, "api_error", "Stripe is unavailable (fail_meter_events_after).")
            )
        key = headers.get("Idempotency-Key") if method == "POST" else None
        request = (method, path, body)
        if key and key in self.idempotent:
            first, status, payload = self.idempotent[key]
            if first != request:
                return _error(
                    StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request.",
                    )
                )
            return status, payload, {"Idempotent-Replayed": "true", "Idempotency-Key": key}
        try:
            # a copy: what was answered, not the live state (a replay answers the first answer)
            status, payload = 200, copy.deepcopy(self._route(method, path, params))
        except StripeError as exc:
            status, payload = exc.status, {"error": exc.body}
        if key and status < 500:
            self.idempotent[key] = (request, status, payload)
        return status, payload, {"Idempotency-Key": key} if key else {}

    def _route(self, method: str, path: str, params: dict) -> dict:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/customers":
            return self.add_customer(
                email=params.get("email", ""),
                name=params.get("name", ""),
                description=params.get("description"),
                metadata=dict(params.get("metadata") or {}),
            )
        if parts[:2] == ["v1", "customers"] and len(parts) == 3 and method == "GET":
            if parts[2] not in self.customers:
                raise _missing("customer", parts[2])
            return self.customers[parts[2]]
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_checkout(params)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            _require(params, "customer")
            if params["customer"] not in self.customers:
                raise _missing("customer", params["customer"], param="customer")
            portal_id = _new_id("bps_")
            portal = {
                "id": portal_id,
                "object": "billing_portal.session",
                "created": int(time.time()),
                "customer": params["customer"],
                "livemode": False,
                "return_url": params.get("return_url"),
                "url": f"{self.url}/p/session/{portal_id}",
            }
            self.portal_sessions[portal_id] = portal
            return portal
        if parts[:2] == ["v1", "subscriptions"] and len(parts) == 3:
            subscription = self.subscriptions.get(parts[2])
            if subscription is None:
                raise _missing("subscription", parts[2])
            if method == "POST":
                self._update_subscription(subscription, params)
            elif method == "DELETE":
                now = int(time.time())
                subscription.update(status="canceled", canceled_at=now, ended_at=now)
            return subscription
        if method == "POST" and path == "/v1/billing/meter_events":
            return self._create_meter_event(params)
        raise StripeError(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({method}: {path}). (FakeStripe does not speak it.)",
        )

    def _create_checkout(self, params: dict) -> dict:
        _require(params, "mode")
        if params.get("customer") and params["customer"] not in self.customers:
            raise _missing("customer", params["customer"], param="customer")
        session_id = _new_id("cs_test_")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "created": int(time.time()),
            "expires_at": int(time.time()) + 86400,
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": dict(params.get("metadata") or {}),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "subscription": None,
            "livemode": False,
            "url": f"{self.url}/checkout/{session_id}",
            "line_items": [dict(item) for item in params.get("line_items") or []],
            "subscription_data": params.get("subscription_data") or {},
        }
        self.checkout_sessions[session_id] = session
        return self._public_session(session)

    def _public_session(self, session: dict) -> dict:
        return {k: v for k, v in session.items() if k not in self._SESSION_INPUTS}

    def _update_subscription(self, subscription: dict, params: dict) -> None:
        if "cancel_at_period_end" in params:
            subscription["cancel_at_period_end"] = _flag(params["cancel_at_period_end"])
        for name, value in (params.get("metadata") or {}).items():
            if value == "":
                subscription["metadata"].pop(name, None)  # Stripe unsets a key sent empty
            else:
                subscription["metadata"][name] = value
        items = subscription["items"]["data"]
        for change in params.get("items") or []:
            existing = next((i for i in items if i["id"] == change.get("id")), None)
            if existing is None:
                now = int(time.time())
                end = items[0]["current_period_end"] if items else now + 30 * 86400
                items.append(self._item(subscription["id"], change.get("price"), now, end))
            elif _flag(change.get("deleted")):
                items.remove(existing)
            elif change.get("price"):
                existing["price"] = {"id": change["price"], "object": "price"}
        subscription["items"]["total_count"] = len(items)

    def _item(self, sub_id: str, price_id: str, start: int, end: int) -> dict:
        return {
            "id": _new_id("si_"),
            "object": "subscription_item",
            "subscription": sub_id,
            "price": {"id": price_id, "object": "price"},
            "quantity": 1,
            "current_period_start": start,
            "current_period_end": end,
            "metadata": {},
        }

    def _create_meter_event(self, params: dict) -> dict:
        _require(params, "event_name", "payload")
        identifier = params.get("identifier") or _new_id("mtrevt_")
        if any(e["identifier"] == identifier for e in self.meter_events):
            raise StripeError(
                400,
                "invalid_request_error",
                f"An event already exists with identifier {identifier}.",
            )
        now = int(time.time())
        meter_event = {
            "object": "billing.meter_event",
            "created": now,
            "event_name": params["event_name"],
            "identifier": identifier,
            "livemode": False,
            "payload": dict(params["payload"]),
            "timestamp": int(params.get("timestamp") or now),
        }
        self.meter_events.append(meter_event)
        return meter_event


def _error(exc: StripeError) -> tuple[int, dict, dict]:
    return exc.status, {"error": exc.body}, {}
