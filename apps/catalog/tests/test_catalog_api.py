"""Features, plans, add-ons and simulation through the HTTP API (real database)."""

import pytest
from django.core.exceptions import ValidationError

from apps.catalog.models import Addon, Feature, Plan, PlanPhase, RateCard
from apps.catalog.tests.conftest import GRADUATED

pytestmark = pytest.mark.django_db


def snapshot():
    """Everything the catalog holds, to prove a refused request changed nothing."""
    return [list(model.objects.order_by("pk").values())
            for model in (Feature, Plan, PlanPhase, RateCard, Addon)]


def problem_field(response) -> str:
    assert response["Content-Type"] == "application/problem+json"
    return response.json()["errors"][0]["field"]


# --- features ------------------------------------------------------------------------------


def test_feature_create_list_get_and_archive(api, catalog_meters):
    created = api.post("/api/v1/features", {
        "key": "ok_calls", "name": "OK calls", "meterSlug": "api_requests",
        "meterGroupByFilters": {"status_code": "200", "route": "/flights"}}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["meterSlug"] == "api_requests"
    assert body["meterGroupByFilters"] == {"status_code": "200", "route": "/flights"}
    assert body["archivedAt"] is None

    listed = api.get("/api/v1/features")
    assert [f["key"] for f in listed.json()] == ["ok_calls"]  # bare array without paging
    paged = api.get("/api/v1/features", {"page": 1, "pageSize": 10}).json()
    assert paged["totalCount"] == 1 and paged["items"][0]["id"] == body["id"]
    assert api.get(f"/api/v1/features/{body['id']}").json()["key"] == "ok_calls"
    assert api.get("/api/v1/features/ok_calls").json()["id"] == body["id"]

    assert api.delete("/api/v1/features/ok_calls").status_code == 204
    assert Feature.objects.get(pk=body["id"]).archived_at is not None
    assert api.get("/api/v1/features").json() == []
    assert len(api.get("/api/v1/features", {"includeArchived": "true"}).json()) == 1
    # The key is free again once archived.
    again = api.post("/api/v1/features", {"key": "ok_calls", "name": "OK"}, format="json")
    assert again.status_code == 201


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"key": "x", "name": "X", "meterSlug": "nope"}, "meterSlug", 400),
    ({"key": "x", "name": "X", "meterSlug": "api_requests",
      "meterGroupByFilters": {"colour": "red"}}, "meterGroupByFilters", 400),
    ({"key": "Not A Slug", "name": "X"}, "key", 400),
    ({"key": "dup", "name": "X"}, "key", 409),
])
def test_feature_bad_input(api, catalog_meters, body, field, status):
    api.post("/api/v1/features", {"key": "dup", "name": "Dup"}, format="json")
    before = snapshot()
    response = api.post("/api/v1/features", body, format="json")
    assert response.status_code == status
    assert problem_field(response) == field
    assert snapshot() == before


# --- plans ---------------------------------------------------------------------------------


def test_plan_with_two_phases_and_every_price_type_round_trips(api, features, plan_body):
    response = api.post("/api/v1/plans", plan_body, format="json")
    assert response.status_code == 201, response.json()
    plan = response.json()
    assert plan["version"] == 1 and plan["status"] == "draft"
    assert plan["effectiveFrom"] is None
    assert [p["key"] for p in plan["phases"]] == ["trial", "default"]
    sent = {c["key"]: c for c in plan_body["phases"][1]["rateCards"]}
    stored = {c["key"]: c for c in plan["phases"][1]["rateCards"]}
    assert stored.keys() == sent.keys()
    assert stored["api_calls"]["price"]["tiers"][1] == {
        "upToAmount": "10000", "unitPrice": {"type": "unit", "amount": "0.01"},
        "flatPrice": None}
    assert stored["api_calls"]["discounts"] == {"usage": {"quantity": "500"}}
    assert stored["base_fee"]["discounts"] == {"percentage": {"percentage": "20"}}
    assert stored["ok_calls"]["price"]["mode"] == "volume"
    assert stored["ok_calls"]["price"]["maximumAmount"] == "1000"
    assert stored["input_tokens"]["price"] == {"type": "unit", "amount": "0.000002",
                                               "minimumAmount": "1", "maximumAmount": None}
    assert stored["output_tokens"]["price"]["quantityPerPackage"] == "1000000"
    assert stored["setup"]["billingCadence"] is None
    assert stored["support"]["entitlementTemplate"] == {"type": "boolean"}
    assert stored["api_calls"]["taxConfig"]["stripe"]["code"] == "txcd_10000000"
    assert api.get(f"/api/v1/plans/{plan['id']}").json() == plan
    assert api.get("/api/v1/plans/pro").json()["id"] == plan["id"]


