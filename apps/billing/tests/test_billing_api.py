"""Subscriptions and invoices through the HTTP API (OpenMeter shapes)."""

import pytest

from apps.billing.models import Invoice, Subscription
from apps.billing.tests.conftest import D, at, customer, run, team_plan_with_seats, use
from apps.billing.tests.test_scenarios import basic_plan

pytestmark = pytest.mark.django_db


def problem_field(response):
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()["errors"][0]["field"]


@pytest.fixture
def acme(world):
    basic_plan()
    basic_plan("premium", fee="40", unit="0.005")
    world.move_to(at("2026-03-01T00:00:00Z"), tick=False)
    return customer("acme")


def subscribe(api, **body):
    return api.post("/api/v1/subscriptions", {"plan": {"key": "basic"}, "customerKey": "acme",
                                              **body}, format="json")


def test_subscribe_read_and_list(api, acme):
    response = subscribe(api, timing="immediate")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["customerId"] == acme.pk
    assert body["plan"]["key"] == "basic" and body["plan"]["version"] == 1
    assert (body["status"], body["activeFrom"], body["activeTo"]) == (
        "active", "2026-03-01T00:00:00Z", None)
    assert body["currency"] == "USD" and body["billingCadence"] == "P1M"
    assert api.get(f"/api/v1/subscriptions/{body['id']}").json() == body
    listed = api.get("/api/v1/customers/acme/subscriptions").json()["items"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert api.get("/api/v1/customers/acme/subscriptions",
                   {"status": "canceled"}).json()["items"] == []


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"plan": {"key": "nope"}}, "plan", 400),
    ({"plan": {"key": "basic", "version": 7}}, "plan", 400),
    ({"customerKey": "nobody"}, "customerKey", 400),
    ({"timing": "whenever"}, "timing", 400),
    ({"startingPhase": "nope"}, "startingPhase", 400),
])
def test_subscribe_bad_input(api, acme, body, field, status):
    response = subscribe(api, **body)
    assert response.status_code == status
    assert problem_field(response) == field
    assert not Subscription.objects.exists()


def test_one_subscription_at_a_time_and_currency_must_match(api, acme):
    assert subscribe(api).status_code == 201
    again = subscribe(api)
    assert again.status_code == 409
    euro = customer("euro", currency="EUR")
    response = api.post("/api/v1/subscriptions", {"plan": {"key": "basic"},
                                                  "customerId": euro.pk}, format="json")
    assert response.status_code == 400 and problem_field(response) == "plan"


def test_cancel_change_and_migrate(api, acme, world):
    sid = subscribe(api).json()["id"]
    world.move_to(at("2026-03-10T00:00:00Z"), tick=False)
    canceled = api.post(f"/api/v1/subscriptions/{sid}/cancel",
                        {"timing": "next_billing_cycle"}, format="json").json()
    assert (canceled["status"], canceled["activeTo"]) == ("canceled", "2026-04-01T00:00:00Z")

    other = customer("other")
    sid2 = api.post("/api/v1/subscriptions", {"plan": {"key": "basic"},
                                              "customerId": other.pk}, format="json").json()
    changed = api.post(f"/api/v1/subscriptions/{sid2['id']}/change",
                       {"timing": "immediate", "plan": {"key": "premium"}}, format="json")
    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert body["current"]["activeTo"] == body["next"]["activeFrom"] == "2026-03-10T00:00:00Z"
    assert body["next"]["plan"]["key"] == "premium"
    # Same plan, same version: nothing to migrate to.
    migrate = api.post(f"/api/v1/subscriptions/{body['next']['id']}/migrate", {},
                       format="json")
    assert migrate.status_code == 409


def test_upcoming_invoice_preview(api, acme, world):
    sid = subscribe(api).json()["id"]
    run("2026-03-01T00:00:00Z")
    use("acme", "calls", 250, "2026-03-05T00:00:00Z")
    world.move_to(at("2026-03-20T00:00:00Z"), tick=False)
    preview = api.get(f"/api/v1/subscriptions/{sid}/upcoming-invoice").json()
    assert preview["invoiceAt"] == "2026-04-01T00:00:00Z"
    # Usage so far ($2.50) and April's fee in advance; March's fee is due already, not upcoming.
    assert {(line["type"], line["totals"]["total"]) for line in preview["lines"]} == {
        ("usage_based", "2.50"), ("flat_fee", "10.00")}
    assert preview["totals"]["total"] == "12.50"
    assert not Invoice.objects.filter(cycle_at=at("2026-04-01T00:00:00Z")).exists()


