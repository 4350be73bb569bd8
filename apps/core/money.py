"""Money helpers: ISO 4217 minor units, half-up rounding, minor-unit conversion.

Pure Python. Amounts are `Decimal` (or `int`); `float` is refused everywhere.
"""

import re
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from types import MappingProxyType

# Enough digits that a 1e-9 unit price times 10^15 units, or a 30-digit quantity times a
# 20-digit price, is still exact. Contexts built on it trap Inexact, so a result that would not
# fit raises instead of being rounded silently.
MONEY_PRECISION = 60

# Custom three-letter codes (credits, tokens) are allowed, as in OpenMeter; they use cents.
DEFAULT_EXPONENT = 2

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")

# ISO 4217 list one (2025): minor-unit exponent per active code. Codes still being phased out
# (ANG, SLL, ZWL) stay listed; codes already retired (HRK, CUC, ...) fall back to the default
# of 2, which is what they used.
ISO_4217_EXPONENTS = MappingProxyType({
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2,
    "AWG": 2, "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0,
    "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2,
    "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4,
    "CLP": 0, "CNY": 2, "COP": 2, "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2,
    "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2,
    "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0,
    "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2,
    "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2,
    "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2,
    "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2,
    "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2,
    "MWK": 2, "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2,
    "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2,
    "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0,
    "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2,
    "SLL": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2,
    "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2,
    "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4,
    "UZS": 2, "VED": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2,
    "XCG": 2, "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2, "ZWL": 2,
})

# ISO codes whose minor unit is "N.A." (metals, SDR, test and no-currency codes). ISO gives no
# exponent, so they are billed like custom codes, with DEFAULT_EXPONENT places.
ISO_4217_CODES_WITHOUT_MINOR_UNIT = frozenset({
    "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX",
})

_ROUNDING_CONTEXT = Context(
    prec=MONEY_PRECISION,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


def exact_decimal_context() -> Context:
    """A fresh context for money arithmetic that raises `decimal.Inexact` instead of rounding."""
    return Context(
        prec=MONEY_PRECISION,
        rounding=ROUND_HALF_UP,
        traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
    )


def is_valid_currency_code(code: object) -> bool:
    """Three upper-case ASCII letters: an ISO 4217 code or a custom one."""
    return isinstance(code, str) and _CURRENCY_CODE.fullmatch(code) is not None


def is_iso_4217_code(code: object) -> bool:
    return code in ISO_4217_EXPONENTS or code in ISO_4217_CODES_WITHOUT_MINOR_UNIT


def currency_exponent(code: str) -> int:
    """Number of decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    if not is_valid_currency_code(code):
        raise ValueError(
            f"Malformed currency code {code!r}: expected three upper-case letters such as 'USD'."
        )
    return ISO_4217_EXPONENTS.get(code, DEFAULT_EXPONENT)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency: Decimal('0.01') for USD, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-currency_exponent(currency))


def quantize_money(amount: Decimal | int, currency: str) -> Decimal:
    """Round half-up (ties away from zero) to the currency's minor unit.

    The rounding mode is passed explicitly: the ambient decimal context defaults to half-even.
    """
    value = _as_decimal(amount)
    rounded = value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP,
                             context=_ROUNDING_CONTEXT)
    # -0.004 rounds to -0.00; a negative zero would print as "-0.00" on an invoice.
    return rounded.copy_abs() if rounded.is_zero() else rounded


def quantize_fraction(value: Fraction, currency: str) -> Decimal:
    """Round an exact rational amount (e.g. a prorated fee) half-up to the minor unit."""
    scale = 10 ** currency_exponent(currency)
    scaled = abs(value) * scale
    units = scaled.numerator // scaled.denominator
    if (scaled - units) * 2 >= 1:
        units += 1
    return quantize_money(Decimal(-units if value < 0 else units).scaleb(
        -currency_exponent(currency), context=exact_decimal_context()), currency)


def to_minor_units(amount: Decimal | int, currency: str) -> int:
    """Integer amount in minor units (cents), as Stripe expects: 2.469134 USD -> 247."""
    rounded = quantize_money(amount, currency)
    return int(rounded.scaleb(currency_exponent(currency), context=exact_decimal_context()))


def from_minor_units(minor_units: int, currency: str) -> Decimal:
    """Decimal amount from minor units: 247 USD -> Decimal('2.47'), 1500 JPY -> Decimal('1500')."""
    if isinstance(minor_units, bool) or not isinstance(minor_units, int):
        raise TypeError(f"Minor units must be an int, got {type(minor_units).__name__}.")
    exponent = currency_exponent(currency)
    return Decimal(minor_units).scaleb(-exponent, context=exact_decimal_context())


def _as_decimal(amount: object) -> Decimal:
    # bool is an int subclass; True dollars is a bug, not an amount.
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"Money amounts must be Decimal or int, got {type(amount).__name__}.")
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError(f"Money amounts must be finite, got {value}.")
    return value