def _tiers(*rows):
    return [{"upToAmount": up, "unitPrice": {"amount": price}} for up, price in rows]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda p: p["phases"][1]["rateCards"][2]["price"].update(
        tiers=_tiers(("100", "1"), ("50", "1"), (None, "1"))),
     "phases.1.rateCards.2.price.tiers.1.upToAmount"),
    (lambda p: p["phases"][1]["rateCards"][2]["price"].update(
        tiers=_tiers(("100", "1"), (None, "1"), ("500", "1"))),
     "phases.1.rateCards.2.price.tiers.1.upToAmount"),
    (lambda p: p["phases"][1]["rateCards"][2]["price"].update(
        tiers=_tiers(("100", "1"), ("500", "1"))),
     "phases.1.rateCards.2.price.tiers.1.upToAmount"),
    (lambda p: p["phases"][1]["rateCards"][2]["price"].update(tiers=[]),
     "phases.1.rateCards.2.price.tiers"),
    (lambda p: p["phases"][1]["rateCards"][2]["price"]["tiers"][0].update(
        unitPrice={"amount": "-1"}), "phases.1.rateCards.2.price.tiers.0.unitPrice.amount"),
    (lambda p: p["phases"][1]["rateCards"][2].update(featureKey="no_such_feature"),
     "phases.1.rateCards.2.featureKey"),
    (lambda p: p["phases"][1]["rateCards"][4]["price"].update(amount="abc"),
     "phases.1.rateCards.4.price.amount"),
    (lambda p: p["phases"][1]["rateCards"][4]["price"].update(type="dynamic"),
     "phases.1.rateCards.4.price.type"),
    (lambda p: p["phases"][1]["rateCards"][4]["price"].pop("amount"),
     "phases.1.rateCards.4.price.amount"),
    (lambda p: p["phases"][1]["rateCards"][4].update(billingCadence=None),
     "phases.1.rateCards.4.billingCadence"),
    (lambda p: p["phases"][1]["rateCards"][4].update(billingCadence="P5W"),
     "phases.1.rateCards.4.billingCadence"),
    (lambda p: p["phases"][1]["rateCards"][4]["price"].update(minimumAmount="9",
                                                              maximumAmount="5"),
     "phases.1.rateCards.4.price.minimumAmount"),
    (lambda p: p["phases"][1]["rateCards"][0].update(
        discounts={"percentage": {"percentage": "120"}}),
     "phases.1.rateCards.0.discounts.percentage.percentage"),
    (lambda p: p["phases"][1]["rateCards"][0].update(
        price={"type": "unit", "amount": "1"}), "phases.1.rateCards.0.price.type"),
    (lambda p: p["phases"][1]["rateCards"][1].update(
        entitlementTemplate={"type": "boolean"}), "phases.1.rateCards.1.featureKey"),
    (lambda p: p["phases"][1]["rateCards"][6].update(
        entitlementTemplate={"type": "static", "config": "not json"}),
     "phases.1.rateCards.6.entitlementTemplate"),
    (lambda p: p["phases"][0].update(duration=None), "phases.0.duration"),
    (lambda p: p["phases"][0].update(duration="fortnight"), "phases.0.duration"),
    (lambda p: p["phases"][1].update(key="trial"), "phases.1.key"),
    (lambda p: p["phases"][1]["rateCards"][1].update(key="base_fee"),
     "phases.1.rateCards.1.key"),
    (lambda p: p.update(billingCadence="monthly"), "billingCadence"),
    (lambda p: p.update(currency="usd"), "currency"),
    (lambda p: p.update(phases=[]), "phases"),
])
def test_invalid_plans_are_400_naming_the_field_and_change_nothing(api, features, plan_body,
                                                                   mutate, field):
    mutate(plan_body)
    before = snapshot()
    response = api.post("/api/v1/plans", plan_body, format="json")
    assert response.status_code == 400, response.json()
    assert problem_field(response) == field
    assert snapshot() == before


