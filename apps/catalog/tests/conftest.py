import copy

import pytest

from apps.metering import services as metering_services

GRADUATED = [
    {"upToAmount": "1000", "unitPrice": {"type": "unit", "amount": "0"}},
    {"upToAmount": "10000", "unitPrice": {"type": "unit", "amount": "0.01"}},
    {"upToAmount": None, "unitPrice": {"type": "unit", "amount": "0.005"}},
]

EVERY_PRICE_PLAN = {
    "key": "pro",
    "name": "Pro",
    "description": "Everything a plan can price.",
    "currency": "USD",
    "billingCadence": "P1M",
    "phases": [
        {"key": "trial", "name": "Trial", "duration": "P14D", "rateCards": [
            {"type": "usage_based", "key": "api_calls", "name": "API calls (trial)",
             "featureKey": "api_calls", "billingCadence": "P1M", "price": None,
             "entitlementTemplate": {"type": "metered", "issueAfterReset": 5000,
                                     "isSoftLimit": False}},
        ]},
        {"key": "default", "name": "Pro", "duration": None, "rateCards": [
            {"type": "flat_fee", "key": "base_fee", "name": "Base fee", "billingCadence": "P1M",
             "price": {"type": "flat", "amount": "49", "paymentTerm": "in_advance"},
             "discounts": {"percentage": {"percentage": "20"}}},
            {"type": "flat_fee", "key": "setup", "name": "Setup", "billingCadence": None,
             "price": {"type": "flat", "amount": "100", "paymentTerm": "in_arrears"}},
            {"type": "usage_based", "key": "api_calls", "name": "API calls",
             "featureKey": "api_calls", "billingCadence": "P1M",
             "price": {"type": "tiered", "mode": "graduated", "tiers": GRADUATED},
             "discounts": {"usage": {"quantity": "500"}},
             "taxConfig": {"behavior": "exclusive", "stripe": {"code": "txcd_10000000"}}},
            {"type": "usage_based", "key": "ok_calls", "name": "OK calls",
             "featureKey": "ok_calls", "billingCadence": "P1M",
             "price": {"type": "tiered", "mode": "volume", "tiers": GRADUATED,
                       "maximumAmount": "1000"}},
            {"type": "usage_based", "key": "input_tokens", "name": "Input tokens",
             "featureKey": "input_tokens", "billingCadence": "P1M",
             "price": {"type": "unit", "amount": "0.000002", "minimumAmount": "1"}},
            {"type": "usage_based", "key": "output_tokens", "name": "Output tokens",
             "featureKey": "output_tokens", "billingCadence": "P1M",
             "price": {"type": "package", "amount": "5", "quantityPerPackage": "1000000"},
             "entitlementTemplate": {"type": "static", "config": "{\"models\": [\"gpt-4o\"]}"}},
            {"type": "usage_based", "key": "support", "name": "Support",
             "featureKey": "support", "billingCadence": "P1M",
             "price": {"type": "flat", "amount": "10", "paymentTerm": "in_arrears"},
             "entitlementTemplate": {"type": "boolean"}},
        ]},
    ],
}


@pytest.fixture
def catalog_meters(db):
    requests = metering_services.meter_create(
        slug="api_requests", aggregation="COUNT", event_type="request",
        group_by={"route": "$.route", "status_code": "$.status_code"})
    tokens = metering_services.meter_create(
        slug="llm_tokens", aggregation="SUM", event_type="llm", value_property="$.tokens",
        group_by={"type": "$.type"})
    return requests, tokens


@pytest.fixture
def features(catalog_meters):
    from apps.catalog import services

    requests, tokens = catalog_meters
    return {
        "api_calls": services.feature_create(key="api_calls", name="API calls", meter=requests),
        "ok_calls": services.feature_create(key="ok_calls", name="OK calls", meter=requests,
                                            filters={"status_code": "200"}),
        "input_tokens": services.feature_create(key="input_tokens", name="Input tokens",
                                                meter=tokens, filters={"type": "input"}),
        "output_tokens": services.feature_create(key="output_tokens", name="Output tokens",
                                                 meter=tokens, filters={"type": "output"}),
        "support": services.feature_create(key="support", name="Support"),
    }


@pytest.fixture
def plan_body():
    return copy.deepcopy(EVERY_PRICE_PLAN)
