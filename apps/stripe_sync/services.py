"""Pushing customers and issued invoices to Stripe, exactly once.

Each step is idempotent and its result stored before the next one starts, so a push can be
re-run from the top at any time (a retry, a redelivered task, the admin's *retry sync*):
steps already done are skipped, and a step whose answer was lost is replayed by Stripe under
the same idempotency key. Stripe forgets idempotency keys after 24 hours, so a push first
attempted longer ago than that looks its objects up (by our ids in their metadata) before
creating anything.
"""

from datetime import timedelta

import stripe
from django.db import transaction
from django.utils import timezone

from apps.billing.models import Invoice, InvoiceLine
from apps.billing.services import terms_for
from apps.customers.models import Customer
from apps.stripe_sync import client
from apps.stripe_sync.amounts import stripe_amount, stripe_total_error
from apps.stripe_sync.models import StripeCustomer, StripeInvoice

KEYS_LAST = timedelta(hours=23)  # Stripe keeps idempotency keys for 24 hours


class SyncError(Exception):
    pass


def _key(*parts: str) -> str:
    return "meterline-" + "-".join(parts)


def _expired(first_attempt_at) -> bool:
    return first_attempt_at is not None and timezone.now() - first_attempt_at > KEYS_LAST


# --- customers -----------------------------------------------------------------------------


def customer_params(customer: Customer) -> dict:
    params = {
        "name": customer.name,
        "metadata": {"meterline_customer_id": customer.pk,
                     "meterline_customer_key": customer.key or ""},
        "preferred_locales": ["en"],
    }
    if customer.primary_email:
        params["email"] = customer.primary_email
    address = {"line1": customer.address_line1, "line2": customer.address_line2,
               "city": customer.address_city, "state": customer.address_state,
               "postal_code": customer.address_postal_code,
               "country": customer.address_country}
    if any(address.values()):
        params["address"] = {k: v for k, v in address.items() if v}
    return params


def customer_sync(customer: Customer, stripe_client=None) -> str:
    """Create the Stripe customer on first push (or update the linked one); its id."""
    stripe_client = stripe_client or client.client()
    link, _ = StripeCustomer.objects.get_or_create(customer=customer)
    if link.first_attempt_at is None:
        link.first_attempt_at = timezone.now()
        link.save(update_fields=["first_attempt_at"])
    params = customer_params(customer)
    if not link.stripe_id and _expired(link.first_attempt_at):
        link.stripe_id = _find_customer(stripe_client, customer) or ""
    if link.stripe_id:
        client.call(stripe_client.v1.customers.update, link.stripe_id, params,
                    {"idempotency_key": _key("customer", customer.pk, "update",
                                             str(int(customer.updated_at.timestamp())))})
    else:
        created = client.call(stripe_client.v1.customers.create, params,
                              {"idempotency_key": _key("customer", customer.pk)})
        link.stripe_id = created.id
    link.synced_at, link.last_error = timezone.now(), ""
    link.save(update_fields=["stripe_id", "synced_at", "last_error"])
    return link.stripe_id


def _find_customer(stripe_client, customer: Customer) -> str | None:
    found = client.call(stripe_client.v1.customers.search, {
        "query": f"metadata['meterline_customer_id']:'{customer.pk}'"})
    return found.data[0].id if found.data else None


# --- invoices ------------------------------------------------------------------------------


def invoice_push(invoice: Invoice, stripe_client=None) -> StripeInvoice:
    """Put an issued invoice into Stripe: items with our exact amounts, then finalize."""
    stripe_client = stripe_client or client.client()
    sync, _ = StripeInvoice.objects.get_or_create(invoice=invoice)
    if sync.state in (StripeInvoice.State.SYNCED, StripeInvoice.State.VOIDED):
        return sync
    sync.attempts += 1
    sync.first_attempt_at = sync.first_attempt_at or timezone.now()
    sync.save(update_fields=["attempts", "first_attempt_at", "updated_at"])
    try:
        _push(invoice, sync, stripe_client)
    except (stripe.StripeError, SyncError) as error:
        sync.state, sync.last_error = StripeInvoice.State.FAILED, _describe(error)
        sync.save(update_fields=["state", "last_error", "updated_at"])
        raise
    return sync


