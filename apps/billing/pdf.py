"""Invoice PDFs, rendered by WeasyPrint from a Django template and kept on the invoice."""

from django.template.loader import render_to_string
from django.utils import timezone

from apps.billing.models import Invoice
from apps.billing.presentation import invoice_context


def render_pdf(invoice: Invoice) -> bytes:
    from weasyprint import HTML  # imported late: it loads Pango, which the API never needs

    html = render_to_string("billing/invoice_pdf.html", invoice_context(invoice))
    return HTML(string=html).write_pdf()


def store_pdf(invoice: Invoice) -> bytes:
    """Render and keep the PDF; an issued invoice's PDF is what was sent, so drafts are
    rendered fresh each time instead."""
    document = render_pdf(invoice)
    if not invoice.is_draft:
        Invoice.objects.filter(pk=invoice.pk).update(pdf=document,
                                                     pdf_rendered_at=timezone.now())
    return document


def pdf_of(invoice: Invoice) -> bytes:
    stored = Invoice.objects.filter(pk=invoice.pk).values(
        "pdf", "pdf_rendered_at", "voided_at").first()
    if stored is None or stored["pdf"] is None:
        return store_pdf(invoice)
    if stored["voided_at"] and (stored["pdf_rendered_at"] is None
                                or stored["pdf_rendered_at"] < stored["voided_at"]):
        # Kept from before the void: whoever opens it now must see that it is void.
        return store_pdf(Invoice.objects.get(pk=invoice.pk))
    return bytes(stored["pdf"])
