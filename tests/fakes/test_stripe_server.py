"""Tests of the fake Stripe server, driven through the official ``stripe`` library.

Everything goes through ``stripe.StripeClient`` exactly as the integration will configure
it (API key + ``base_addresses``), so these tests also prove the library accepts the fake's
answers unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import stripe

from tests.fakes.stripe_server import (
    DEFAULT_FIXTURES_PATH,
    FakeStripeServer,
    make_event,
    parse_form,
    sign_payload,
    stripe_server_fixture,
    webhook_request,
)

# The module's generator turned into a fixture, as a conftest would do it.
stripe_server = pytest.fixture(stripe_server_fixture, name="stripe_server")


def make_client(
    server: FakeStripeServer,
    *,
    retries: int = 0,
    timeout: float = 5.0,
    api_key: str | None = None,
) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key or server.api_key,
        base_addresses={"api": server.url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


@pytest.fixture
def client(stripe_server: FakeStripeServer) -> stripe.StripeClient:
    return make_client(stripe_server)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink stripe-python's retry backoff (>= 0.5 s per retry) to keep tests fast."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.02)


def create_customer(client: stripe.StripeClient, **params: object) -> stripe.Customer:
    return client.v1.customers.create({"name": "Acme GmbH", **params})


# ---- form parsing ----------------------------------------------------------------------


def test_parse_form_understands_stripe_bracket_notation() -> None:
    parsed = parse_form(
        [
            ("customer", "cus_1"),
            ("metadata[meterline_id]", "42"),
            ("metadata[0]", "metadata keys may look like indexes"),
            ("address[line1]", "1 Main St"),
            ("period[start]", "100"),
            ("a[b][c]", "deep"),
            ("expand[]", "customer"),
            ("expand[]", "lines"),
            ("items[0][price]", "p1"),
            ("items[1][price]", "p2"),
            ("empty", ""),
        ]
    )
    assert parsed == {
        "customer": "cus_1",
        "metadata": {"meterline_id": "42", "0": "metadata keys may look like indexes"},
        "address": {"line1": "1 Main St"},
        "period": {"start": "100"},
        "a": {"b": {"c": "deep"}},
        "expand": ["customer", "lines"],
        "items": [{"price": "p1"}, {"price": "p2"}],
        "empty": "",
    }


# ---- the billing flow ------------------------------------------------------------------


def test_customer_items_invoice_finalize_sums_exactly(
    stripe_server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    customer = create_customer(
        client,
        email="billing@acme.test",
        address={"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
        metadata={"meterline_id": "cust_01"},
    )
    assert customer.id.startswith("cus_")
    assert customer.livemode is False
    assert customer.address.city == "Berlin"
    assert customer.metadata["meterline_id"] == "cust_01"

    invoice = client.v1.invoices.create(
        {
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 14,
            "currency": "eur",
            "auto_advance": False,
            "metadata": {"meterline_invoice": "inv_01"},
        }
    )
    assert invoice.id.startswith("in_")
    assert invoice.status == "draft"
    assert invoice.number is None
    assert invoice.due_date == invoice.created + 14 * 86400

    amounts = [12_345, 1, 99_999]
    items = [
        client.v1.invoice_items.create(
            {
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "eur",
                "description": f"API calls tier {n}",
                "period": {"start": 1_700_000_000, "end": 1_702_592_000},
                "metadata": {"meterline_line": f"line_{n}"},
            }
        )
        for n, amount in enumerate(amounts)
    ]
    assert all(item.id.startswith("ii_") for item in items)
    assert [item.amount for item in items] == amounts
    assert items[0].period.start == 1_700_000_000

    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open"
    assert finalized.number and finalized.number.endswith("-0001")
    assert finalized.hosted_invoice_url.startswith("https://invoice.stripe.com/")
    assert finalized.subtotal == finalized.total == finalized.amount_due == sum(amounts)
    assert finalized.amount_remaining == sum(amounts)
    assert [line.amount for line in finalized.lines.data] == amounts
    assert [line.parent.invoice_item_details.invoice_item for line in finalized.lines.data] == [
        item.id for item in items
    ]
    assert finalized.lines.data[1].metadata["meterline_line"] == "line_1"

    assert stripe_server.count("customer") == 1
    assert stripe_server.count("invoiceitem") == 3
    assert stripe_server.count("invoice") == 1
    assert stripe_server.get(invoice.id)["status"] == "open"
    assert [e["type"] for e in stripe_server.events("invoice.finalized")] == ["invoice.finalized"]
    assert stripe_server.internal_errors == []


@pytest.mark.parametrize(
    ("currency", "amounts"),
    [
        ("jpy", [500, 1_234, 1]),  # zero-decimal: yen, not "cents"
        ("kwd", [5_120, 130, 10]),  # three-decimal: fils
    ],
)
def test_minor_unit_amounts_pass_through_unchanged(
    client: stripe.StripeClient, currency: str, amounts: list[int]
) -> None:
    customer = create_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": currency.upper()})
    for amount in amounts:
        item = client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": invoice.id, "amount": amount}
        )
        assert (item.amount, item.currency) == (amount, currency)

    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.currency == currency
    assert finalized.amount_due == sum(amounts)
    assert [line.amount for line in finalized.lines.data] == amounts


def test_item_currency_must_match_invoice(client: stripe.StripeClient) -> None:
    customer = create_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "jpy"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": invoice.id, "amount": 100, "currency": "usd"}
        )
    assert caught.value.param == "currency"


def test_pending_items_are_pulled_in_only_when_asked(client: stripe.StripeClient) -> None:
    customer = create_customer(client)
    client.v1.invoice_items.create({"customer": customer.id, "amount": 700, "currency": "usd"})
    excluded = client.v1.invoices.create({"customer": customer.id})
    assert excluded.amount_due == 0
    included = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert included.amount_due == 700


def test_invoice_status_transitions(
    stripe_server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    customer = create_customer(client)

    def open_invoice(amount: int) -> stripe.Invoice:
        invoice = client.v1.invoices.create({"customer": customer.id})
        client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": invoice.id, "amount": amount}
        )
        return client.v1.invoices.finalize_invoice(invoice.id)

    paid = client.v1.invoices.pay(open_invoice(1_000).id, {"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 1_000, 0)
    assert paid.status_transitions.paid_at is not None

    voided = client.v1.invoices.void_invoice(open_invoice(2_000).id)
    assert voided.status == "void"

    uncollectible = client.v1.invoices.mark_uncollectible(open_invoice(3_000).id)
    assert uncollectible.status == "uncollectible"

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(paid.id)  # only open/uncollectible can be voided
    draft = client.v1.invoices.create({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(draft.id)

    # Stripe marks an invoice with nothing to collect as paid when it is finalized.
    assert client.v1.invoices.finalize_invoice(draft.id).status == "paid"

    stripe_server.decline_payments = True
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(open_invoice(500).id)

    event_types = {e["type"] for e in stripe_server.events()}
    assert {
        "invoice.paid",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "invoice.payment_failed",
    } <= event_types


def test_finalized_invoice_is_not_editable(client: stripe.StripeClient) -> None:
    customer = create_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": invoice.id, "amount": 1}
        )
    assert caught.value.code == "invoice_not_editable"


def test_list_search_and_expand(
    stripe_server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    customers = [create_customer(client, metadata={"meterline_id": f"C{n}"}) for n in range(3)]
    page = client.v1.customers.list({"limit": 2})
    assert [c.id for c in page.data] == [customers[2].id, customers[1].id]  # newest first
    assert page.has_more is True
    rest = client.v1.customers.list({"limit": 2, "starting_after": customers[1].id})
    assert [c.id for c in rest.data] == [customers[0].id]

    found = client.v1.customers.search({"query": "metadata['meterline_id']:'C1'"})
    assert [c.id for c in found.data] == [customers[1].id]

    invoice = client.v1.invoices.create(
        {"customer": customers[0].id, "metadata": {"meterline_invoice": "I7"}}
    )
    client.v1.invoice_items.create(
        {"customer": customers[0].id, "invoice": invoice.id, "amount": 5}
    )
    client.v1.invoice_items.create({"customer": customers[0].id, "amount": 6})  # pending
    on_invoice = client.v1.invoice_items.list({"invoice": invoice.id})
    assert [i.amount for i in on_invoice.data] == [5]
    assert len(client.v1.invoices.list({"customer": customers[0].id}).data) == 1
    assert client.v1.invoices.list({"customer": customers[1].id}).data == []

    by_meta = client.v1.invoices.search(
        {"query": f"customer:'{customers[0].id}' AND metadata['meterline_invoice']:'I7'"}
    )
    assert [i.id for i in by_meta.data] == [invoice.id]

    expanded = client.v1.invoices.retrieve(invoice.id, {"expand": ["customer"]})
    assert expanded.customer.id == customers[0].id

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.search({"query": "currency:'usd'"})  # not a searchable field


def test_search_can_lag_like_stripes_index() -> None:
    with FakeStripeServer(search_lag_seconds=60) as server:
        client = make_client(server)
        create_customer(client, metadata={"meterline_id": "C1"})
        assert client.v1.customers.search({"query": "metadata['meterline_id']:'C1'"}).data == []
        assert len(client.v1.customers.list().data) == 1  # lists are consistent


# ---- errors ------------------------------------------------------------------------------


def test_errors_have_stripes_shape(
    stripe_server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoices.retrieve("in_doesnotexist")
    assert missing.value.http_status == 404
    assert missing.value.json_body["error"]["type"] == "invalid_request_error"
    assert missing.value.json_body["error"]["code"] == "resource_missing"
    assert missing.value.json_body["error"]["param"] == "id"
    assert "in_doesnotexist" in missing.value.json_body["error"]["message"]

    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        client.v1.invoices.create({"currency": "usd"})
    assert no_customer.value.http_status == 400
    assert (no_customer.value.code, no_customer.value.param) == ("parameter_missing", "customer")

    # Stripe's customer create has no `currency`; the fake refuses it like Stripe does.
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create({"name": "X", "currency": "usd"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "currency")

    with pytest.raises(stripe.InvalidRequestError) as not_integer:
        client.v1.invoice_items.create(
            {"customer": create_customer(client).id, "amount": 12.5}  # type: ignore[typeddict-item]
        )
    assert not_integer.value.code == "parameter_invalid_integer"

    with pytest.raises(stripe.AuthenticationError) as unauthorized:
        make_client(stripe_server, api_key="sk_test_wrong_key_1234").v1.customers.list()
    assert unauthorized.value.http_status == 401
    assert "sk_test_wrong_key_1234" not in unauthorized.value.json_body["error"]["message"]

    assert stripe_server.count("invoice") == 0
    assert stripe_server.count("invoiceitem") == 0


# ---- idempotency -------------------------------------------------------------------------


def test_idempotent_replay_creates_one_object(
    stripe_server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    params = {"name": "Acme", "metadata": {"meterline_id": "C1"}}
    first = client.v1.customers.create(params, {"idempotency_key": "customer-C1"})
    second = client.v1.customers.create(params, {"idempotency_key": "customer-C1"})

    assert second.id == first.id
    assert stripe_server.count("customer") == 1
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    recorded = stripe_server.find_requests("POST", "/v1/customers")
    assert [(r.idempotency_key, r.replayed, r.status) for r in recorded] == [
        ("customer-C1", False, 200),
        ("customer-C1", True, 200),
    ]


def test_idempotency_key_reused_with_other_params_is_rejected(
    stripe_server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    client.v1.customers.create({"name": "Acme"}, {"idempotency_key": "k1"})
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.customers.create({"name": "Other"}, {"idempotency_key": "k1"})
    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "idempotency_error"
    assert stripe_server.count("customer") == 1


def test_concurrent_requests_with_one_key_create_one_object(
    stripe_server: FakeStripeServer,
) -> None:
    customer = create_customer(make_client(stripe_server))
    ids: list[str] = []

    def push() -> None:
        item = make_client(stripe_server).v1.invoice_items.create(
            {"customer": customer.id, "amount": 42, "currency": "usd"},
            {"idempotency_key": "item-1"},
        )
        ids.append(item.id)

    threads = [threading.Thread(target=push) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 5 and len(set(ids)) == 1
    assert stripe_server.count("invoiceitem") == 1


# ---- fault injection ---------------------------------------------------------------------


@pytest.mark.usefixtures("fast_backoff")
def test_rate_limit_429_is_left_to_the_caller(stripe_server: FakeStripeServer) -> None:
    """Plain 429 ``rate_limit``: Stripe sends no Stripe-Should-Retry and the library gives up."""
    client = make_client(stripe_server, retries=5)
    stripe_server.fail_next(1, status=429)
    with pytest.raises(stripe.RateLimitError) as caught:
        create_customer(client)
    assert caught.value.http_status == 429
    assert caught.value.json_body["error"]["code"] == "rate_limit"
    assert stripe_server.count("customer") == 0
    assert len(stripe_server.requests) == 1


@pytest.mark.usefixtures("fast_backoff")
def test_lock_timeout_and_500_are_retried_by_the_library(stripe_server: FakeStripeServer) -> None:
    client = make_client(stripe_server, retries=5)
    stripe_server.fail_next(1, status=429, code="lock_timeout")
    stripe_server.fail_next(1, status=500)
    customer = create_customer(client)

    assert stripe_server.count("customer") == 1
    recorded = stripe_server.find_requests("POST", "/v1/customers")
    assert [r.status for r in recorded] == [429, 500, 200]
    assert [r.fault for r in recorded] == ["status:429", "status:500", None]
    # The library reuses its generated idempotency key on every retry.
    assert len({r.idempotency_key for r in recorded}) == 1
    assert stripe_server.get(customer.id) is not None


@pytest.mark.usefixtures("fast_backoff")
def test_timeout_creates_nothing_and_a_retry_succeeds(stripe_server: FakeStripeServer) -> None:
    client = make_client(stripe_server, retries=2, timeout=0.4)
    stripe_server.timeout_next(1, delay_seconds=0.8, method="POST")
    started = time.monotonic()
    create_customer(client)

    assert time.monotonic() - started >= 0.4  # the client really waited for its timeout
    assert stripe_server.count("customer") == 1
    first, second = stripe_server.find_requests("POST")
    assert (first.fault, first.status) == ("timeout", None)
    assert (second.status, second.replayed) == (200, False)


@pytest.mark.usefixtures("fast_backoff")
def test_lost_response_is_replayed_from_the_idempotency_key(
    stripe_server: FakeStripeServer,
) -> None:
    # Without retries the caller sees an error although Stripe did create the customer.
    stripe_server.lose_response_next(1, delay_seconds=0.8)
    with pytest.raises(stripe.APIConnectionError):
        create_customer(make_client(stripe_server, timeout=0.4))
    assert stripe_server.count("customer") == 1

    # With a retry and the same key, the stored answer comes back and nothing is duplicated.
    stripe_server.reset()
    stripe_server.lose_response_next(1, delay_seconds=0.8)
    customer = create_customer(make_client(stripe_server, retries=2, timeout=0.4))
    assert stripe_server.count("customer") == 1
    assert customer.last_response.headers["Idempotent-Replayed"] == "true"
    lost, replayed = stripe_server.find_requests("POST")
    assert (lost.fault, lost.status, lost.response["id"]) == ("lost_response", None, customer.id)
    assert replayed.replayed is True


@pytest.mark.usefixtures("fast_backoff")
def test_slow_answer_past_the_client_timeout_does_not_duplicate(
    stripe_server: FakeStripeServer,
) -> None:
    """The first attempt is held, the retry wins; the late first attempt becomes a replay."""
    client = make_client(stripe_server, retries=2, timeout=0.3)
    stripe_server.slow_next(1, delay_seconds=0.6, method="POST")
    customer = create_customer(client)
    time.sleep(0.5)  # let the held request finish on the server

    assert stripe_server.count("customer") == 1
    held, retry = sorted(stripe_server.find_requests("POST"), key=lambda r: r.fault is None)
    assert held.fault == "slow" and held.replayed is True
    assert retry.replayed is False and retry.response["id"] == customer.id


def create_invoice_with_retries(
    client: stripe.StripeClient, customer_id: str, key: str, attempts: int = 10
) -> stripe.Invoice:
    """What the integration must do on top of the library: back off on plain 429s.

    Every attempt reuses the same idempotency key, so however the earlier attempts ended,
    Stripe ends up with one invoice.
    """
    for _ in range(attempts - 1):
        try:
            return client.v1.invoices.create(
                {"customer": customer_id, "metadata": {"meterline_invoice": key}},
                {"idempotency_key": key},
            )
        except (stripe.RateLimitError, stripe.APIConnectionError):
            time.sleep(0.01)
    return client.v1.invoices.create(
        {"customer": customer_id, "metadata": {"meterline_invoice": key}},
        {"idempotency_key": key},
    )


@pytest.mark.usefixtures("fast_backoff")
def test_thirty_percent_failures_still_create_each_invoice_once(
    stripe_server: FakeStripeServer,
) -> None:
    client = make_client(stripe_server, retries=8, timeout=0.4)
    customer = create_customer(client)
    stripe_server.set_failure_rate(
        0.2,
        statuses=(429, 500),
        timeout_rate=0.05,
        lost_response_rate=0.05,
        delay_seconds=0.6,
        seed=7,
    )

    keys = [f"invoice-push-{n}" for n in range(20)]
    invoices = [create_invoice_with_retries(client, customer.id, key) for key in keys]

    stored = stripe_server.objects("invoice")
    assert len(stored) == 20
    assert sorted(i["metadata"]["meterline_invoice"] for i in stored) == sorted(keys)
    assert {i.id for i in invoices} == {i["id"] for i in stored}
    faults = {r.fault for r in stripe_server.requests if r.fault}
    # The run really was hostile (the seed makes it reproducible).
    assert {"status:429", "status:500", "timeout", "lost_response"} <= faults
    assert stripe_server.internal_errors == []


# ---- webhooks ------------------------------------------------------------------------


def test_signed_webhook_verifies_with_the_stripe_library(client: stripe.StripeClient) -> None:
    invoice = client.v1.invoices.create({"customer": create_customer(client).id})
    event = make_event("invoice.paid", invoice.to_dict(), created=1_700_000_000)
    assert event["id"].startswith("evt_")
    assert (event["type"], event["created"]) == ("invoice.paid", 1_700_000_000)
    assert event["data"]["object"]["id"] == invoice.id

    payload = json.dumps(event).encode()
    secret = "whsec_test_secret"
    header = sign_payload(payload, secret)
    parsed = stripe.Webhook.construct_event(payload, header, secret)
    assert parsed.id == event["id"]
    assert parsed.data.object.id == invoice.id

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_wrong")
    stale = sign_payload(payload, secret, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, stale, secret)

    body, headers = webhook_request(event, secret)
    assert stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], secret)


# ---- recording, reset, configuration ------------------------------------------------------


def test_requests_are_recorded_and_reset_forgets_everything(
    stripe_server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(
        {"name": "Acme", "metadata": {"k": "v"}}, {"idempotency_key": "idem-1"}
    )
    client.v1.customers.retrieve(customer.id)

    create, retrieve = stripe_server.requests
    assert (create.method, create.path, create.status) == ("POST", "/v1/customers", 200)
    assert create.params == {"name": "Acme", "metadata": {"k": "v"}}
    assert create.idempotency_key == create.headers["idempotency-key"] == "idem-1"
    assert create.headers["authorization"] == f"Bearer {stripe_server.api_key}"
    assert (retrieve.method, retrieve.path) == ("GET", f"/v1/customers/{customer.id}")

    stripe_server.reset()
    assert stripe_server.requests == []
    assert stripe_server.count("customer") == 0
    assert stripe_server.get(customer.id) is None
    # The key is forgotten too, so the same request creates a new customer.
    again = client.v1.customers.create(
        {"name": "Acme", "metadata": {"k": "v"}}, {"idempotency_key": "idem-1"}
    )
    assert again.id != customer.id


def test_fixtures_path_can_be_overridden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stripe_server: FakeStripeServer
) -> None:
    resources = json.loads(DEFAULT_FIXTURES_PATH.read_text())
    resources["resources"]["customer"]["preferred_locales"] = ["de-DE"]
    path = tmp_path / "fixtures.json"
    path.write_text(json.dumps(resources))
    monkeypatch.setenv("STRIPE_FIXTURES_PATH", str(path))

    customer = create_customer(make_client(stripe_server))
    assert customer.preferred_locales == ["de-DE"]


def test_seeded_customer_can_be_used(stripe_server: FakeStripeServer) -> None:
    existing = stripe_server.seed("customer", email="old@acme.test")
    client = make_client(stripe_server)
    assert client.v1.customers.retrieve(existing["id"]).email == "old@acme.test"
    assert client.v1.invoices.create({"customer": existing["id"]}).customer == existing["id"]


def test_context_manager_binds_loopback_and_stops() -> None:
    with FakeStripeServer() as server:
        url = server.url
        assert url.startswith("http://127.0.0.1:")
        assert server.env()["STRIPE_API_BASE"] == url
    with pytest.raises(stripe.APIConnectionError):
        stripe.StripeClient(
            server.api_key, base_addresses={"api": url}, max_network_retries=0
        ).v1.customers.list()
