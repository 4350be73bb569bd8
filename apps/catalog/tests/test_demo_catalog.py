"""The demo catalog, and simulating the demo Pro plan on a demo customer's stored usage."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.catalog.domain.pricing import (
    FlatPrice,
    PackagePrice,
    Tier,
    TieredPrice,
    UsageDiscount,
    price_flat,
    price_usage,
)
from apps.catalog.models import Addon, Feature, Plan, PlanAddon, PlanPhase, RateCard, Status
from apps.core.times import rfc3339

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("seed_demo")


def catalog_counts():
    return [model.objects.count()
            for model in (Feature, Plan, PlanPhase, RateCard, Addon, PlanAddon)]


def test_demo_catalog_is_published_in_two_currencies_and_idempotent(demo):
    first = catalog_counts()
    call_command("seed_demo")
    assert catalog_counts() == first
    active = Plan.objects.with_status(Status.ACTIVE)
    assert set(active.values_list("key", flat=True)) == {"free", "pro", "pro_eur",
                                                         "enterprise"}
    assert set(active.values_list("currency", flat=True)) == {"USD", "EUR"}
    pro = active.get(key="pro")
    assert [p.key for p in pro.phases.all()] == ["trial", "default"]
    assert pro.allowed_addons.count() == 2
    assert Addon.objects.with_status(Status.ACTIVE).count() == 2


def test_simulating_pro_for_a_customers_last_30_days_matches_the_meter_query(api, demo):
    end = timezone.now().replace(second=0, microsecond=0)
    start = end - timedelta(days=30)
    period = {"from": rfc3339(start), "to": rfc3339(end)}

    def metered(slug: str) -> Decimal:
        rows = api.get(f"/api/v1/meters/{slug}/query",
                       {**period, "filterCustomerId": "acme"}).json()["data"]
        assert len(rows) == 1
        return Decimal(str(rows[0]["value"]))

    calls, input_tokens = metered("api_requests"), metered("llm_input_tokens")
    output_tokens = metered("llm_output_tokens")
    assert calls > 1000 and input_tokens > 100_000  # the demo customer is a busy one

    expected = {
        "base_fee": price_flat(FlatPrice(Decimal(49)), currency="USD").total,
        "api_calls": price_usage(TieredPrice("graduated", (
            Tier(Decimal(1000), Decimal(0)), Tier(Decimal(10000), Decimal("0.01")),
            Tier(None, Decimal("0.005")))), calls, currency="USD").total,
        "input_tokens": price_usage(PackagePrice(Decimal(5), Decimal(1_000_000)), input_tokens,
                                    currency="USD",
                                    usage_discount=UsageDiscount(Decimal(100_000))).total,
        "output_tokens": price_usage(PackagePrice(Decimal(15), Decimal(1_000_000)),
                                     output_tokens, currency="USD").total,
    }
    response = api.post("/api/v1/plans/pro/simulate", {"customerId": "acme", **period},
                        format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["customerKey"] == "acme" and body["phase"] == "default"
    assert {line["rateCardKey"]: Decimal(line["amount"]) for line in body["lines"]} == expected
    assert {line["rateCardKey"]: line["quantity"] for line in body["lines"]
            if line["featureKey"]} == {"api_calls": str(calls), "input_tokens": str(input_tokens),
                                       "output_tokens": str(output_tokens)}
    assert Decimal(body["total"]) == sum(expected.values())
