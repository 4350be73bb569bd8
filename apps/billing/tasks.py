from datetime import datetime

from celery import shared_task

from apps.billing import pdf, services
from apps.billing.models import Invoice


@shared_task
def run_billing_cycle(at: str | None = None):
    """Scheduled hourly by beat (as of now); `at` (RFC 3339) runs it as of another instant.
    Safe to run twice, concurrently or again after a worker died: cycles are claimed once."""
    result = services.run_billing(datetime.fromisoformat(at) if at else None)
    return {"cycles": result.cycles, "issued": len(result.issued)}


@shared_task
def render_invoice_pdf(invoice_id: str):
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is not None and invoice.pdf is None:
        pdf.store_pdf(invoice)