def test_versioning_rules(api, features, plan_body):
    v1 = api.post("/api/v1/plans", plan_body, format="json").json()
    # One draft per key: creating the key again while v1 is a draft is refused.
    assert api.post("/api/v1/plans", plan_body, format="json").status_code == 409
    assert api.post("/api/v1/plans/pro/next").status_code == 409
    assert api.post(f"/api/v1/plans/{v1['id']}/archive").status_code == 409  # not active

    published = api.post(f"/api/v1/plans/{v1['id']}/publish")
    assert published.status_code == 200
    assert published.json()["status"] == "active" and published.json()["effectiveFrom"]
    assert api.post(f"/api/v1/plans/{v1['id']}/publish").status_code == 409

    # A published version never changes and cannot be deleted while active.
    before = snapshot()
    plan_body["name"] = "Pro renamed"
    assert api.put(f"/api/v1/plans/{v1['id']}", plan_body, format="json").status_code == 409
    assert api.delete(f"/api/v1/plans/{v1['id']}").status_code == 409
    assert snapshot() == before

    v2 = api.post("/api/v1/plans/pro/next")
    assert v2.status_code == 201
    v2 = v2.json()
    assert (v2["version"], v2["status"]) == (2, "draft")
    assert v2["phases"] == v1["phases"]
    edited = api.put("/api/v1/plans/pro", plan_body, format="json")  # the key's draft
    assert edited.status_code == 200 and edited.json()["id"] == v2["id"]
    assert edited.json()["name"] == "Pro renamed"
    assert api.get(f"/api/v1/plans/{v1['id']}").json()["name"] == "Pro"

    published = api.post(f"/api/v1/plans/{v2['id']}/publish").json()
    old = api.get(f"/api/v1/plans/{v1['id']}").json()
    assert old["status"] == "archived" and old["effectiveTo"] == published["effectiveFrom"]
    assert api.get("/api/v1/plans/pro").json()["version"] == 2

    statuses = api.get("/api/v1/plans", {"key": "pro", "orderBy": "version"}).json()
    assert [(p["version"], p["status"]) for p in statuses["items"]] == [(1, "archived"),
                                                                        (2, "active")]
    active = api.get("/api/v1/plans", {"status": "active"}).json()
    assert [p["version"] for p in active["items"]] == [2]

    assert api.post(f"/api/v1/plans/{v2['id']}/archive").json()["status"] == "archived"
    assert api.delete(f"/api/v1/plans/{v2['id']}").status_code == 204
    assert api.get(f"/api/v1/plans/{v2['id']}").status_code == 404
    listed = api.get("/api/v1/plans", {"includeDeleted": "true"}).json()
    assert {p["status"] for p in listed["items"]} == {"archived", "deleted"}

    v3 = api.post("/api/v1/plans/pro/next").json()
    assert v3["version"] == 3
    assert api.delete(f"/api/v1/plans/{v3['id']}").status_code == 204


def test_published_version_is_immutable_below_the_api(api, features, plan_body):
    plan_id = api.post("/api/v1/plans", plan_body, format="json").json()["id"]
    api.post(f"/api/v1/plans/{plan_id}/publish")
    plan = Plan.objects.get(pk=plan_id)
    card = plan.rate_cards.get(key="api_calls", phase_key="default")
    card.price_amount = 1
    with pytest.raises(ValidationError):
        card.save()
    with pytest.raises(ValidationError):
        card.delete()
    plan.name = "Changed"
    with pytest.raises(ValidationError):
        plan.save()
    with pytest.raises(ValidationError):
        plan.phases.first().save()
    assert Plan.objects.get(pk=plan_id).name == "Pro"


