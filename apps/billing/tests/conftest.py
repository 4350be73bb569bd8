"""A small world for billing scenarios: two SUM meters, features, plans and a usage helper."""

import itertools
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from apps.billing import services as billing
from apps.billing.models import BillingProfile
from apps.catalog import services as catalog
from apps.customers.models import Customer, GatewayConsumer
from apps.metering import services as metering

_ids = itertools.count()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def card(key, name, *, feature=None, type="usage_based", cadence="P1M", **values):
    from apps.catalog.models import Feature

    return catalog.RateCardData({
        "key": key, "name": name, "type": type, "billing_cadence": cadence,
        "feature": Feature.objects.get(key=feature) if feature else None, **values})


GRADUATED = [{"upToAmount": "1000", "unitPrice": "0", "flatPrice": None},
             {"upToAmount": "10000", "unitPrice": "0.01", "flatPrice": None},
             {"upToAmount": None, "unitPrice": "0.005", "flatPrice": None}]


def publish_plan(key, *, currency="USD", cadence="P1M", phases, minimum_spend=None,
                 name=None):
    plan = catalog.plan_create(data=catalog.PlanData(
        key=key, name=name or key.title(), currency=currency, billing_cadence=cadence,
        minimum_spend=minimum_spend,
        phases=[catalog.PhaseData(key=k, name=k.title(), duration=d, rate_cards=cards)
                for k, d, cards in phases]))
    return catalog.version_publish(plan, effective_from=None)


def team_plan_with_seats():
    """Published: add-on `seats` ($10 a seat, several instances) and plan `team` ($100 base
    fee) that sells up to five seats. Returns (plan, add-on)."""
    seats = catalog.addon_create(data=catalog.AddonData(
        key="seats", name="Seats", instances="multiple", rate_cards=[
            card("seat", "Seat", type="flat_fee", price_type="flat", price_amount=D(10))]))
    catalog.version_publish(seats)
    draft = catalog.plan_create(data=catalog.PlanData(key="team", name="Team", phases=[
        catalog.PhaseData(key="default", name="Team", rate_cards=[
            card("base_fee", "Base fee", type="flat_fee", price_type="flat",
                 price_amount=D(100))])]))
    catalog.plan_addon_set(plan=draft, addon=seats, from_plan_phase="default", max_quantity=5)
    return catalog.version_publish(draft), seats


@pytest.fixture
def world(db, time_machine):
    """Meters `calls` (SUM of $.n) and `tokens` (SUM of $.n), features, and a default
    billing profile with no collection delay so scenarios read simply."""
    time_machine.move_to(at("2025-12-01T00:00:00Z"), tick=False)
    for slug in ("calls", "tokens"):
        meter = metering.meter_create(slug=slug, aggregation="SUM", event_type=slug,
                                      value_property="$.n")
        catalog.feature_create(key=slug, name=slug.title(), meter=meter)
    BillingProfile.objects.create(name="Nimbus", is_default=True, supplier_name="Nimbus AI",
                                  collection_delay=timedelta(0), invoice_prefix="INV")
    return time_machine


def customer(key, *, currency="USD", time_zone="UTC", parent=None, bill_to_parent=False):
    created = Customer.objects.create(key=key, name=key.title(), currency=currency,
                                      time_zone=time_zone, parent=parent,
                                      bill_to_parent=bill_to_parent)
    GatewayConsumer.objects.create(key=f"{key}-app", customer=created)
    return created


def use(customer_key, meter, amount, when):
    """Usage of `amount` by the customer's app at `when` (an RFC 3339 string)."""
    metering.ingest_events([{
        "specversion": "1.0", "id": f"e{next(_ids)}", "source": "tests", "type": meter,
        "subject": f"{customer_key}-app", "time": when, "data": {"n": str(amount)}}],
        now=at("2030-01-01T00:00:00Z"))


def run(when):
    return billing.run_billing(at(when))


def totals(customer):
    return [(str(i.cycle_at.date()) if i.cycle_at else None, i.total, i.status)
            for i in customer.invoices.order_by("cycle_at", "created_at")]


def D(value) -> Decimal:
    return Decimal(value)
