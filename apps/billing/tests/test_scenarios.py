"""Billing scenarios over several months with a mock clock, totals computed by hand."""

from datetime import timedelta

import pytest

from apps.billing import subscriptions
from apps.billing.tests.conftest import (
    GRADUATED,
    D,
    at,
    card,
    customer,
    publish_plan,
    run,
    team_plan_with_seats,
    totals,
    use,
)
from apps.core.errors import InvalidInput

pytestmark = pytest.mark.django_db


def pro_plan(key="pro", currency="USD", base_fee="49"):
    return publish_plan(key, currency=currency, phases=[
        ("trial", "P14D", [card("calls", "API calls", feature="calls")]),
        ("default", "", [
            card("base_fee", "Base fee", type="flat_fee", price_type="flat",
                 price_amount=D(base_fee), payment_term="in_advance"),
            card("calls", "API calls", feature="calls", price_type="tiered",
                 tiered_mode="graduated", tiers=GRADUATED),
            card("tokens", "Tokens", feature="tokens", price_type="package",
                 price_amount=D(5), quantity_per_package=D(1_000_000)),
        ]),
    ])


def test_trial_then_paid_phase_with_graduated_and_package_usage(world):
    plan = pro_plan()
    acme = customer("acme")
    subscriptions.subscription_create(customer=acme, plan=plan,
                                      timing=at("2026-01-01T00:00:00Z"),
                                      now=at("2025-12-01T00:00:00Z"))
    use("acme", "calls", 500, "2026-01-05T10:00:00Z")  # trial: free
    use("acme", "calls", 25_000, "2026-01-20T10:00:00Z")
    use("acme", "tokens", 2_300_000, "2026-02-01T10:00:00Z")
    use("acme", "calls", 100, "2026-02-20T10:00:00Z")  # next period

    run("2026-02-15T00:00:00Z")
    # Jan 15: the trial ends, the first paid month's base fee is billed in advance.
    # Feb 15: Jan 15–Feb 15 usage (25,000 calls → $165.00, 2.3M tokens → $15.00) + next fee.
    assert totals(acme) == [("2026-01-15", D("49.00"), "issued"),
                            ("2026-02-15", D("229.00"), "issued")]
    feb = acme.invoices.get(cycle_at=at("2026-02-15T00:00:00Z"))
    calls = feb.lines.get(rate_card_key="calls")
    assert (calls.quantity, calls.amount) == (D(25000), D("165.00"))
    assert [(t["quantity"], t["amount"]) for t in calls.tiers] == [
        ("1000", "0.00"), ("9000", "90.00"), ("15000", "75.00")]
    assert feb.number == "INV-2026-000002"
    run("2026-02-15T00:00:00Z")
    assert len(totals(acme)) == 2  # idempotent


def basic_plan(key="basic", *, fee="10", unit="0.01", currency="USD", minimum_spend=None):
    return publish_plan(key, currency=currency, minimum_spend=minimum_spend, phases=[
        ("default", "", [
            card("base_fee", "Base fee", type="flat_fee", price_type="flat",
                 price_amount=D(fee), payment_term="in_advance"),
            card("calls", "API calls", feature="calls", price_type="unit",
                 price_amount=D(unit)),
        ])])


def subscribe(customer_, plan, start, now=None):
    return subscriptions.subscription_create(customer=customer_, plan=plan, timing=at(start),
                                             now=at(now or start))


