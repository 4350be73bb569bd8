"""Billing runs and the invoice lifecycle: draft → issued → paid | void | uncollectible."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.billing import engine, signals
from apps.billing.models import (
    BillingProfile,
    CustomerBilling,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    Subscription,
    SubscriptionCycle,
)
from apps.core.errors import Conflict, InvalidInput
from apps.core.money import quantize_money
from apps.customers.models import Customer

ZERO = Decimal(0)


# --- settings that apply to a customer -----------------------------------------------------


def default_profile() -> BillingProfile:
    profile = BillingProfile.objects.filter(is_default=True).first()
    if profile is None:
        profile, _ = BillingProfile.objects.get_or_create(
            is_default=True, defaults={"name": "Default", "supplier_name": "Meterline"})
    return profile


@dataclass(frozen=True)
class BillingTerms:
    profile: BillingProfile
    tax_rate: Decimal
    requires_approval: bool
    collection_method: str


def terms_for(customer: Customer) -> BillingTerms:
    own = CustomerBilling.objects.select_related("profile").filter(customer=customer).first()
    profile = (own.profile if own and own.profile_id else None) or default_profile()
    return BillingTerms(
        profile=profile,
        tax_rate=own.tax_rate if own and own.tax_rate is not None else profile.tax_rate,
        requires_approval=(own.requires_approval if own and own.requires_approval is not None
                           else profile.requires_approval),
        collection_method=(own.collection_method if own and own.collection_method
                           else profile.collection_method),
    )


# --- billing runs --------------------------------------------------------------------------


@dataclass
class RunResult:
    cycles: int = 0
    invoices: set = field(default_factory=set)
    issued: list = field(default_factory=list)


def run_billing(as_of: datetime | None = None) -> RunResult:
    """Bill every cycle that is due by `as_of` (after the collection delay), refresh drafts
    and issue the ones whose draft period is over. Safe to run any number of times, in
    parallel: each cycle is claimed once by the database."""
    as_of = as_of or timezone.now()
    result = RunResult()
    final_cycle_billed = Exists(SubscriptionCycle.objects.filter(
        subscription=OuterRef("pk"), cycle_at=OuterRef("active_to")))
    # Ended subscriptions drop out once their final cycle is billed and late events for it
    # can no longer arrive.
    subscriptions = Subscription.objects.filter(active_from__lte=as_of).filter(
        Q(active_to__isnull=True) | Q(active_to__gte=as_of - _longest_window())
        | ~final_cycle_billed
    ).select_related("customer__parent", "plan").order_by("active_from", "id")
    for subscription in subscriptions:
        delay = terms_for(engine.billed_customer(subscription.customer)).profile \
            .collection_delay
        done = set(subscription.cycles.values_list("cycle_at", flat=True))
        for cycle_at in engine.cycle_instants(subscription, as_of - delay):
            if cycle_at not in done:
                invoice = bill_cycle(subscription, cycle_at, as_of=as_of)
                result.cycles += 1
                if invoice is not None:
                    result.invoices.add(invoice.pk)
    drafts = Invoice.objects.filter(status=Invoice.Status.DRAFT, kind=Invoice.Kind.STANDARD)
    # Oldest cycle first, so numbers follow the periods they bill.
    for invoice_id in drafts.order_by("cycle_at", "created_at", "pk").values_list("pk",
                                                                                  flat=True):
        if _advance_draft(invoice_id, as_of):
            result.issued.append(invoice_id)
    return result


@transaction.atomic
def _advance_draft(invoice_id: str, as_of: datetime) -> bool:
    """Refresh a draft during its draft period, then issue it (unless it awaits approval).
    Locked and re-read, so concurrent runs never issue the same draft twice."""
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None or not invoice.is_draft:
        return False
    if invoice.issue_after and invoice.issue_after > as_of:
        refresh_draft(invoice)
        return False
    if invoice.requires_approval or not invoice.lines.exists():
        return False
    invoice_issue(invoice, at=as_of)
    return True


def _longest_window() -> timedelta:
    from django.conf import settings

    return settings.BILLING_LATE_EVENT_WINDOW + timedelta(days=1)


def bill_cycle(subscription: Subscription, cycle_at: datetime, *,
               as_of: datetime) -> Invoice | None:
    """Bill one (subscription, cycle) exactly once; returns the invoice it went on, if any."""
    try:
        with transaction.atomic():
            payer = _lock_payer(subscription)
            if SubscriptionCycle.objects.filter(subscription=subscription,
                                                cycle_at=cycle_at).exists():
                return None
            drafts = engine.lines_due(subscription, cycle_at)
            invoice = _draft_for(payer, subscription.plan.currency, cycle_at, as_of) \
                if drafts else None
            if invoice is not None:
                _add_lines(invoice, subscription, drafts)
                recompute_totals(invoice)
            SubscriptionCycle.objects.create(subscription=subscription, cycle_at=cycle_at,
                                             invoice=invoice)
            return invoice
    except IntegrityError:
        return None  # another run billed this cycle first


def _lock_payer(subscription: Subscription) -> Customer:
    """Serialise billing per paying customer (row lock on PostgreSQL; SQLite has one writer)."""
    payer = engine.billed_customer(subscription.customer)
    return Customer.objects.select_for_update().get(pk=payer.pk)


def _draft_for(payer: Customer, currency: str, cycle_at: datetime, as_of: datetime) -> Invoice:
    invoice = Invoice.objects.filter(customer=payer, currency=currency, cycle_at=cycle_at,
                                     kind=Invoice.Kind.STANDARD,
                                     status=Invoice.Status.DRAFT).first()
    if invoice is None:
        terms = terms_for(payer)
        invoice = Invoice.objects.create(
            customer=payer, profile=terms.profile, currency=currency, cycle_at=cycle_at,
            issue_after=as_of + terms.profile.draft_period,
            requires_approval=terms.requires_approval, tax_rate=terms.tax_rate)
    return invoice


def line_of(draft: engine.LineDraft, subscription: Subscription, **fields) -> InvoiceLine:
    """An (unsaved) invoice line for what the engine says is owed."""
    return InvoiceLine(
        type=draft.type, customer=subscription.customer, subscription=subscription,
        rate_card_key=draft.key, feature_key=draft.feature_key, name=draft.name,
        description=draft.description, period_start=draft.period.start,
        period_end=draft.period.end, quantity=draft.quantity,
        metered_quantity=draft.metered_quantity, unit_price=draft.unit_price,
        subtotal=draft.subtotal, discount=draft.discount, adjustment=draft.adjustment,
        amount=draft.amount, tiers=draft.tiers, **fields)


def _add_lines(invoice: Invoice, subscription: Subscription, drafts) -> None:
    position = invoice.lines.count()
    for offset, draft in enumerate(drafts):
        line_of(draft, subscription, invoice=invoice, position=position + offset).save()


def totals_of(invoice: Invoice, lines) -> dict[str, Decimal]:
    net = sum((line.amount for line in lines), ZERO)
    taxable = sum((line.amount for line in lines if line.type != InvoiceLine.Type.ROUNDING),
                  ZERO)
    # Exclusive tax, rounded once on the invoice's net amount.
    tax = quantize_money(taxable * invoice.tax_rate / 100, invoice.currency)
    currency = invoice.currency
    return {
        "subtotal": quantize_money(sum((line.subtotal for line in lines), ZERO), currency),
        "discount_total": quantize_money(sum((line.discount for line in lines), ZERO),
                                         currency),
        "adjustment_total": quantize_money(sum((line.adjustment for line in lines), ZERO),
                                           currency),
        "tax_amount": tax,
        "total": quantize_money(net + tax, invoice.currency),
    }


def recompute_totals(invoice: Invoice) -> Invoice:
    lines = list(invoice.lines.all())
    for name, value in totals_of(invoice, lines).items():
        setattr(invoice, name, value)
    if lines:
        invoice.period_start = min(line.period_start for line in lines)
        invoice.period_end = max(line.period_end for line in lines)
    invoice.save()
    return invoice


@transaction.atomic
def refresh_draft(invoice: Invoice) -> Invoice:
    """Rebuild a draft's billed lines from current usage (its manual lines stay)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not invoice.is_draft:
        return invoice
    invoice.lines.filter(managed=True).delete()
    for cycle in invoice.cycles.select_related("subscription__customer", "subscription__plan"):
        _add_lines(invoice, cycle.subscription,
                   engine.lines_due(cycle.subscription, cycle.cycle_at))
    return recompute_totals(invoice)


