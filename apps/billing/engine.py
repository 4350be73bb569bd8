"""The billing engine: what a subscription owes at a billing-cycle instant.

A subscription's time is cut into *pieces*: its phases, each split at the anchored period
boundaries (anchor + k × cadence in the billed customer's time zone). Every charge belongs to a
piece and falls due at one instant — in-advance flat fees at the piece's start, usage,
in-arrears fees and minimum spend at its end, one-time fees at the subscription's start.

Billing *reconciles*: for every charge due by the cycle instant (within a look-back window),
the engine prices what is owed now and subtracts what earlier lines of the same subscription,
rate card and piece already billed. The difference becomes a line. One rule covers the regular
cycle, late events (BIL-7: a positive difference on a later invoice, labelled with its service
period), "invoice now" (progressive billing: the period's final invoice bills only the rest,
and graduated tiers continue where they stopped), add-ons bought mid-period and cancellations
or plan changes (a negative difference credits unused in-advance time).
"""

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from django.conf import settings

from apps.billing.domain.periods import Period, period_at, share, split
from apps.billing.models import Invoice, InvoiceLine, Subscription
from apps.catalog.domain.pricing import (
    Commitments,
    FlatPrice,
    PricedLine,
    minimum_spend_true_up,
    price_flat,
    price_usage,
)
from apps.catalog.models import PlanPhase, RateCard
from apps.catalog.prices import (
    commitments_of,
    percentage_discount_of,
    usage_discount_of,
    usage_price_of,
)
from apps.catalog.simulation import feature_quantity
from apps.core.durations import parse_duration
from apps.core.money import quantize_fraction, quantize_money

ZERO = Decimal(0)
MINIMUM_SPEND_KEY = "minimum_spend"


@dataclass(frozen=True)
class Piece:
    phase: PlanPhase
    period: Period  # the part of an anchored period inside one phase and the subscription
    full: Period  # the whole anchored period it belongs to
    first: bool  # the subscription's first piece (one-time fees fall due here)


@dataclass
class Charge:
    """One owed amount, priced now; billed as the difference to what was billed before."""

    type: str
    key: str
    name: str
    piece: Piece
    period: Period  # the service period: the piece, or the part an add-on was held
    due_at: datetime
    line: PricedLine | None
    feature_key: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


@dataclass
class LineDraft:
    type: str
    key: str
    feature_key: str
    name: str
    description: str
    period: Period
    quantity: Decimal | None
    metered_quantity: Decimal | None
    unit_price: Decimal | None
    subtotal: Decimal
    discount: Decimal
    adjustment: Decimal
    amount: Decimal
    tiers: list = field(default_factory=list)


def billed_customer(customer):
    """Subsidiaries flagged "bill to parent" are invoiced on their parent's invoice."""
    while customer.bill_to_parent and customer.parent_id:
        customer = customer.parent
    return customer


def zone_of(subscription: Subscription) -> ZoneInfo:
    return ZoneInfo(billed_customer(subscription.customer).time_zone)


def pieces(subscription: Subscription, until: datetime) -> list[Piece]:
    """The subscription's pieces that start before `until`."""
    zone = zone_of(subscription)
    cadence = parse_duration(subscription.plan.billing_cadence)
    phases = list(subscription.plan.phases.all())
    if subscription.starting_phase:
        keys = [phase.key for phase in phases]
        phases = phases[keys.index(subscription.starting_phase):]
    result: list[Piece] = []
    start = subscription.active_from
    for phase in phases:
        if start >= until or (subscription.active_to and start >= subscription.active_to):
            break
        end = (parse_duration(phase.duration).add_to(start.astimezone(zone)).astimezone(UTC)
               if phase.duration else None)
        if subscription.active_to and (end is None or end > subscription.active_to):
            end = subscription.active_to
        anchor = subscription.billing_anchor or start
        limit = end if end is not None else period_at(anchor, cadence, max(until, start),
                                                      zone).end
        for part in split(Period(start, limit), anchor, cadence, zone):
            if part.start >= until:
                break
            result.append(Piece(phase=phase, period=part,
                                full=period_at(anchor, cadence, part.start, zone),
                                first=not result))
        if end is None:
            break
        start = end
    return result


def running_piece(subscription: Subscription, at: datetime) -> Piece | None:
    """The piece (billing period within a phase) running at `at`, if any."""
    for piece in pieces(subscription, at + timedelta(microseconds=1)):
        if piece.period.start <= at < piece.period.end:
            return piece
    return None


