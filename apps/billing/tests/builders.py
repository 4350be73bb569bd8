"""Invoices for the finance admin, PDF and browser tests, built by the real billing services.

`finance_world()` runs January 2026 under a frozen clock and bills it on 1 February:

- Northwind Traders (USD, default profile, no approval): INV-2026-000001, January's platform
  fee, issued on 1 January; INV-2026-000002, January's usage and February's fee, issued on
  1 February — graduated tiers, a percentage discount and a minimum commitment true-up;
- Contoso Group (EUR, de-DE profile with 19 % tax, requires approval), billed for itself and
  its subsidiary Contoso Labs on one consolidated invoice: drafts waiting for approval.

Keys are prefixed so that the world fits next to the demo data (`seed_customers`).
"""

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import time_machine

from apps.billing import services as billing
from apps.billing import subscriptions
from apps.billing.models import BillingProfile, CustomerBilling, Invoice
from apps.catalog import services as catalog
from apps.catalog.models import Feature
from apps.customers.models import Customer, GatewayConsumer
from apps.metering import services as metering

_ids = itertools.count()

TIERS = [{"upToAmount": "1000", "unitPrice": "0", "flatPrice": None},
         {"upToAmount": "10000", "unitPrice": "0.01", "flatPrice": None},
         {"upToAmount": None, "unitPrice": "0.005", "flatPrice": None}]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class FinanceWorld:
    usd_profile: BillingProfile
    eur_profile: BillingProfile
    northwind: Customer
    contoso: Customer
    contoso_labs: Customer

    @property
    def issued(self) -> Invoice:
        """Northwind's February invoice: usage with tiers, discount and commitment."""
        return self.northwind.invoices.get(cycle_at=at("2026-02-01T00:00:00Z"))

    @property
    def draft(self) -> Invoice:
        """Contoso's consolidated February draft, waiting for approval."""
        return self.contoso.invoices.get(cycle_at=at("2026-02-01T00:00:00Z"))


def finance_world() -> FinanceWorld:
    with time_machine.travel(at("2025-12-01T00:00:00Z"), tick=False):
        return _build()


def _build() -> FinanceWorld:
    usd_profile = BillingProfile.objects.filter(is_default=True).first()
    if usd_profile is None:
        usd_profile = BillingProfile.objects.create(
            name="Nimbus AI Inc.", is_default=True, supplier_name="Nimbus AI Inc.",
            supplier_email="billing@nimbus.example", supplier_tax_id="US 12-3456789",
            supplier_address_line1="500 Market Street", supplier_address_city="San Francisco",
            supplier_address_postal_code="94105", supplier_address_country="US",
            collection_delay=timedelta(0))
    eur_profile = BillingProfile.objects.create(
        name="Nimbus AI GmbH", supplier_name="Nimbus AI GmbH",
        supplier_email="rechnung@nimbus.example", supplier_tax_id="DE123456789",
        supplier_address_line1="Invalidenstraße 1", supplier_address_city="Berlin",
        supplier_address_postal_code="10115", supplier_address_country="DE",
        invoice_prefix="RE", credit_note_prefix="GS", collection_delay=timedelta(0),
        requires_approval=True, tax_rate=Decimal(19), locale="de-DE")

    for slug in ("invoiced_calls", "invoiced_tokens"):
        meter = metering.meter_create(slug=slug, aggregation="SUM", event_type=slug,
                                      value_property="$.n")
        catalog.feature_create(key=slug, name=slug.replace("invoiced_", "").title(),
                               meter=meter)
    usd_plan = _plan("scale_usd", "USD", base_fee="49")
    eur_plan = _plan("scale_eur", "EUR", base_fee="45")

    northwind = _customer("northwind", "Northwind Traders", "USD",
                          email="ap@northwind.example", city="Seattle", country="US")
    contoso = _customer("contoso", "Contoso Group", "EUR", email="finance@contoso.example",
                        city="München", country="DE")
    contoso_labs = _customer("contoso-labs", "Contoso Labs", "EUR", parent=contoso,
                             bill_to_parent=True, city="Hamburg", country="DE")
    CustomerBilling.objects.create(customer=contoso, profile=eur_profile)

    january = at("2026-01-01T00:00:00Z")
    for customer, plan in ((northwind, usd_plan), (contoso, eur_plan),
                           (contoso_labs, eur_plan)):
        subscriptions.subscription_create(customer=customer, plan=plan, timing=january,
                                          now=at("2025-12-01T00:00:00Z"))
    _use("northwind", "invoiced_calls", 25_000, "2026-01-20T10:00:00Z")
    _use("northwind", "invoiced_tokens", 2_300_000, "2026-01-21T10:00:00Z")
    _use("contoso", "invoiced_calls", 4_000, "2026-01-10T10:00:00Z")
    _use("contoso-labs", "invoiced_calls", 12_000, "2026-01-12T10:00:00Z")
    _use("contoso-labs", "invoiced_tokens", 9_000_000, "2026-01-13T10:00:00Z")
    billing.run_billing(january)  # January's fees, in advance
    billing.run_billing(at("2026-02-01T00:00:00Z"))  # January's usage, February's fees
    return FinanceWorld(usd_profile, eur_profile, northwind, contoso, contoso_labs)


def _plan(key: str, currency: str, *, base_fee: str):
    def card(key, name, **values):
        feature = values.pop("feature", None)
        return catalog.RateCardData({
            "key": key, "name": name, "type": values.pop("type", "usage_based"),
            "billing_cadence": "P1M",
            "feature": Feature.objects.get(key=feature) if feature else None, **values})

    plan = catalog.plan_create(data=catalog.PlanData(
        key=key, name=f"Scale {currency}", currency=currency, billing_cadence="P1M",
        phases=[catalog.PhaseData(key="default", name="Scale", rate_cards=[
            card("base_fee", "Platform fee", type="flat_fee", price_type="flat",
                 price_amount=Decimal(base_fee), payment_term="in_advance"),
            card("api_calls", "API calls", feature="invoiced_calls", price_type="tiered",
                 tiered_mode="graduated", tiers=TIERS, discount_percentage=Decimal(10)),
            card("tokens", "LLM tokens", feature="invoiced_tokens", price_type="package",
                 price_amount=Decimal(5), quantity_per_package=Decimal(1_000_000),
                 minimum_amount=Decimal(20)),
        ])]))
    return catalog.version_publish(plan, effective_from=None)


def _customer(key, name, currency, *, email="", city="", country="", parent=None,
              bill_to_parent=False) -> Customer:
    created = Customer.objects.create(
        key=key, name=name, currency=currency, primary_email=email, address_city=city,
        address_country=country, address_line1="1 Harbour Road",
        address_postal_code="12345", parent=parent, bill_to_parent=bill_to_parent)
    GatewayConsumer.objects.create(key=f"{key}-app", customer=created)
    return created


def _use(customer_key: str, meter: str, amount: int, when: str) -> None:
    metering.ingest_events([{
        "specversion": "1.0", "id": f"finance-{next(_ids)}", "source": "tests", "type": meter,
        "subject": f"{customer_key}-app", "time": when, "data": {"n": str(amount)}}],
        now=at("2030-01-01T00:00:00Z"))
