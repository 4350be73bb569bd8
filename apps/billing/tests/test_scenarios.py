"""Billing scenarios over several months with a mock clock, totals computed by hand."""

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
    totals,
    use,
)

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
