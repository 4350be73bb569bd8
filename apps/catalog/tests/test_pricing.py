"""Tests for the pricing engine: the product doc's worked examples, edge cases, properties."""

import ast
import dataclasses
import math
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.catalog.domain import pricing
from apps.catalog.domain.pricing import (
    Commitments,
    FlatPrice,
    PackagePrice,
    PercentageDiscount,
    PricingError,
    Tier,
    TieredPrice,
    UnitPrice,
    UsageDiscount,
    minimum_spend_true_up,
    price_flat,
    price_usage,
)
from apps.core.money import exact_decimal_context, minor_unit, quantize_money

D = Decimal

# The product doc's tiers: 0–1,000 free, 1,001–10,000 at $0.01, 10,001+ at $0.005.
DOC_TIERS = (
    Tier(up_to=D(1000), unit_price=D(0)),
    Tier(up_to=D(10000), unit_price=D("0.01")),
    Tier(unit_price=D("0.005")),
)

# Flat fees on tiers: 100 for the first 10 units, +50 on entering tier 2, then 1 per unit.
FLAT_FEE_TIERS = (
    Tier(up_to=D(10), unit_price=D(0), flat_price=D(100)),
    Tier(up_to=D(20), flat_price=D(50)),
    Tier(unit_price=D(1)),
)


def graduated(tiers=DOC_TIERS):
    return TieredPrice(mode="graduated", tiers=tiers)


def volume(tiers=DOC_TIERS):
    return TieredPrice(mode="volume", tiers=tiers)


# --- the product doc's worked examples -----------------------------------------------------


def test_unit_price_example():
    line = price_usage(UnitPrice(D("0.000002")), D(1234567), currency="USD")
    assert line.components[0].exact_amount == D("2.469134")
    assert str(line.total) == "2.47"


def test_graduated_example():
    line = price_usage(graduated(), D(25000), currency="USD")
    assert [(c.tier, c.quantity, c.unit_price, str(c.amount)) for c in line.components] == [
        (1, D(1000), D(0), "0.00"),
        (2, D(9000), D("0.01"), "90.00"),
        (3, D(15000), D("0.005"), "75.00"),
    ]
    assert str(line.subtotal) == "165.00"
    assert str(line.total) == "165.00"


def test_volume_example():
    line = price_usage(volume(), D(25000), currency="USD")
    assert [(c.tier, c.quantity, c.unit_price) for c in line.components] == [
        (3, D(25000), D("0.005")),
    ]
    assert str(line.total) == "125.00"


def test_package_example():
    line = price_usage(PackagePrice(amount=D(5), quantity_per_package=D(1000000)),
                       D(2300000), currency="USD")
    assert line.components[0].quantity == 3
    assert str(line.total) == "15.00"


def test_minimum_commitment_example():
    assert str(minimum_spend_true_up(D("72.40"), D(100), currency="USD")) == "27.60"
    line = price_usage(UnitPrice(D("0.01")), D(7240), currency="USD",
                       commitments=Commitments(minimum_amount=D(100)))
    assert (str(line.subtotal), str(line.commitment_adjustment), str(line.total)) == (
        "72.40", "27.60", "100.00")


def test_maximum_cap_example():
    line = price_usage(UnitPrice(D(2)), D(1000), currency="USD",
                       commitments=Commitments(maximum_amount=D(1000)))
    assert (str(line.subtotal), str(line.commitment_adjustment), str(line.total)) == (
        "2000.00", "-1000.00", "1000.00")


def test_cap_and_minimum_apply_from_the_first_minor_unit():
    cap = Commitments(maximum_amount=D(100))
    over = price_usage(UnitPrice(D("0.01")), D(10001), currency="USD", commitments=cap)
    assert (str(over.commitment_adjustment), str(over.total)) == ("-0.01", "100.00")
    minimum = Commitments(minimum_amount=D(100))
    under = price_usage(UnitPrice(D("0.01")), D(9999), currency="USD", commitments=minimum)
    assert (str(under.commitment_adjustment), str(under.total)) == ("0.01", "100.00")


def test_percentage_discount_example():
    line = price_usage(graduated(), D(25000), currency="USD",
                       percentage_discount=PercentageDiscount(D(20)))
    assert (str(line.discount), str(line.total)) == ("-33.00", "132.00")


