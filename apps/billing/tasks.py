from celery import shared_task

from apps.billing import pdf, services
from apps.billing.models import Invoice


@shared_task
def run_billing_cycle():
    """Scheduled hourly by beat. Safe to run twice or concurrently: cycles are claimed once."""
    result = services.run_billing()
    return {"cycles": result.cycles, "issued": len(result.issued)}


@shared_task
def render_invoice_pdf(invoice_id: str):
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is not None and invoice.pdf is None:
        pdf.store_pdf(invoice)
