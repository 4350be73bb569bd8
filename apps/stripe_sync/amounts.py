"""Our rounded amounts as the integers Stripe expects (minor units, never re-rounded)."""

from decimal import Decimal

from apps.core.money import currency_exponent, quantize_money, to_minor_units

# Stripe's own zero-decimal list, where its minor unit is the whole unit.
STRIPE_ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
                       "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
# Three-decimal currencies: sent in thousandths, and charges must end in 0.
STRIPE_THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}


class StripeAmountError(ValueError):
    pass


def stripe_amount(amount: Decimal, currency: str) -> int:
    """The integer amount for Stripe. The amount must already be rounded to the currency (a
    finalized line): anything else is an error, because Stripe must not round for us."""
    code = currency.upper()
    if quantize_money(amount, code) != amount:
        raise StripeAmountError(f"{amount} {code} is not rounded to the currency's minor unit.")
    if code in STRIPE_ZERO_DECIMAL and currency_exponent(code) != 0:
        raise StripeAmountError(f"{code}: Stripe and ISO 4217 disagree on decimals.")
    return to_minor_units(amount, code)


def stripe_total_error(total: Decimal, currency: str) -> str | None:
    """Stripe only charges three-decimal currencies in steps of 0.010."""
    if currency.upper() in STRIPE_THREE_DECIMAL and stripe_amount(total, currency) % 10:
        return f"Stripe charges {currency.upper()} in steps of 0.010; the total {total} is not."
    return None