def test_usage_discount_example():
    # 10,000 free calls: 15,000 are priced, so the top tier loses 10,000 units.
    line = price_usage(graduated(), D(25000), currency="USD",
                       usage_discount=UsageDiscount(D(10000)))
    assert (line.quantity, line.free_quantity, line.billable_quantity) == (
        D(25000), D(10000), D(15000))
    assert str(line.total) == "115.00"  # 9,000 × 0.01 + 5,000 × 0.005


def test_flat_fee_example():
    line = price_flat(FlatPrice(D(49)), currency="USD")
    assert (str(line.total), line.payment_term) == ("49.00", "in_advance")


@pytest.mark.parametrize(("currency", "expected"), [
    ("USD", "2.47"), ("JPY", "2"), ("KWD", "2.469"), ("CLF", "2.4691"),
])
def test_unit_price_rounds_to_each_currency(currency, expected):
    line = price_usage(UnitPrice(D("0.000002")), D(1234567), currency=currency)
    assert str(line.total) == expected


def test_rounding_is_half_up_not_half_even():
    # 0.5 JPY and 0.0045 KWD are exact ties; half-even would round them down.
    assert str(price_usage(UnitPrice(D("0.5")), D(5), currency="JPY").total) == "3"
    assert str(price_usage(UnitPrice(D("0.0015")), D(3), currency="KWD").total) == "0.005"


@pytest.mark.parametrize(("quantity", "expected"), [
    (D(10) ** 12, "1000.00"),
    (D(10) ** 15, "1000000.00"),
    (D(1234567891234), "1234.57"),
])
def test_nano_unit_price(quantity, expected):
    line = price_usage(UnitPrice(D("0.000000001")), quantity, currency="USD")
    assert str(line.total) == expected


def test_huge_exact_amount_is_not_rounded_by_the_default_context():
    # 34 significant digits: the default 28-digit context would round it before quantizing.
    quantity = D("123456789012345678901234")
    line = price_usage(UnitPrice(D("0.000000001")), quantity, currency="USD")
    assert line.components[0].exact_amount == D("123456789012345.678901234")
    assert str(line.total) == "123456789012345.68"


def test_amount_beyond_sixty_digits_is_an_error_not_a_silent_rounding():
    quantity = D("1." + "1" * 45)
    price = UnitPrice(D("0." + "3" * 20))
    with pytest.raises(PricingError, match="exactly"):
        price_usage(price, quantity, currency="USD")


# --- tiers: boundaries and flat fees -------------------------------------------------------


@pytest.mark.parametrize(("quantity", "tiers_entered", "total"), [
    (D(0), [1], "0.00"),
    (D(1000), [1], "0.00"),
    (D("1000.5"), [1, 2], "0.01"),  # 0.5 × 0.01 = 0.005, rounded half-up
    (D(1001), [1, 2], "0.01"),
    (D(10000), [1, 2], "90.00"),
    (D(10001), [1, 2, 3], "90.01"),  # 90 + 0.005
])
def test_graduated_tier_boundaries_are_inclusive_upper_bounds(quantity, tiers_entered, total):
    line = price_usage(graduated(), quantity, currency="USD")
    assert [c.tier for c in line.components] == tiers_entered
    assert str(line.total) == total


@pytest.mark.parametrize(("quantity", "total"), [
    (D(0), "100.00"),  # the first tier's flat fee is a base fee, charged even without usage
    (D(10), "100.00"),
    (D("10.001"), "150.00"),  # entering tier 2 charges its flat fee in full
    (D(20), "150.00"),
    (D(25), "155.00"),
])
def test_graduated_tier_flat_fees(quantity, total):
    line = price_usage(graduated(FLAT_FEE_TIERS), quantity, currency="USD")
    assert str(line.total) == total


@pytest.mark.parametrize(("quantity", "tier", "total"), [
    (D(0), 1, "100.00"),
    (D(10), 1, "100.00"),
    (D(15), 2, "50.00"),
    (D(25), 3, "25.00"),
])
def test_volume_tier_flat_fees(quantity, tier, total):
    line = price_usage(volume(FLAT_FEE_TIERS), quantity, currency="USD")
    assert [c.tier for c in line.components] == [tier]
    assert str(line.total) == total


