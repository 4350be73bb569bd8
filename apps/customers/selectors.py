from django.db.models import Count, Prefetch, Q, QuerySet

from apps.core.errors import NotFound
from apps.customers.models import Customer, GatewayConsumer


def customers_with_subjects(include_deleted: bool = False) -> QuerySet[Customer]:
    queryset = Customer.objects.all() if include_deleted else Customer.objects.live()
    return queryset.prefetch_related(
        Prefetch("consumers", queryset=GatewayConsumer.objects.order_by("key"))
    )


def customer_get(id_or_key: str, *, include_deleted: bool = False) -> Customer:
    """A customer by ULID or by key (OpenMeter's ``customerIdOrKey``)."""
    queryset = customers_with_subjects(include_deleted=include_deleted)
    customer = queryset.filter(pk=id_or_key).first() or queryset.filter(key=id_or_key).first()
    if customer is None:
        raise NotFound(f"Customer “{id_or_key}” not found.")
    return customer


def customer_counts() -> dict[str, int]:
    customers = Customer.objects.live().aggregate(
        customers=Count("pk", distinct=True),
        parents=Count("pk", filter=Q(subsidiaries__isnull=False), distinct=True),
    )
    consumers = GatewayConsumer.objects.aggregate(
        consumers=Count("pk"), unattributed=Count("pk", filter=Q(customer__isnull=True))
    )
    return {**customers, **consumers}


def recent_customers(limit: int = 10) -> list[Customer]:
    return list(
        Customer.objects.live()
        .annotate(consumer_count=Count("consumers"))
        .order_by("-created_at")[:limit]
    )
