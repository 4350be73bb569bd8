"""What an invoice shows (PDF, admin, portal): grouped lines and money in the invoice locale."""

from collections import OrderedDict
from decimal import Decimal

from babel.numbers import format_currency

from apps.billing.models import Invoice


def money(amount: Decimal | None, currency: str, locale: str) -> str:
    if amount is None:
        return ""
    return format_currency(amount, currency, locale=locale.replace("-", "_"))


def quantity(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "") if whole.lstrip("-") \
        .isdigit() else text


def invoice_context(invoice: Invoice) -> dict:
    locale = invoice.profile.locale
    currency = invoice.currency

    def fmt(amount):
        return money(amount, currency, locale)

    groups: OrderedDict = OrderedDict()
    for line in invoice.lines.select_related("customer").order_by("position", "id"):
        groups.setdefault(line.customer, []).append({
            "line": line,
            "quantity": quantity(line.quantity),
            "unit_price": "" if line.unit_price is None or (line.tiers and len(line.tiers) > 1)
            else money(line.unit_price, currency, locale) if line.unit_price >= Decimal("0.01")
            else f"{line.unit_price.normalize():f}",
            "subtotal": fmt(line.subtotal),
            "discount": fmt(line.discount) if line.discount else "",
            "adjustment": fmt(line.adjustment) if line.adjustment else "",
            "amount": fmt(line.amount),
            "tiers": [{**tier, "quantity_text": quantity(Decimal(tier["quantity"])),
                       "amount_text": fmt(Decimal(tier["amount"]))}
                      for tier in line.tiers if len(line.tiers) > 1],
        })
    consolidated = len(groups) > 1 or (groups and next(iter(groups)) != invoice.customer)
    net = invoice.total - invoice.tax_amount
    return {
        "invoice": invoice,
        "title": "Credit note" if invoice.kind == Invoice.Kind.CREDIT_NOTE else "Invoice",
        "supplier": invoice.supplier or {},
        "buyer": invoice.buyer or {"name": invoice.customer.name},
        "groups": list(groups.items()),
        "consolidated": consolidated,
        "totals": {
            "subtotal": fmt(invoice.subtotal),
            "discount": fmt(invoice.discount_total) if invoice.discount_total else "",
            "adjustment": fmt(invoice.adjustment_total) if invoice.adjustment_total else "",
            "net": fmt(net),
            "tax_rate": f"{invoice.tax_rate.normalize():f}",
            "tax": fmt(invoice.tax_amount),
            "total": fmt(invoice.total),
        },
    }
