"""A local fake of the Stripe API for tests (standard library only).

The official ``stripe`` library talks to it unchanged through its base-address setting::

    with FakeStripeServer() as server:
        client = stripe.StripeClient(server.api_key, base_addresses={"api": server.url})
        customer = client.v1.customers.create({"name": "Acme"})
        assert server.count("customer") == 1

Design notes (why it looks the way it does):

* Answers are Stripe's own example objects from ``fixtures3.json`` (the file Stripe's mock
  server uses), deep-copied, given fresh ids and filled in from the request. Fields of the
  example that would be misleading on a fresh object (a discount, a parent subscription,
  nonsense amounts) are reset to what Stripe returns for a plain API-created object.
* Amounts are integers in minor units and are passed through untouched: the fake never
  prices, rounds or converts anything. Invoice totals are plain integer sums of the items.
* Unknown parameters are rejected (``parameter_unknown``) like real Stripe does, so an
  integration that sends something Stripe would refuse fails in tests too.
* All state lives behind one lock. A request's idempotency check, its work and the storing
  of its idempotent result happen atomically, so two concurrent requests with the same
  ``Idempotency-Key`` can never both create an object.
* Injected faults (429/5xx, dropped connections) happen "in front of" the API: nothing is
  created and nothing is stored under the idempotency key, so a retry with the same key
  runs for real. The ``lost_response`` fault is the opposite case: the work is done and
  stored, only the answer never arrives, and a retry gets the stored answer replayed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import string
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JSON = dict[str, Any]

FIXTURES_ENV_VAR = "STRIPE_FIXTURES_PATH"
DEFAULT_FIXTURES_PATH = (
    Path(__file__).resolve().parents[3] / "shared/fixtures/stripe/fixtures3.json"
)
DEFAULT_API_KEY = "sk_test_meterline_fake_0000000000"
DEFAULT_WEBHOOK_SECRET = "whsec_meterline_fake_0000000000"

# Stripe object type -> id prefix.
ID_PREFIXES: dict[str, str] = {
    "customer": "cus",
    "invoice": "in",
    "invoiceitem": "ii",
    "line_item": "il",
    "event": "evt",
}

_ID_ALPHABET = string.ascii_letters + string.digits

# Form keys whose value is always a hash even when its keys look like list indexes.
_HASH_PARAMS = frozenset({"metadata"})


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


def fixtures_path() -> Path:
    """Where the Stripe fixtures live; ``STRIPE_FIXTURES_PATH`` overrides the repo default."""
    override = os.environ.get(FIXTURES_ENV_VAR)
    return Path(override) if override else DEFAULT_FIXTURES_PATH


@functools.cache
def _load_resources(path: Path) -> Mapping[str, JSON]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)["resources"]


def fixture(resource: str) -> JSON:
    """A deep copy of Stripe's example object for ``resource`` (e.g. ``"invoice"``)."""
    return copy.deepcopy(_load_resources(fixtures_path())[resource])


def new_id(object_type: str) -> str:
    """A fresh Stripe-looking id such as ``in_3kTq...`` for an object type."""
    prefix = ID_PREFIXES.get(object_type, object_type.split(".")[-1][:4])
    return f"{prefix}_{_random_token(24)}"


