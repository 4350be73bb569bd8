from django.urls import reverse

from apps.billing.dashboard import billing_tile
from apps.core.admin import heartbeat_status
from apps.customers import selectors as customer_selectors


def dashboard_callback(request, context):
    counts = customer_selectors.customer_counts()
    context.update(
        {
            "kpis": [
                {"title": "Customers", "value": counts["customers"],
                 "href": reverse("admin:customers_customer_changelist")},
                {"title": "Gateway consumers", "value": counts["consumers"],
                 "href": reverse("admin:customers_gatewayconsumer_changelist")},
                {"title": "Unattributed consumers", "value": counts["unattributed"],
                 "href": reverse("admin:customers_gatewayconsumer_changelist")
                 + "?customer__isnull=True"},
                {"title": "Parent companies", "value": counts["parents"],
                 "href": reverse("admin:customers_customer_changelist") + "?has_subsidiaries=yes"},
            ],
            "heartbeat": heartbeat_status(),
            "recent_customers": customer_selectors.recent_customers(limit=8),
            "billing": billing_tile(request),
        }
    )
    return context
