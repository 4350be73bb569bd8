"""Price definitions and the pricing engine (OpenMeter's price model), in pure Python.

Order of operations for a usage line, as in OpenMeter's line service: the usage discount removes
free units, the price model splits the rest into components (one per tier), each component is
rounded once half-up to the currency, then the percentage discount, the maximum cap and the
minimum true-up apply to the sum of the rounded components. Arithmetic is exact `Decimal`
throughout: an amount that would need more than 60 significant digits raises `PricingError`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from fractions import Fraction
from typing import Literal

from apps.core.money import (
    currency_exponent,
    exact_decimal_context,
    quantize_fraction,
    quantize_money,
)

PaymentTerm = Literal["in_advance", "in_arrears"]
TieredMode = Literal["graduated", "volume"]
ComponentKind = Literal["flat", "unit", "tier", "package"]

PAYMENT_TERMS: tuple[PaymentTerm, ...] = ("in_advance", "in_arrears")
TIERED_MODES: tuple[TieredMode, ...] = ("graduated", "volume")

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class PricingError(ValueError):
    """An invalid price definition or pricing input; `field` names the offending attribute."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- price definitions ---------------------------------------------------------------------


@dataclass(frozen=True)
class FlatPrice:
    amount: Decimal
    payment_term: PaymentTerm = "in_advance"

    def __post_init__(self) -> None:
        _set(self, "amount", _non_negative(self.amount, "amount"))
        if self.payment_term not in PAYMENT_TERMS:
            raise PricingError(
                f"payment_term must be one of {', '.join(PAYMENT_TERMS)}, "
                f"got {self.payment_term!r}.",
                field="payment_term",
            )


@dataclass(frozen=True)
class UnitPrice:
    amount: Decimal

    def __post_init__(self) -> None:
        _set(self, "amount", _non_negative(self.amount, "amount"))


@dataclass(frozen=True)
class Tier:
    """One tier; it covers quantities in (previous tier's up_to, up_to]. None = open-ended."""

    up_to: Decimal | None = None
    unit_price: Decimal | None = None
    flat_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.up_to is not None:
            up_to = _decimal(self.up_to, "up_to")
            if up_to <= 0:
                raise PricingError(f"up_to must be greater than zero, got {up_to}.",
                                   field="up_to")
            _set(self, "up_to", up_to)
        if self.unit_price is None and self.flat_price is None:
            raise PricingError("A tier needs a unit price, a flat price or both "
                               "(use a unit price of 0 for a free tier).", field="unit_price")
        if self.unit_price is not None:
            _set(self, "unit_price", _non_negative(self.unit_price, "unit_price"))
        if self.flat_price is not None:
            _set(self, "flat_price", _non_negative(self.flat_price, "flat_price"))


@dataclass(frozen=True)
class TieredPrice:
    mode: TieredMode
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        if self.mode not in TIERED_MODES:
            raise PricingError(f"mode must be graduated or volume, got {self.mode!r}.",
                               field="mode")
        tiers = tuple(self.tiers)
        _set(self, "tiers", tiers)
        if not tiers:
            raise PricingError("A tiered price needs at least one tier.", field="tiers")
        for index, tier in enumerate(tiers):
            if not isinstance(tier, Tier):
                raise PricingError(f"Tier {index + 1} is not a Tier.", field=f"tiers[{index}]")
        last = len(tiers) - 1
        for index, tier in enumerate(tiers[:-1]):
            if tier.up_to is None:
                raise PricingError(
                    f"Only the last tier may be open-ended; tier {index + 1} has no upper bound.",
                    field=f"tiers[{index}].up_to",
                )
        # A bounded last tier would leave larger quantities without a price.
        if tiers[last].up_to is not None:
            raise PricingError("The last tier must be open-ended (no upper bound).",
                               field=f"tiers[{last}].up_to")
        for index in range(1, last):
            previous, current = tiers[index - 1].up_to, tiers[index].up_to
            if current <= previous:
                raise PricingError(
                    f"Tier bounds must ascend: tier {index + 1} ends at {current}, "
                    f"which is not above tier {index}'s {previous}.",
                    field=f"tiers[{index}].up_to",
                )