def _random_token(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


# --------------------------------------------------------------------------------------
# Webhook helpers
# --------------------------------------------------------------------------------------


def make_event(
    event_type: str,
    data_object: Mapping[str, Any],
    created: int | None = None,
    *,
    previous_attributes: Mapping[str, Any] | None = None,
    api_version: str | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> JSON:
    """A Stripe ``event`` object (from the fixture) of ``event_type`` wrapping ``data_object``."""
    event = fixture("event")
    event.update(
        id=new_id("event"),
        type=event_type,
        created=int(time.time()) if created is None else created,
        livemode=False,
        api_version=api_version,
        pending_webhooks=1,
        request={"id": request_id, "idempotency_key": idempotency_key},
    )
    event["data"] = {"object": copy.deepcopy(dict(data_object))}
    if previous_attributes is not None:
        event["data"]["previous_attributes"] = copy.deepcopy(dict(previous_attributes))
    return event


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value Stripe would send with ``payload``.

    Stripe signs ``"{timestamp}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint secret.
    Pass an old or future ``timestamp`` to test the receiver's tolerance check.
    """
    body = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode("utf-8"), f"{signed_at}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={signed_at},v1={digest}"


def webhook_request(
    event: Mapping[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a webhook delivery of ``event``, ready to POST to the app."""
    body = json.dumps(event, indent=2).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_payload(body, secret, timestamp),
    }
    return body, headers


# --------------------------------------------------------------------------------------
# Stripe's form encoding
# --------------------------------------------------------------------------------------

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_form(pairs: Iterable[tuple[str, str]]) -> JSON:
    """Turn Stripe's bracket notation into nested dicts and lists.

    ``metadata[k]=v`` -> ``{"metadata": {"k": "v"}}``, ``a[b][c]=1`` -> nested dicts,
    ``expand[]=x`` / ``expand[0]=x`` -> ``{"expand": ["x"]}``. Values stay strings, as on
    the wire; handlers coerce them.
    """
    root: JSON = {}
    for raw_key, value in pairs:
        match = _KEY_RE.match(raw_key)
        parts = [match.group(1), *_SUBKEY_RE.findall(match.group(2))] if match else [raw_key]
        node = root
        for depth, part in enumerate(parts):
            # "x[]" appends: give the element the next free index, listified below.
            key = str(len(node)) if part == "" else part
            if depth == len(parts) - 1:
                if isinstance(node.get(key), dict):
                    raise _invalid_param(raw_key, f"Invalid value for {raw_key}.")
                node[key] = value
                break
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise _invalid_param(raw_key, f"Invalid value for {raw_key}.")
            node = child
    return _listify(root, parent_key=None)


def _listify(node: Any, parent_key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value, key) for key, value in node.items()}
    # A hash whose keys are all indexes is an array (x[0]=a&x[1]=b), except metadata,
    # where "0" is a perfectly good key.
    if converted and parent_key not in _HASH_PARAMS and all(k.isdigit() for k in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class StripeApiError(Exception):
    """An error answer in Stripe's shape: ``{"error": {"type", "code", "message", "param"}}``.

    ``replayable`` mirrors Stripe's idempotency rule: a result is saved under the key only
    once the endpoint started doing work. Parameter validation failures are not saved, so
    the caller can fix the request and reuse the key; business errors (wrong invoice state,
    declines) are saved and replayed.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        replayable: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.replayable = replayable
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> JSON:
        error: JSON = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def _missing_param(name: str) -> StripeApiError:
    return StripeApiError(
        400, f"Missing required param: {name}.", code="parameter_missing", param=name
    )


def _invalid_param(name: str, message: str, code: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, code=code, param=name)


def _no_such(object_type: str, object_id: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404,
        f"No such {object_type}: '{object_id}'",
        code="resource_missing",
        param=param,
        replayable=True,
    )


def _state_error(message: str, code: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, code=code, replayable=True)


# --------------------------------------------------------------------------------------
# Parameter coercion (everything arrives as strings)
# --------------------------------------------------------------------------------------


def _check_known(params: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise StripeApiError(
                400,
                f"Received unknown parameter: {name}",
                code="parameter_unknown",
                param=name,
            )


def _require(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise _missing_param(name)
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise _invalid_param(name, f"Invalid integer: {value}", "parameter_invalid_integer")


def _opt_int(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    return None if value is None or value == "" else _int(value, name)


def _opt_bool(params: Mapping[str, Any], name: str) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if value in ("true", "false"):
        return value == "true"
    raise _invalid_param(name, f"Invalid boolean: {value}")


def _opt_str(params: Mapping[str, Any], name: str) -> str | None:
    """A string param; Stripe treats an empty string as "unset" (null)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid_param(name, f"Invalid string: {name}")
    return value


def _opt_hash(params: Mapping[str, Any], name: str) -> JSON | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise _invalid_param(name, f"Invalid object: {name}")
    return value


def _enum(params: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = params.get(name, default)
    if value not in choices:
        raise _invalid_param(name, f"Invalid {name}: must be one of {', '.join(choices)}")
    return value


def _currency(params: Mapping[str, Any], name: str = "currency") -> str | None:
    value = _opt_str(params, name)
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise _invalid_param(name, f"Invalid currency: {value}")
    # Stripe accepts "JPY" and always answers in lowercase.
    return value.lower()


def _metadata(params: Mapping[str, Any]) -> JSON | None:
    """The ``metadata`` hash, checked against Stripe's limits (50 keys, 40/500 chars)."""
    value = params.get("metadata")
    if value is None:
        return None
    if value == "":
        return {}  # metadata="" clears all keys
    if not isinstance(value, dict):
        raise _invalid_param("metadata", "Invalid object: metadata")
    if len(value) > 50:
        raise _invalid_param("metadata", "You can have up to 50 metadata keys.")
    for key, item in value.items():
        if len(key) > 40:
            raise _invalid_param(f"metadata[{key}]", "Metadata keys can have up to 40 characters.")
        if not isinstance(item, str) or len(item) > 500:
            raise _invalid_param(
                f"metadata[{key}]", "Metadata values can have up to 500 characters."
            )
    return value


def _merge_metadata(current: JSON, update: JSON) -> JSON:
    """Stripe's update semantics: keys are upserted, an empty value deletes the key."""
    merged = dict(current)
    if not update:
        return {}
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _address(params: Mapping[str, Any], name: str, current: JSON | None) -> JSON | None:
    value = params.get(name)
    if value == "":
        return None
    base = dict(current or {})
    for key in ("city", "country", "line1", "line2", "postal_code", "state"):
        base.setdefault(key, None)
    for key, item in _opt_hash(params, name).items():
        if key not in base:
            raise StripeApiError(
                400,
                f"Received unknown parameter: {name}[{key}]",
                code="parameter_unknown",
                param=f"{name}[{key}]",
            )
        base[key] = item or None
    return base


# Top-level params Stripe accepts per endpoint (from stripe-python's *Params TypedDicts,
# minus the request options that travel as headers).
_EXPAND = frozenset({"expand"})
_PAGING = frozenset({"limit", "starting_after", "ending_before", "expand"})
_CUSTOMER_WRITE = frozenset(
    {
        "address", "balance", "business_name", "cash_balance", "description", "email",
        "expand", "individual_name", "invoice_prefix", "invoice_settings", "metadata",
        "name", "next_invoice_sequence", "phone", "preferred_locales", "shipping",
        "source", "tax", "tax_exempt", "validate",
    }
)  # fmt: skip
CUSTOMER_CREATE_PARAMS = _CUSTOMER_WRITE | {"payment_method", "tax_id_data", "test_clock"}
CUSTOMER_UPDATE_PARAMS = _CUSTOMER_WRITE | {"default_source"}
CUSTOMER_LIST_PARAMS = _PAGING | {"created", "email", "test_clock"}
SEARCH_PARAMS = frozenset({"expand", "limit", "page", "query"})
_INVOICE_WRITE = frozenset(
    {
        "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax",
        "automatically_finalizes_at", "collection_method", "custom_fields",
        "days_until_due", "default_payment_method", "default_source",
        "default_tax_rates", "description", "discounts", "due_date", "effective_at",
        "expand", "footer", "issuer", "metadata", "number", "on_behalf_of",
        "payment_settings", "rendering", "shipping_cost", "shipping_details",
        "statement_descriptor", "transfer_data",
    }
)  # fmt: skip
INVOICE_CREATE_PARAMS = _INVOICE_WRITE | {
    "currency", "customer", "customer_account", "from_invoice",
    "pending_invoice_items_behavior", "subscription",
}  # fmt: skip
INVOICE_UPDATE_PARAMS = _INVOICE_WRITE
INVOICE_LIST_PARAMS = _PAGING | {
    "collection_method", "created", "customer", "customer_account", "due_date", "status",
    "subscription",
}  # fmt: skip
INVOICE_FINALIZE_PARAMS = frozenset({"auto_advance", "expand"})
INVOICE_PAY_PARAMS = frozenset(
    {"expand", "forgive", "mandate", "off_session", "paid_out_of_band", "payment_method",
     "source"}
)  # fmt: skip
_INVOICEITEM_WRITE = frozenset(
    {
        "amount", "description", "discountable", "discounts", "expand", "metadata",
        "period", "price_data", "pricing", "quantity", "quantity_decimal", "tax_behavior",
        "tax_code", "tax_rates", "unit_amount_decimal",
    }
)  # fmt: skip
INVOICEITEM_CREATE_PARAMS = _INVOICEITEM_WRITE | {
    "currency", "customer", "customer_account", "invoice", "subscription",
}  # fmt: skip
INVOICEITEM_UPDATE_PARAMS = _INVOICEITEM_WRITE | {"invoicing_rules"}
INVOICEITEM_LIST_PARAMS = _PAGING | {
    "created", "customer", "customer_account", "invoice", "pending",
}  # fmt: skip
EVENT_LIST_PARAMS = _PAGING | {"created", "delivery_success", "type", "types"}

# Fields Stripe's search supports per resource (docs: "Search query language").
SEARCH_FIELDS: dict[str, frozenset[str]] = {
    "customer": frozenset({"created", "email", "metadata", "name", "phone"}),
    "invoice": frozenset(
        {"created", "currency", "customer", "metadata", "number", "receipt_number"}
        | {"status", "subscription", "total"}
    ),
}


# --------------------------------------------------------------------------------------
# Recording and faults
# --------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the fake saw it. ``status`` is None when no answer was sent."""

    method: str
    path: str
    params: JSON
    headers: dict[str, str]  # lower-cased names
    idempotency_key: str | None
    request_id: str
    status: int | None = None
    response: JSON | None = None
    replayed: bool = False
    fault: str | None = None  # "status:429", "timeout", "lost_response", "slow"


@dataclass
class _Fault:
    kind: str  # "status" | "timeout" | "lost_response" | "slow"
    status: int = 500
    code: str | None = None
    should_retry: bool | None = None
    delay_seconds: float = 0.0
    method: str | None = None
    path_prefix: str | None = None
    remaining: int = 1

    def matches(self, method: str, path: str) -> bool:
        return _in_scope(method, path, self.method, self.path_prefix)


def _in_scope(method: str, path: str, want_method: str | None, path_prefix: str | None) -> bool:
    if want_method is not None and want_method.upper() != method:
        return False
    return path_prefix is None or path.startswith(path_prefix)


@dataclass
class _FailureRate:
    rate: float
    statuses: tuple[int, ...]
    timeout_rate: float
    lost_response_rate: float
    delay_seconds: float
    method: str | None
    path_prefix: str | None
    rng: random.Random


@dataclass
class _IdempotentResult:
    method: str
    path: str
    params: JSON
    status: int
    body: JSON
    request_id: str


@dataclass
class _Response:
    status: int
    body: JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Context:
    """What a route handler gets: parsed params, path arguments and request identity."""

    params: JSON
    args: tuple[str, ...]
    request_id: str
    idempotency_key: str | None
    stripe_version: str | None


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


class FakeStripeServer:
    """A Stripe API fake on ``127.0.0.1`` for the official ``stripe`` library.

    Start it with ``with FakeStripeServer() as server:`` (or ``start()`` / ``stop()``) and
    point the library at ``server.url``. Inspect with ``objects()``, ``count()``, ``get()``
    and ``requests``; inject faults with ``fail_next()``, ``timeout_next()``,
    ``lose_response_next()``, ``slow_next()`` and ``set_failure_rate()``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = DEFAULT_API_KEY,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        port: int = 0,
        search_lag_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """
        api_key: the only secret key accepted; ``None`` accepts any ``sk_test_`` key.
        search_lag_seconds: objects younger than this are invisible to ``/search``, like
            Stripe's eventually consistent search index (use it to prove the integration
            does not rely on search for idempotency).
        clock: the time source for ``created`` and status timestamps.
        """
        self.api_key = api_key or DEFAULT_API_KEY
        self._accept_any_test_key = api_key is None
        self.webhook_secret = webhook_secret
        self.search_lag_seconds = search_lag_seconds
        self.decline_payments = False  # when True, /pay answers 402 card_declined
        self._clock = clock
        self._port = port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()
        self._init_state()

    def _init_state(self) -> None:
        self._objects: dict[str, JSON] = {}
        self._stored_at: dict[str, float] = {}  # monotonic, for search lag
        self._line_ids: dict[str, str] = {}  # invoice item id -> stable line item id
        self._idempotency: dict[tuple[str, str], _IdempotentResult] = {}
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._failure_rate: _FailureRate | None = None
        self.internal_errors: list[str] = []  # tracebacks of bugs in the fake itself

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeStripeServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-stripe-{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        # Wake handlers sleeping in injected delays so they drop their connection now.
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeStripeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeStripeServer is not running; call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL to give the stripe library (``base_addresses={"api": url}``)."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables pointing the app's Stripe settings at this fake."""
        return {
            "STRIPE_SECRET_KEY": self.api_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_API_BASE": self.url,
        }

    def stripe_client(self, *, max_network_retries: int = 0, timeout: float = 5.0) -> Any:
        """A ``stripe.StripeClient`` bound to this fake (imports ``stripe`` lazily)."""
        # Imported here so the fake itself stays standard-library only.
        import stripe

        return stripe.StripeClient(
            self.api_key,
            base_addresses={"api": self.url},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    # ---- inspection --------------------------------------------------------------------

    def objects(self, object_type: str) -> list[JSON]:
        """Stored objects of a type (``"customer"``, ``"invoice"``, ...), oldest first."""
        with self._lock:
            return [
                copy.deepcopy(obj)
                for obj in self._objects.values()
                if obj.get("object") == object_type
            ]

    def count(self, object_type: str) -> int:
        with self._lock:
            return sum(1 for obj in self._objects.values() if obj.get("object") == object_type)

    def get(self, object_id: str) -> JSON | None:
        """A copy of a stored object by id, or None."""
        with self._lock:
            obj = self._objects.get(object_id)
            return copy.deepcopy(obj) if obj is not None else None

    def events(self, event_type: str | None = None) -> list[JSON]:
        """Events the fake emitted for state changes (``invoice.finalized``, ...)."""
        return [e for e in self.objects("event") if event_type in (None, e["type"])]

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def find_requests(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_prefix is None or r.path.startswith(path_prefix))
        ]

    def seed(self, object_type: str, **fields: Any) -> JSON:
        """Store an object directly (e.g. a customer that already exists in Stripe)."""
        with self._lock:
            if object_type == "customer":
                obj = self._blank_customer()
            else:
                obj = fixture(object_type)
                obj.update(id=new_id(object_type), created=self._now(), livemode=False)
            obj.update(fields)
            self._store(obj)
            return copy.deepcopy(obj)

    def reset(self) -> None:
        """Forget all objects, recorded requests, idempotency keys and faults."""
        with self._lock:
            self._init_state()

    def forget_idempotency_keys(self) -> None:
        """Simulate Stripe pruning idempotency keys (it keeps them for 24 hours)."""
        with self._lock:
            self._idempotency.clear()

    # ---- fault injection ---------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        code: str | None = None,
        should_retry: bool | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` without doing anything.

        For 429 the default ``code`` is ``rate_limit``, which Stripe sends without
        ``Stripe-Should-Retry``: stripe-python does NOT retry it, the caller must back off.
        ``code="lock_timeout"`` is the 429 Stripe marks ``Stripe-Should-Retry: true``,
        which the library retries itself. 5xx answers carry ``Stripe-Should-Retry: true``
        because nothing was executed. ``should_retry`` forces the header either way.
        """
        self._add_fault(
            _Fault(
                "status",
                status=status,
                code=code,
                should_retry=should_retry,
                method=method,
                path_prefix=path_prefix,
                remaining=n,
            )
        )

    def timeout_next(
        self,
        n: int = 1,
        delay_seconds: float = 1.5,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Hold the next ``n`` requests for ``delay_seconds`` then drop the connection.

        Nothing is created: the request "never reached Stripe". Use a delay longer than
        the client timeout to get a client-side timeout.
        """
        self._add_fault(
            _Fault(
                "timeout",
                delay_seconds=delay_seconds,
                method=method,
                path_prefix=path_prefix,
                remaining=n,
            )
        )

    def lose_response_next(
        self,
        n: int = 1,
        delay_seconds: float = 1.5,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Do the work of the next ``n`` requests, then hold and drop the answer.

        The object IS created and its answer stored under the idempotency key, exactly
        like Stripe committing a request whose response is lost on the way back. A retry
        with the same key gets the stored answer (``Idempotent-Replayed: true``).
        """
        self._add_fault(
            _Fault(
                "lost_response",
                delay_seconds=delay_seconds,
                method=method,
                path_prefix=path_prefix,
                remaining=n,
            )
        )

    def slow_next(
        self,
        n: int = 1,
        delay_seconds: float = 0.5,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Sleep ``delay_seconds`` before handling the next ``n`` requests normally."""
        self._add_fault(
            _Fault(
                "slow",
                delay_seconds=delay_seconds,
                method=method,
                path_prefix=path_prefix,
                remaining=n,
            )
        )

    def set_failure_rate(
        self,
        rate: float,
        statuses: tuple[int, ...] = (429, 500),
        *,
        timeout_rate: float = 0.0,
        lost_response_rate: float = 0.0,
        delay_seconds: float = 1.5,
        seed: int = 0,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Randomly fail requests from now on, reproducibly (seeded).

        Per matching request: with probability ``rate`` answer one of ``statuses`` (as in
        ``fail_next``), with ``timeout_rate`` behave like ``timeout_next``, with
        ``lost_response_rate`` like ``lose_response_next``; otherwise answer normally.
        ``rate=0`` and no other rates switches it off.
        """
        if rate + timeout_rate + lost_response_rate > 1:
            raise ValueError("failure rates add up to more than 1")
        with self._lock:
            if rate == timeout_rate == lost_response_rate == 0:
                self._failure_rate = None
                return
            self._failure_rate = _FailureRate(
                rate=rate,
                statuses=tuple(statuses),
                timeout_rate=timeout_rate,
                lost_response_rate=lost_response_rate,
                delay_seconds=delay_seconds,
                method=method,
                path_prefix=path_prefix,
                rng=random.Random(seed),
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._failure_rate = None

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def _pick_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            config = self._failure_rate
            if config is None:
                return None
            if not _in_scope(method, path, config.method, config.path_prefix):
                return None
            roll = config.rng.random()
            if roll < config.rate:
                return _Fault("status", status=config.rng.choice(config.statuses))
            roll -= config.rate
            if roll < config.timeout_rate:
                return _Fault("timeout", delay_seconds=config.delay_seconds)
            roll -= config.timeout_rate
            if roll < config.lost_response_rate:
                return _Fault("lost_response", delay_seconds=config.delay_seconds)
            return None

    def _fault_response(self, fault: _Fault, request_id: str) -> _Response:
        status = fault.status
        headers: dict[str, str] = {}
        if status == 429:
            code = fault.code or "rate_limit"
            if code == "lock_timeout":
                message = (
                    "This object cannot be accessed right now because another API request "
                    "or Stripe process is currently accessing it. Please retry."
                )
            else:
                message = (
                    "Request rate limit exceeded. You can learn more about rate limits here "
                    "https://stripe.com/docs/rate-limits."
                )
            error = StripeApiError(429, message, code=code)
            should_retry = fault.should_retry
            if should_retry is None and code == "lock_timeout":
                should_retry = True
        elif status >= 500:
            error = StripeApiError(
                status,
                "An unknown error occurred (injected by the fake Stripe server).",
                error_type="api_error",
                code=fault.code,
            )
            should_retry = True if fault.should_retry is None else fault.should_retry
        else:
            error = StripeApiError(status, "Injected failure.", code=fault.code)
            should_retry = fault.should_retry
        if should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if should_retry else "false"
        return _Response(status, error.body(request_id), headers)

    # ---- request handling (called from handler threads) --------------------------------

    def _serve(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        headers = {name.lower(): value for name, value in handler.headers.items()}
        request_id = f"req_{_random_token(14)}"
        idempotency_key = headers.get("idempotency-key") or None
        length = int(headers.get("content-length") or 0)
        raw_body = handler.rfile.read(length).decode("utf-8") if length else ""

        record = RecordedRequest(
            method=method,
            path=path,
            params={},
            headers=headers,
            idempotency_key=idempotency_key,
            request_id=request_id,
        )
        with self._lock:
            self._requests.append(record)

        base_headers = {"Request-Id": request_id}
        if idempotency_key:
            base_headers["Idempotency-Key"] = idempotency_key
        if headers.get("stripe-version"):
            base_headers["Stripe-Version"] = headers["stripe-version"]

        try:
            pairs = parse_qsl(split.query, keep_blank_values=True)
            if method == "POST":
                pairs += parse_qsl(raw_body, keep_blank_values=True)
            record.params = parse_form(pairs)
            self._authenticate(headers.get("authorization"))
        except StripeApiError as error:
            self._answer(handler, record, _Response(error.status, error.body(request_id)))
            return

        fault = self._pick_fault(method, path)
        if fault is not None:
            record.fault = fault.kind if fault.kind != "status" else f"status:{fault.status}"
            if fault.kind == "status":
                response = self._fault_response(fault, request_id)
                response.headers.update(base_headers)
                self._answer(handler, record, response)
                return
            if fault.kind == "timeout":
                self._stopping.wait(fault.delay_seconds)
                handler.close_connection = True  # answer nothing; nothing was done
                return
            if fault.kind == "slow":
                self._stopping.wait(fault.delay_seconds)
                if self._stopping.is_set():
                    handler.close_connection = True
                    return

        response = self._dispatch(method, path, record, request_id, idempotency_key, headers)
        response.headers = {**base_headers, **response.headers}

        if fault is not None and fault.kind == "lost_response":
            # The work is committed (and stored for replay); the answer never arrives.
            record.response = response.body
            self._stopping.wait(fault.delay_seconds)
            handler.close_connection = True
            return
        self._answer(handler, record, response)

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization or not authorization.startswith("Bearer "):
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        key = authorization.removeprefix("Bearer ").strip()
        valid = key.startswith("sk_test_") if self._accept_any_test_key else key == self.api_key
        if not valid:
            # Like Stripe, never echo the key back in full.
            raise StripeApiError(401, f"Invalid API Key provided: {key[:8]}{'*' * 8}{key[-4:]}")

    def _dispatch(
        self,
        method: str,
        path: str,
        record: RecordedRequest,
        request_id: str,
        idempotency_key: str | None,
        headers: Mapping[str, str],
    ) -> _Response:
        params = record.params
        route = self._match_route(method, path)
        with self._lock:
            # Only POSTs are idempotency-keyed (GET and DELETE are idempotent already).
            stored_key = None
            if method == "POST" and idempotency_key:
                stored_key = (headers.get("authorization", ""), idempotency_key)
                previous = self._idempotency.get(stored_key)
                if previous is not None:
                    return self._replay(previous, method, path, params, idempotency_key, record)
            try:
                if route is None:
                    raise StripeApiError(
                        404,
                        f"Unrecognized request URL ({method}: {path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    )
                handler, args = route
                context = _Context(
                    params=params,
                    args=args,
                    request_id=request_id,
                    idempotency_key=idempotency_key,
                    stripe_version=headers.get("stripe-version"),
                )
                status, body = 200, handler(context)
                body = self._expand(body, params.get("expand"))
                replayable = True
            except StripeApiError as error:
                status, body, replayable = error.status, error.body(request_id), error.replayable
            except Exception as exc:
                # A bug in the fake must fail the test loudly, not look like a flaky network
                # (a dropped connection would make the stripe library retry).
                self.internal_errors.append(traceback.format_exc())
                error = StripeApiError(
                    500, f"Fake Stripe server bug: {exc!r}", error_type="api_error"
                )
                return _Response(500, error.body(request_id), {"Stripe-Should-Retry": "false"})
            if stored_key is not None and replayable:
                self._idempotency[stored_key] = _IdempotentResult(
                    method, path, copy.deepcopy(params), status, copy.deepcopy(body), request_id
                )
            return _Response(status, body)

    def _replay(
        self,
        previous: _IdempotentResult,
        method: str,
        path: str,
        params: JSON,
        key: str,
        record: RecordedRequest,
    ) -> _Response:
        if (previous.method, previous.path) != (method, path):
            message = (
                "Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ('{previous.method} {previous.path}' vs '{method} "
                f"{path}'). Try using a key other than '{key}' if you meant to execute a "
                "different request."
            )
        elif previous.params != params:
            message = (
                "Keys for idempotent requests can only be used with the same parameters "
                f"they were first used with. Try using a key other than '{key}' if you "
                "meant to execute a different request."
            )
        else:
            record.replayed = True
            return _Response(
                previous.status,
                copy.deepcopy(previous.body),
                {"Idempotent-Replayed": "true", "Original-Request": previous.request_id},
            )
        error = StripeApiError(400, message, error_type="idempotency_error")
        return _Response(400, error.body(record.request_id), {"Stripe-Should-Retry": "false"})

    def _answer(self, handler: _Handler, record: RecordedRequest, response: _Response) -> None:
        record.status = response.status
        record.response = response.body
        data = json.dumps(response.body, indent=2).encode("utf-8")
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (e.g. timed out)

    # ---- routing -----------------------------------------------------------------------

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[[_Context], JSON]]]:
        obj_id = r"([A-Za-z0-9_]+)"
        table: list[tuple[str, str, Callable[[_Context], JSON]]] = [
            ("POST", "/v1/customers", self._create_customer),
            ("GET", "/v1/customers", self._list_customers),
            ("GET", "/v1/customers/search", self._search_customers),
            ("GET", f"/v1/customers/{obj_id}", self._retrieve("customer")),
            ("POST", f"/v1/customers/{obj_id}", self._update_customer),
            ("DELETE", f"/v1/customers/{obj_id}", self._delete_customer),
            ("POST", "/v1/invoiceitems", self._create_invoiceitem),
            ("GET", "/v1/invoiceitems", self._list_invoiceitems),
            ("GET", f"/v1/invoiceitems/{obj_id}", self._retrieve("invoiceitem")),
            ("POST", f"/v1/invoiceitems/{obj_id}", self._update_invoiceitem),
            ("DELETE", f"/v1/invoiceitems/{obj_id}", self._delete_invoiceitem),
            ("POST", "/v1/invoices", self._create_invoice),
            ("GET", "/v1/invoices", self._list_invoices),
            ("GET", "/v1/invoices/search", self._search_invoices),
            ("GET", f"/v1/invoices/{obj_id}", self._retrieve("invoice")),
            ("POST", f"/v1/invoices/{obj_id}", self._update_invoice),
            ("DELETE", f"/v1/invoices/{obj_id}", self._delete_invoice),
            ("GET", f"/v1/invoices/{obj_id}/lines", self._list_invoice_lines),
            ("POST", f"/v1/invoices/{obj_id}/finalize", self._finalize_invoice),
            ("POST", f"/v1/invoices/{obj_id}/pay", self._pay_invoice),
            ("POST", f"/v1/invoices/{obj_id}/void", self._void_invoice),
            ("POST", f"/v1/invoices/{obj_id}/mark_uncollectible", self._mark_uncollectible),
            ("POST", f"/v1/invoices/{obj_id}/send", self._send_invoice),
            ("GET", "/v1/events", self._list_events),
            ("GET", f"/v1/events/{obj_id}", self._retrieve("event")),
        ]
        return [(method, re.compile(f"^{pattern}$"), fn) for method, pattern, fn in table]

    def _match_route(
        self, method: str, path: str
    ) -> tuple[Callable[[_Context], JSON], tuple[str, ...]] | None:
        for route_method, pattern, fn in self._routes:
            match = pattern.match(path)
            if route_method == method and match:
                return fn, match.groups()
        return None

    # ---- storage helpers (callers hold the lock) ----------------------------------------

    def _now(self) -> int:
        return int(self._clock())

    def _store(self, obj: JSON) -> JSON:
        if obj["id"] not in self._objects:
            self._stored_at[obj["id"]] = time.monotonic()
        self._objects[obj["id"]] = obj
        return obj

    def _load(self, object_type: str, object_id: str, param: str = "id") -> JSON:
        obj = self._objects.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise _no_such(object_type, object_id, param)
        return obj

    def _emit(
        self,
        context: _Context,
        event_type: str,
        obj: JSON,
        previous_attributes: JSON | None = None,
    ) -> None:
        """Record the event Stripe would send for a state change (see ``events()``)."""
        event = make_event(
            event_type,
            obj,
            created=self._now(),
            previous_attributes=previous_attributes,
            api_version=context.stripe_version,
            request_id=context.request_id,
            idempotency_key=context.idempotency_key,
        )
        self._store(event)

    def _expand(self, body: JSON, expand: Any) -> JSON:
        if not expand:
            return body
        if not isinstance(expand, list):
            raise _invalid_param("expand", "Invalid array: expand")
        body = copy.deepcopy(body)
        for path in expand:
            self._expand_path(body, str(path).split("."), str(path))
        return body

    def _expand_path(self, node: Any, parts: list[str], full: str) -> None:
        if isinstance(node, list):
            for item in node:
                self._expand_path(item, parts, full)
            return
        if not isinstance(node, dict) or parts[0] not in node:
            raise _invalid_param("expand", f"This property cannot be expanded ({full}).")
        key, rest = parts[0], parts[1:]
        if not rest:
            value = node[key]
            if isinstance(value, str):
                target = self._objects.get(value)
                if target is None:
                    raise _invalid_param("expand", f"This property cannot be expanded ({full}).")
                node[key] = copy.deepcopy(target)
            elif value is not None and not isinstance(value, dict):
                raise _invalid_param("expand", f"This property cannot be expanded ({full}).")
            return
        self._expand_path(node[key], rest, full)

    def _list(self, url: str, items: list[JSON], params: Mapping[str, Any]) -> JSON:
        """Stripe's list envelope: newest first, ``limit`` (1-100), cursor pagination."""
        limit = _opt_int(params, "limit") or 10
        if not 1 <= limit <= 100:
            raise _invalid_param(
                "limit", "This value must be between 1 and 100.", "parameter_invalid_integer"
            )
        items = _filter_created(items, params.get("created"))
        # Newest first. The sort is stable, so reversing first keeps "last stored first"
        # among objects created in the same second.
        newest_first = list(reversed(items))
        newest_first.sort(key=lambda o: o["created"], reverse=True)
        ids = [o["id"] for o in newest_first]
        start, end = 0, len(newest_first)
        if after := _opt_str(params, "starting_after"):
            if after not in ids:
                raise _no_such("object", after, "starting_after")
            start = ids.index(after) + 1
        if before := _opt_str(params, "ending_before"):
            if before not in ids:
                raise _no_such("object", before, "ending_before")
            end = ids.index(before)
            start = max(start, end - limit)
        page = newest_first[start:end][:limit]
        return {
            "object": "list",
            "data": copy.deepcopy(page),
            "has_more": start + len(page) < end,
            "url": url,
        }

    def _search(self, object_type: str, url: str, params: Mapping[str, Any]) -> JSON:
        _check_known(params, SEARCH_PARAMS)
        query = _require(params, "query")
        limit = _opt_int(params, "limit") or 10
        predicate = _parse_search(query, SEARCH_FIELDS[object_type])
        visible_before = time.monotonic() - self.search_lag_seconds
        found = [
            obj
            for obj in self._objects.values()
            if obj.get("object") == object_type
            and self._stored_at[obj["id"]] <= visible_before
            and predicate(obj)
        ]
        found.reverse()
        found.sort(key=lambda o: o["created"], reverse=True)
        return {
            "object": "search_result",
            "data": copy.deepcopy(found[:limit]),
            "has_more": len(found) > limit,
            "next_page": None,
            "url": url,
        }

    def _retrieve(self, object_type: str) -> Callable[[_Context], JSON]:
        def handler(context: _Context) -> JSON:
            _check_known(context.params, _EXPAND)
            return copy.deepcopy(self._load(object_type, context.args[0]))

        return handler

    # ---- customers ---------------------------------------------------------------------

    def _blank_customer(self) -> JSON:
        customer = fixture("customer")
        customer.update(
            id=new_id("customer"),
            created=self._now(),
            livemode=False,
            currency=None,  # Stripe sets it with the customer's first invoice/charge
            discount=None,
            default_source=None,
            metadata={},
            invoice_prefix=secrets.token_hex(4).upper(),
            next_invoice_sequence=1,
            shipping=None,
        )
        customer["address"] = None
        return customer

    def _apply_customer_params(self, customer: JSON, params: Mapping[str, Any]) -> None:
        for name in ("name", "email", "description", "phone"):
            if name in params:
                customer[name] = _opt_str(params, name)
        if "address" in params:
            customer["address"] = _address(params, "address", customer.get("address"))
        if "shipping" in params:
            customer["shipping"] = _opt_hash(params, "shipping")
        if "invoice_settings" in params:
            settings = customer["invoice_settings"]
            settings.update(_opt_hash(params, "invoice_settings") or {})
        if "preferred_locales" in params:
            locales = params["preferred_locales"]
            customer["preferred_locales"] = locales if isinstance(locales, list) else []
        if "tax_exempt" in params:
            customer["tax_exempt"] = _enum(
                params, "tax_exempt", ("none", "exempt", "reverse"), "none"
            )
        if "invoice_prefix" in params:
            prefix = _require(params, "invoice_prefix")
            if not re.fullmatch(r"[A-Z0-9]{3,12}", prefix):
                raise _invalid_param(
                    "invoice_prefix", "Invoice prefix must be 3-12 uppercase letters or digits."
                )
            customer["invoice_prefix"] = prefix
        for name in ("next_invoice_sequence", "balance"):
            if name in params:
                customer[name] = _int(params[name], name)
        metadata = _metadata(params)
        if metadata is not None:
            customer["metadata"] = _merge_metadata(customer["metadata"], metadata)

    def _create_customer(self, context: _Context) -> JSON:
        _check_known(context.params, CUSTOMER_CREATE_PARAMS)
        customer = self._blank_customer()
        self._apply_customer_params(customer, context.params)
        self._store(customer)
        self._emit(context, "customer.created", customer)
        return copy.deepcopy(customer)

    def _update_customer(self, context: _Context) -> JSON:
        _check_known(context.params, CUSTOMER_UPDATE_PARAMS)
        customer = self._load("customer", context.args[0])
        before = copy.deepcopy(customer)
        self._apply_customer_params(customer, context.params)
        changed = {k: v for k, v in before.items() if customer.get(k) != v}
        if changed:
            self._emit(context, "customer.updated", customer, changed)
        return copy.deepcopy(customer)

    def _delete_customer(self, context: _Context) -> JSON:
        _check_known(context.params, frozenset())
        customer = self._load("customer", context.args[0])
        del self._objects[customer["id"]]
        self._emit(context, "customer.deleted", customer)
        return {"id": customer["id"], "object": "customer", "deleted": True}

    def _list_customers(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, CUSTOMER_LIST_PARAMS)
        email = _opt_str(params, "email")
        items = [
            c
            for c in self._objects.values()
            if c.get("object") == "customer" and (email is None or c.get("email") == email)
        ]
        return self._list("/v1/customers", items, params)

    def _search_customers(self, context: _Context) -> JSON:
        return self._search("customer", "/v1/customers/search", context.params)

    # ---- invoice items -----------------------------------------------------------------

    def _create_invoiceitem(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, INVOICEITEM_CREATE_PARAMS)
        customer = self._load("customer", _require(params, "customer"), "customer")
        if "amount" not in params:
            if {"price_data", "pricing", "unit_amount_decimal"} & params.keys():
                raise _invalid_param(
                    "amount",
                    "The fake Stripe server only supports invoice items with an explicit "
                    "integer `amount` (it never prices anything itself).",
                )
            raise _missing_param("amount")
        amount = _int(params["amount"], "amount")
        invoice = None
        if invoice_id := _opt_str(params, "invoice"):
            invoice = self._load("invoice", invoice_id, "invoice")
        currency = _currency(params)
        if invoice is not None:
            if invoice["customer"] != customer["id"]:
                raise _invalid_param(
                    "invoice",
                    f"The invoice {invoice['id']} belongs to customer {invoice['customer']}, "
                    f"not {customer['id']}.",
                )
            if invoice["status"] != "draft":
                raise _state_error(
                    f"You can only add invoice items to draft invoices; invoice "
                    f"{invoice['id']} is {invoice['status']}.",
                    "invoice_not_editable",
                )
            if currency is not None and currency != invoice["currency"]:
                raise _invalid_param(
                    "currency",
                    f"The currency of the invoice item ({currency}) must match the currency "
                    f"of the invoice ({invoice['currency']}).",
                )
            currency = invoice["currency"]
        currency = currency or customer.get("currency") or "usd"
        now = self._now()
        period = _opt_hash(params, "period") or {}
        item = fixture("invoiceitem")
        item.update(
            id=new_id("invoiceitem"),
            created=now,
            date=now,
            livemode=False,
            customer=customer["id"],
            invoice=invoice["id"] if invoice else None,
            amount=amount,
            net_amount=amount,
            currency=currency,
            description=_opt_str(params, "description"),
            discountable=_opt_bool(params, "discountable") is not False,
            metadata=_metadata(params) or {},
            period={
                "start": _int(period.get("start", str(now)), "period[start]"),
                "end": _int(period.get("end", str(now)), "period[end]"),
            },
            proration=False,
            quantity=1,
            quantity_decimal="1",
            parent=None,
            test_clock=None,
            customer_account=None,
        )
        item["pricing"] = {"type": "price_details", "unit_amount_decimal": str(amount)}
        self._store(item)
        self._emit(context, "invoiceitem.created", item)
        if invoice is not None:
            self._recompute(invoice)
        return copy.deepcopy(item)

    def _update_invoiceitem(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, INVOICEITEM_UPDATE_PARAMS)
        item = self._load("invoiceitem", context.args[0])
        invoice = self._objects.get(item["invoice"]) if item["invoice"] else None
        if invoice is not None and invoice["status"] != "draft":
            raise _state_error(
                f"Invoice item {item['id']} is on a finalized invoice and can't be edited.",
                "invoice_not_editable",
            )
        if "amount" in params:
            item["amount"] = item["net_amount"] = _int(params["amount"], "amount")
            item["pricing"]["unit_amount_decimal"] = str(item["amount"])
        if "description" in params:
            item["description"] = _opt_str(params, "description")
        if (discountable := _opt_bool(params, "discountable")) is not None:
            item["discountable"] = discountable
        if (period := _opt_hash(params, "period")) is not None:
            for key in ("start", "end"):
                if key in period:
                    item["period"][key] = _int(period[key], f"period[{key}]")
        if (metadata := _metadata(params)) is not None:
            item["metadata"] = _merge_metadata(item["metadata"], metadata)
        if invoice is not None:
            self._recompute(invoice)
        return copy.deepcopy(item)

    def _delete_invoiceitem(self, context: _Context) -> JSON:
        _check_known(context.params, frozenset())
        item = self._load("invoiceitem", context.args[0])
        invoice = self._objects.get(item["invoice"]) if item["invoice"] else None
        if invoice is not None and invoice["status"] != "draft":
            raise _state_error(
                f"Invoice item {item['id']} is on a finalized invoice and can't be deleted.",
                "invoice_not_editable",
            )
        del self._objects[item["id"]]
        if invoice is not None:
            self._recompute(invoice)
        return {"id": item["id"], "object": "invoiceitem", "deleted": True}

    def _list_invoiceitems(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, INVOICEITEM_LIST_PARAMS)
        customer = _opt_str(params, "customer")
        invoice = _opt_str(params, "invoice")
        pending = _opt_bool(params, "pending")
        items = [
            i
            for i in self._objects.values()
            if i.get("object") == "invoiceitem"
            and customer in (None, i["customer"])
            and invoice in (None, i["invoice"])
            and (pending is None or pending == (i["invoice"] is None))
        ]
        return self._list("/v1/invoiceitems", items, params)

    # ---- invoices ----------------------------------------------------------------------

    def _items_of(self, invoice_id: str) -> list[JSON]:
        return [
            o
            for o in self._objects.values()
            if o.get("object") == "invoiceitem" and o["invoice"] == invoice_id
        ]

    def _line_for(self, invoice: JSON, item: JSON) -> JSON:
        line = fixture("line_item")
        line_id = self._line_ids.setdefault(item["id"], new_id("line_item"))
        line.update(
            id=line_id,
            invoice=invoice["id"],
            livemode=False,
            amount=item["amount"],
            subtotal=item["amount"],
            currency=item["currency"],
            description=item["description"],
            discountable=item["discountable"],
            metadata=copy.deepcopy(item["metadata"]),
            period=copy.deepcopy(item["period"]),
            quantity=item["quantity"],
            quantity_decimal=item["quantity_decimal"],
            subscription=None,
            taxes=[],
            pretax_credit_amounts=[],
        )
        line["parent"] = {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
        }
        line["pricing"] = {"type": "price_details", "unit_amount_decimal": str(item["amount"])}
        return line

    def _recompute(self, invoice: JSON) -> None:
        """Lines and totals from the attached items: plain integer sums, never re-priced."""
        items = self._items_of(invoice["id"])
        invoice["lines"]["data"] = [self._line_for(invoice, item) for item in items]
        invoice["lines"]["has_more"] = False
        invoice["lines"]["url"] = f"/v1/invoices/{invoice['id']}/lines"
        total = sum(item["amount"] for item in items)
        invoice.update(
            subtotal=total,
            subtotal_excluding_tax=total,
            total=total,
            total_excluding_tax=total,
            amount_due=total,
            amount_remaining=total - invoice["amount_paid"],
        )

    def _create_invoice(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, INVOICE_CREATE_PARAMS)
        customer = self._load("customer", _require(params, "customer"), "customer")
        now = self._now()
        collection_method, due_date = self._collection_terms(params, None, now)
        behavior = _enum(
            params, "pending_invoice_items_behavior", ("exclude", "include"), "exclude"
        )
        invoice = fixture("invoice")
        invoice_id = new_id("invoice")
        invoice.update(
            id=invoice_id,
            created=now,
            livemode=False,
            customer=customer["id"],
            customer_email=customer.get("email"),
            customer_name=customer.get("name"),
            customer_phone=customer.get("phone"),
            customer_address=copy.deepcopy(customer.get("address")),
            customer_shipping=copy.deepcopy(customer.get("shipping")),
            customer_tax_exempt=customer.get("tax_exempt"),
            currency=_currency(params) or customer.get("currency") or "usd",
            collection_method=collection_method,
            due_date=due_date,
            auto_advance=bool(_opt_bool(params, "auto_advance")),
            description=_opt_str(params, "description"),
            footer=_opt_str(params, "footer"),
            statement_descriptor=_opt_str(params, "statement_descriptor"),
            metadata=_metadata(params) or {},
            number=_opt_str(params, "number"),
            status="draft",
            amount_paid=0,
            amount_overpaid=0,
            amount_shipping=0,
            attempt_count=0,
            attempted=False,
            hosted_invoice_url=None,
            invoice_pdf=None,
            effective_at=None,
            next_payment_attempt=None,
            webhooks_delivered_at=None,
            period_start=now,
            period_end=now,
            last_finalization_error=None,
            from_invoice=None,
            parent=None,
            shipping_cost=None,
            shipping_details=None,
            subscription=None,
            total_taxes=[],
            total_pretax_credit_amounts=[],
            customer_account=None,
            automatically_finalizes_at=None,
            status_transitions={
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
        )
        invoice["lines"] = {"object": "list", "data": [], "has_more": False, "url": ""}
        self._store(invoice)
        if behavior == "include":
            for item in self._objects.values():
                if (
                    item.get("object") == "invoiceitem"
                    and item["customer"] == customer["id"]
                    and item["invoice"] is None
                    and item["currency"] == invoice["currency"]
                ):
                    item["invoice"] = invoice_id
        self._recompute(invoice)
        self._emit(context, "invoice.created", invoice)
        return copy.deepcopy(invoice)

    def _collection_terms(
        self, params: Mapping[str, Any], invoice: JSON | None, now: int
    ) -> tuple[str, int | None]:
        default_method = invoice["collection_method"] if invoice else "charge_automatically"
        method = _enum(
            params, "collection_method", ("charge_automatically", "send_invoice"), default_method
        )
        days = _opt_int(params, "days_until_due")
        due_date = _opt_int(params, "due_date")
        if days is not None and due_date is not None:
            raise StripeApiError(
                400,
                "You may only specify one of these parameters: days_until_due, due_date.",
                code="parameters_exclusive",
                param="days_until_due",
            )
        if method == "charge_automatically":
            if days is not None or due_date is not None:
                raise _invalid_param(
                    "days_until_due" if days is not None else "due_date",
                    "You can only set a due date on invoices with collection_method=send_invoice.",
                )
            return method, None
        if days is not None:
            return method, (invoice["created"] if invoice else now) + days * 86400
        if due_date is not None:
            return method, due_date
        if invoice is not None and invoice.get("due_date"):
            return method, invoice["due_date"]
        raise _missing_param("days_until_due")

    def _update_invoice(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, INVOICE_UPDATE_PARAMS)
        invoice = self._load("invoice", context.args[0])
        money_fields = {"collection_method", "days_until_due", "due_date", "number"}
        if invoice["status"] != "draft" and money_fields & params.keys():
            raise _state_error(
                f"Invoice {invoice['id']} is {invoice['status']}; only draft invoices can "
                "change their collection terms or number.",
                "invoice_not_editable",
            )
        before = copy.deepcopy(invoice)
        if money_fields & params.keys():
            method, due = self._collection_terms(params, invoice, self._now())
            invoice["collection_method"], invoice["due_date"] = method, due
        for name in ("description", "footer", "statement_descriptor", "number"):
            if name in params:
                invoice[name] = _opt_str(params, name)
        if (auto_advance := _opt_bool(params, "auto_advance")) is not None:
            invoice["auto_advance"] = auto_advance
        if (metadata := _metadata(params)) is not None:
            invoice["metadata"] = _merge_metadata(invoice["metadata"], metadata)
        changed = {k: v for k, v in before.items() if invoice.get(k) != v}
        if changed:
            self._emit(context, "invoice.updated", invoice, changed)
        return copy.deepcopy(invoice)

    def _delete_invoice(self, context: _Context) -> JSON:
        _check_known(context.params, frozenset())
        invoice = self._load("invoice", context.args[0])
        if invoice["status"] != "draft":
            raise _state_error(
                "You can only delete draft invoices. Void or mark the invoice uncollectible "
                "instead."
            )
        for item in self._items_of(invoice["id"]):
            del self._objects[item["id"]]
        del self._objects[invoice["id"]]
        self._emit(context, "invoice.deleted", invoice)
        return {"id": invoice["id"], "object": "invoice", "deleted": True}

    def _list_invoices(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, INVOICE_LIST_PARAMS)
        customer = _opt_str(params, "customer")
        status = _opt_str(params, "status")
        method = _opt_str(params, "collection_method")
        items = [
            i
            for i in self._objects.values()
            if i.get("object") == "invoice"
            and customer in (None, i["customer"])
            and status in (None, i["status"])
            and method in (None, i["collection_method"])
        ]
        return self._list("/v1/invoices", items, params)

    def _list_invoice_lines(self, context: _Context) -> JSON:
        _check_known(context.params, _PAGING)
        invoice = self._load("invoice", context.args[0])
        lines = list(invoice["lines"]["data"])
        # Lines keep invoice order rather than newest-first; paginate in that order.
        for offset, line in enumerate(lines):
            line["created"] = -offset
        page = self._list(f"/v1/invoices/{invoice['id']}/lines", lines, context.params)
        for line in page["data"]:
            line.pop("created", None)
        return page

    def _search_invoices(self, context: _Context) -> JSON:
        return self._search("invoice", "/v1/invoices/search", context.params)

    def _finalize_invoice(self, context: _Context) -> JSON:
        _check_known(context.params, INVOICE_FINALIZE_PARAMS)
        invoice = self._load("invoice", context.args[0])
        if invoice["status"] != "draft":
            raise _state_error(
                f"This invoice is already finalized, you can't re-finalize a non-draft "
                f"invoice ({invoice['id']} is {invoice['status']})."
            )
        if (auto_advance := _opt_bool(context.params, "auto_advance")) is not None:
            invoice["auto_advance"] = auto_advance
        self._finalize(context, invoice)
        return copy.deepcopy(invoice)

    def _finalize(self, context: _Context, invoice: JSON) -> None:
        now = self._now()
        customer = self._objects.get(invoice["customer"])
        if invoice["number"] is None:
            if customer is not None:
                sequence = customer["next_invoice_sequence"]
                customer["next_invoice_sequence"] = sequence + 1
                invoice["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
            else:
                invoice["number"] = f"{secrets.token_hex(4).upper()}-0001"
        if customer is not None and customer.get("currency") is None:
            customer["currency"] = invoice["currency"]
        token = _random_token(40)
        self._recompute(invoice)
        invoice.update(
            status="open",
            effective_at=now,
            webhooks_delivered_at=now,
            hosted_invoice_url=f"https://invoice.stripe.com/i/acct_fakemeterline/test_{token}",
            invoice_pdf=f"https://pay.stripe.com/invoice/acct_fakemeterline/test_{token}/pdf",
        )
        invoice["status_transitions"]["finalized_at"] = now
        self._emit(context, "invoice.finalized", invoice)
        if invoice["amount_due"] == 0:
            # Stripe marks invoices with nothing to collect as paid on finalization.
            self._mark_paid(context, invoice, now)

    def _mark_paid(self, context: _Context, invoice: JSON, now: int) -> None:
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
        )
        invoice["status_transitions"]["paid_at"] = now
        self._emit(context, "invoice.paid", invoice)
        self._emit(context, "invoice.payment_succeeded", invoice)

    def _pay_invoice(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, INVOICE_PAY_PARAMS)
        invoice = self._load("invoice", context.args[0])
        out_of_band = bool(_opt_bool(params, "paid_out_of_band"))
        if invoice["status"] == "draft":
            self._finalize(context, invoice)  # Stripe finalizes a draft before paying it
            if invoice["status"] == "paid":  # nothing to collect: paid on finalization
                return copy.deepcopy(invoice)
        if invoice["status"] == "paid":
            raise _state_error("Invoice is already paid.")
        if invoice["status"] == "void":
            raise _state_error("This invoice has been voided and can't be paid.")
        if not out_of_band:
            invoice["attempted"] = True
            invoice["attempt_count"] += 1
            if self.decline_payments:
                self._emit(context, "invoice.payment_failed", invoice)
                raise StripeApiError(
                    402,
                    "Your card was declined.",
                    error_type="card_error",
                    code="card_declined",
                    replayable=True,
                )
        self._mark_paid(context, invoice, self._now())
        return copy.deepcopy(invoice)

    def _void_invoice(self, context: _Context) -> JSON:
        _check_known(context.params, _EXPAND)
        invoice = self._load("invoice", context.args[0])
        if invoice["status"] not in ("open", "uncollectible"):
            raise _state_error(
                f"You can only void open or uncollectible invoices ({invoice['id']} is "
                f"{invoice['status']})."
            )
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = self._now()
        self._emit(context, "invoice.voided", invoice)
        return copy.deepcopy(invoice)

    def _mark_uncollectible(self, context: _Context) -> JSON:
        _check_known(context.params, _EXPAND)
        invoice = self._load("invoice", context.args[0])
        if invoice["status"] != "open":
            raise _state_error(
                f"You can only mark open invoices uncollectible ({invoice['id']} is "
                f"{invoice['status']})."
            )
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = self._now()
        self._emit(context, "invoice.marked_uncollectible", invoice)
        return copy.deepcopy(invoice)

    def _send_invoice(self, context: _Context) -> JSON:
        _check_known(context.params, _EXPAND)
        invoice = self._load("invoice", context.args[0])
        if invoice["status"] != "open" or invoice["collection_method"] != "send_invoice":
            raise _state_error(
                "You can only send open invoices with collection_method=send_invoice."
            )
        self._emit(context, "invoice.sent", invoice)
        return copy.deepcopy(invoice)

    # ---- events ------------------------------------------------------------------------

    def _list_events(self, context: _Context) -> JSON:
        params = context.params
        _check_known(params, EVENT_LIST_PARAMS)
        types = params.get("types") or ([params["type"]] if params.get("type") else None)
        pattern = None
        if types:
            # Stripe allows "invoice.*" wildcards in `type`.
            pattern = re.compile("|".join(re.escape(t).replace(r"\*", ".*") for t in types))
        items = [
            e
            for e in self._objects.values()
            if e.get("object") == "event" and (pattern is None or pattern.fullmatch(e["type"]))
        ]
        return self._list("/v1/events", items, params)


# --------------------------------------------------------------------------------------
# Small helpers for lists and search
# --------------------------------------------------------------------------------------


def _filter_created(items: list[JSON], created: Any) -> list[JSON]:
    """Stripe's ``created`` filter: an exact timestamp or ``created[gte|gt|lte|lt]``."""
    if created is None or created == "":
        return items
    if not isinstance(created, dict):
        exact = _int(created, "created")
        return [o for o in items if o["created"] == exact]
    checks = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    result = items
    for op, raw in created.items():
        if op not in checks:
            raise _invalid_param(f"created[{op}]", f"Received unknown parameter: created[{op}]")
        bound = _int(raw, f"created[{op}]")
        result = [o for o in result if checks[op](o["created"], bound)]
    return result


_CLAUSE_RE = re.compile(
    r"""^(?P<neg>-)?
        (?P<field>[a-z_]+)(?:\[['"](?P<key>[^'"]+)['"]\])?
        (?P<op>:|~|>=|<=|>|<)
        (?P<value>'[^']*'|"[^"]*"|-?\d+|null)$""",
    re.VERBOSE,
)


def _parse_search(query: str, fields: frozenset[str]) -> Callable[[JSON], bool]:
    """A tiny subset of Stripe's search language.

    Clauses ``field:'v'``, ``metadata['k']:'v'``, ``field~'sub'``, ``total>1000``,
    ``-field:'v'`` and ``field:null`` joined by ``AND`` or by ``OR`` (not both, like Stripe).
    Exact matches are case-insensitive, as documented by Stripe.
    """
    if " AND " in query and " OR " in query:
        raise _invalid_param("query", "You cannot combine AND and OR in a search query.")
    joiner = " OR " if " OR " in query else " AND "
    clauses = [c.strip() for c in query.split(joiner)]
    predicates: list[Callable[[JSON], bool]] = []
    for clause in clauses:
        match = _CLAUSE_RE.match(clause)
        if not match:
            raise _invalid_param("query", f"Invalid search query clause: {clause!r}.")
        name = match.group("field")
        if name not in fields or (name == "metadata") != (match.group("key") is not None):
            raise _invalid_param("query", f"Field '{name}' is an unsupported search field.")
        predicates.append(_clause_predicate(match))
    if joiner == " OR ":
        return lambda obj: any(p(obj) for p in predicates)
    return lambda obj: all(p(obj) for p in predicates)


def _clause_predicate(match: re.Match[str]) -> Callable[[JSON], bool]:
    name, key, op = match.group("field"), match.group("key"), match.group("op")
    raw = match.group("value")
    negate = match.group("neg") is not None
    wanted: str | int | None
    if raw == "null":
        wanted = None
    elif raw[0] in "'\"":
        wanted = raw[1:-1]
    else:
        wanted = int(raw)

    def actual(obj: JSON) -> Any:
        if key is not None:
            return (obj.get("metadata") or {}).get(key)
        return obj.get(name)

    def test(obj: JSON) -> bool:
        value = actual(obj)
        if op == ":":
            if wanted is None or value is None:
                return value is wanted
            return str(value).lower() == str(wanted).lower()
        if op == "~":
            return value is not None and str(wanted).lower() in str(value).lower()
        if not isinstance(value, int) or not isinstance(wanted, int):
            return False
        return {
            ">": value > wanted,
            "<": value < wanted,
            ">=": value >= wanted,
            "<=": value <= wanted,
        }[op]

    return (lambda obj: not test(obj)) if negate else test


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripeServer


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the stripe library's keep-alive sessions behave like against Stripe.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY every answer waits
    # ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def do_DELETE(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; tests inspect ``server.requests`` instead."""


def stripe_server_fixture() -> Iterator[FakeStripeServer]:
    """Generator for a pytest fixture: ``stripe_server = pytest.fixture(stripe_server_fixture,
    name="stripe_server")`` in a conftest gives each test a running, clean fake."""
    with FakeStripeServer() as server:
        yield server