@transaction.atomic
def invoice_now(customer: Customer, *, as_of: datetime | None = None) -> list[Invoice]:
    """Invoice pending charges now, usage of running periods included (progressive billing);
    the period's own invoice later bills only the rest."""
    as_of = as_of or timezone.now()
    subscriptions = [s for s in customer.subscriptions.select_related("plan", "customer")
                     if s.active_from <= as_of]
    invoices = []
    for subscription in subscriptions:
        _lock_payer(subscription)
        drafts = [d for d in engine.lines_due(subscription, as_of, progressive=True)
                  if d.amount or d.quantity]
        if not drafts:
            continue
        payer = engine.billed_customer(subscription.customer)
        terms = terms_for(payer)
        invoice = Invoice.objects.create(
            customer=payer, profile=terms.profile, currency=subscription.plan.currency,
            issue_after=as_of, requires_approval=terms.requires_approval,
            tax_rate=terms.tax_rate)
        _add_lines(invoice, subscription, drafts)
        recompute_totals(invoice)
        if not invoice.requires_approval and not terms.profile.draft_period:
            invoice = invoice_issue(invoice, at=as_of)
        invoices.append(invoice)
    if not invoices:
        raise InvalidInput("Nothing to invoice: the customer has no pending charges.",
                           field="customerId")
    return invoices