def test_upgrade_mid_period_prorates_flat_fees_and_splits_usage(world):
    basic = basic_plan()
    premium = basic_plan("premium", fee="40", unit="0.005")
    acme = customer("acme")
    subscription = subscribe(acme, basic, "2026-03-01T00:00:00Z")
    run("2026-03-02T00:00:00Z")
    use("acme", "calls", 1000, "2026-03-05T00:00:00Z")
    old, new = subscriptions.subscription_change(subscription, plan=premium, timing="immediate",
                                                 now=at("2026-03-16T00:00:00Z"))
    assert old.active_to == new.active_from == at("2026-03-16T00:00:00Z")
    use("acme", "calls", 2000, "2026-03-20T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    # Mar 16: basic usage 1,000 × $0.01 = $10.00; unused basic fee 16 of 31 days:
    # $10 × 15/31 = $4.84 kept, so −$5.16; premium fee for 16 of 31 days: $40 × 16/31 = $20.65.
    # Apr 1: premium usage 2,000 × $0.005 = $10.00 + April's fee $40.00.
    assert totals(acme) == [("2026-03-01", D("10.00"), "issued"),
                            ("2026-03-16", D("25.49"), "issued"),
                            ("2026-04-01", D("50.00"), "issued")]
    change = acme.invoices.get(cycle_at=at("2026-03-16T00:00:00Z"))
    assert sorted((line.type, line.amount) for line in change.lines.all()) == [
        ("flat_fee", D("20.65")), ("proration_credit", D("-5.16")),
        ("usage_based", D("10.00"))]


def test_cancel_at_period_end(world):
    acme = customer("acme")
    subscription = subscribe(acme, basic_plan(), "2026-03-01T00:00:00Z")
    use("acme", "calls", 500, "2026-03-10T00:00:00Z")
    subscriptions.subscription_cancel(subscription, timing="next_billing_cycle",
                                      now=at("2026-03-10T00:00:00Z"))
    subscription.refresh_from_db()
    assert subscription.active_to == at("2026-04-01T00:00:00Z")
    run("2026-05-15T00:00:00Z")
    # March's fee in advance, then March usage only: no fee for April.
    assert totals(acme) == [("2026-03-01", D("10.00"), "issued"),
                            ("2026-04-01", D("5.00"), "issued")]
    assert subscription.status_at(at("2026-04-02T00:00:00Z")) == "inactive"


def test_migrate_to_a_new_version_old_subscribers_keep_old_prices_until_migrated(world):
    from apps.catalog import services as catalog

    v1 = basic_plan()
    early = customer("early")
    subscribe(early, v1, "2026-03-01T00:00:00Z", now="2026-02-01T00:00:00Z")
    world.move_to(at("2026-02-10T00:00:00Z"), tick=False)
    v2 = catalog.version_next(v1)
    v2.rate_cards.filter(key="base_fee").update(price_amount=D(12))
    v2 = catalog.version_publish(v2)
    late = customer("late")
    subscribe(late, v2, "2026-03-01T00:00:00Z", now="2026-02-11T00:00:00Z")
    run("2026-03-02T00:00:00Z")
    assert totals(early) == [("2026-03-01", D("10.00"), "issued")]
    assert totals(late) == [("2026-03-01", D("12.00"), "issued")]
    _, migrated = subscriptions.subscription_migrate(
        early.subscriptions.get(), timing="immediate", now=at("2026-04-01T00:00:00Z"))
    assert migrated.plan == v2
    run("2026-04-02T00:00:00Z")
    assert totals(early)[-1] == ("2026-04-01", D("12.00"), "issued")


def test_consolidated_invoice_for_a_parent_and_its_subsidiaries(world):
    plan = basic_plan()
    parent = customer("massive")
    labs = customer("labs", parent=parent, bill_to_parent=True)
    retail = customer("retail", parent=parent, bill_to_parent=True)
    for who in (parent, labs, retail):
        subscribe(who, plan, "2026-03-01T00:00:00Z")
    use("labs", "calls", 1000, "2026-03-05T00:00:00Z")
    use("retail", "calls", 300, "2026-03-06T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    assert not labs.invoices.exists() and not retail.invoices.exists()
    # Three fees each month, plus March usage $10.00 (labs) and $3.00 (retail).
    assert totals(parent) == [("2026-03-01", D("30.00"), "issued"),
                              ("2026-04-01", D("43.00"), "issued")]
    april = parent.invoices.get(cycle_at=at("2026-04-01T00:00:00Z"))
    by_customer = {}
    for line in april.lines.all():
        by_customer[line.customer.key] = by_customer.get(line.customer.key, D(0)) + line.amount
    assert by_customer == {"massive": D("10.00"), "labs": D("20.00"), "retail": D("13.00")}


def test_minimum_commitment_true_up(world):
    plan = publish_plan("committed", minimum_spend=D(100), phases=[("default", "", [
        card("calls", "API calls", feature="calls", price_type="unit",
             price_amount=D("0.01"))])])
    acme = customer("acme")
    subscribe(acme, plan, "2026-03-01T00:00:00Z")
    use("acme", "calls", 7240, "2026-03-05T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    april = acme.invoices.get()
    assert {line.type: line.amount for line in april.lines.all()} == {
        "usage_based": D("72.40"), "minimum_spend": D("27.60")}
    assert april.total == D("100.00")


def test_jpy_and_usd_customers_round_to_their_minor_units(world):
    yen = customer("tanaka", currency="JPY", time_zone="Asia/Tokyo")
    dollars = customer("acme")
    subscribe(yen, basic_plan("basic_jpy", fee="5000", unit="0.3", currency="JPY"),
              "2026-03-01T00:00:00+09:00")
    subscribe(dollars, basic_plan(unit="0.003"), "2026-03-01T00:00:00Z")
    use("tanaka", "calls", 1235, "2026-03-05T00:00:00Z")
    use("acme", "calls", 1235, "2026-03-05T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    # 1,235 × ¥0.3 = ¥370.5 → ¥371; 1,235 × $0.003 = $3.705 → $3.71 (half-up).
    assert totals(yen) == [("2026-02-28", D("5000"), "issued"),
                           ("2026-03-31", D("5371"), "issued")]
    assert totals(dollars) == [("2026-03-01", D("10.00"), "issued"),
                               ("2026-04-01", D("13.71"), "issued")]


def test_periods_close_at_local_midnight_across_a_dst_change(world):
    berlin = customer("berlin", time_zone="Europe/Berlin")
    subscribe(berlin, basic_plan(), "2026-03-01T00:00:00+01:00")
    # Clocks go forward on 29 March 2026: April starts at 22:00 UTC, not 23:00.
    use("berlin", "calls", 100, "2026-03-31T21:30:00Z")  # 23:30 local, 31 March
    use("berlin", "calls", 700, "2026-03-31T22:30:00Z")  # 00:30 local, 1 April
    run("2026-05-01T00:00:00Z")
    invoices = list(berlin.invoices.order_by("cycle_at"))
    assert [i.cycle_at for i in invoices] == [at("2026-02-28T23:00:00Z"),
                                              at("2026-03-31T22:00:00Z"),
                                              at("2026-04-30T22:00:00Z")]
    assert [i.total for i in invoices] == [D("10.00"), D("11.00"), D("17.00")]


def test_late_event_is_billed_once_on_the_next_invoice(world):
    plan = publish_plan("graduated", phases=[("default", "", [
        card("calls", "API calls", feature="calls", price_type="tiered",
             tiered_mode="graduated", tiers=GRADUATED)])])
    acme = customer("acme")
    subscribe(acme, plan, "2026-03-01T00:00:00Z")
    use("acme", "calls", 9500, "2026-03-10T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    march = acme.invoices.get()
    assert march.total == D("85.00")  # 8,500 × $0.01
    use("acme", "calls", 1000, "2026-03-20T00:00:00Z")  # arrives in April, for March
    run("2026-04-02T00:00:00Z")
    run("2026-05-01T00:00:00Z")
    run("2026-05-02T00:00:00Z")
    march.refresh_from_db()
    assert march.total == D("85.00") and march.lines.count() == 1
    may = acme.invoices.get(cycle_at=at("2026-05-01T00:00:00Z"))
    late = may.lines.get(period_start=at("2026-03-01T00:00:00Z"))
    # 10,500 calls cost $92.50 (500 more at $0.01, 500 at $0.005): $7.50 was still owed.
    assert (late.description, late.quantity, late.amount) == ("Late usage", D(1000), D("7.50"))
    assert may.total == D("7.50")  # April had no usage
    run("2026-06-01T00:00:00Z")
    assert acme.invoices.filter(lines__description="Late usage").count() == 1


def test_invoice_now_then_the_period_bills_only_the_rest(world):
    acme = customer("acme")
    subscribe(acme, basic_plan(), "2026-03-01T00:00:00Z")
    run("2026-03-01T00:00:00Z")
    use("acme", "calls", 600, "2026-03-10T00:00:00Z")
    [now_invoice] = billing_now(acme, "2026-03-15T00:00:00Z")
    assert (now_invoice.status, now_invoice.total) == ("issued", D("6.00"))
    use("acme", "calls", 400, "2026-03-20T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    april = acme.invoices.get(cycle_at=at("2026-04-01T00:00:00Z"))
    assert {line.type: line.amount for line in april.lines.all()} == {
        "usage_based": D("4.00"), "flat_fee": D("10.00")}


def billing_now(customer_, when):
    from apps.billing import services

    return services.invoice_now(customer_, as_of=at(when))


def test_addons_bought_mid_period_are_prorated_and_negotiated_prices_apply(world):
    plan, seats = team_plan_with_seats()
    acme = customer("acme")
    subscription = subscribe(acme, plan, "2026-03-01T00:00:00Z")
    subscriptions.subscription_override_set(subscription, rate_card_key="base_fee",
                                            price_amount=D(80), note="Contract 42")
    run("2026-03-02T00:00:00Z")
    subscriptions.subscription_addon_set(subscription, addon=seats, quantity=2,
                                         now=at("2026-03-16T00:00:00Z"))
    with pytest.raises(InvalidInput):
        subscriptions.subscription_addon_set(subscription, addon=seats, quantity=6,
                                             now=at("2026-03-17T00:00:00Z"))
    run("2026-04-01T00:00:00Z")
    # Negotiated $80 instead of $100. Two seats from Mar 16: 2 × $10 × 16/31 = $10.32,
    # billed with the next cycle; then April: $80 + 2 × $10.
    assert totals(acme) == [("2026-03-01", D("80.00"), "issued"),
                            ("2026-04-01", D("110.32"), "issued")]
    april = acme.invoices.get(cycle_at=at("2026-04-01T00:00:00Z"))
    seat_lines = sorted((line.period_start, line.quantity, line.amount)
                        for line in april.lines.filter(rate_card_key="seats.seat"))
    assert seat_lines == [(at("2026-03-16T00:00:00Z"), D(2), D("10.32")),
                          (at("2026-04-01T00:00:00Z"), D(2), D("20.00"))]


def test_drafts_are_refreshed_during_their_draft_period_then_issue(world):
    from apps.billing.models import BillingProfile

    BillingProfile.objects.filter(is_default=True).update(draft_period=timedelta(days=2))
    acme = customer("acme")
    subscribe(acme, basic_plan(), "2026-03-01T00:00:00Z")
    run("2026-03-01T00:00:00Z")
    use("acme", "calls", 100, "2026-03-20T00:00:00Z")
    run("2026-04-01T00:00:00Z")
    april = acme.invoices.get(cycle_at=at("2026-04-01T00:00:00Z"))
    assert (april.status, april.total) == ("draft", D("11.00"))
    use("acme", "calls", 300, "2026-03-31T12:00:00Z")  # late, inside the draft period
    run("2026-04-02T00:00:00Z")
    april.refresh_from_db()
    assert (april.status, april.total) == ("draft", D("14.00"))
    run("2026-04-03T00:00:00Z")
    april.refresh_from_db()
    assert (april.status, april.total) == ("issued", D("14.00"))
    assert april.lines.get(type="usage_based").quantity == D(400)


def test_run_billing_command(world):
    from io import StringIO

    from django.core.management import CommandError, call_command

    acme = customer("acme")
    subscribe(acme, basic_plan(), "2026-03-01T00:00:00Z")
    out = StringIO()
    call_command("run_billing", "--at", "2026-04-01T00:00:00Z", stdout=out)
    assert "Billed 2 cycles on 2 invoices; issued 2." in out.getvalue()
    with pytest.raises(CommandError):
        call_command("run_billing", "--at", "2026-04-01T00:00:00")  # no time zone
