"""Customer and gateway-consumer state changes; one function per business action."""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, InvalidInput
from apps.customers.models import Customer, GatewayConsumer
from apps.customers.rules import hierarchy_errors, ownership_conflict


@dataclass
class CustomerData:
    """Everything a full create or replace sets; omitted optional values are cleared."""

    name: str
    key: str | None = None
    description: str = ""
    currency: str | None = None
    primary_email: str = ""
    address_line1: str = ""
    address_line2: str = ""
    address_city: str = ""
    address_state: str = ""
    address_postal_code: str = ""
    address_country: str = ""
    phone_number: str = ""
    tax_id: str = ""
    time_zone: str = "UTC"
    metadata: dict = field(default_factory=dict)
    parent: Customer | None = None
    bill_to_parent: bool = False
    subject_keys: list[str] = field(default_factory=list)


def customer_create(*, data: CustomerData) -> Customer:
    return _customer_save(Customer(), data)


def customer_replace(*, customer: Customer, data: CustomerData) -> Customer:
    return _customer_save(customer, data)


def _customer_save(customer: Customer, data: CustomerData) -> Customer:
    for name, value in vars(data).items():
        if name == "subject_keys" or (name == "currency" and value is None):
            continue
        setattr(customer, name, value)
    if data.key and (conflict := ownership_conflict(data.key, customer_id=customer.pk)):
        raise Conflict(conflict, field="key")
    if errors := hierarchy_errors(customer):
        name, messages = next(iter(errors.items()))
        raise InvalidInput(messages[0], field=_api_field(name))
    try:
        with transaction.atomic():
            customer.save()
            _set_subject_keys(customer, data.subject_keys)
    except IntegrityError as exc:
        # Lost a race with a concurrent request claiming the same key.
        raise Conflict("The customer key or a subject key was claimed concurrently.",
                       field="key") from exc
    return customer


def _api_field(model_field: str) -> str:
    return {"bill_to_parent": "billToParent", "parent": "parentCustomerId"}.get(
        model_field, model_field
    )


def _set_subject_keys(customer: Customer, keys: list[str]) -> None:
    """Make ``keys`` exactly the customer's subjects; released subjects keep their history."""
    for key in keys:
        if conflict := ownership_conflict(key, customer_id=customer.pk):
            raise Conflict(conflict, field="usageAttribution.subjectKeys")
    GatewayConsumer.objects.filter(customer=customer).exclude(key__in=keys).update(customer=None)
    existing = {c.key: c for c in GatewayConsumer.objects.select_for_update().filter(key__in=keys)}
    for key in keys:
        consumer = existing.get(key)
        if consumer is None:
            GatewayConsumer.objects.create(key=key, customer=customer)
        elif consumer.customer_id != customer.pk:
            consumer.customer = customer
            consumer.save(update_fields=["customer", "updated_at"])


@transaction.atomic
def customer_delete(*, customer: Customer) -> None:
    """Soft delete: invoices and usage history keep pointing at the customer."""
    if customer.subsidiaries.filter(deleted_at__isnull=True).exists():
        raise Conflict("Customer has subsidiaries; move or delete them first.")
    GatewayConsumer.objects.filter(customer=customer).update(customer=None)
    customer.deleted_at = timezone.now()
    customer.save(update_fields=["deleted_at", "updated_at"])