# --- lifecycle -----------------------------------------------------------------------------


@transaction.atomic
def invoice_issue(invoice: Invoice, *, at: datetime | None = None) -> Invoice:
    """Number the invoice from its series' gap-free sequence and freeze it."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not invoice.is_draft:
        raise Conflict(f"Invoice {invoice} is {invoice.status}; only drafts can be issued.")
    if not invoice.lines.exists():
        raise Conflict("An invoice without lines cannot be issued.")
    at = at or timezone.now()
    recompute_totals(invoice)
    _round_for_payment(invoice)
    profile = invoice.profile
    prefix = (profile.credit_note_prefix if invoice.kind == Invoice.Kind.CREDIT_NOTE
              else profile.invoice_prefix)
    invoice.number = next_number(f"{prefix}-{at.year}")
    invoice.issued_at = at
    invoice.due_at = at + timedelta(days=profile.due_after_days)
    invoice.supplier = _supplier(profile)
    invoice.buyer = _buyer(invoice.customer)
    invoice.status = Invoice.Status.ISSUED
    invoice.save()
    transaction.on_commit(lambda: _after_issue(invoice.pk))
    return invoice


# Card networks settle these three-decimal currencies in steps of 0.010 (Stripe refuses other
# amounts), so their invoices get an explicit rounding line rather than being re-rounded later.
SETTLED_IN_TENS = {"BHD", "JOD", "KWD", "OMR", "TND"}


def _round_for_payment(invoice: Invoice) -> None:
    if invoice.currency not in SETTLED_IN_TENS:
        return
    step = Decimal("0.010")
    payable = (invoice.total / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
    if payable == invoice.total:
        return
    InvoiceLine.objects.create(
        invoice=invoice, position=invoice.lines.count(), type=InvoiceLine.Type.ROUNDING,
        customer=invoice.customer, name="Rounding",
        description=f"{invoice.currency} is settled in steps of 0.010",
        period_start=invoice.period_start or invoice.created_at,
        period_end=invoice.period_end or invoice.created_at,
        subtotal=payable - invoice.total, amount=payable - invoice.total, managed=False)
    recompute_totals(invoice)


def next_number(series: str) -> str:
    """The next number of a series, inside the caller's transaction: the row lock makes
    concurrent issuers wait, and a rolled-back issue gives its number back."""
    InvoiceSequence.objects.bulk_create([InvoiceSequence(series=series)],
                                        ignore_conflicts=True)
    sequence = InvoiceSequence.objects.select_for_update().get(series=series)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return f"{series}-{sequence.last:06d}"


def _after_issue(invoice_id: str) -> None:
    from apps.billing.tasks import render_invoice_pdf

    render_invoice_pdf.delay(invoice_id)
    signals.invoice_issued.send(sender=Invoice, invoice_id=invoice_id)


@transaction.atomic
def invoice_approve(invoice: Invoice, *, at: datetime | None = None) -> Invoice:
    return invoice_issue(invoice, at=at)


@transaction.atomic
def invoice_void(invoice: Invoice, *, reason: str, at: datetime | None = None) -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status not in (Invoice.Status.ISSUED, Invoice.Status.UNCOLLECTIBLE):
        raise Conflict(f"Invoice {invoice} is {invoice.status}; only issued invoices can be "
                       f"voided (correct a paid one with a credit note).")
    if not reason.strip():
        raise InvalidInput("Say why the invoice is voided.", field="reason")
    invoice.status = Invoice.Status.VOID
    invoice.voided_at = at or timezone.now()
    invoice.void_reason = reason.strip()
    invoice.save()
    transaction.on_commit(lambda: signals.invoice_voided.send(sender=Invoice,
                                                              invoice_id=invoice.pk))
    return invoice


@transaction.atomic
def invoice_mark(invoice: Invoice, status: str, *, at: datetime | None = None) -> Invoice:
    """Payment outcomes (from Stripe or finance): paid or uncollectible."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    allowed = {Invoice.Status.PAID: {Invoice.Status.ISSUED, Invoice.Status.UNCOLLECTIBLE},
               Invoice.Status.UNCOLLECTIBLE: {Invoice.Status.ISSUED}}
    if invoice.status not in allowed[status]:
        raise Conflict(f"Invoice {invoice} is {invoice.status}; it cannot become {status}.")
    invoice.status = status
    if status == Invoice.Status.PAID:
        invoice.paid_at = at or timezone.now()
    invoice.save()
    return invoice