def test_volume_pricing_can_drop_when_crossing_a_tier():
    # Known property of volume pricing: unlike graduated it is not monotone in quantity.
    tiers = (Tier(up_to=D(1000), unit_price=D("0.01")), Tier(unit_price=D("0.005")))
    assert str(price_usage(volume(tiers), D(1000), currency="USD").total) == "10.00"
    assert str(price_usage(volume(tiers), D(1001), currency="USD").total) == "5.01"


@pytest.mark.parametrize(("quantity", "packages"), [
    (D(0), 0), (D(1), 1), (D(1000000), 1), (D(1000001), 2), (D(2000000), 2), (D("0.5"), 1),
])
def test_package_counts_started_packages(quantity, packages):
    line = price_usage(PackagePrice(amount=D(5), quantity_per_package=D(1000000)),
                       quantity, currency="USD")
    assert line.components[0].quantity == packages
    assert line.total == 5 * packages


# --- discounts and commitments -------------------------------------------------------------


def test_usage_discount_larger_than_usage_leaves_nothing_to_bill():
    line = price_usage(UnitPrice(D(1)), D(5), currency="USD",
                       usage_discount=UsageDiscount(D(10)))
    assert (line.free_quantity, line.billable_quantity, str(line.total)) == (D(5), D(0), "0.00")


def test_percentage_discount_is_rounded_once_half_up():
    # 33.33 × 15 % = 4.9995 → 5.00 off
    line = price_usage(UnitPrice(D("33.33")), D(1), currency="USD",
                       percentage_discount=PercentageDiscount(D(15)))
    assert (str(line.discount), str(line.total)) == ("-5.00", "28.33")


def test_no_discount_is_a_positive_zero():
    line = price_usage(UnitPrice(D(1)), D(1), currency="USD")
    assert str(line.discount) == "0.00"
    assert str(line.commitment_adjustment) == "0.00"


def test_discount_applies_before_the_cap():
    # 2,000 − 20 % = 1,600, then capped at 1,000 (the cap is on what is actually charged).
    line = price_usage(UnitPrice(D(2)), D(1000), currency="USD",
                       percentage_discount=PercentageDiscount(D(20)),
                       commitments=Commitments(maximum_amount=D(1000)))
    assert (str(line.discount), str(line.commitment_adjustment), str(line.total)) == (
        "-400.00", "-600.00", "1000.00")


def test_discount_applies_before_the_minimum():
    # 100 − 50 % = 50, so a 80 minimum adds 30.
    line = price_usage(UnitPrice(D(1)), D(100), currency="USD",
                       percentage_discount=PercentageDiscount(D(50)),
                       commitments=Commitments(minimum_amount=D(80)))
    assert (str(line.discount), str(line.commitment_adjustment), str(line.total)) == (
        "-50.00", "30.00", "80.00")


def test_minimum_applies_with_zero_usage():
    line = price_usage(UnitPrice(D(1)), D(0), currency="USD",
                       commitments=Commitments(minimum_amount=D(25)))
    assert str(line.total) == "25.00"


def test_commitments_are_rounded_to_the_currency():
    line = price_usage(UnitPrice(D(1)), D(0), currency="JPY",
                       commitments=Commitments(minimum_amount=D("99.5")))
    assert str(line.total) == "100"


def test_minimum_spend_true_up_is_zero_when_met():
    assert str(minimum_spend_true_up(D(150), D(100), currency="USD")) == "0.00"
    assert str(minimum_spend_true_up(D(100), D(100), currency="USD")) == "0.00"


# --- flat fees -----------------------------------------------------------------------------


def test_flat_fee_proration_and_quantity():
    line = price_flat(FlatPrice(D(49), payment_term="in_arrears"), currency="USD",
                      quantity=3, proration=D(15) / D(31))
    assert line.payment_term == "in_arrears"
    assert str(line.total) == "71.13"  # 3 × 49 × 15/31 = 71.129…


def test_flat_fee_with_percentage_discount():
    line = price_flat(FlatPrice(D(49)), currency="USD",
                      percentage_discount=PercentageDiscount(D(20)))
    assert (str(line.discount), str(line.total)) == ("-9.80", "39.20")


