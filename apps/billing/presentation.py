"""What an invoice shows (PDF, admin, portal): grouped lines, money, numbers and dates in the
invoice's locale, service periods in the customer's time zone."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from apps.billing.models import Invoice
from apps.billing.services import _buyer as snapshot_buyer
from apps.billing.services import _supplier as snapshot_supplier

ZERO = Decimal(0)


def _babel(locale: str) -> str:
    return (locale or "en-US").replace("-", "_")


def money(amount: Decimal | None, currency: str, locale: str) -> str:
    """An amount rounded to the currency's minor unit, e.g. $1,234.50 or 1.234,50 €."""
    if amount is None:
        return ""
    return format_currency(amount, currency, locale=_babel(locale))


def price(amount: Decimal | None, currency: str, locale: str) -> str:
    """A unit price: at least the currency's decimals, more when the price has them
    ($0.005, $0.000002), never rounded — a price is not an amount owed."""
    if amount is None:
        return ""
    return format_currency(amount, currency, locale=_babel(locale), decimal_quantization=False)


def quantity(value: Decimal | None, locale: str = "en-US") -> str:
    if value is None:
        return ""
    return format_decimal(Decimal(value).normalize(), locale=_babel(locale),
                          decimal_quantization=False)


def day(value: datetime | None, locale: str, time_zone: str = "UTC") -> str:
    if value is None:
        return ""
    return format_date(value.astimezone(_zone(time_zone)).date(), "medium",
                       locale=_babel(locale))


def period(start: datetime | None, end: datetime | None, locale: str,
           time_zone: str = "UTC") -> str:
    """A service period with its last day, as people read it: periods end at the exclusive
    instant 1 Feb 00:00, which an invoice prints as "Jan 1, 2026 – Jan 31, 2026"."""
    if start is None or end is None:
        return ""
    last = max(end - timedelta(microseconds=1), start)
    first_text, last_text = day(start, locale, time_zone), day(last, locale, time_zone)
    return first_text if first_text == last_text else f"{first_text} – {last_text}"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _details(line, currency: str, locale: str, *, credit: bool = False) -> list[dict]:
    """Detail rows under a line: tiers or packages, then its discount and commitment."""
    rows = []
    tiers = line.tiers or []
    if len(tiers) > 1 or any(t.get("kind") in ("tier", "package") for t in tiers):
        for tier in tiers:
            unit_price = Decimal(tier["unit_price"]) if tier.get("unit_price") else None
            flat_price = Decimal(tier["flat_price"]) if tier.get("flat_price") else None
            if tier.get("kind") == "package":
                label = f"Packages at {price(unit_price, currency, locale)}"
            else:
                label = f"Tier {tier['tier']}" if tier.get("tier") else str(tier.get("kind"))
                if unit_price is not None:
                    label += f" at {price(unit_price, currency, locale)}"
                if flat_price:
                    label += f" + {price(flat_price, currency, locale)} flat"
            rows.append({"label": label, "quantity": quantity(Decimal(tier["quantity"]), locale),
                         "amount": money(Decimal(tier["amount"]), currency, locale)})
    if line.discount:
        rows.append({"label": "Discount", "quantity": "", "kind": "discount",
                     "amount": money(-line.discount, currency, locale)})
    if line.adjustment:
        # A minimum raises a line, a cap lowers it; a credit note's lines carry both negated.
        raised = (line.adjustment > 0) != credit
        rows.append({"label": "Minimum commitment true-up" if raised else "Maximum cap",
                     "quantity": "", "kind": "adjustment",
                     "amount": money(line.adjustment, currency, locale)})
    return rows


def invoice_context(invoice: Invoice) -> dict:
    locale = invoice.profile.locale
    currency = invoice.currency
    buyer_zone = invoice.customer.time_zone

    def fmt(amount):
        return money(amount, currency, locale)

    credit_note = invoice.kind == Invoice.Kind.CREDIT_NOTE
    groups: dict = {}
    for line in invoice.lines.select_related("customer").order_by("position", "id"):
        tiered = len(line.tiers or []) > 1 or any(
            t.get("kind") in ("tier", "package") for t in line.tiers or [])
        group = groups.setdefault(line.customer_id, {"customer": line.customer, "rows": [],
                                                     "sum": ZERO})
        group["sum"] += line.amount
        group["rows"].append({
            "line": line,
            "name": line.name,
            "description": line.description,
            "period": period(line.period_start, line.period_end, locale,
                             line.customer.time_zone),
            "quantity": quantity(line.quantity, locale),
            # Tiered and package lines have no single unit price; their details show them.
            "unit_price": "" if tiered else price(line.unit_price, currency, locale),
            # The amount column adds up to the net amount: each line's subtotal, then its
            # discount and commitment rows.
            "subtotal": fmt(line.subtotal),
            "amount": fmt(line.amount),
            "details": _details(line, currency, locale, credit=credit_note),
        })
    consolidated = len(groups) > 1 or any(
        group["customer"].pk != invoice.customer_id for group in groups.values())
    for group in groups.values():
        group["total"] = fmt(group["sum"])

    net = invoice.total - invoice.tax_amount
    return {
        "invoice": invoice,
        "title": "Credit note" if credit_note else "Invoice",
        "credit_note": credit_note,
        "number": invoice.number or "Draft",
        "watermark": {Invoice.Status.VOID: "VOID", Invoice.Status.DRAFT: "DRAFT"}.get(
            invoice.status, ""),
        "status": invoice.get_status_display(),
        "issued_on": day(invoice.issued_at, locale, buyer_zone),
        "due_on": day(invoice.due_at, locale, buyer_zone),
        "paid_on": day(invoice.paid_at, locale, buyer_zone),
        "voided_on": day(invoice.voided_at, locale, buyer_zone),
        "period": period(invoice.period_start, invoice.period_end, locale, buyer_zone),
        "corrects": invoice.corrects.number if invoice.corrects_id else "",
        # A draft has no snapshot yet: it shows the parties as they are today.
        "supplier": invoice.supplier or snapshot_supplier(invoice.profile),
        "buyer": invoice.buyer or snapshot_buyer(invoice.customer),
        "groups": list(groups.values()),
        "consolidated": consolidated,
        "currency": currency,
        "totals": {
            "subtotal": fmt(invoice.subtotal),
            "discount": fmt(-invoice.discount_total) if invoice.discount_total else "",
            "adjustment": fmt(invoice.adjustment_total) if invoice.adjustment_total else "",
            "net": fmt(net),
            "tax_rate": format_decimal(invoice.tax_rate.normalize(), locale=_babel(locale),
                                       decimal_quantization=False),
            "tax": fmt(invoice.tax_amount),
            "total": fmt(invoice.total),
        },
    }

