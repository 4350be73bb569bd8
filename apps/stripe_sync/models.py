"""What Meterline knows about its Stripe objects, and the webhook events Stripe sent."""

from django.db import models
from django.utils import timezone

from apps.billing.models import Invoice
from apps.customers.models import Customer


class StripeCustomer(models.Model):
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True,
                                    related_name="stripe")
    stripe_id = models.CharField(
        "Stripe customer ID", max_length=255, blank=True,
        help_text="Set it to link an existing Stripe customer instead of creating one.")
    synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "Stripe customer"

    def __str__(self):
        return self.stripe_id or f"{self.customer} (not in Stripe yet)"


class StripeInvoice(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        SYNCED = "synced"
        FAILED = "failed", "sync failed"
        VOIDED = "voided"

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, primary_key=True,
                                   related_name="stripe")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    stripe_id = models.CharField("Stripe invoice ID", max_length=255, blank=True)
    stripe_number = models.CharField(max_length=255, blank=True)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    stripe_status = models.CharField(max_length=32, blank=True,
                                     help_text="The invoice's status in Stripe.")
    payment_error = models.TextField(blank=True, help_text="The last failed payment.")
    item_ids = models.JSONField(default=dict, blank=True,
                                help_text="Our invoice line id → Stripe invoice item id.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(
        null=True, blank=True, help_text="Creation time of the newest webhook event applied.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Stripe invoice"

    def __str__(self):
        return self.stripe_id or f"{self.invoice} (not in Stripe yet)"


class StripeWebhookEvent(models.Model):
    class State(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=255, help_text="Stripe's event id.")
    type = models.CharField(max_length=128)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    object_id = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    result = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Stripe webhook event"
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["object_id", "created"])]

    def __str__(self):
        return f"{self.type} {self.id}"