def test_publish_checks_features_still_live(api, features, plan_body):
    plan_id = api.post("/api/v1/plans", plan_body, format="json").json()["id"]
    api.delete("/api/v1/features/ok_calls")
    response = api.post(f"/api/v1/plans/{plan_id}/publish")
    assert response.status_code == 400
    assert "archived" in response.json()["detail"]
    assert api.get(f"/api/v1/plans/{plan_id}").json()["status"] == "draft"


# --- add-ons -------------------------------------------------------------------------------


def addon_body(key="seats", instance_type="multiple", currency="USD"):
    return {"key": key, "name": key.title(), "currency": currency, "instanceType": instance_type,
            "rateCards": [{"type": "flat_fee", "key": "seat", "name": "Seat",
                           "billingCadence": "P1M",
                           "price": {"type": "flat", "amount": "10"}}]}


def test_addons_are_versioned_and_allowed_per_plan(api, features, plan_body):
    seats = api.post("/api/v1/addons", addon_body(), format="json")
    assert seats.status_code == 201
    seats = seats.json()
    assert (seats["version"], seats["status"], seats["instanceType"]) == (1, "draft", "multiple")
    assert api.post(f"/api/v1/addons/{seats['id']}/publish").json()["status"] == "active"
    assert api.put(f"/api/v1/addons/{seats['id']}", addon_body(),
                   format="json").status_code == 409
    assert api.post("/api/v1/addons/seats/next").json()["version"] == 2
    support = api.post("/api/v1/addons", addon_body("support", "single"), format="json").json()
    euros = api.post("/api/v1/addons", addon_body("euro_seats", currency="EUR"),
                     format="json").json()

    plan_id = api.post("/api/v1/plans", plan_body, format="json").json()["id"]
    link = api.post(f"/api/v1/plans/{plan_id}/addons", {
        "addonId": seats["id"], "fromPlanPhase": "default", "maxQuantity": 20}, format="json")
    assert link.status_code == 201
    assert link.json()["maxQuantity"] == 20 and link.json()["addon"]["key"] == "seats"
    for body, field in [
        ({"addonId": support["id"], "fromPlanPhase": "default", "maxQuantity": 3},
         "maxQuantity"),
        ({"addonId": euros["id"], "fromPlanPhase": "default"}, "addonId"),
        ({"addonId": support["id"], "fromPlanPhase": "nope"}, "fromPlanPhase"),
        ({"addonId": "missing", "fromPlanPhase": "default"}, "addonId"),
    ]:
        response = api.post(f"/api/v1/plans/{plan_id}/addons", body, format="json")
        assert response.status_code == 400
        assert problem_field(response) == field
    listed = api.get(f"/api/v1/plans/{plan_id}/addons").json()
    assert [item["addon"]["key"] for item in listed] == ["seats"]
    api.post(f"/api/v1/plans/{plan_id}/publish")
    # Published plans keep their allowed add-ons as they were.
    assert api.post(f"/api/v1/plans/{plan_id}/addons", {
        "addonId": support["id"], "fromPlanPhase": "default"}, format="json").status_code == 409
    assert api.post("/api/v1/plans/pro/next").json()["version"] == 2
    assert len(api.get("/api/v1/plans/pro/addons").json()) == 1


# --- simulation ----------------------------------------------------------------------------


def simple_plan(key="calls", tiers=GRADUATED, mode="graduated", currency="USD", **extra):
    return {"key": key, "name": key.title(), "currency": currency, "billingCadence": "P1M",
            **extra, "phases": [{"key": "default", "name": "Default", "rateCards": [
                {"type": "usage_based", "key": "api_calls", "name": "API calls",
                 "featureKey": "api_calls", "billingCadence": "P1M",
                 "price": {"type": "tiered", "mode": mode, "tiers": tiers}}]}]}


def test_simulation_prices_the_product_doc_examples(api, features):
    api.post("/api/v1/plans", simple_plan(), format="json")
    result = api.post("/api/v1/plans/calls/simulate", {"usage": {"api_calls": "25000"}},
                      format="json")
    assert result.status_code == 200, result.json()
    body = result.json()
    assert body["currency"] == "USD" and body["total"] == "165.00"
    line = body["lines"][0]
    assert (line["rateCardKey"], line["featureKey"], line["quantity"]) == ("api_calls",
                                                                           "api_calls", "25000")
    assert [(t["quantity"], t["unitPrice"], t["amount"]) for t in line["tiers"]] == [
        ("1000", "0", "0.00"), ("9000", "0.01", "90.00"), ("15000", "0.005", "75.00")]

    api.post("/api/v1/plans", simple_plan("volume", mode="volume"), format="json")
    volume = api.post("/api/v1/plans/volume/simulate", {"usage": {"api_calls": 25000}},
                      format="json").json()
    assert volume["total"] == "125.00"


