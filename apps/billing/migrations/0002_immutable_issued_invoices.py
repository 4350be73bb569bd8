"""On PostgreSQL, issued invoices and their lines are refused below Django too (raw SQL)."""

from django.db import migrations

FROZEN = ["kind", "customer_id", "currency", "number", "cycle_at", "period_start",
          "period_end", "issued_at", "due_at", "subtotal", "discount_total",
          "adjustment_total", "tax_rate", "tax_amount", "total", "supplier", "buyer",
          "corrects_id"]

CREATE = f"""
CREATE OR REPLACE FUNCTION billing_invoice_frozen() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'invoice % is %; it cannot be deleted', OLD.number, OLD.status;
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND (NEW.status = 'draft' OR
      ROW({", ".join("NEW." + c for c in FROZEN)}) IS DISTINCT FROM
      ROW({", ".join("OLD." + c for c in FROZEN)})) THEN
    RAISE EXCEPTION 'invoice % is %; it can no longer change', OLD.number, OLD.status;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE OR DELETE ON billing_invoice
  FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen();

CREATE OR REPLACE FUNCTION billing_invoice_line_frozen() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM billing_invoice WHERE status <> 'draft' AND id IN (
      CASE WHEN TG_OP <> 'INSERT' THEN OLD.invoice_id END,
      CASE WHEN TG_OP <> 'DELETE' THEN NEW.invoice_id END)) THEN
    RAISE EXCEPTION 'lines of an issued invoice can no longer change';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER billing_invoice_line_frozen BEFORE INSERT OR UPDATE OR DELETE
  ON billing_invoiceline FOR EACH ROW EXECUTE FUNCTION billing_invoice_line_frozen();
"""

DROP = """
DROP TRIGGER IF EXISTS billing_invoice_line_frozen ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoice_line_frozen();
DROP TRIGGER IF EXISTS billing_invoice_frozen ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_frozen();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # RAISE uses %, not a placeholder


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
