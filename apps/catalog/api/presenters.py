"""Simulation results as the API (and the admin) show them: money as decimal strings."""

from decimal import Decimal

from apps.catalog.simulation import Simulation
from apps.core.money import quantize_money
from apps.core.times import rfc3339


def quantity(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def money(value: Decimal, currency: str) -> str:
    return str(quantize_money(value, currency))


def simulation_representation(result: Simulation, *, customer=None, start=None, end=None,
                              comparison: Simulation | None = None) -> dict:
    body = _priced(result)
    if customer is not None:
        body.update(customerId=customer.pk, customerKey=customer.key,
                    **{"from": rfc3339(start), "to": rfc3339(end)})
    body["comparison"] = _priced(comparison) if comparison is not None else None
    return body


def _priced(result: Simulation) -> dict:
    currency = result.currency
    lines = []
    for simulated in result.lines:
        card, line = simulated.card, simulated.line
        lines.append({
            "rateCardKey": card.key,
            "featureKey": card.feature.key if card.feature_id else None,
            "name": card.name,
            "type": card.type,
            "paymentTerm": line.payment_term,
            "quantity": quantity(simulated.quantity if simulated.quantity is not None
                                 else line.quantity),
            "freeQuantity": quantity(line.free_quantity),
            "billableQuantity": quantity(line.billable_quantity),
            "subtotal": money(line.subtotal, currency),
            "discount": money(-line.discount, currency),
            "commitmentAdjustment": money(line.commitment_adjustment, currency),
            "amount": money(line.total, currency),
            "tiers": [{
                "tier": component.tier, "kind": component.kind,
                "quantity": quantity(component.quantity),
                "unitPrice": quantity(component.unit_price),
                "flatPrice": quantity(component.flat_price),
                "amount": money(component.amount, currency),
            } for component in line.components],
        })
    if result.minimum_spend_true_up:
        lines.append({
            "rateCardKey": None, "featureKey": None, "name": "Minimum spend true-up",
            "type": "minimum_spend", "paymentTerm": "in_arrears", "quantity": None,
            "freeQuantity": None, "billableQuantity": None,
            "subtotal": money(Decimal(0), currency),
            "discount": money(Decimal(0), currency),
            "commitmentAdjustment": money(result.minimum_spend_true_up, currency),
            "amount": money(result.minimum_spend_true_up, currency), "tiers": [],
        })
    plan = result.plan
    return {
        "currency": currency,
        "plan": {"id": plan.id, "key": plan.key, "version": plan.version,
                 "status": plan.status.value},
        "phase": result.phase.key,
        "usage": {key: quantity(value) for key, value in result.usage.items()},
        "lines": lines,
        "subtotal": money(result.subtotal, currency),
        "discount": money(result.discount, currency),
        "commitments": money(result.commitments, currency),
        "total": money(result.total, currency),
    }