@transaction.atomic
def credit_note_create(invoice: Invoice, *, reason: str,
                       lines: list[InvoiceLine] | None = None) -> Invoice:
    """A credit note for some (or all) lines of an issued invoice, issued at once."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.kind != Invoice.Kind.STANDARD or invoice.status not in (
            Invoice.Status.ISSUED, Invoice.Status.PAID, Invoice.Status.UNCOLLECTIBLE):
        raise Conflict("Only issued invoices can be credited.")
    if not reason.strip():
        raise InvalidInput("Say why the invoice is credited.", field="reason")
    lines = lines if lines is not None else list(invoice.lines.all())
    note = Invoice.objects.create(
        kind=Invoice.Kind.CREDIT_NOTE, customer=invoice.customer, profile=invoice.profile,
        currency=invoice.currency, corrects=invoice, tax_rate=invoice.tax_rate,
        void_reason="")
    for position, line in enumerate(lines):
        InvoiceLine.objects.create(
            invoice=note, position=position, type=InvoiceLine.Type.CREDIT,
            customer=line.customer, subscription=None, rate_card_key=line.rate_card_key,
            feature_key=line.feature_key, name=line.name,
            description=f"Credit for {invoice.number}: {reason.strip()}"[:512],
            period_start=line.period_start, period_end=line.period_end,
            quantity=line.quantity, unit_price=line.unit_price, subtotal=-line.subtotal,
            discount=-line.discount, adjustment=-line.adjustment, amount=-line.amount,
            tiers=[], managed=False)
    return invoice_issue(note)


def _supplier(profile: BillingProfile) -> dict:
    return {"name": profile.supplier_name, "email": profile.supplier_email,
            "taxId": profile.supplier_tax_id, "line1": profile.supplier_address_line1,
            "city": profile.supplier_address_city,
            "postalCode": profile.supplier_address_postal_code,
            "country": profile.supplier_address_country}


def _buyer(customer: Customer) -> dict:
    return {"id": customer.pk, "key": customer.key, "name": customer.name,
            "email": customer.primary_email, "taxId": customer.tax_id,
            "line1": customer.address_line1, "line2": customer.address_line2,
            "city": customer.address_city, "state": customer.address_state,
            "postalCode": customer.address_postal_code, "country": customer.address_country}
