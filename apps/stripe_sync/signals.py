"""Billing tells us when invoices are issued or voided; we push them to Stripe in a worker."""

from django.dispatch import receiver

from apps.billing.signals import invoice_issued, invoice_voided
from apps.stripe_sync import client


@receiver(invoice_issued)
def push_issued_invoice(sender, invoice_id: str, **kwargs):
    if client.enabled():
        from apps.stripe_sync.tasks import push_invoice

        push_invoice.delay(invoice_id)


@receiver(invoice_voided)
def void_in_stripe(sender, invoice_id: str, **kwargs):
    if client.enabled():
        from apps.stripe_sync.tasks import void_invoice

        void_invoice.delay(invoice_id)
