"""Reads for the finance admin: totals per currency and the dashboard's billing numbers."""

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from apps.billing.models import Invoice


def totals_by_currency(invoices: QuerySet) -> list[dict]:
    """[{currency, count, total}] for a (filtered) list of invoices, by currency.

    Summed here, not with SQL SUM: amounts are text on SQLite (see ExactDecimalField), and a
    Decimal sum is exact on every database."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, int] = defaultdict(int)
    for currency, total in invoices.order_by().values_list("currency", "total"):
        sums[currency] += total
        counts[currency] += 1
    return [{"currency": currency, "count": counts[currency], "total": sums[currency]}
            for currency in sorted(sums)]


def awaiting_approval() -> QuerySet:
    return Invoice.objects.filter(status=Invoice.Status.DRAFT, requires_approval=True)


def invoiced_between(start: datetime, end: datetime) -> QuerySet:
    """Invoices issued in [start, end) that still stand: credit notes and void ones left out."""
    return Invoice.objects.filter(kind=Invoice.Kind.STANDARD, issued_at__gte=start,
                                  issued_at__lt=end).exclude(status=Invoice.Status.VOID)


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The calendar month (UTC) around `now`."""
    now = (now or timezone.now()).astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 \
        else start.replace(month=start.month + 1)
    return start, end
