"""Invoices and customers pushed to (a local fake of) Stripe, and payment status coming back."""

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection, connections
from django.test import Client

from apps.billing import services as billing
from apps.billing.models import Invoice
from apps.stripe_sync import services
from apps.stripe_sync.amounts import StripeAmountError, stripe_amount
from apps.stripe_sync.models import StripeInvoice, StripeWebhookEvent
from apps.stripe_sync.tests.conftest import issued_invoices
from apps.stripe_sync.webhooks import process
from config.celery import app as celery_app
from tests.fakes.stripe_server import make_event, webhook_request

D = Decimal


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    (D("2.47"), "USD", 247), (D("0.00"), "USD", 0), (D("-5.16"), "USD", -516),
    (D("371"), "JPY", 371), (D("5000"), "JPY", 5000),
    (D("1.230"), "KWD", 1230), (D("0.005"), "KWD", 5),
])
def test_amounts_follow_stripes_minor_units(amount, currency, minor):
    assert stripe_amount(amount, currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [
    (D("2.469"), "USD"), (D("370.5"), "JPY"), (D("1.2345"), "KWD")])
def test_amounts_that_are_not_rounded_to_the_currency_are_refused(amount, currency):
    with pytest.raises(StripeAmountError):
        stripe_amount(amount, currency)


@pytest.mark.django_db(transaction=True)
def test_issuing_an_invoice_puts_it_into_stripe_once(world, stripe_settings, stripe_server):
    issued_invoices(1)  # issuing enqueues a push after commit; no worker runs yet
    invoices = list(Invoice.objects.filter(status="issued").order_by("cycle_at"))
    assert len(invoices) == 2 and not stripe_server.requests
    world.move_to(datetime.now(UTC), tick=True)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        wait_for(lambda: StripeInvoice.objects.filter(state="synced").count() == 2)
    assert stripe_server.count("customer") == 1
    assert stripe_server.count("invoice") == 2
    lines = [line for invoice in invoices for line in invoice.lines.exclude(amount=0)]
    assert stripe_server.count("invoiceitem") == len(lines)
    for invoice in invoices:
        sync = StripeInvoice.objects.get(invoice=invoice)
        pushed = stripe_server.get(sync.stripe_id)
        assert pushed["status"] == "open" and pushed["currency"] == "usd"
        assert pushed["metadata"]["meterline_invoice_id"] == invoice.pk
        assert pushed["total"] == int(invoice.total * 100)
        assert sync.stripe_number == pushed["number"] and sync.hosted_invoice_url
    amounts = sorted(item["amount"] for item in stripe_server.objects("invoiceitem"))
    assert amounts == sorted(int(line.amount * 100) for line in lines)
    customer = stripe_server.objects("customer")[0]
    assert customer["metadata"]["meterline_customer_id"] == invoices[0].customer_id
    assert customer["email"] == "billing0@example.com"


def at_(day):
    return datetime.fromisoformat(f"{day}T00:00:00+00:00")