@dataclass(frozen=True)
class PackagePrice:
    """`amount` per started package of `quantity_per_package` units."""

    amount: Decimal
    quantity_per_package: Decimal

    def __post_init__(self) -> None:
        _set(self, "amount", _non_negative(self.amount, "amount"))
        size = _decimal(self.quantity_per_package, "quantity_per_package")
        if size <= 0:
            raise PricingError(f"quantity_per_package must be greater than zero, got {size}.",
                               field="quantity_per_package")
        _set(self, "quantity_per_package", size)


@dataclass(frozen=True)
class PercentageDiscount:
    percentage: Decimal  # 50 means 50 %

    def __post_init__(self) -> None:
        percentage = _non_negative(self.percentage, "percentage")
        if percentage > HUNDRED:
            raise PricingError(f"percentage must be between 0 and 100, got {percentage}.",
                               field="percentage")
        _set(self, "percentage", percentage)


@dataclass(frozen=True)
class UsageDiscount:
    quantity: Decimal  # free units removed from the metered quantity before pricing

    def __post_init__(self) -> None:
        _set(self, "quantity", _non_negative(self.quantity, "quantity"))


@dataclass(frozen=True)
class Commitments:
    minimum_amount: Decimal | None = None
    maximum_amount: Decimal | None = None

    def __post_init__(self) -> None:
        if self.minimum_amount is not None:
            _set(self, "minimum_amount", _non_negative(self.minimum_amount, "minimum_amount"))
        if self.maximum_amount is not None:
            _set(self, "maximum_amount", _non_negative(self.maximum_amount, "maximum_amount"))
        if (self.minimum_amount is not None and self.maximum_amount is not None
                and self.minimum_amount > self.maximum_amount):
            raise PricingError(
                f"minimum_amount ({self.minimum_amount}) must not exceed "
                f"maximum_amount ({self.maximum_amount}).",
                field="minimum_amount",
            )


UsagePrice = FlatPrice | UnitPrice | TieredPrice | PackagePrice


# --- priced results ------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedComponent:
    """One detail row of a line: a tier, the unit charge, the packages or the flat fee."""

    kind: ComponentKind
    quantity: Decimal  # units in this tier; number of packages for a package price
    unit_price: Decimal | None
    flat_price: Decimal | None
    exact_amount: Decimal  # unrounded
    amount: Decimal  # exact_amount rounded once, half-up, to the currency
    tier: int | None = None  # 1-based tier number for tiered prices


@dataclass(frozen=True)
class PricedLine:
    currency: str
    payment_term: PaymentTerm
    quantity: Decimal  # as metered (or the flat fee's quantity)
    free_quantity: Decimal  # removed by the usage discount
    billable_quantity: Decimal
    proration: Decimal
    components: tuple[PricedComponent, ...]
    subtotal: Decimal  # sum of the rounded component amounts
    discount: Decimal  # percentage discount, zero or negative
    commitment_adjustment: Decimal  # minimum true-up (positive) or maximum cap (negative)
    total: Decimal

    @property
    def exact_subtotal(self) -> Decimal:
        with localcontext(exact_decimal_context()):
            return sum((component.exact_amount for component in self.components), ZERO)


# --- pricing -------------------------------------------------------------------------------


def price_usage(
    price: UsagePrice,
    quantity: Decimal,
    *,
    currency: str,
    usage_discount: UsageDiscount | None = None,
    percentage_discount: PercentageDiscount | None = None,
    commitments: Commitments | None = None,
) -> PricedLine:
    """Price one usage-based rate card for the quantity metered in a billing period."""
    _check_currency(currency)
    metered = _non_negative(quantity, "quantity")
    _check_optional(usage_discount, UsageDiscount, "usage_discount")
    _check_optional(percentage_discount, PercentageDiscount, "percentage_discount")
    _check_optional(commitments, Commitments, "commitments")
    with _exact_arithmetic():
        free = min(metered, usage_discount.quantity) if usage_discount else ZERO
        billable = metered - free
        match price:
            case UnitPrice():
                components = [_component(currency, "unit", billable, price.amount, None)]
            case TieredPrice(mode="graduated"):
                components = _graduated_components(currency, price.tiers, billable)
            case TieredPrice(mode="volume"):
                components = [_volume_component(currency, price.tiers, billable)]
            case PackagePrice():
                components = [_package_component(currency, price, billable)]
            case FlatPrice():
                # A flat price on a usage rate card is due once per period, whatever the usage.
                components = [_component(currency, "flat", ONE, None, price.amount)]
            case _:
                raise PricingError(f"Unsupported price {type(price).__name__}.", field="price")
        payment_term = price.payment_term if isinstance(price, FlatPrice) else "in_arrears"
        return _priced_line(
            currency, components, payment_term=payment_term, quantity=metered,
            free_quantity=free, proration=ONE, percentage_discount=percentage_discount,
            commitments=commitments,
        )


