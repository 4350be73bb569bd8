"""Rate cards (model rows) turned into the pricing engine's definitions, and priced.

A rate card that cannot be turned into a definition raises `PricingError` naming the model
field (`price_amount`, `tiers`, ...); `apps.catalog.rules` reports those as form and API errors.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from apps.catalog.domain.pricing import (
    Commitments,
    FlatPrice,
    PackagePrice,
    PercentageDiscount,
    PricedLine,
    PricingError,
    Tier,
    TieredPrice,
    UnitPrice,
    UsageDiscount,
    UsagePrice,
    price_flat,
    price_usage,
)

TIER_FIELDS = {"upToAmount": "up_to", "unitPrice": "unit_price", "flatPrice": "flat_price"}
DOMAIN_FIELD = {"amount": "price_amount", "payment_term": "payment_term", "mode": "tiered_mode",
                "quantity_per_package": "quantity_per_package", "percentage":
                "discount_percentage", "minimum_amount": "minimum_amount",
                "maximum_amount": "maximum_amount"}


class RateCardError(PricingError):
    """`field` is the rate card's model field; `tier` the 0-based tier row, if any."""

    def __init__(self, message: str, *, field: str, tier: int | None = None,
                 tier_field: str | None = None):
        super().__init__(message, field=field)
        self.tier = tier
        self.tier_field = tier_field


def decimal_or_none(value) -> Decimal | None:
    if value is None or value == "":
        return None
    # Binary floating point never reaches a price: decimals travel as strings.
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidOperation(value)
    number = Decimal(value.strip() if isinstance(value, str) else value)
    if not number.is_finite():
        raise InvalidOperation(value)
    return number


def tiers_of(rows) -> tuple[Tier, ...]:
    if not isinstance(rows, list) or not rows:
        raise RateCardError("A tiered price needs at least one tier.", field="tiers")
    tiers = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RateCardError(f"Tier {index + 1} must be an object.", field="tiers",
                                tier=index)
        values = {}
        for wire, name in TIER_FIELDS.items():
            try:
                values[name] = decimal_or_none(row.get(wire))
            except (InvalidOperation, ValueError) as error:
                raise RateCardError(f"Tier {index + 1}: {wire} must be a decimal number.",
                                    field="tiers", tier=index, tier_field=wire) from error
        try:
            tiers.append(Tier(**values))
        except PricingError as error:
            raise RateCardError(f"Tier {index + 1}: {error}", field="tiers", tier=index,
                                tier_field=_wire_tier_field(error.field)) from error
    try:
        TieredPrice(mode="graduated", tiers=tuple(tiers))
    except PricingError as error:
        index = _tier_index(error.field)
        raise RateCardError(str(error), field="tiers", tier=index,
                            tier_field="upToAmount" if index is not None else None) from error
    return tuple(tiers)


def usage_price_of(card) -> UsagePrice | None:
    """The engine's price for a rate card, or None for a rate card without a price."""
    kind = card.price_type
    if not kind:
        return None
    try:
        match kind:
            case "flat":
                return FlatPrice(amount=_required(card.price_amount, "price_amount"),
                                 payment_term=card.payment_term)
            case "unit":
                return UnitPrice(amount=_required(card.price_amount, "price_amount"))
            case "package":
                return PackagePrice(
                    amount=_required(card.price_amount, "price_amount"),
                    quantity_per_package=_required(card.quantity_per_package,
                                                   "quantity_per_package"))
            case "tiered":
                return TieredPrice(mode=card.tiered_mode, tiers=tiers_of(card.tiers))
    except RateCardError:
        raise
    except PricingError as error:
        raise RateCardError(str(error), field=DOMAIN_FIELD.get(error.field, "price_type")) \
            from error
    raise RateCardError(f"Unknown price type “{kind}”.", field="price_type")


def commitments_of(card) -> Commitments | None:
    if card.minimum_amount is None and card.maximum_amount is None:
        return None
    try:
        return Commitments(minimum_amount=card.minimum_amount,
                           maximum_amount=card.maximum_amount)
    except PricingError as error:
        raise RateCardError(str(error), field=DOMAIN_FIELD[error.field]) from error


def percentage_discount_of(card) -> PercentageDiscount | None:
    if card.discount_percentage is None:
        return None
    try:
        return PercentageDiscount(percentage=card.discount_percentage)
    except PricingError as error:
        raise RateCardError(str(error), field="discount_percentage") from error


def usage_discount_of(card) -> UsageDiscount | None:
    if card.discount_usage_quantity is None:
        return None
    try:
        return UsageDiscount(quantity=card.discount_usage_quantity)
    except PricingError as error:
        raise RateCardError(str(error), field="discount_usage_quantity") from error


@dataclass(frozen=True)
class PricedRateCard:
    card: object  # RateCard
    line: PricedLine


def price_rate_card(card, *, currency: str, quantity: Decimal | None) -> PricedRateCard | None:
    """Price one rate card for a billing period; None when it has no price."""
    price = usage_price_of(card)
    if price is None:
        return None
    if card.type == "flat_fee" or (isinstance(price, FlatPrice) and quantity is None):
        line = price_flat(price, currency=currency,
                          percentage_discount=percentage_discount_of(card))
    else:
        line = price_usage(price, quantity or Decimal(0), currency=currency,
                           usage_discount=usage_discount_of(card),
                           percentage_discount=percentage_discount_of(card),
                           commitments=commitments_of(card))
    return PricedRateCard(card=card, line=line)


def _required(value, field: str) -> Decimal:
    if value is None:
        raise RateCardError("This price needs a value here.", field=field)
    return value


def _tier_index(field: str | None) -> int | None:
    if field and field.startswith("tiers["):
        return int(field[len("tiers["):field.index("]")])
    return None


def _wire_tier_field(field: str | None) -> str | None:
    return {name: wire for wire, name in TIER_FIELDS.items()}.get(field or "")