def wait_for(predicate, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.django_db
def test_every_line_goes_in_with_our_exact_amounts(world, stripe_settings, stripe_server):
    [invoice] = issued_invoices(1)
    services.invoice_push(invoice)
    items = {item["metadata"]["meterline_line_id"]: item
             for item in stripe_server.objects("invoiceitem")}
    assert {int(k): v["amount"] for k, v in items.items()} == {
        line.pk: int(line.amount * 100) for line in invoice.lines.all()}
    assert stripe_server.get(invoice.stripe.stripe_id)["total"] == int(invoice.total * 100)


@pytest.mark.django_db
@pytest.mark.parametrize(("currency", "fee", "unit", "total_minor"), [
    ("JPY", "5000", "0.3", 5037),  # 123 × ¥0.3 = ¥36.9 → ¥37
    ("KWD", "10.000", "0.0113", 11390),  # 123 × 0.0113 = 1.3899 → 1.390 KWD
])
def test_zero_and_three_decimal_currencies(world, stripe_settings, stripe_server, currency,
                                           fee, unit, total_minor):
    [invoice] = issued_invoices(1, currency=currency, fee=fee, unit=unit)
    services.invoice_push(invoice)
    pushed = stripe_server.get(invoice.stripe.stripe_id)
    assert pushed["currency"] == currency.lower()
    assert sum(item["amount"] for item in stripe_server.objects("invoiceitem")) == total_minor
    assert pushed["total"] == total_minor


@pytest.mark.django_db
def test_three_decimal_totals_get_a_rounding_line_so_stripe_can_charge_them(world,
                                                                            stripe_settings,
                                                                            stripe_server):
    [invoice] = issued_invoices(1, currency="KWD", fee="10.000", unit="0.0111")
    # 123 × 0.0111 = 1.3653 → 1.365 KWD; 11.365 is not payable: a 0.005 line rounds it up.
    rounding = invoice.lines.get(type="rounding")
    assert (rounding.amount, invoice.total) == (D("0.005"), D("11.370"))
    services.invoice_push(invoice)
    assert stripe_server.get(invoice.stripe.stripe_id)["total"] == 11370


@pytest.mark.django_db
def test_with_30_percent_of_calls_failing_every_invoice_is_in_stripe_exactly_once(
        world, stripe_settings, stripe_server):
    invoices = issued_invoices(8)
    stripe_server.set_failure_rate(0.2, statuses=(429, 500, 503), timeout_rate=0.05,
                                   lost_response_rate=0.05, delay_seconds=0.7, seed=7)
    for invoice in invoices:
        for _ in range(5):  # what the admin's *retry sync* would do after a final failure
            try:
                services.invoice_push(invoice)
                break
            except Exception:  # noqa: S112 — recorded on the row; push again
                continue
    stripe_server.set_failure_rate(0)
    assert all(StripeInvoice.objects.get(invoice=i).state == "synced" for i in invoices)
    assert stripe_server.count("customer") == 8
    assert stripe_server.count("invoice") == 8
    lines = sum(invoice.lines.exclude(amount=0).count() for invoice in invoices)
    assert stripe_server.count("invoiceitem") == lines
    for invoice in invoices:
        pushed = stripe_server.get(invoice.stripe.stripe_id)
        assert pushed["status"] == "open"
        assert pushed["total"] == int(invoice.total * 100)
    faults = [r for r in stripe_server.requests if r.status in (429, 500, 503)]
    assert faults, "the fault injection did not trigger"


@pytest.mark.django_db
def test_a_failed_push_shows_the_error_and_retry_resumes(world, stripe_settings,
                                                         stripe_server):
    [invoice] = issued_invoices(1)
    stripe_settings.STRIPE_MAX_ATTEMPTS = 2
    stripe_server.fail_next(5, status=500, path_prefix="/v1/invoiceitems")
    with pytest.raises(Exception):  # noqa: B017 — whichever Stripe error
        services.invoice_push(invoice)
    sync = StripeInvoice.objects.get(invoice=invoice)
    assert sync.state == "failed" and "500" in sync.last_error
    assert stripe_server.count("invoice") == 1  # created before the items failed
    stripe_server.clear_faults()
    services.invoice_push(invoice)
    sync.refresh_from_db()
    assert sync.state == "synced" and sync.attempts == 2
    assert stripe_server.count("invoice") == 1


@pytest.mark.django_db
def test_pushes_older_than_a_day_look_objects_up_instead_of_recreating(world, stripe_settings,
                                                                      stripe_server):
    [invoice] = issued_invoices(1)
    stripe_settings.STRIPE_MAX_ATTEMPTS = 1
    stripe_server.fail_next(1, status=500, path_prefix="/v1/invoices/")  # finalize fails
    with pytest.raises(Exception):  # noqa: B017
        services.invoice_push(invoice)
    sync = StripeInvoice.objects.get(invoice=invoice)
    known_items = dict(sync.item_ids)
    StripeInvoice.objects.filter(pk=sync.pk).update(
        stripe_id="", item_ids={}, first_attempt_at=at_("2025-01-01"))
    invoice.customer.stripe.__class__.objects.filter(customer=invoice.customer).update(
        stripe_id="", first_attempt_at=at_("2025-01-01"))
    stripe_server.forget_idempotency_keys()  # as Stripe does after 24 hours
    services.invoice_push(invoice)
    sync.refresh_from_db()
    assert sync.item_ids == known_items and sync.state == "synced"
    assert stripe_server.count("invoice") == 1 and stripe_server.count("customer") == 1
    assert stripe_server.count("invoiceitem") == len(known_items)


@pytest.mark.django_db
def test_voiding_our_invoice_voids_stripes(world, stripe_settings, stripe_server):
    [invoice] = issued_invoices(1)
    services.invoice_push(invoice)
    billing.invoice_void(invoice, reason="Wrong customer")
    services.invoice_void_push(invoice)
    assert stripe_server.get(invoice.stripe.stripe_id)["status"] == "void"


# --- webhooks ------------------------------------------------------------------------------

URL = "/api/v1/stripe/webhook"


def deliver(event, secret, timestamp=None, client=None):
    body, headers = webhook_request(event, secret, timestamp)
    return (client or Client()).post(URL, body, content_type=headers["Content-Type"],
                                     HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"])


@pytest.fixture
def pushed(world, stripe_settings, stripe_server):
    [invoice] = issued_invoices(1)
    services.invoice_push(invoice)
    return invoice, stripe_server.get(invoice.stripe.stripe_id)


@pytest.mark.django_db
@pytest.mark.parametrize("problem", ["bad signature", "old", "future", "no signature"])
def test_bad_webhooks_are_400_and_store_nothing(pushed, stripe_settings, problem):
    import time

    _, stripe_invoice = pushed
    event = make_event("invoice.paid", {**stripe_invoice, "status": "paid"})
    secret = stripe_settings.STRIPE_WEBHOOK_SECRET
    now = int(time.time())
    if problem == "bad signature":
        response = deliver(event, "whsec_wrong")
    elif problem == "old":
        response = deliver(event, secret, timestamp=now - 301)
    elif problem == "future":
        response = deliver(event, secret, timestamp=now + 301)
    else:
        response = Client().post(URL, json.dumps(event), content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert not StripeWebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers")
def test_paid_delivered_five_times_concurrently_then_an_older_failure(pushed, stripe_settings):
    invoice, stripe_invoice = pushed
    secret = stripe_settings.STRIPE_WEBHOOK_SECRET
    failed = make_event("invoice.payment_failed", {**stripe_invoice, "status": "open"},
                        created=1_700_000_000)
    paid = make_event("invoice.paid", {**stripe_invoice, "status": "paid"},
                      created=1_700_000_100)
    barrier = threading.Barrier(5)
    answers = []

    def post():
        barrier.wait()
        try:
            answers.append(deliver(paid, secret).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 5
    assert StripeWebhookEvent.objects.count() == 1
    assert deliver(failed, secret).status_code == 200
    for event in StripeWebhookEvent.objects.order_by("received_at"):
        process(event.id)
        process(event.id)  # a redelivered task
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    states = dict(StripeWebhookEvent.objects.values_list("type", "state"))
    assert states == {"invoice.paid": "processed", "invoice.payment_failed": "ignored"}
    changes = [h.status for h in invoice.history.order_by("history_date")]
    assert changes.count("paid") == 1


@pytest.mark.django_db
def test_webhook_effects(pushed, stripe_settings):
    invoice, stripe_invoice = pushed
    secret = stripe_settings.STRIPE_WEBHOOK_SECRET
    unknown = make_event("invoice.paid", {**stripe_invoice, "id": "in_not_ours"})
    deliver(unknown, secret)
    uncollectible = make_event("invoice.marked_uncollectible",
                               {**stripe_invoice, "status": "uncollectible"}, created=10)
    deliver(uncollectible, secret)
    for event in StripeWebhookEvent.objects.all():
        process(event.id)
    assert StripeWebhookEvent.objects.get(object_id="in_not_ours").state == "ignored"
    invoice.refresh_from_db()
    assert invoice.status == "uncollectible"
    voided = make_event("invoice.voided", {**stripe_invoice, "status": "void"}, created=20)
    deliver(voided, secret)
    process(voided["id"])
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason) == ("void", "Voided in Stripe.")


# --- admin ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_shows_sync_state_and_retries_a_failed_push(world, stripe_settings,
                                                          stripe_server, admin_client):
    [invoice] = issued_invoices(1)
    stripe_settings.STRIPE_MAX_ATTEMPTS = 1
    stripe_server.fail_next(1, status=500, path_prefix="/v1/customers")
    with pytest.raises(Exception):  # noqa: B017
        services.invoice_push(invoice)
    page = admin_client.get("/admin/stripe_sync/stripeinvoice/")
    assert "sync failed" in page.content.decode() and "500" in page.content.decode()
    retry = admin_client.post(f"/admin/stripe_sync/stripeinvoice/{invoice.pk}/retry/")
    assert retry.status_code == 302
    assert StripeInvoice.objects.get(invoice=invoice).state == "pending"


@pytest.mark.django_db
def test_admin_says_when_sync_is_off(admin_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    page = admin_client.get("/admin/stripe_sync/stripewebhookevent/", follow=True)
    assert "Stripe sync is off" in page.content.decode()


@pytest.mark.django_db
def test_invoice_page_shows_the_stripe_ids_and_link(world, stripe_settings, stripe_server,
                                                    admin_client):
    [invoice] = issued_invoices(1)
    services.invoice_push(invoice)
    sync = StripeInvoice.objects.get(invoice=invoice)
    html = admin_client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    assert sync.stripe_id in html and sync.hosted_invoice_url in html
    customer = admin_client.get(f"/admin/customers/customer/{invoice.customer_id}/change/")
    assert invoice.customer.stripe.stripe_id in customer.content.decode()
