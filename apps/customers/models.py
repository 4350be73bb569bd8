from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.core.history import history_user
from apps.core.ids import new_ulid
from apps.core.validators import (
    validate_country_code,
    validate_currency_code,
    validate_time_zone,
)


def default_currency() -> str:
    return settings.METERLINE_DEFAULT_CURRENCY


class CustomerQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class Customer(models.Model):
    """Who is billed. Usage reaches a customer through its gateway consumers (subjects)."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid, editable=False)
    key = models.CharField(  # noqa: DJ001  NULL, not "", so that keyless customers never clash
        max_length=256, null=True, blank=True,
        help_text="Your own identifier for the customer. Events whose subject equals it are "
                  "attributed to the customer as well.",
    )
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    currency = models.CharField(
        max_length=3, default=default_currency, validators=[validate_currency_code]
    )
    primary_email = models.EmailField(blank=True)
    address_line1 = models.CharField("address line 1", max_length=256, blank=True)
    address_line2 = models.CharField("address line 2", max_length=256, blank=True)
    address_city = models.CharField("city", max_length=128, blank=True)
    address_state = models.CharField("state / region", max_length=128, blank=True)
    address_postal_code = models.CharField("postal code", max_length=32, blank=True)
    address_country = models.CharField(
        "country", max_length=2, blank=True, validators=[validate_country_code],
        help_text="ISO 3166-1 alpha-2, e.g. US, DE.",
    )
    phone_number = models.CharField(max_length=64, blank=True)
    tax_id = models.CharField("tax ID", max_length=64, blank=True)
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone],
        help_text="IANA time zone; billing periods close at local midnight.",
    )
    metadata = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="subsidiaries",
        help_text="The parent company, for a subsidiary.",
    )
    bill_to_parent = models.BooleanField(
        default=False, help_text="Invoice this subsidiary's charges on its parent's invoice."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(get_user=history_user)
    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(deleted_at__isnull=True),
                name="customer_key_live_unique",
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("id")), name="customer_not_own_parent"
            ),
            models.CheckConstraint(
                condition=Q(bill_to_parent=False) | Q(parent__isnull=False),
                name="customer_bill_to_parent_needs_parent",
            ),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self):
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def clean(self):
        from apps.customers.rules import hierarchy_errors, ownership_conflict

        errors = hierarchy_errors(self)
        if self.key and (conflict := ownership_conflict(self.key, customer_id=self.pk)):
            errors.setdefault("key", []).append(conflict)
        if errors:
            raise ValidationError(errors)


class GatewayConsumer(models.Model):
    """A subject as sent in events' ``subject``; belongs to at most one customer."""

    key = models.CharField(max_length=256, unique=True, help_text="Exactly as sent in events.")
    display_name = models.CharField(max_length=256, blank=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="consumers"
    )
    metadata = models.JSONField(default=dict, blank=True)
    auto_registered = models.BooleanField(
        default=False, editable=False, help_text="Created on its first event, not by a person."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["key"]
        verbose_name = "gateway consumer"

    def __str__(self):
        return self.display_name or self.key

    def clean(self):
        from apps.customers.rules import ownership_conflict

        if self.key and self.customer_id:
            conflict = ownership_conflict(self.key, customer_id=self.customer_id,
                                        consumer_id=self.pk)
            if conflict:
                raise ValidationError({"key": conflict})