def price_flat(
    price: FlatPrice,
    *,
    currency: str,
    quantity: Decimal | int = 1,
    proration: Decimal | int | Fraction = 1,
    percentage_discount: PercentageDiscount | None = None,
) -> PricedLine:
    """Price a flat fee; `proration` (0..1) is the share of the period being billed, a Decimal
    or an exact Fraction (e.g. 17 days of 30), rounded once, half-up, with the fee."""
    _check_currency(currency)
    if not isinstance(price, FlatPrice):
        raise PricingError(f"price_flat needs a FlatPrice, got {type(price).__name__}.",
                           field="price")
    count = _non_negative(quantity, "quantity")
    if isinstance(proration, Fraction):
        exact_share = proration
        share = Decimal(proration.numerator) / Decimal(proration.denominator)  # shown only
    else:
        share = _non_negative(proration, "proration")
        exact_share = Fraction(share)
    if not 0 <= exact_share <= 1:
        raise PricingError(f"proration must be between 0 and 1, got {share}.", field="proration")
    _check_optional(percentage_discount, PercentageDiscount, "percentage_discount")
    exact_amount = Fraction(price.amount) * Fraction(count) * exact_share
    with _exact_arithmetic():
        component = PricedComponent(
            kind="flat", quantity=count, unit_price=None, flat_price=price.amount,
            exact_amount=exact_amount_decimal(exact_amount),
            amount=quantize_fraction(exact_amount, currency),
        )
        return _priced_line(
            currency, [component], payment_term=price.payment_term, quantity=count,
            free_quantity=ZERO, proration=share, percentage_discount=percentage_discount,
            commitments=None,
        )


def exact_amount_decimal(value: Fraction) -> Decimal:
    """A rational amount to 60 significant digits, for display next to the rounded one."""
    with localcontext(exact_decimal_context()) as context:
        context.traps[Inexact] = False
        return Decimal(value.numerator) / Decimal(value.denominator)


def minimum_spend_true_up(usage_total: Decimal, minimum: Decimal, *, currency: str) -> Decimal:
    """Plan-level minimum spend: the amount still owed when usage charges fall short of it."""
    _check_currency(currency)
    charged = quantize_money(_non_negative(usage_total, "usage_total"), currency)
    floor = quantize_money(_non_negative(minimum, "minimum"), currency)
    return quantize_money(max(floor - charged, ZERO), currency)


# --- internals -----------------------------------------------------------------------------


def _graduated_components(currency: str, tiers: tuple[Tier, ...],
                          quantity: Decimal) -> list[PricedComponent]:
    components = []
    lower = ZERO
    for number, tier in enumerate(tiers, start=1):
        # The first tier is always entered, so its flat price is charged even at zero usage
        # (a base fee), as OpenMeter does; later tiers only once the quantity exceeds `lower`.
        if number > 1 and quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        components.append(_tier_component(currency, number, tier, upper - lower))
        if tier.up_to is None:
            break
        lower = tier.up_to
    return components


def _volume_component(currency: str, tiers: tuple[Tier, ...],
                      quantity: Decimal) -> PricedComponent:
    for number, tier in enumerate(tiers, start=1):
        if tier.up_to is None or quantity <= tier.up_to:
            return _tier_component(currency, number, tier, quantity)
    raise AssertionError("TieredPrice guarantees an open-ended last tier")


def _tier_component(currency: str, number: int, tier: Tier, units: Decimal) -> PricedComponent:
    return _component(currency, "tier", units, tier.unit_price, tier.flat_price, tier=number)