def test_simulation_of_every_price_type(api, features, plan_body):
    plan_body["minimumSpend"] = "500"
    api.post("/api/v1/plans", plan_body, format="json")
    body = api.post("/api/v1/plans/pro/simulate", {"usage": {
        "api_calls": "25500", "ok_calls": "25000", "input_tokens": "1234567",
        "output_tokens": "2300000"}}, format="json").json()
    amounts = {line["rateCardKey"]: line["amount"] for line in body["lines"]}
    assert amounts == {
        "base_fee": "39.20",  # $49 less 20 %
        "setup": "100.00",
        "api_calls": "165.00",  # 500 free units, then the graduated example
        "ok_calls": "125.00",  # volume
        "input_tokens": "2.47",  # 1,234,567 × $0.000002 = $2.469134
        "output_tokens": "15.00",  # 3 started packages of 1M
        "support": "10.00",
        None: "182.53",  # minimum spend $500 less $317.47 of usage charges
    }
    assert body["discount"] == "9.80"
    assert body["subtotal"] == "466.47"
    assert body["commitments"] == "182.53"
    assert body["total"] == "639.20"
    trial = api.post("/api/v1/plans/pro/simulate", {"phase": "trial",
                                                    "usage": {"api_calls": "100"}},
                     format="json").json()
    # A free trial phase prices nothing, so the plan's minimum spend does not apply either.
    assert trial["lines"] == [] and trial["total"] == "0.00"


def test_simulation_compares_with_the_active_version(api, features):
    api.post("/api/v1/plans", simple_plan(), format="json")
    api.post("/api/v1/plans/calls/publish")
    api.post("/api/v1/plans/calls/next")
    cheaper = simple_plan(tiers=[{"upToAmount": None, "unitPrice": {"amount": "0.001"}}])
    api.put("/api/v1/plans/calls", cheaper, format="json")
    body = api.post("/api/v1/plans/calls/simulate", {"usage": {"api_calls": "25000"}},
                    format="json").json()
    assert (body["plan"]["version"], body["plan"]["status"]) == (2, "draft")
    assert body["total"] == "25.00"
    assert body["comparison"]["plan"]["version"] == 1
    assert body["comparison"]["total"] == "165.00"
    first = api.post("/api/v1/plans/calls/simulate", {"version": 1, "usage": {
        "api_calls": "25000"}}, format="json").json()
    assert first["total"] == "165.00" and first["comparison"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"usage": {"unknown": "1"}}, "usage.unknown"),
    ({"usage": {"api_calls": "-1"}}, "usage.api_calls"),
    ({"usage": {"api_calls": "many"}}, "usage.api_calls"),
    ({"usage": {"api_calls": 1.5}}, "usage.api_calls"),  # floats are not exact
    ({}, "usage"),
    ({"customerId": "acme"}, "from"),
    ({"customerId": "nobody", "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
     "customerId"),
    ({"usage": {"api_calls": "1"}, "phase": "nope"}, "phase"),
])
def test_simulation_bad_input(api, features, demo_world, body, field):
    api.post("/api/v1/plans", simple_plan(), format="json")
    response = api.post("/api/v1/plans/calls/simulate", body, format="json")
    assert response.status_code == 400
    assert problem_field(response) == field


def test_simulation_of_an_unknown_plan_or_version_is_404(api, features):
    api.post("/api/v1/plans", simple_plan(), format="json")
    usage = {"usage": {"api_calls": "1"}}
    assert api.post("/api/v1/plans/nope/simulate", usage, format="json").status_code == 404
    assert api.post("/api/v1/plans/calls/simulate", usage | {"version": 9},
                    format="json").status_code == 404