@pytest.mark.parametrize("quantity", [D(0), D(12345)])
def test_flat_price_on_a_usage_rate_card_ignores_usage(quantity):
    line = price_usage(FlatPrice(D(10)), quantity, currency="USD")
    assert (str(line.total), line.payment_term) == ("10.00", "in_advance")


def test_usage_prices_are_billed_in_arrears():
    assert price_usage(UnitPrice(D(1)), D(1), currency="USD").payment_term == "in_arrears"


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "field"), [
    (lambda: TieredPrice(mode="graduated", tiers=()), "tiers"),
    (lambda: TieredPrice(mode="stairs", tiers=DOC_TIERS), "mode"),
    (lambda: TieredPrice(mode="graduated", tiers=(
        Tier(up_to=D(10), unit_price=D(1)),
        Tier(up_to=D(5), unit_price=D(1)),
        Tier(unit_price=D(1)),
    )), "tiers[1].up_to"),
    (lambda: TieredPrice(mode="graduated", tiers=(
        Tier(up_to=D(10), unit_price=D(1)),
        Tier(up_to=D(10), unit_price=D(1)),
        Tier(unit_price=D(1)),
    )), "tiers[1].up_to"),
    (lambda: TieredPrice(mode="graduated", tiers=(
        Tier(unit_price=D(1)), Tier(unit_price=D(1)),
    )), "tiers[0].up_to"),
    (lambda: TieredPrice(mode="volume", tiers=(Tier(up_to=D(10), unit_price=D(1)),)),
     "tiers[0].up_to"),
    (lambda: TieredPrice(mode="volume", tiers=("not a tier",)), "tiers[0]"),
    (lambda: Tier(up_to=D(0), unit_price=D(1)), "up_to"),
    (lambda: Tier(up_to=D(10)), "unit_price"),
    (lambda: Tier(unit_price=D("-0.01")), "unit_price"),
    (lambda: Tier(flat_price=D(-1)), "flat_price"),
    (lambda: UnitPrice(D("-0.000000001")), "amount"),
    (lambda: UnitPrice(0.01), "amount"),
    (lambda: UnitPrice(D("NaN")), "amount"),
    (lambda: UnitPrice("0.01"), "amount"),
    (lambda: UnitPrice(True), "amount"),
    (lambda: FlatPrice(D(49), payment_term="monthly"), "payment_term"),
    (lambda: FlatPrice(D(-49)), "amount"),
    (lambda: PackagePrice(amount=D(5), quantity_per_package=D(0)), "quantity_per_package"),
    (lambda: PackagePrice(amount=D(-5), quantity_per_package=D(10)), "amount"),
    (lambda: PercentageDiscount(D("100.01")), "percentage"),
    (lambda: PercentageDiscount(D(-1)), "percentage"),
    (lambda: UsageDiscount(D(-1)), "quantity"),
    (lambda: Commitments(minimum_amount=D(200), maximum_amount=D(100)), "minimum_amount"),
    (lambda: Commitments(maximum_amount=D(-1)), "maximum_amount"),
    (lambda: price_usage(UnitPrice(D(1)), D(-1), currency="USD"), "quantity"),
    (lambda: price_usage(UnitPrice(D(1)), D(1), currency="usd"), "currency"),
    (lambda: price_usage(UnitPrice(D(1)), D(1), currency="USD",
                         percentage_discount=D(10)), "percentage_discount"),
    (lambda: price_usage("unit", D(1), currency="USD"), "price"),
    (lambda: price_flat(UnitPrice(D(1)), currency="USD"), "price"),
    (lambda: price_flat(FlatPrice(D(1)), currency="USD", proration=D("1.01")), "proration"),
    (lambda: minimum_spend_true_up(D(-1), D(100), currency="USD"), "usage_total"),
])
def test_invalid_input_raises_pricing_error_naming_the_field(build, field):
    with pytest.raises(PricingError) as raised:
        build()
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)


def test_valid_definitions_are_normalised_and_frozen():
    price = TieredPrice(mode="graduated", tiers=[Tier(up_to=10, unit_price=1), Tier(flat_price=5)])
    assert isinstance(price.tiers, tuple)
    assert price.tiers[0].up_to == D(10) and isinstance(price.tiers[0].up_to, Decimal)
    assert UnitPrice(D("0.000000001")).amount == D("1e-9")
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.mode = "volume"  # type: ignore[misc]


