"""Invoice PDFs are real PDFs saying what the invoice says, read back with pdftotext."""

import re
import shutil
import subprocess

import pytest

from apps.billing import pdf, services
from apps.billing.tests.builders import at, finance_world

pytestmark = pytest.mark.django_db

PDFTOTEXT = shutil.which("pdftotext")


@pytest.fixture
def world(db):
    if PDFTOTEXT is None:
        pytest.skip("pdftotext not found (apt install poppler-utils)")
    return finance_world()


def text_of(document: bytes, tmp_path) -> str:
    assert document.startswith(b"%PDF-")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(document)
    # -layout keeps each table row on one line; whitespace is squeezed for the assertions.
    out = subprocess.run([PDFTOTEXT, "-layout", "-enc", "UTF-8", str(path), "-"],
                         check=True, capture_output=True, text=True).stdout
    return re.sub(r"[ \t]+", " ", out)


def test_issued_invoice(world, tmp_path):
    invoice = world.issued
    text = text_of(pdf.pdf_of(invoice), tmp_path)
    assert "Invoice" in text and "INV-2026-000002" in text
    assert "Nimbus AI Inc." in text and "Tax ID US 12-3456789" in text  # seller
    assert "Northwind Traders" in text and "ap@northwind.example" in text  # buyer
    assert "Feb 1, 2026" in text and "Mar 3, 2026" in text  # issued, due (30 days)
    assert "Jan 1, 2026 – Jan 31, 2026" in text  # service period, last day included
    for line in invoice.lines.all():
        assert line.name in text
    assert "Tier 3 at $0.005 15,000 $75.00" in text  # tier detail rows
    assert "Packages at $5.00 3 $15.00" in text
    assert "Discount -$16.50" in text and "Minimum commitment true-up $5.00" in text
    assert "Total due (USD) $217.50" in text
    assert "Page 1 of 1" in text
    assert "VOID" not in text and "DRAFT" not in text


def test_consolidated_draft_in_german_format_with_tax(world, tmp_path):
    text = text_of(pdf.pdf_of(world.draft), tmp_path)
    assert "Draft — not issued yet; amounts may still change." in text
    assert "Nimbus AI GmbH" in text and "Contoso Group" in text
    # Lines grouped per account, each group with its total.
    group = text.index("Total Contoso Group 92,00 €")
    assert text.index("Contoso Labs") > group
    assert "Total Contoso Labs 180,00 €" in text
    assert "12.000" in text and "9.000.000" in text  # quantities in the de-DE locale
    assert "Tax (19 %) 51,68 €" in text
    assert "Total due (EUR) 323,68 €" in text
    assert world.draft.pdf is None  # drafts are never stored


def test_void_invoice_says_so_even_when_its_pdf_was_stored_before(world, tmp_path):
    invoice = world.issued
    pdf.store_pdf(invoice)
    voided = services.invoice_void(invoice, reason="Billed to the wrong entity",
                                   at=at("2030-01-01T00:00:00Z"))
    text = text_of(pdf.pdf_of(voided), tmp_path)
    assert "VOID — this invoice was voided on Jan 1, 2030 and is not payable." in text
    assert "Reason: Billed to the wrong entity" in text
    assert "INV-2026-000002" in text and "$217.50" in text


def test_credit_note_names_the_invoice_it_corrects(world, tmp_path):
    note = services.credit_note_create(world.issued, reason="Disputed usage")
    text = text_of(pdf.pdf_of(note), tmp_path)
    assert "Credit note" in text and note.number in text
    assert "Credit note for invoice INV-2026-000002" in text
    assert "Corrects INV-2026-000002" in text
    assert "Credit for INV-2026-000002: Disputed usage" in text  # each line's description
    assert "Total credited (USD) -$217.50" in text
    assert "Due date" not in text


def test_a_demo_invoice(tmp_path):
    if PDFTOTEXT is None:
        pytest.skip("pdftotext not found (apt install poppler-utils)")
    from django.core.management import call_command

    from apps.billing.models import Invoice
    from apps.billing.presentation import money

    call_command("seed_demo")
    invoice = Invoice.objects.filter(status="issued", customer__key="massive",
                                     lines__type="usage_based").distinct().get()
    text = text_of(pdf.pdf_of(invoice), tmp_path)
    assert invoice.number in text and "Massive Dynamic Group" in text
    for line in invoice.lines.all():
        assert line.name in text
    assert money(invoice.total, invoice.currency, invoice.profile.locale) in text