def _package_component(currency: str, price: PackagePrice, quantity: Decimal) -> PricedComponent:
    # Exact ceiling division: a started package is a whole package, zero units are none.
    whole, remainder = divmod(quantity, price.quantity_per_package)
    packages = whole + (ONE if remainder else ZERO)
    return _component(currency, "package", packages, price.amount, None)


def _component(
    currency: str,
    kind: ComponentKind,
    quantity: Decimal,
    unit_price: Decimal | None,
    flat_price: Decimal | None,
    *,
    tier: int | None = None,
) -> PricedComponent:
    exact = quantity * (unit_price or ZERO) + (flat_price or ZERO)
    return PricedComponent(kind=kind, quantity=quantity, unit_price=unit_price,
                           flat_price=flat_price, exact_amount=exact,
                           amount=quantize_money(exact, currency), tier=tier)


def _priced_line(
    currency: str,
    components: list[PricedComponent],
    *,
    payment_term: PaymentTerm,
    quantity: Decimal,
    free_quantity: Decimal,
    proration: Decimal,
    percentage_discount: PercentageDiscount | None,
    commitments: Commitments | None,
) -> PricedLine:
    subtotal = quantize_money(sum((c.amount for c in components), ZERO), currency)
    discount = quantize_money(ZERO, currency)
    if percentage_discount is not None:
        # Rounded as a positive amount, so ties round the discount up, never the charge.
        off = quantize_money(subtotal * percentage_discount.percentage / HUNDRED, currency)
        discount = ZERO - off
    net = subtotal + discount
    adjustment = _commitment_adjustment(net, commitments, currency)
    return PricedLine(
        currency=currency, payment_term=payment_term, quantity=quantity,
        free_quantity=free_quantity, billable_quantity=quantity - free_quantity,
        proration=proration, components=tuple(components), subtotal=subtotal, discount=discount,
        commitment_adjustment=adjustment, total=quantize_money(net + adjustment, currency),
    )


def _commitment_adjustment(net: Decimal, commitments: Commitments | None,
                           currency: str) -> Decimal:
    adjustment = ZERO
    if commitments is not None and commitments.maximum_amount is not None:
        cap = quantize_money(commitments.maximum_amount, currency)
        if net > cap:
            adjustment = cap - net
    if commitments is not None and commitments.minimum_amount is not None:
        minimum = quantize_money(commitments.minimum_amount, currency)
        # minimum <= maximum, so a capped line never needs a true-up as well.
        if net + adjustment < minimum:
            adjustment = minimum - net
    return quantize_money(adjustment, currency)


@contextmanager
def _exact_arithmetic() -> Iterator[None]:
    """Exact Decimal arithmetic; a result that would have to be rounded is a PricingError."""
    with localcontext(exact_decimal_context()):
        try:
            yield
        except Inexact as error:
            raise PricingError(
                "The amount cannot be computed exactly: it needs more than 60 significant "
                "digits. Check the quantity and the price for excess precision."
            ) from error


def _decimal(value: object, name: str) -> Decimal:
    # bool is an int subclass; float is inexact and never allowed near money.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise PricingError(f"{name} must be a Decimal, got {type(value).__name__}.", field=name)
    number = Decimal(value)
    if not number.is_finite():
        raise PricingError(f"{name} must be a finite number, got {number}.", field=name)
    return number


def _non_negative(value: object, name: str) -> Decimal:
    number = _decimal(value, name)
    if number < 0:
        raise PricingError(f"{name} must not be negative, got {number}.", field=name)
    return number


def _check_currency(currency: str) -> None:
    try:
        currency_exponent(currency)
    except ValueError as error:
        raise PricingError(str(error), field="currency") from error


def _check_optional(value: object, expected: type, name: str) -> None:
    if value is not None and not isinstance(value, expected):
        raise PricingError(f"{name} must be a {expected.__name__}, got {type(value).__name__}.",
                           field=name)


def _set(instance: object, name: str, value: object) -> None:
    # Normalises a field of a frozen dataclass during __post_init__ (int -> Decimal, list -> tuple).
    object.__setattr__(instance, name, value)