@pytest.mark.parametrize("module", ["apps/catalog/domain/pricing.py", "apps/catalog/prices.py",
                                    "apps/catalog/simulation.py", "apps/core/money.py"])
def test_pricing_code_has_no_float(module):
    tree = ast.parse((Path(pricing.__file__).parents[3] / module).read_text())
    floats = [node.lineno for node in ast.walk(tree)
              if (isinstance(node, ast.Constant) and isinstance(node.value, float))
              or (isinstance(node, ast.Name) and node.id == "float")]
    assert floats == []


# --- properties ----------------------------------------------------------------------------

CURRENCIES = ["USD", "JPY", "KWD"]

quantities = st.decimals(min_value=0, max_value=10**9, places=3)
unit_prices = st.decimals(min_value=0, max_value=1000, places=9)
flat_prices = st.decimals(min_value=0, max_value=10000, places=2)
bounds = st.decimals(min_value=D("0.01"), max_value=10**6, places=2)
percentages = st.decimals(min_value=0, max_value=100, places=2)


@st.composite
def tier_lists(draw, *, max_tiers=5, non_increasing_unit_prices=False):
    upper_bounds = sorted(draw(st.sets(bounds, max_size=max_tiers - 1)))
    count = len(upper_bounds) + 1
    if non_increasing_unit_prices:
        units = sorted(draw(st.lists(unit_prices, min_size=count, max_size=count)), reverse=True)
    else:
        units = draw(st.lists(st.none() | unit_prices, min_size=count, max_size=count))
    flats = draw(st.lists(st.none() | flat_prices, min_size=count, max_size=count))
    return tuple(
        Tier(up_to=up_to, unit_price=D(0) if unit is None and flat is None else unit,
             flat_price=flat)
        for up_to, unit, flat in zip([*upper_bounds, None], units, flats, strict=True)
    )


@st.composite
def commitments(draw):
    first, second = draw(flat_prices), draw(flat_prices)
    minimum = draw(st.none() | st.just(min(first, second)))
    maximum = draw(st.none() | st.just(max(first, second)))
    return Commitments(minimum_amount=minimum, maximum_amount=maximum)


@st.composite
def usage_prices(draw):
    kind = draw(st.sampled_from(["unit", "graduated", "volume", "package"]))
    if kind == "unit":
        return UnitPrice(draw(unit_prices))
    if kind == "package":
        return PackagePrice(amount=draw(flat_prices),
                            quantity_per_package=draw(st.decimals(min_value=D("0.001"),
                                                                  max_value=10**6, places=3)))
    return TieredPrice(mode=kind, tiers=draw(tier_lists()))


def exact(value) -> Decimal:
    with localcontext(exact_decimal_context()):
        return +value


@given(tier_lists(), quantities, st.sampled_from(CURRENCIES))
def test_graduated_total_is_the_sum_over_tiers(tiers, quantity, currency):
    line = price_usage(graduated(tiers), quantity, currency=currency)
    assert line.subtotal == sum(c.amount for c in line.components)
    assert sum(c.quantity for c in line.components) == quantity
    assert [c.tier for c in line.components] == list(range(1, len(line.components) + 1))
    for component in line.components:
        assert component.amount == quantize_money(component.exact_amount, currency)
    # rounding each tier once keeps the line within half a minor unit per tier of exact
    tolerance = minor_unit(currency) / 2 * len(line.components)
    assert abs(line.subtotal - line.exact_subtotal) <= tolerance


@given(tier_lists(), st.data(), st.sampled_from(CURRENCIES))
def test_graduated_marginal_price_is_the_tier_unit_price(tiers, data, currency):
    index = data.draw(st.integers(min_value=0, max_value=len(tiers) - 1))
    lower = tiers[index - 1].up_to if index else D(0)
    upper = tiers[index].up_to or lower + 10**6
    first = data.draw(st.decimals(min_value=lower, max_value=upper, places=3))
    second = data.draw(st.decimals(min_value=first, max_value=upper, places=3))
    assume(index == 0 or first > lower)
    price = graduated(tiers)
    before = price_usage(price, first, currency=currency).exact_subtotal
    after = price_usage(price, second, currency=currency).exact_subtotal
    assert exact(after - before) == exact((second - first) * (tiers[index].unit_price or 0))


