"""Price simulation (CAT-9): what one plan version charges for a billing period.

Usage comes either as quantities per feature key or from a customer's stored usage (meter
rollups through the query selector, so the simulation sees exactly what the meter API shows).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.catalog.domain.pricing import PricingError, minimum_spend_true_up
from apps.catalog.models import Plan, PlanPhase, RateCard, Status
from apps.catalog.prices import price_rate_card
from apps.core.errors import InvalidInput
from apps.core.money import quantize_money
from apps.metering.selectors import MeterQuery, query_meter

ZERO = Decimal(0)


@dataclass(frozen=True)
class SimulatedLine:
    card: RateCard
    quantity: Decimal | None
    line: object  # PricedLine


@dataclass(frozen=True)
class Simulation:
    plan: Plan
    phase: PlanPhase
    currency: str
    lines: list[SimulatedLine]
    minimum_spend_true_up: Decimal
    usage: dict[str, Decimal]

    @property
    def subtotal(self) -> Decimal:
        return quantize_money(sum((s.line.subtotal for s in self.lines), ZERO), self.currency)

    @property
    def discount(self) -> Decimal:
        """What discounts took off, as a positive amount."""
        return quantize_money(-sum((s.line.discount for s in self.lines), ZERO), self.currency)

    @property
    def commitments(self) -> Decimal:
        """Rate-card minimums and caps plus the plan's minimum-spend true-up."""
        adjustments = sum((s.line.commitment_adjustment for s in self.lines), ZERO)
        return quantize_money(adjustments + self.minimum_spend_true_up, self.currency)

    @property
    def total(self) -> Decimal:
        lines = sum((s.line.total for s in self.lines), ZERO)
        return quantize_money(lines + self.minimum_spend_true_up, self.currency)


def phase_of(plan: Plan, phase_key: str | None) -> PlanPhase:
    """The named phase, or the plan's last (evergreen) phase."""
    phases = list(plan.phases.all())
    if not phases:
        raise InvalidInput(f"{plan} has no phases to price.", field="phase")
    if phase_key is None:
        return phases[-1]
    for phase in phases:
        if phase.key == phase_key:
            return phase
    raise InvalidInput(f"{plan} has no phase “{phase_key}”.", field="phase")


def priced_feature_keys(plan: Plan, phase_key: str | None) -> set[str]:
    phase = phase_of(plan, phase_key)
    return set(plan.rate_cards.filter(phase_key=phase.key, feature__isnull=False)
               .values_list("feature__key", flat=True))


def simulate(plan: Plan, *, usage: dict[str, Decimal], phase_key: str | None = None) -> Simulation:
    phase = phase_of(plan, phase_key)
    cards = list(plan.rate_cards.filter(phase_key=phase.key).select_related("feature"))
    priced_features = priced_feature_keys(plan, phase.key)
    for feature_key, quantity in usage.items():
        if feature_key not in priced_features:
            raise InvalidInput(f"No rate card of phase “{phase.key}” prices feature "
                               f"“{feature_key}”.", field=f"usage.{feature_key}")
        if quantity < 0:
            raise InvalidInput("Usage cannot be negative.", field=f"usage.{feature_key}")
    lines = []
    for card in cards:
        quantity = usage.get(card.feature.key, ZERO) if card.feature_id else None
        try:
            priced = price_rate_card(card, currency=plan.currency, quantity=quantity)
        except PricingError as error:
            raise InvalidInput(f"Rate card “{card.key}”: {error}",
                               field=f"usage.{card.feature.key}" if card.feature_id
                               else "version") from error
        if priced is not None:
            lines.append(SimulatedLine(card=card, quantity=quantity, line=priced.line))
    true_up = ZERO
    if plan.minimum_spend is not None and lines:  # a free (trial) phase owes nothing
        usage_total = sum((s.line.total for s in lines if s.card.type == "usage_based"), ZERO)
        true_up = minimum_spend_true_up(usage_total, plan.minimum_spend, currency=plan.currency)
    return Simulation(plan=plan, phase=phase, currency=plan.currency, lines=lines,
                      minimum_spend_true_up=true_up, usage=dict(usage))


def customer_usage(plan: Plan, *, phase_key: str | None, customer, start: datetime,
                   end: datetime) -> dict[str, Decimal]:
    """The customer's metered quantity per feature priced in the phase, over [start, end)."""
    if end <= start:
        raise InvalidInput("“to” must be after “from”.", field="to")
    phase = phase_of(plan, phase_key)
    usage = {}
    cards = plan.rate_cards.filter(phase_key=phase.key, feature__isnull=False) \
        .select_related("feature__meter")
    for card in cards:
        if card.feature.meter is not None and card.feature.key not in usage:
            usage[card.feature.key] = feature_quantity(card.feature, customer.pk, start, end)
    return usage


def feature_quantity(feature, customer_id: str, start: datetime, end: datetime) -> Decimal:
    """What the feature's meter measured for one customer (all its subjects) over [start, end),
    read from the rollups exactly as the meter query API answers it."""
    if feature.meter is None or end <= start:
        return ZERO
    rows = query_meter(feature.meter, MeterQuery(
        start=start, end=end, customer_ids=[customer_id],
        filter_group_by={k: [v] for k, v in feature.meter_group_by_filters.items()},
    ))
    return sum((row.value for row in rows if row.value is not None), ZERO)


def comparison_version(plan: Plan) -> Plan | None:
    """What the plan charges today: its active version, when simulating another one."""
    active = Plan.objects.live().filter(key=plan.key).with_status(Status.ACTIVE).first()
    return active if active is not None and active.pk != plan.pk else None
