"""Subscriptions, billing profiles and invoices.

Exactly one invoice per (subscription, billing cycle) is guaranteed by `SubscriptionCycle`'s
unique constraint; issued invoices and their lines are immutable (model layer here, and a
trigger on PostgreSQL — see migration 0002).
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.catalog.models import Addon, Plan
from apps.core.fields import ExactDecimalField
from apps.core.history import history_user
from apps.core.ids import new_ulid
from apps.core.validators import validate_country_code
from apps.customers.models import Customer


class CollectionMethod(models.TextChoices):
    CHARGE_AUTOMATICALLY = "charge_automatically", "charge automatically"
    SEND_INVOICE = "send_invoice", "send invoice"


class BillingProfile(models.Model):
    """Who sells, and how invoices are collected, numbered and taxed."""

    name = models.CharField(max_length=128)
    is_default = models.BooleanField("default", default=False)
    supplier_name = models.CharField(max_length=256)
    supplier_email = models.EmailField(blank=True)
    supplier_tax_id = models.CharField("supplier tax ID", max_length=64, blank=True)
    supplier_address_line1 = models.CharField("address line 1", max_length=256, blank=True)
    supplier_address_city = models.CharField("city", max_length=128, blank=True)
    supplier_address_postal_code = models.CharField("postal code", max_length=32, blank=True)
    supplier_address_country = models.CharField(
        "country", max_length=2, blank=True, validators=[validate_country_code])
    invoice_prefix = models.CharField(max_length=16, default="INV")
    credit_note_prefix = models.CharField(max_length=16, default="CN")
    collection_delay = models.DurationField(
        default=timedelta(hours=1),
        help_text="Wait this long after a period ends for late events before invoicing it.")
    draft_period = models.DurationField(
        default=timedelta(0),
        help_text="Drafts stay editable (and are refreshed) this long before they issue.")
    requires_approval = models.BooleanField(
        default=False, help_text="Drafts wait for finance to approve them instead of issuing.")
    due_after_days = models.PositiveSmallIntegerField(default=30)
    tax_rate = ExactDecimalField(
        "tax rate (%)", default=0, validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Exclusive tax added to invoice totals, e.g. 19 for 19 %.")
    collection_method = models.CharField(max_length=32, choices=CollectionMethod.choices,
                                         default=CollectionMethod.SEND_INVOICE)
    locale = models.CharField(max_length=16, default="en-US",
                              help_text="How amounts and dates print on invoices.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [models.UniqueConstraint(fields=["is_default"],
                                               condition=Q(is_default=True),
                                               name="one_default_billing_profile")]

    def __str__(self):
        return self.name


class CustomerBilling(models.Model):
    """Per-customer billing overrides; empty fields inherit from the profile."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="billing",
                                    primary_key=True)
    profile = models.ForeignKey(BillingProfile, null=True, blank=True,
                                on_delete=models.PROTECT, related_name="customers")
    tax_rate = ExactDecimalField("tax rate (%)", null=True, blank=True,
                                 validators=[MinValueValidator(0), MaxValueValidator(100)])
    requires_approval = models.BooleanField(null=True, blank=True)
    collection_method = models.CharField(max_length=32, choices=CollectionMethod.choices,
                                         blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = "customer billing settings"
        verbose_name_plural = "customer billing settings"

    def __str__(self):
        return f"Billing of {self.customer}"


class SubscriptionQuerySet(models.QuerySet):
    def overlapping(self, start, end):
        query = Q(active_to__isnull=True) | Q(active_to__gt=start)
        if end is not None:
            query &= Q(active_from__lt=end)
        return self.filter(query)


class Subscription(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        ACTIVE = "active"
        CANCELED = "canceled"  # active, with an end date
        INACTIVE = "inactive"  # ended

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT,
                                 related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    name = models.CharField(max_length=256, blank=True)
    description = models.TextField(blank=True)
    starting_phase = models.CharField(max_length=64, blank=True,
                                      help_text="Skip the plan's earlier phases.")
    active_from = models.DateTimeField()
    active_to = models.DateTimeField(null=True, blank=True)
    billing_anchor = models.DateTimeField(
        null=True, blank=True,
        help_text="Periods are anchor + k × cadence; empty: each phase's start.")
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="next", help_text="Changed or migrated from.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)
    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-active_from"]
        constraints = [models.CheckConstraint(
            condition=Q(active_to__isnull=True) | Q(active_to__gte=models.F("active_from")),
            name="subscription_ends_after_it_starts")]

    def __str__(self):
        return f"{self.customer} on {self.plan}"

    def status_at(self, at) -> "Subscription.Status":
        if self.active_from > at:
            return self.Status.SCHEDULED
        if self.active_to is not None and self.active_to <= at:
            return self.Status.INACTIVE
        return self.Status.CANCELED if self.active_to is not None else self.Status.ACTIVE

    @property
    def status(self) -> "Subscription.Status":
        return self.status_at(timezone.now())


class SubscriptionAddon(models.Model):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE,
                                     related_name="addons")
    addon = models.ForeignKey(Addon, on_delete=models.PROTECT, related_name="subscriptions")
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    active_from = models.DateTimeField()
    active_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = "subscription add-on"

    def __str__(self):
        return f"{self.quantity} × {self.addon}"


class SubscriptionOverride(models.Model):
    """A negotiated price for one rate card of the subscription's plan (all phases)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE,
                                     related_name="overrides")
    rate_card_key = models.CharField(max_length=64)
    price_amount = ExactDecimalField(
        "amount", null=True, blank=True,
        help_text="Replaces the flat amount, unit price or package price.")
    tiers = models.JSONField(null=True, blank=True, help_text="Replaces the tiers.")
    discount_percentage = ExactDecimalField(
        "percentage discount", null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)])
    note = models.CharField(max_length=256, blank=True, help_text="e.g. the contract number.")

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = "negotiated price"
        constraints = [models.UniqueConstraint(fields=["subscription", "rate_card_key"],
                                               name="one_override_per_rate_card")]

    def __str__(self):
        return f"{self.rate_card_key} for {self.subscription}"


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ISSUED = "issued"
        PAID = "paid"
        VOID = "void"
        UNCOLLECTIBLE = "uncollectible"

    class Kind(models.TextChoices):
        STANDARD = "standard"
        CREDIT_NOTE = "credit_note", "credit note"

    # Columns that never change once an invoice is issued (the PostgreSQL trigger lists the
    # same ones); status, payment, PDF and Stripe columns keep moving.
    FROZEN = ["kind", "customer_id", "currency", "number", "cycle_at", "period_start",
              "period_end", "issued_at", "due_at", "subtotal", "discount_total",
              "adjustment_total", "tax_rate", "tax_amount", "total", "supplier",
              "buyer", "corrects_id"]

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STANDARD)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices",
                                 help_text="Who is billed (the parent, when consolidated).")
    profile = models.ForeignKey(BillingProfile, on_delete=models.PROTECT,
                                related_name="invoices")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    number = models.CharField(max_length=64, null=True, blank=True, unique=True)
    cycle_at = models.DateTimeField(null=True, blank=True,
                                    help_text="The billing-cycle instant that produced it.")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    issue_after = models.DateTimeField(null=True, blank=True,
                                       help_text="A draft issues itself after this.")
    requires_approval = models.BooleanField(default=False)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="credit_notes")
    subtotal = ExactDecimalField(default=0)
    discount_total = ExactDecimalField(default=0)
    adjustment_total = ExactDecimalField(
        default=0, help_text="Minimums, caps and minimum-spend true-ups.")
    tax_rate = ExactDecimalField(default=0)
    tax_amount = ExactDecimalField(default=0)
    total = ExactDecimalField(default=0)
    supplier = models.JSONField(default=dict, blank=True)
    buyer = models.JSONField(default=dict, blank=True)
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user, excluded_fields=["pdf"])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "issued_at"]),
                   models.Index(fields=["customer", "cycle_at"])]

    def __str__(self):
        return self.number or f"Draft {self.id[-8:].lower()}"

    def save(self, *args, **kwargs):
        if not self._state.adding and self.pk:
            stored = Invoice.objects.filter(pk=self.pk).values("status", *self.FROZEN).first()
            if stored and stored["status"] != self.Status.DRAFT:
                changed = [name for name in self.FROZEN
                           if _differs(stored[name], getattr(self, name))]
                if changed:
                    raise ValidationError(f"Invoice {self} is {stored['status']}; "
                                          f"{', '.join(changed)} can no longer change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if Invoice.objects.filter(pk=self.pk).exclude(status=self.Status.DRAFT).exists():
            raise ValidationError(f"Invoice {self} is issued and cannot be deleted.")
        return super().delete(*args, **kwargs)

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class InvoiceLine(models.Model):
    class Type(models.TextChoices):
        FLAT_FEE = "flat_fee", "flat fee"
        USAGE_BASED = "usage_based", "usage"
        MINIMUM_SPEND = "minimum_spend", "minimum spend true-up"
        PRORATION_CREDIT = "proration_credit", "unused time credit"
        MANUAL = "manual"
        CREDIT = "credit", "credit"
        ROUNDING = "rounding", "payment rounding"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=20, choices=Type.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+",
                                 help_text="Whose charge this is (a subsidiary, when "
                                           "consolidated).")
    subscription = models.ForeignKey(Subscription, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="invoice_lines")
    rate_card_key = models.CharField(max_length=64, blank=True)
    feature_key = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=256)
    description = models.CharField(max_length=512, blank=True)
    period_start = models.DateTimeField(help_text="Service period start.")
    period_end = models.DateTimeField()
    quantity = ExactDecimalField(null=True, blank=True)
    metered_quantity = ExactDecimalField(
        null=True, blank=True, help_text="The period's whole metered quantity when billed.")
    unit_price = ExactDecimalField(null=True, blank=True)
    subtotal = ExactDecimalField(default=0)
    discount = ExactDecimalField(default=0, help_text="Taken off, as a positive amount.")
    adjustment = ExactDecimalField(default=0)
    amount = ExactDecimalField(default=0)
    tiers = models.JSONField(default=list, blank=True)
    managed = models.BooleanField(default=True, help_text="Built by billing, not by hand.")

    class Meta:
        ordering = ["invoice", "position", "id"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self._require_draft()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._require_draft()
        return super().delete(*args, **kwargs)

    def _require_draft(self):
        status = Invoice.objects.filter(pk=self.invoice_id).values_list("status", flat=True)
        if status and status[0] != Invoice.Status.DRAFT:
            raise ValidationError("Lines of an issued invoice can no longer change.")


class SubscriptionCycle(models.Model):
    """One row per (subscription, billing-cycle instant): the database's promise that a cycle
    is billed once, whoever runs it and however often."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT,
                                     related_name="cycles")
    cycle_at = models.DateTimeField()
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="cycles", help_text="Empty: nothing was owed.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "cycle_at"],
                                               name="one_invoice_per_subscription_cycle")]

    def __str__(self):
        return f"{self.subscription} at {self.cycle_at:%Y-%m-%d %H:%M}"


class InvoiceSequence(models.Model):
    """Gap-free counter per series (e.g. INV-2026), advanced inside the issuing transaction."""

    series = models.CharField(max_length=32, unique=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.series}: {self.last}"


def _differs(stored, current) -> bool:
    return stored != current  # Decimals compare by value: 10 == 10.00
