import contextlib

import stripe
from celery import shared_task

from apps.billing.models import Invoice
from apps.stripe_sync import services, webhooks


@shared_task
def push_invoice(invoice_id: str):
    """Enqueued after an invoice is issued. Transient Stripe errors are retried inside; a
    push that still fails is marked `sync failed` with the error for the admin's retry."""
    invoice = Invoice.objects.select_related("customer").filter(pk=invoice_id).first()
    if invoice is None:
        return
    # A failure is recorded on the StripeInvoice row; the admin offers *retry sync*.
    with contextlib.suppress(stripe.StripeError, services.SyncError):
        services.invoice_push(invoice)


@shared_task
def void_invoice(invoice_id: str):
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is not None:
        services.invoice_void_push(invoice)


@shared_task
def process_webhook_event(event_id: str):
    webhooks.process(event_id)
