"""The demo catalog of "Nimbus AI": Free, Pro (USD and EUR), Enterprise and two add-ons.

Idempotent: a key that exists already is left as it is (a product manager may have edited it).
"""

from decimal import Decimal

from django.db import transaction

from apps.catalog import services
from apps.catalog.models import Addon, Feature, Plan, PlanAddon
from apps.metering.models import Meter

FEATURES = [
    # key, name, meter slug, group-by filters
    ("api_calls", "API calls", "api_requests", {}),
    ("chat_completions", "Successful chat completions", "api_requests",
     {"route": "/v1/chat/completions", "status_code": "200"}),
    ("input_tokens", "LLM input tokens", "llm_input_tokens", {}),
    ("output_tokens", "LLM output tokens", "llm_output_tokens", {}),
    ("priority_support", "Priority support", None, {}),
]

GRADUATED_CALLS = [{"upToAmount": "1000", "unitPrice": "0", "flatPrice": None},
                   {"upToAmount": "10000", "unitPrice": "0.01", "flatPrice": None},
                   {"upToAmount": None, "unitPrice": "0.005", "flatPrice": None}]
VOLUME_CALLS = [{"upToAmount": "1000000", "unitPrice": "0.004", "flatPrice": None},
                {"upToAmount": "10000000", "unitPrice": "0.003", "flatPrice": None},
                {"upToAmount": None, "unitPrice": "0.002", "flatPrice": None}]


def _card(key, name, *, feature=None, type="usage_based", cadence="P1M", **price):
    values = {"key": key, "name": name, "type": type, "billing_cadence": cadence,
              "feature": Feature.objects.get(key=feature, archived_at__isnull=True)
              if feature else None, **price}
    return services.RateCardData(values)


def _quota(amount: int) -> dict:
    return {"type": "metered", "issueAfterReset": amount, "isSoftLimit": False}


def _pro_cards(currency_base_fee: str) -> list:
    return [
        _card("base_fee", "Pro base fee", type="flat_fee", price_type="flat",
              price_amount=Decimal(currency_base_fee), payment_term="in_advance"),
        _card("api_calls", "API calls", feature="api_calls", price_type="tiered",
              tiered_mode="graduated", tiers=GRADUATED_CALLS),
        _card("input_tokens", "Input tokens", feature="input_tokens", price_type="package",
              price_amount=Decimal(5), quantity_per_package=Decimal(1_000_000),
              discount_usage_quantity=Decimal(100_000)),
        _card("output_tokens", "Output tokens", feature="output_tokens", price_type="package",
              price_amount=Decimal(15), quantity_per_package=Decimal(1_000_000)),
    ]


def _trial_cards() -> list:
    return [_card("api_calls", "API calls (trial)", feature="api_calls",
                  entitlement_template=_quota(5_000))]


def plans() -> list[services.PlanData]:
    return [
        services.PlanData(
            key="free", name="Free", currency="USD", billing_cadence="P1M",
            description="Try the API: 1,000 calls and 100k tokens a month, no charge.",
            phases=[services.PhaseData(key="free", name="Free", rate_cards=[
                _card("api_calls", "API calls", feature="api_calls",
                      entitlement_template=_quota(1_000)),
                _card("input_tokens", "Input tokens", feature="input_tokens",
                      entitlement_template=_quota(100_000)),
            ])]),
        services.PlanData(
            key="pro", name="Pro", currency="USD", billing_cadence="P1M",
            description="Monthly base fee, graduated API calls, tokens per million.",
            phases=[services.PhaseData(key="trial", name="14-day trial", duration="P14D",
                                       rate_cards=_trial_cards()),
                    services.PhaseData(key="default", name="Pro",
                                       rate_cards=_pro_cards("49"))]),
        services.PlanData(
            key="pro_eur", name="Pro (EUR)", currency="EUR", billing_cadence="P1M",
            description="The Pro plan for customers billed in euros.",
            phases=[services.PhaseData(key="trial", name="14-day trial", duration="P14D",
                                       rate_cards=_trial_cards()),
                    services.PhaseData(key="default", name="Pro",
                                       rate_cards=_pro_cards("45"))]),
        services.PlanData(
            key="enterprise", name="Enterprise", currency="USD", billing_cadence="P1Y",
            description="Annual commitment of $24,000, volume-priced calls, 10% off tokens.",
            minimum_spend=Decimal(24_000),
            phases=[services.PhaseData(key="default", name="Enterprise", rate_cards=[
                _card("platform_fee", "Platform fee", type="flat_fee", cadence="P1Y",
                      price_type="flat", price_amount=Decimal(6_000)),
                _card("api_calls", "API calls", feature="api_calls", cadence="P1Y",
                      price_type="tiered", tiered_mode="volume", tiers=VOLUME_CALLS),
                _card("input_tokens", "Input tokens", feature="input_tokens", cadence="P1Y",
                      price_type="unit", price_amount=Decimal("0.0000025"),
                      discount_percentage=Decimal(10)),
                _card("output_tokens", "Output tokens", feature="output_tokens",
                      cadence="P1Y", price_type="unit", price_amount=Decimal("0.00001"),
                      discount_percentage=Decimal(10), maximum_amount=Decimal(50_000)),
            ])]),
    ]


def addons() -> list[services.AddonData]:
    return [
        services.AddonData(
            key="priority_support", name="Priority support", currency="USD",
            instances="single", rate_cards=[
                _card("priority_support", "Priority support", type="flat_fee",
                      feature="priority_support", price_type="flat",
                      price_amount=Decimal(199), entitlement_template={"type": "boolean"})]),
        services.AddonData(
            key="extra_seats", name="Extra dashboard seats", currency="USD",
            instances="multiple", rate_cards=[
                _card("seat", "Dashboard seat", type="flat_fee", price_type="flat",
                      price_amount=Decimal(10))]),
    ]


@transaction.atomic
def seed_catalog() -> dict[str, int]:
    """Features, plans and add-ons of the demo; needs the preset meters."""
    created = {"features": 0, "plans": 0, "addons": 0}
    for key, name, meter_slug, filters in FEATURES:
        if not Feature.objects.filter(key=key).exists():
            meter = (Meter.objects.get(slug=meter_slug, deleted_at__isnull=True)
                     if meter_slug else None)
            services.feature_create(key=key, name=name, meter=meter, filters=filters)
            created["features"] += 1
    for data in addons():
        if not Addon.objects.filter(key=data.key).exists():
            services.version_publish(services.addon_create(data=data))
            created["addons"] += 1
    for data in plans():
        if Plan.objects.filter(key=data.key).exists():
            continue
        plan = services.plan_create(data=data)
        if data.key == "pro":
            for addon_key, limit in (("priority_support", 1), ("extra_seats", 20)):
                addon = Addon.objects.get(key=addon_key, version=1)
                PlanAddon.objects.create(plan=plan, addon=addon, from_plan_phase="default",
                                         max_quantity=limit)
        services.version_publish(plan)
        created["plans"] += 1
    return created