def cycle_instants(subscription: Subscription, until: datetime) -> list[datetime]:
    """Instants ≤ `until` at which something of the subscription falls due."""
    instants = set()
    for piece in pieces(subscription, until + timedelta(microseconds=1)):
        instants.add(piece.period.start)
        if piece.period.end <= until:
            instants.add(piece.period.end)
    return sorted(t for t in instants if t <= until)


def lines_due(subscription: Subscription, cycle_at: datetime, *,
              progressive: bool = False) -> list[LineDraft]:
    """What the subscription owes at `cycle_at` that earlier lines have not billed yet.

    `progressive` (invoice now) also bills usage of the piece still running, up to `cycle_at`.
    """
    window_start = cycle_at - settings.BILLING_LATE_EVENT_WINDOW
    drafts = []
    for piece in pieces(subscription, cycle_at + timedelta(microseconds=1)):
        running = piece.period.start <= cycle_at < piece.period.end
        if piece.period.end < window_start:
            continue
        for charge in charges(subscription, piece, cycle_at if running and progressive
                              else None):
            if charge.due_at > cycle_at and not (progressive and running
                                                 and charge.type == "usage_based"):
                continue
            draft = _difference(subscription, charge)
            if draft is not None:
                drafts.append(draft)
    return drafts


def charges(subscription: Subscription, piece: Piece, partial_until: datetime | None) -> list:
    """Everything owed for one piece, priced with what is known now."""
    plan = subscription.plan
    currency = plan.currency
    overrides = {o.rate_card_key: o for o in subscription.overrides.all()}
    cards = [(card, 1, "", piece.period) for card in plan.rate_cards
             .filter(phase_key=piece.phase.key).select_related("feature__meter")]
    result = []
    usage_total = ZERO
    priced_usage = False
    for card, quantity, prefix, covered in cards + list(_addon_cards(subscription, piece)):
        card = _with_override(card, overrides.get(card.key)) if not prefix else card
        price = usage_price_of(card)
        if price is None:
            continue
        key = f"{prefix}{card.key}"
        if card.type == "flat_fee" or (isinstance(price, FlatPrice) and card.feature_id is None):
            charge = _flat_charge(subscription, piece, covered, card, price, key, quantity)
            if charge is not None:
                result.append(charge)
            continue
        end = min(partial_until or covered.end, covered.end)
        metered = feature_quantity(card.feature, subscription.customer_id, covered.start, end)
        commitments = commitments_of(card)
        if partial_until is not None and commitments is not None:
            # A running period has not failed its minimum yet; only the cap applies.
            commitments = Commitments(maximum_amount=commitments.maximum_amount)
        line = price_usage(price, metered, currency=currency,
                           usage_discount=usage_discount_of(card),
                           percentage_discount=percentage_discount_of(card),
                           commitments=commitments)
        priced_usage = True
        usage_total += line.total
        result.append(Charge(type="usage_based", key=key, name=card.name, piece=piece,
                             period=covered, due_at=covered.end, line=line,
                             feature_key=card.feature.key, quantity=metered,
                             unit_price=getattr(price, "amount", None)))
    if plan.minimum_spend is not None and priced_usage and partial_until is None:
        minimum = quantize_fraction(Fraction(plan.minimum_spend)
                                    * share(piece.period, piece.full), currency)
        true_up = minimum_spend_true_up(usage_total, minimum, currency=currency)
        line = PricedLine(
            currency=currency, payment_term="in_arrears", quantity=Decimal(1),
            free_quantity=ZERO, billable_quantity=Decimal(1), proration=Decimal(1),
            components=(), subtotal=ZERO, discount=ZERO, commitment_adjustment=true_up,
            total=true_up)
        result.append(Charge(type="minimum_spend", key=MINIMUM_SPEND_KEY,
                             name="Minimum spend true-up", piece=piece, period=piece.period,
                             due_at=piece.period.end, line=line))
    return result


def _flat_charge(subscription, piece, covered, card, price, key, quantity) -> Charge | None:
    one_time = card.type == "flat_fee" and not card.billing_cadence
    if one_time and not piece.first:
        return None
    portion = Fraction(1) if one_time or not subscription.plan.pro_rating_enabled \
        else share(covered, piece.full)
    if not one_time and not subscription.plan.pro_rating_enabled and \
            piece.period.start != piece.full.start:
        return None  # without proration a fee is owed for periods that start in the piece
    line = price_flat(price, currency=subscription.plan.currency, quantity=quantity,
                      proration=portion,
                      percentage_discount=percentage_discount_of(card))
    in_advance = price.payment_term == "in_advance" or one_time
    return Charge(type="flat_fee", key=key, name=card.name, piece=piece, period=covered,
                  due_at=covered.start if in_advance else covered.end, line=line,
                  feature_key=card.feature.key if card.feature_id else "",
                  quantity=Decimal(quantity), unit_price=price.amount)