@given(usage_prices(), quantities, quantities, st.none() | percentages,
       st.none() | commitments(), st.sampled_from(CURRENCIES))
def test_totals_are_monotone_in_quantity_except_volume(price, first, second, percentage,
                                                       commitment, currency):
    assume(not (isinstance(price, TieredPrice) and price.mode == "volume"))
    low, high = sorted([first, second])
    discount = PercentageDiscount(percentage) if percentage is not None else None

    def total(quantity):
        return price_usage(price, quantity, currency=currency, percentage_discount=discount,
                           commitments=commitment).total

    assert total(low) <= total(high)


@given(tier_lists(), st.data(), st.sampled_from(CURRENCIES))
def test_volume_inside_a_tier_is_quantity_times_that_tier(tiers, data, currency):
    index = data.draw(st.integers(min_value=0, max_value=len(tiers) - 1))
    lower = tiers[index - 1].up_to if index else D(0)
    upper = tiers[index].up_to or lower + 10**6
    quantity = data.draw(st.decimals(min_value=lower, max_value=upper, places=3))
    assume(index == 0 or quantity > lower)
    tier = tiers[index]
    line = price_usage(volume(tiers), quantity, currency=currency)
    expected = exact(quantity * (tier.unit_price or 0) + (tier.flat_price or 0))
    assert line.exact_subtotal == expected
    assert line.total == quantize_money(expected, currency)
    assert [c.tier for c in line.components] == [index + 1]


@given(unit_prices, st.none() | flat_prices, quantities, st.sampled_from(CURRENCIES))
def test_graduated_and_volume_agree_with_one_tier(unit, flat, quantity, currency):
    tiers = (Tier(unit_price=unit, flat_price=flat),)
    assert (price_usage(graduated(tiers), quantity, currency=currency)
            == price_usage(volume(tiers), quantity, currency=currency))


@given(tier_lists(non_increasing_unit_prices=True), quantities)
def test_volume_never_exceeds_graduated_with_non_increasing_unit_prices(tiers, quantity):
    # Compared before rounding: per-tier rounding can add up to half a cent per graduated tier.
    graduated_exact = price_usage(graduated(tiers), quantity, currency="USD").exact_subtotal
    volume_exact = price_usage(volume(tiers), quantity, currency="USD").exact_subtotal
    assert volume_exact <= graduated_exact


@given(flat_prices, st.decimals(min_value=D("0.001"), max_value=10**6, places=3), quantities,
       st.sampled_from(CURRENCIES))
def test_package_price_is_ceiling_division(amount, size, quantity, currency):
    line = price_usage(PackagePrice(amount=amount, quantity_per_package=size), quantity,
                       currency=currency)
    packages = math.ceil(Fraction(quantity) / Fraction(size))
    assert line.components[0].quantity == packages
    assert Fraction(line.exact_subtotal) == packages * Fraction(amount)


@given(unit_prices, quantities, st.sampled_from(CURRENCIES))
def test_unit_price_is_exact_then_rounded_half_up_once(unit, quantity, currency):
    line = price_usage(UnitPrice(unit), quantity, currency=currency)
    assert Fraction(line.exact_subtotal) == Fraction(unit) * Fraction(quantity)
    assert abs(line.total - line.exact_subtotal) <= minor_unit(currency) / 2
    assert line.total.as_tuple().exponent == minor_unit(currency).as_tuple().exponent


@given(usage_prices(), quantities, st.none() | percentages, st.none() | commitments(),
       st.sampled_from(CURRENCIES))
def test_line_arithmetic_and_bounds(price, quantity, percentage, commitment, currency):
    discount = PercentageDiscount(percentage) if percentage is not None else None
    line = price_usage(price, quantity, currency=currency, percentage_discount=discount,
                       commitments=commitment)
    assert line.total == line.subtotal + line.discount + line.commitment_adjustment
    assert line.total >= 0
    assert -line.subtotal <= line.discount <= 0
    if discount is not None:
        assert -line.discount == quantize_money(line.subtotal * percentage / 100, currency)
    net = line.subtotal + line.discount
    if commitment and commitment.maximum_amount is not None:
        assert line.total <= quantize_money(commitment.maximum_amount, currency)
    if commitment and commitment.minimum_amount is not None:
        assert line.total >= quantize_money(commitment.minimum_amount, currency)
    if commitment is None or (
        (commitment.minimum_amount is None
         or net >= quantize_money(commitment.minimum_amount, currency))
        and (commitment.maximum_amount is None
             or net <= quantize_money(commitment.maximum_amount, currency))
    ):
        assert line.commitment_adjustment == 0