def test_invoice_list_detail_approve_void_and_pdf(api, acme, world):
    from apps.billing.models import CustomerBilling

    CustomerBilling.objects.create(customer=acme, requires_approval=True, tax_rate=D(19))
    subscribe(api)
    use("acme", "calls", 1234, "2026-03-05T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    listed = api.get("/api/v1/billing/invoices", {"statuses": "draft"}).json()
    assert listed["totalCount"] == 2 and "lines" not in listed["items"][0]
    april = next(i for i in listed["items"] if i["period"]["to"] == "2026-05-01T00:00:00Z")
    detail = api.get(f"/api/v1/billing/invoices/{april['id']}").json()
    # $12.34 usage + $10.00 fee = $22.34 net; 19 % tax = $4.2446 → $4.24.
    assert detail["totals"] == {"amount": "22.34", "discountsTotal": "0.00",
                                "chargesTotal": "0.00", "taxesTotal": "4.24",
                                "total": "26.58"}
    assert detail["statusDetails"] == {"immutable": False, "availableActions": ["approve"]}
    usage = next(line for line in detail["lines"] if line["type"] == "usage_based")
    assert (usage["quantity"], usage["totals"]["total"]) == ("1234", "12.34")
    assert usage["period"] == {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}

    approved = api.post(f"/api/v1/billing/invoices/{april['id']}/approve").json()
    assert approved["status"] == "issued" and approved["number"].startswith("INV-2026-")
    assert approved["statusDetails"]["availableActions"] == ["void"]
    pdf = api.get(f"/api/v1/billing/invoices/{april['id']}/pdf", HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    assert api.post(f"/api/v1/billing/invoices/{april['id']}/void", {"reason": ""},
                    format="json").status_code == 400
    voided = api.post(f"/api/v1/billing/invoices/{april['id']}/void",
                      {"reason": "Duplicate"}, format="json").json()
    assert (voided["status"], voided["voidReason"]) == ("void", "Duplicate")
    assert api.post(f"/api/v1/billing/invoices/{april['id']}/void",
                    {"reason": "again"}, format="json").status_code == 409
    issued = api.get("/api/v1/billing/invoices", {"issuedAfter": "2026-01-01T00:00:00Z"})
    assert [i["id"] for i in issued.json()["items"]] == [april["id"]]
    by_customer = api.get("/api/v1/billing/invoices", {"customers": "acme", "expand": "lines"})
    assert by_customer.json()["totalCount"] == 2
    assert "lines" in by_customer.json()["items"][0]


def test_invoice_now(api, acme, world):
    subscribe(api)
    run("2026-03-01T00:00:00Z")
    nothing = api.post("/api/v1/billing/invoices/invoice", {"customerId": "acme"},
                       format="json")
    assert nothing.status_code == 400
    use("acme", "calls", 300, "2026-03-02T00:00:00Z")
    world.move_to(at("2026-03-03T00:00:00Z"), tick=False)
    made = api.post("/api/v1/billing/invoices/invoice", {"customerId": "acme"}, format="json")
    assert made.status_code == 201
    [invoice] = made.json()
    assert invoice["status"] == "issued" and invoice["totals"]["total"] == "3.00"
    assert api.post("/api/v1/billing/invoices/invoice", {"customerId": "nobody"},
                    format="json").status_code == 400


def test_demo_billing_leaves_issued_invoices_and_one_awaiting_approval(db):
    from django.core.management import call_command

    from apps.billing.models import SubscriptionCycle

    call_command("seed_demo")
    issued = Invoice.objects.filter(status="issued")
    assert issued.filter(currency="USD").exists() and issued.filter(currency="EUR").exists()
    assert Invoice.objects.filter(status="draft", requires_approval=True,
                                  customer__key="hooli").exists()
    consolidated = Invoice.objects.filter(customer__key="massive", lines__type="usage_based",
                                          status="issued").distinct().get()
    assert {line.customer.key for line in consolidated.lines.all()} == {
        "massive", "massive-labs", "massive-retail"}
    assert not Invoice.objects.filter(customer__key="massive-labs").exists()
    counts = (Invoice.objects.count(), SubscriptionCycle.objects.count())
    call_command("seed_demo")
    assert (Invoice.objects.count(), SubscriptionCycle.objects.count()) == counts


def test_demo_billing_keeps_an_existing_default_profile(db):
    from django.core.management import call_command

    from apps.billing import services

    existing = services.default_profile()
    call_command("seed_demo")
    assert services.default_profile() == existing
    assert Invoice.objects.filter(status="issued").exists()


def test_subscription_addons_through_the_api(api, world):
    team_plan_with_seats()
    world.move_to(at("2026-03-01T00:00:00Z"), tick=False)
    customer("acme")
    sid = api.post("/api/v1/subscriptions", {"plan": {"key": "team"}, "customerKey": "acme"},
                   format="json").json()["id"]
    url = f"/api/v1/subscriptions/{sid}/addons"
    bought = api.post(url, {"addon": {"id": "seats"}, "quantity": 2}, format="json")
    assert bought.status_code == 201
    [seat] = bought.json()
    assert (seat["addon"]["key"], seat["quantity"], seat["activeTo"]) == ("seats", 2, None)
    too_many = api.post(url, {"addon": {"id": "seats"}, "quantity": 6}, format="json")
    assert too_many.status_code == 400 and problem_field(too_many) == "quantity"
    world.move_to(at("2026-03-10T00:00:00Z"), tick=False)
    changed = api.patch(f"{url}/{seat['id']}", {"quantity": 3}, format="json").json()
    assert [(a["quantity"], a["activeTo"]) for a in changed] == [
        (2, "2026-03-10T00:00:00Z"), (3, None)]
    assert api.get(url).json() == changed


def test_listing_invoices_with_lines_takes_a_fixed_number_of_queries(api, acme,
                                                                    django_assert_max_num_queries):
    subscribe(api)
    use("acme", "calls", 10, "2026-03-05T00:00:00Z")
    run("2026-06-01T00:00:00Z")
    assert Invoice.objects.count() == 4
    with django_assert_max_num_queries(4):  # key, invoices (+count), lines
        body = api.get("/api/v1/billing/invoices", {"expand": "lines"}).json()
    assert all(item["lines"] for item in body["items"])