def _addon_cards(subscription: Subscription, piece: Piece):
    """Add-on rate cards owed in a piece, with their quantity (whole piece or its share)."""
    for bought in subscription.addons.select_related("addon"):
        start = max(bought.active_from, piece.period.start)
        end = min(bought.active_to or piece.period.end, piece.period.end)
        if start >= end:
            continue
        for card in bought.addon.rate_cards.select_related("feature__meter"):
            # Bought or ended inside the piece: flat fees are owed for the covered part only.
            yield card, bought.quantity, f"{bought.addon.key}.", Period(start, end)


def _with_override(card: RateCard, override) -> RateCard:
    if override is None:
        return card
    card = copy.copy(card)
    if override.price_amount is not None:
        card.price_amount = override.price_amount
    if override.tiers is not None:
        card.tiers = override.tiers
    if override.discount_percentage is not None:
        card.discount_percentage = override.discount_percentage
    return card


def _difference(subscription, charge: Charge) -> LineDraft | None:
    earlier = InvoiceLine.objects.filter(
        subscription=subscription, rate_card_key=charge.key,
        period_start=charge.period.start,
    ).exclude(invoice__status=Invoice.Status.VOID)
    earlier = list(earlier)
    line = charge.line
    billed = {name: sum((getattr(e, name) for e in earlier), ZERO)
              for name in ("subtotal", "discount", "adjustment", "amount")}
    billed_quantity = sum((e.quantity or ZERO for e in earlier), ZERO)
    amount = line.total - billed["amount"]
    quantity = None if charge.quantity is None else charge.quantity - billed_quantity
    if earlier and amount == 0 and not quantity:
        return None
    if not earlier and charge.type != "usage_based" and line.total == 0:
        return None
    description = ""
    if earlier:
        description = ("Late usage" if charge.type == "usage_based" and amount >= 0
                       else "Unused time credit" if amount < 0 else "Adjustment")
    elif line.proration != 1:
        description = f"Prorated: {_days(charge.period)} of {_days(charge.piece.full)} days"
    return LineDraft(
        type="proration_credit" if earlier and amount < 0 and charge.type == "flat_fee"
        else charge.type,
        key=charge.key, feature_key=charge.feature_key, name=charge.name,
        description=description, period=charge.period,
        quantity=quantity if charge.type == "usage_based" else (
            charge.quantity if not earlier else None),
        metered_quantity=charge.quantity if charge.type == "usage_based" else None,
        unit_price=charge.unit_price,
        subtotal=quantize_money(line.subtotal - billed["subtotal"], line.currency),
        discount=quantize_money(-line.discount - billed["discount"], line.currency),
        adjustment=quantize_money(line.commitment_adjustment - billed["adjustment"],
                                  line.currency),
        amount=quantize_money(amount, line.currency),
        tiers=_tier_difference(line, earlier),
    )


def _tier_difference(line: PricedLine, earlier) -> list:
    billed: dict[tuple, dict] = {}
    for previous in earlier:
        for tier in previous.tiers:
            row = billed.setdefault((tier["kind"], tier.get("tier")), {"quantity": ZERO,
                                                                       "amount": ZERO})
            row["quantity"] += Decimal(tier["quantity"])
            row["amount"] += Decimal(tier["amount"])
    rows = []
    for component in line.components:
        before = billed.get((component.kind, component.tier), {"quantity": ZERO,
                                                               "amount": ZERO})
        quantity = component.quantity - before["quantity"]
        amount = component.amount - before["amount"]
        if earlier and not quantity and not amount:
            continue
        rows.append({"kind": component.kind, "tier": component.tier,
                     "quantity": str(quantity),
                     "unit_price": None if component.unit_price is None
                     else str(component.unit_price),
                     "flat_price": None if component.flat_price is None
                     else str(component.flat_price),
                     "amount": str(amount)})
    return rows


def _days(period: Period) -> str:
    days = Decimal(period.seconds) / Decimal(86400)
    return str(days.quantize(Decimal(1) if days == days.to_integral() else Decimal("0.1")))