@given(usage_prices(), quantities, st.none() | percentages, st.data(),
       st.sampled_from(CURRENCIES))
def test_commitments_clamp_the_net_charge(price, quantity, percentage, data, currency):
    # Commitments drawn around this line's own net charge, so the edges of the clamp get hit.
    discount = PercentageDiscount(percentage) if percentage is not None else None
    net = price_usage(price, quantity, currency=currency, percentage_discount=discount).total
    step = minor_unit(currency)
    offsets = st.integers(min_value=-3, max_value=3).map(lambda n: n * step) | st.decimals(
        min_value=-(10**6), max_value=10**6, places=3)
    first = max(net + data.draw(offsets), D(0))
    second = max(net + data.draw(offsets), D(0))
    minimum = data.draw(st.none() | st.just(min(first, second)))
    maximum = data.draw(st.none() | st.just(max(first, second)))
    line = price_usage(price, quantity, currency=currency, percentage_discount=discount,
                       commitments=Commitments(minimum_amount=minimum, maximum_amount=maximum))
    expected = net
    if maximum is not None:
        expected = min(expected, quantize_money(maximum, currency))
    if minimum is not None:
        expected = max(expected, quantize_money(minimum, currency))
    assert line.total == expected
    assert line.commitment_adjustment == expected - net


@given(usage_prices(), quantities, quantities, st.sampled_from(CURRENCIES))
def test_usage_discount_is_pricing_the_remaining_quantity(price, quantity, free, currency):
    discounted = price_usage(price, quantity, currency=currency,
                             usage_discount=UsageDiscount(free))
    remaining = price_usage(price, max(quantity - free, D(0)), currency=currency)
    assert discounted.components == remaining.components
    assert discounted.total == remaining.total
    assert discounted.free_quantity + discounted.billable_quantity == quantity


@given(flat_prices, flat_prices, st.sampled_from(CURRENCIES))
def test_minimum_spend_true_up_reaches_the_minimum(usage_total, minimum, currency):
    usage_total = quantize_money(usage_total, currency)
    true_up = minimum_spend_true_up(usage_total, minimum, currency=currency)
    assert true_up >= 0
    assert usage_total + true_up >= quantize_money(minimum, currency)
    if usage_total >= minimum:
        assert true_up == 0
    else:
        assert usage_total + true_up == quantize_money(minimum, currency)


@given(flat_prices, st.integers(min_value=0, max_value=1000),
       st.decimals(min_value=0, max_value=1, places=6), st.sampled_from(CURRENCIES))
def test_flat_fee_is_amount_times_quantity_times_proration(amount, quantity, share, currency):
    line = price_flat(FlatPrice(amount), currency=currency, quantity=quantity, proration=share)
    assert Fraction(line.exact_subtotal) == Fraction(amount) * quantity * Fraction(share)
    assert line.total == quantize_money(line.exact_subtotal, currency)
    assert line.total <= quantize_money(amount * quantity, currency)


def test_flat_fee_prorated_by_an_exact_fraction_rounds_once_half_up():
    # 17 of 30 days of $49 = $27.7666… -> $27.77
    assert price_flat(FlatPrice(D(49)), currency="USD", proration=Fraction(17, 30)).total \
        == D("27.77")
    # $0.375 × 1/3 = $0.125 exactly: a tie, rounded up (a 1/3 Decimal would give 0.12).
    assert price_flat(FlatPrice(D("0.375")), currency="USD", proration=Fraction(1, 3)).total \
        == D("0.13")
    assert price_flat(FlatPrice(D(1000)), currency="JPY", proration=Fraction(1, 3)).total \
        == D(333)
    with pytest.raises(PricingError):
        price_flat(FlatPrice(D(1)), currency="USD", proration=Fraction(4, 3))
