"""Tests for ISO 4217 exponents, half-up rounding and minor-unit conversion."""

import ast
import math
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core import money
from apps.core.money import (
    ISO_4217_CODES_WITHOUT_MINOR_UNIT,
    ISO_4217_EXPONENTS,
    currency_exponent,
    from_minor_units,
    is_iso_4217_code,
    is_valid_currency_code,
    minor_unit,
    quantize_money,
    to_minor_units,
)

D = Decimal

# One ISO currency per exponent, plus a custom code that falls back to 2 places.
CURRENCIES = ["USD", "JPY", "KWD", "CLF", "ZZZ"]

amounts = st.decimals(min_value=D("-1e12"), max_value=D("1e12"), places=9,
                      allow_nan=False, allow_infinity=False)


def half_up_oracle(amount: Decimal, exponent: int) -> Fraction:
    """Half-up rounding done with exact fractions, independent of the decimal module."""
    scaled = abs(Fraction(amount)) * 10**exponent
    magnitude = Fraction(math.floor(scaled + Fraction(1, 2)), 10**exponent)
    return -magnitude if amount < 0 else magnitude


# --- exponent table ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "exponent"), [
    ("USD", 2), ("EUR", 2), ("GBP", 2), ("HUF", 2), ("JPY", 0), ("KRW", 0), ("ISK", 0),
    ("VND", 0), ("XAF", 0), ("CLP", 0), ("KWD", 3), ("BHD", 3), ("JOD", 3), ("OMR", 3),
    ("TND", 3), ("IQD", 3), ("LYD", 3), ("CLF", 4), ("UYW", 4),
])
def test_iso_exponents(code, exponent):
    assert currency_exponent(code) == exponent
    assert is_iso_4217_code(code)


def test_every_code_that_is_not_two_places_is_the_expected_one():
    # Catches a typo anywhere in the long table, not only in the codes tested above.
    not_two = {code: exp for code, exp in ISO_4217_EXPONENTS.items() if exp != 2}
    assert not_two == {
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
        "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
        "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        "CLF": 4, "UYW": 4,
    }


def test_table_covers_the_active_list():
    assert {"XCG", "ZWG", "VED", "SLE", "STN", "MRU"} <= ISO_4217_EXPONENTS.keys()
    assert len(ISO_4217_EXPONENTS) >= 160
    assert all(is_valid_currency_code(code) for code in ISO_4217_EXPONENTS)
    assert not ISO_4217_EXPONENTS.keys() & ISO_4217_CODES_WITHOUT_MINOR_UNIT


def test_table_is_read_only():
    with pytest.raises(TypeError):
        ISO_4217_EXPONENTS["USD"] = 5  # type: ignore[index]


@pytest.mark.parametrize("code", ["ZZZ", "CRD", "TOK"])
def test_custom_codes_default_to_two_places(code):
    assert is_valid_currency_code(code)
    assert not is_iso_4217_code(code)
    assert currency_exponent(code) == 2


@pytest.mark.parametrize("code", ["XAU", "XDR", "XTS", "XXX"])
def test_iso_codes_without_minor_unit_use_two_places(code):
    assert is_iso_4217_code(code)
    assert currency_exponent(code) == 2


@pytest.mark.parametrize("code", [
    "usd", "Usd", "US", "USDD", "", "U$D", " USD", "USD ", "USD\n", "ÜSD", None, 840, b"USD",
])
def test_malformed_codes_are_rejected(code):
    assert not is_valid_currency_code(code)
    with pytest.raises(ValueError, match="currency code"):
        currency_exponent(code)


def test_minor_unit():
    assert minor_unit("USD") == D("0.01")
    assert minor_unit("JPY") == D("1")
    assert minor_unit("KWD") == D("0.001")
    assert minor_unit("CLF") == D("0.0001")


# --- rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    ("2.469134", "USD", "2.47"),
    ("2.465", "USD", "2.47"),  # half-even would give 2.46
    ("2.475", "USD", "2.48"),
    ("2.4649999", "USD", "2.46"),
    ("-2.465", "USD", "-2.47"),  # ties round away from zero
    ("1", "USD", "1.00"),
    ("0.5", "JPY", "1"),
    ("2.5", "JPY", "3"),  # half-even would give 2
    ("1500.4", "JPY", "1500"),
    ("12.3445", "KWD", "12.345"),  # half-even would give 12.344
    ("2.469134", "KWD", "2.469"),
    ("1.23455", "CLF", "1.2346"),
])
def test_quantize_half_up(amount, currency, expected):
    result = quantize_money(D(amount), currency)
    assert str(result) == expected


