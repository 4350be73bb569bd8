"""Sent after the issuing (or voiding) transaction commits; payment integrations listen."""

from django.dispatch import Signal

invoice_issued = Signal()  # kwargs: invoice_id
invoice_voided = Signal()  # kwargs: invoice_id
