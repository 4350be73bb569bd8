"""The billing tile of the admin dashboard (apps.core.dashboard adds it to the context)."""

from django.urls import reverse
from django.utils import timezone

from apps.billing import selectors
from apps.billing.presentation import money


def billing_tile(request) -> dict | None:
    """Drafts waiting for finance's approval, and this month's (UTC) invoiced totals per
    currency: standard invoices issued since the 1st, void ones left out."""
    if not request.user.has_perm("billing.view_invoice"):
        return None
    start, end = selectors.month_bounds(timezone.now())
    changelist = reverse("admin:billing_invoice_changelist")
    return {
        "awaiting": selectors.awaiting_approval().count(),
        "awaiting_url": f"{changelist}?status__exact=draft&requires_approval__exact=1",
        "month_label": start.strftime("%B %Y"),
        "invoiced": [{**row, "text": money(row["total"], row["currency"], "en-US")}
                     for row in selectors.totals_by_currency(
                         selectors.invoiced_between(start, end))],
    }