def test_quantize_ignores_the_ambient_decimal_context():
    with localcontext() as context:
        context.prec = 5
        context.rounding = ROUND_DOWN
        assert str(quantize_money(D("123456789012345678901234567890.125"), "USD")) == (
            "123456789012345678901234567890.13"
        )


def test_quantize_never_returns_negative_zero():
    result = quantize_money(D("-0.004"), "USD")
    assert str(result) == "0.00"
    assert not result.is_signed()


def test_quantize_accepts_int():
    assert str(quantize_money(5, "USD")) == "5.00"


@pytest.mark.parametrize("amount", [1.5, True, "1.50", None])
def test_quantize_rejects_non_decimal_amounts(amount):
    with pytest.raises(TypeError):
        quantize_money(amount, "USD")


@pytest.mark.parametrize("amount", [D("NaN"), D("Infinity"), D("-Infinity")])
def test_quantize_rejects_non_finite_amounts(amount):
    with pytest.raises(ValueError, match="finite"):
        quantize_money(amount, "USD")


@given(amounts, st.sampled_from(CURRENCIES))
def test_quantize_matches_a_half_up_oracle(amount, currency):
    exponent = currency_exponent(currency)
    result = quantize_money(amount, currency)
    assert Fraction(result) == half_up_oracle(amount, exponent)
    assert result.as_tuple().exponent == -exponent
    # within half a minor unit of the exact amount
    assert abs(result - amount) <= minor_unit(currency) / 2


@given(amounts, amounts, st.sampled_from(CURRENCIES))
def test_quantize_is_monotone(first, second, currency):
    low, high = sorted([first, second])
    assert quantize_money(low, currency) <= quantize_money(high, currency)


@given(amounts, st.sampled_from(CURRENCIES))
def test_quantize_is_idempotent(amount, currency):
    once = quantize_money(amount, currency)
    assert quantize_money(once, currency) == once


# --- minor units ---------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    (D("12.345"), "KWD", 12345),
    (1500, "JPY", 1500),
    (D("2.469134"), "USD", 247),
    (D("0.005"), "USD", 1),
    (D("0.004"), "USD", 0),
    (D("-2.465"), "USD", -247),
    (D("1.23456"), "CLF", 12346),
    (5, "USD", 500),
    (D("123456789012345678901234567890.125"), "USD", 12345678901234567890123456789013),
])
def test_to_minor_units(amount, currency, expected):
    assert to_minor_units(amount, currency) == expected


@pytest.mark.parametrize(("minor", "currency", "expected"), [
    (247, "USD", "2.47"),
    (1500, "JPY", "1500"),
    (12345, "KWD", "12.345"),
    (0, "USD", "0.00"),
    (-5, "USD", "-0.05"),
])
def test_from_minor_units(minor, currency, expected):
    assert str(from_minor_units(minor, currency)) == expected


@pytest.mark.parametrize("minor", [2.47, D("247"), True, "247"])
def test_from_minor_units_rejects_non_int(minor):
    with pytest.raises(TypeError):
        from_minor_units(minor, "USD")


@given(amounts, st.sampled_from(CURRENCIES))
def test_minor_units_round_trip_from_amount(amount, currency):
    minor = to_minor_units(amount, currency)
    assert isinstance(minor, int)
    assert from_minor_units(minor, currency) == quantize_money(amount, currency)


@given(st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from(CURRENCIES))
def test_minor_units_round_trip_from_int(minor, currency):
    amount = from_minor_units(minor, currency)
    assert amount.as_tuple().exponent == -currency_exponent(currency)
    assert to_minor_units(amount, currency) == minor


# --- hygiene -------------------------------------------------------------------------------


def test_money_module_has_no_float():
    tree = ast.parse(Path(money.__file__).read_text())
    floats = [node.lineno for node in ast.walk(tree)
              if (isinstance(node, ast.Constant) and isinstance(node.value, float))
              or (isinstance(node, ast.Name) and node.id == "float")]
    assert floats == []
