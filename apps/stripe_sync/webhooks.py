"""Stripe webhooks: verified, stored once per event id, processed in a worker.

Payment status only moves forward. Each invoice remembers the creation time of the newest
event applied to it; an older event (Stripe does not deliver in order) is recorded but changes
nothing, and a repeated delivery of the same event id is not even stored twice.
"""

import json
import time
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.billing import services as billing
from apps.billing.models import Invoice
from apps.stripe_sync.models import StripeInvoice, StripeWebhookEvent

HANDLED = {"invoice.paid", "invoice.payment_failed", "invoice.voided",
           "invoice.marked_uncollectible", "invoice.finalized"}


class BadWebhook(ValueError):
    pass


def verify(payload: bytes, signature: str | None) -> dict:
    """The event, if the signature over the raw body is right and its time is recent."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BadWebhook("Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).")
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
        signed_at = int(dict(part.split("=", 1) for part in signature.split(","))["t"])
    except (stripe.SignatureVerificationError, KeyError, ValueError) as error:
        raise BadWebhook(f"Invalid Stripe-Signature: {error}") from error
    # The library only refuses old timestamps; a signature from the future is refused too.
    if signed_at > time.time() + tolerance:
        raise BadWebhook("Invalid Stripe-Signature: the timestamp is in the future.")
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise BadWebhook("The body is not JSON.") from error
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise BadWebhook("The body is not a Stripe event.")
    return event


def record(event: dict) -> tuple[StripeWebhookEvent, bool]:
    """Store the event once; True when this delivery stored it."""
    data = (event.get("data") or {}).get("object") or {}
    try:
        with transaction.atomic():
            stored, created = StripeWebhookEvent.objects.get_or_create(id=event["id"], defaults={
                "type": event["type"], "payload": event,
                "created": datetime.fromtimestamp(int(event.get("created") or 0), UTC),
                "object_id": str(data.get("id") or "")})
    except IntegrityError:  # a concurrent delivery of the same event won the insert
        return StripeWebhookEvent.objects.get(id=event["id"]), False
    if created:
        transaction.on_commit(lambda: _enqueue(stored.id))
    return stored, created


def _enqueue(event_id: str) -> None:
    from apps.stripe_sync.tasks import process_webhook_event

    process_webhook_event.delay(event_id)


@transaction.atomic
def process(event_id: str) -> StripeWebhookEvent:
    event = StripeWebhookEvent.objects.select_for_update().get(id=event_id)
    if event.state != StripeWebhookEvent.State.RECEIVED:
        return event  # processed already (a redelivered task)
    sync = StripeInvoice.objects.select_for_update().select_related("invoice") \
        .filter(stripe_id=event.object_id).first() if event.object_id else None
    if event.type not in HANDLED:
        return _finish(event, StripeWebhookEvent.State.IGNORED, "Not an event Meterline uses.")
    if sync is None:
        return _finish(event, StripeWebhookEvent.State.IGNORED,
                       "Not an invoice Meterline created.")
    if sync.last_event_at is not None and event.created < sync.last_event_at:
        return _finish(event, StripeWebhookEvent.State.IGNORED,
                       "Older than an event already applied; status never moves back.")
    try:
        result = _apply(event, sync)
    except Exception as error:
        return _finish(event, StripeWebhookEvent.State.FAILED, str(error))
    sync.last_event_at = event.created
    sync.save(update_fields=["last_event_at", "stripe_status", "payment_error",
                             "stripe_number", "hosted_invoice_url", "state", "updated_at"])
    return _finish(event, StripeWebhookEvent.State.PROCESSED, result)


def _apply(event: StripeWebhookEvent, sync: StripeInvoice) -> str:
    obj = event.payload["data"]["object"]
    invoice = sync.invoice
    sync.stripe_status = obj.get("status") or sync.stripe_status
    sync.stripe_number = obj.get("number") or sync.stripe_number
    sync.hosted_invoice_url = obj.get("hosted_invoice_url") or sync.hosted_invoice_url
    at = event.created
    match event.type:
        case "invoice.paid":
            if invoice.status in (Invoice.Status.ISSUED, Invoice.Status.UNCOLLECTIBLE):
                billing.invoice_mark(invoice, Invoice.Status.PAID, at=at)
                return "Invoice paid."
        case "invoice.payment_failed":
            sync.payment_error = _payment_error(obj)
            return "Payment failed; the invoice stays issued."
        case "invoice.voided":
            sync.state = StripeInvoice.State.VOIDED
            if invoice.status in (Invoice.Status.ISSUED, Invoice.Status.UNCOLLECTIBLE):
                billing.invoice_void(invoice, reason="Voided in Stripe.", at=at)
                return "Invoice voided."
        case "invoice.marked_uncollectible":
            if invoice.status == Invoice.Status.ISSUED:
                billing.invoice_mark(invoice, Invoice.Status.UNCOLLECTIBLE, at=at)
                return "Invoice marked uncollectible."
        case "invoice.finalized":
            return "Stripe number and link recorded."
    return f"No change: the invoice is {invoice.status}."


def _payment_error(obj: dict) -> str:
    error = obj.get("last_finalization_error") or {}
    return error.get("message") or "Stripe reported a failed payment."


def _finish(event: StripeWebhookEvent, state: str, result: str) -> StripeWebhookEvent:
    event.state, event.result, event.processed_at = state, result, timezone.now()
    event.save(update_fields=["state", "result", "processed_at"])
    return event
