"""Demo billing: profiles, subscriptions for the demo customers, and a billing run so that a
newcomer finds issued invoices (and one awaiting approval) right after `make run`.

Subscriptions start at local midnight a month and three days ago, so one whole period (with
most of the demo traffic in it) has closed. Idempotent: customers with a subscription are
left alone, and billing never bills a cycle twice.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from apps.billing import services, subscriptions
from apps.billing.engine import billed_customer
from apps.billing.models import BillingProfile, CustomerBilling
from apps.catalog.models import Plan, Status
from apps.customers.models import Customer

# customer key -> (plan key, starting phase)
PLANS = {
    "acme": ("enterprise", ""), "globex": ("pro", "default"), "initech": ("pro", "default"),
    "stark": ("pro", "default"), "hooli": ("pro", "default"), "wayne": ("pro", "trial"),
    "umbrella": ("free", ""), "soylent": ("pro_eur", "default"),
    "tyrell": ("pro_eur", "default"), "duff": ("pro_eur", "default"),
    "massive": ("pro_eur", "default"), "massive-labs": ("pro_eur", "default"),
    "massive-retail": ("pro_eur", "default"),
}
# customer key -> tax rate (%) and whether finance approves their invoices
TERMS = {"soylent": (Decimal(19), False), "tyrell": (Decimal(21), False),
         "duff": (Decimal(20), False), "massive": (Decimal(23), False),
         "hooli": (None, True)}


def _profiles() -> tuple[BillingProfile, BillingProfile]:
    has_default = BillingProfile.objects.filter(is_default=True).exists()
    us, _ = BillingProfile.objects.get_or_create(name="Nimbus AI, Inc.", defaults={
        "is_default": not has_default, "supplier_name": "Nimbus AI, Inc.",
        "supplier_email": "billing@nimbus-ai.example", "supplier_tax_id": "US 12-3456789",
        "supplier_address_line1": "500 Market Street", "supplier_address_city": "San Francisco",
        "supplier_address_postal_code": "94105", "supplier_address_country": "US",
        "locale": "en-US", "invoice_prefix": "INV"})
    eu, _ = BillingProfile.objects.get_or_create(name="Nimbus AI Europe B.V.", defaults={
        "supplier_name": "Nimbus AI Europe B.V.", "supplier_email": "billing@nimbus-ai.example",
        "supplier_tax_id": "NL123456789B01", "supplier_address_line1": "Keizersgracht 1",
        "supplier_address_city": "Amsterdam", "supplier_address_postal_code": "1015 CJ",
        "supplier_address_country": "NL", "locale": "en-IE", "invoice_prefix": "EU"})
    return us, eu


def demo_start(customer: Customer, now: datetime) -> datetime:
    zone = ZoneInfo(billed_customer(customer).time_zone)
    day = (now.astimezone(zone) - relativedelta(months=1) - timedelta(days=3)).date()
    return datetime.combine(day, time(0), zone)


def seed_billing(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    us, eu = _profiles()
    created = 0
    customers = Customer.objects.live().filter(key__in=PLANS).select_related("parent")
    for customer in customers:
        tax_rate, approval = TERMS.get(customer.key, (None, False))
        CustomerBilling.objects.get_or_create(customer=customer, defaults={
            "profile": eu if customer.currency == "EUR" else us, "tax_rate": tax_rate,
            "requires_approval": approval or None})
        if customer.subscriptions.exists():
            continue
        plan_key, phase = PLANS[customer.key]
        plan = Plan.objects.live().filter(key=plan_key).with_status(Status.ACTIVE).first()
        if plan is None:
            continue
        subscriptions.subscription_create(customer=customer, plan=plan,
                                          timing=demo_start(customer, now),
                                          starting_phase=phase, now=now)
        created += 1
    result = services.run_billing(now)
    return {"subscriptions": created, "invoices": len(result.invoices)}