def _push(invoice: Invoice, sync: StripeInvoice, stripe_client) -> None:
    if invoice.status == Invoice.Status.DRAFT:
        raise SyncError("Only issued invoices go to Stripe.")
    if problem := stripe_total_error(invoice.total, invoice.currency):
        raise SyncError(problem)
    customer_id = customer_sync(invoice.customer, stripe_client)
    currency = invoice.currency.lower()
    old = _expired(sync.first_attempt_at)
    if not sync.stripe_id and old:
        sync.stripe_id = _find_invoice(stripe_client, invoice) or ""
    if not sync.stripe_id:
        terms = terms_for(invoice.customer)
        params = {
            "customer": customer_id, "currency": currency, "auto_advance": False,
            "collection_method": terms.collection_method,
            "pending_invoice_items_behavior": "exclude",
            "description": f"Meterline invoice {invoice.number}",
            "metadata": {"meterline_invoice_id": invoice.pk,
                         "meterline_invoice_number": invoice.number},
        }
        if terms.collection_method == "send_invoice":
            params["days_until_due"] = max((invoice.due_at - invoice.issued_at).days, 0)
        created = client.call(stripe_client.v1.invoices.create, params,
                              {"idempotency_key": _key("invoice", invoice.pk)})
        _save(sync, stripe_id=created.id, stripe_status=created.status)
    existing = _items_of(stripe_client, sync.stripe_id) if old else {}
    for line in invoice.lines.order_by("position", "id"):
        if line.amount == 0 or str(line.pk) in sync.item_ids:
            continue
        item_id = existing.get(str(line.pk))
        if item_id is None:
            item = client.call(stripe_client.v1.invoice_items.create, {
                "customer": customer_id, "invoice": sync.stripe_id, "currency": currency,
                "amount": stripe_amount(line.amount, invoice.currency),
                "description": _describe_line(line),
                "period": {"start": int(line.period_start.timestamp()),
                           "end": int(line.period_end.timestamp())},
                "metadata": {"meterline_invoice_id": invoice.pk,
                             "meterline_line_id": str(line.pk)},
            }, {"idempotency_key": _key("line", str(line.pk))})
            item_id = item.id
        sync.item_ids[str(line.pk)] = item_id
        _save(sync, item_ids=sync.item_ids)
    if sync.stripe_status in ("", "draft"):
        final = client.call(stripe_client.v1.invoices.finalize_invoice, sync.stripe_id, {},
                            {"idempotency_key": _key("finalize", invoice.pk)})
    else:
        final = client.call(stripe_client.v1.invoices.retrieve, sync.stripe_id)
    _save(sync, stripe_status=final.status, stripe_number=final.number or "",
          hosted_invoice_url=final.hosted_invoice_url or "", state=StripeInvoice.State.SYNCED,
          last_error="", synced_at=timezone.now())


def _describe_line(line: InvoiceLine) -> str:
    period = f"{line.period_start:%Y-%m-%d} – {line.period_end:%Y-%m-%d}"
    detail = f" ({line.description})" if line.description else ""
    return f"{line.name}{detail}, {period}"[:500]


def _find_invoice(stripe_client, invoice: Invoice) -> str | None:
    found = client.call(stripe_client.v1.invoices.search, {
        "query": f"metadata['meterline_invoice_id']:'{invoice.pk}'"})
    return found.data[0].id if found.data else None


def _items_of(stripe_client, stripe_invoice_id: str) -> dict[str, str]:
    """Our line id → item id, for the items Stripe already holds on that invoice."""
    items = client.call(stripe_client.v1.invoice_items.list,
                        {"invoice": stripe_invoice_id, "limit": 100})
    return {item.metadata["meterline_line_id"]: item.id for item in items.auto_paging_iter()
            if item.metadata and "meterline_line_id" in item.metadata}


def _save(sync: StripeInvoice, **fields) -> None:
    for name, value in fields.items():
        setattr(sync, name, value)
    sync.save(update_fields=[*fields, "updated_at"])


def _describe(error: Exception) -> str:
    if isinstance(error, stripe.StripeError):
        return f"{type(error).__name__} (HTTP {error.http_status}): {error.user_message or error}"
    return str(error)


def invoice_void_push(invoice: Invoice, stripe_client=None) -> StripeInvoice | None:
    """Void the Stripe invoice of a voided invoice of ours (if it ever got there)."""
    sync = StripeInvoice.objects.filter(invoice=invoice).first()
    if sync is None or not sync.stripe_id or sync.stripe_status == "void":
        return sync
    stripe_client = stripe_client or client.client()
    voided = client.call(stripe_client.v1.invoices.void_invoice, sync.stripe_id, {},
                         {"idempotency_key": _key("void", invoice.pk)})
    _save(sync, stripe_status=voided.status, state=StripeInvoice.State.VOIDED)
    return sync


@transaction.atomic
def retry_sync(sync: StripeInvoice) -> None:
    """The admin's *retry sync*: queue the push again (it resumes where it stopped)."""
    from apps.stripe_sync.tasks import push_invoice

    _save(sync, state=StripeInvoice.State.PENDING)
    transaction.on_commit(lambda: push_invoice.delay(sync.invoice_id))
