"""Finance's billing admin: invoices (review, approve, void, credit, PDF, CSV), billing profiles,
customer billing settings, subscriptions and billing cycles.

Invoices never change through forms. Every state change is an action calling
apps.billing.services — a POST with CSRF, after a confirmation page or a form asking the
reason — so numbering, snapshots and immutability stay the services' business. Issued invoices
are read-only here, and the model (and on PostgreSQL a trigger) refuses changes anyway.
"""

import csv
import json
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import DecimalField, F
from django.db.models.functions import Cast
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.clickjacking import xframe_options_sameorigin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import AutocompleteSelectFilter, RangeNumericListFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from apps.billing import pdf, selectors, services
from apps.billing.models import (
    BillingProfile,
    CustomerBilling,
    Invoice,
    InvoiceLine,
    Subscription,
    SubscriptionAddon,
    SubscriptionCycle,
    SubscriptionOverride,
)
from apps.billing.presentation import day, money, period, price, quantity
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.errors import ApplicationError
from apps.core.fields import ExactDecimalField
from apps.core.history import GuardedHistoryAdmin

# Acting on invoices is the Finance role's right (Support and Product only look).
FINANCE = "billing.change_invoice"
ADMIN_LOCALE = "en-US"  # one way of writing amounts across the admin, whatever the invoice's

Status = Invoice.Status
STATUS_COLOURS = {"awaiting approval": "warning", Status.ISSUED: "info",
                  Status.PAID: "success", Status.VOID: "danger",
                  Status.UNCOLLECTIBLE: "danger"}

DECIMAL_FORM_FIELD = {
    # ExactDecimalField has no form field of its own: a decimal of any size, typed as text.
    ExactDecimalField: {"form_class": forms.DecimalField,
                        "widget": UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"})},
}


def status_text(invoice: Invoice) -> str:
    if invoice.is_draft and invoice.requires_approval:
        return "awaiting approval"
    return invoice.status


def amount(value, currency: str) -> str:
    return money(value, currency, ADMIN_LOCALE)


# --- invoices -------------------------------------------------------------------------------


# Totals are stored as text on SQLite; cast so both databases compare and sort numbers.
TOTAL_AS_NUMBER = DecimalField(max_digits=40, decimal_places=9)


class TotalRangeFilter(RangeNumericListFilter):
    title = "total"
    parameter_name = "total"

    def queryset(self, request, queryset):
        bounds = {}
        for suffix, lookup in (("from", "gte"), ("to", "lte")):
            raw = self.used_parameters.get(f"{self.parameter_name}_{suffix}")
            if raw in (None, ""):
                continue
            try:
                bounds[f"total_number__{lookup}"] = Decimal(str(raw).strip())
            except (InvalidOperation, ValueError):
                return queryset  # a typo in the box lists everything rather than failing
        if not bounds:
            return queryset
        return queryset.annotate(
            total_number=Cast("total", TOTAL_AS_NUMBER)
        ).filter(**bounds)


class InvoiceLineInline(ReadOnlyAdminMixin, TabularInline):
    model = InvoiceLine
    fields = ["line", "customer", "type", "service_period", "units", "unit_price_text",
              "subtotal_text", "discount_text", "adjustment_text", "amount_text",
              "tier_detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "lines"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "invoice")

    @display(description="Line")
    def line(self, obj):
        if obj.description:
            return format_html("{}<br><span class=\"text-subtle text-xs\">{}</span>",
                               obj.name, obj.description)
        return obj.name

    @display(description="Service period")
    def service_period(self, obj):
        return period(obj.period_start, obj.period_end, ADMIN_LOCALE, obj.customer.time_zone)

    @display(description="Quantity")
    def units(self, obj):
        return quantity(obj.quantity)

    @display(description="Unit price")
    def unit_price_text(self, obj):
        return price(obj.unit_price, obj.invoice.currency, ADMIN_LOCALE)

    @display(description="Subtotal")
    def subtotal_text(self, obj):
        return amount(obj.subtotal, obj.invoice.currency)

    @display(description="Discount")
    def discount_text(self, obj):
        return amount(obj.discount, obj.invoice.currency) if obj.discount else ""

    @display(description="Commitment")
    def adjustment_text(self, obj):
        return amount(obj.adjustment, obj.invoice.currency) if obj.adjustment else ""

    @display(description="Amount")
    def amount_text(self, obj):
        return amount(obj.amount, obj.invoice.currency)

    @display(description="Tiers")
    def tier_detail(self, obj):
        currency = obj.invoice.currency
        rows = []
        for tier in obj.tiers or []:
            label = f"Tier {tier['tier']}" if tier.get("tier") else tier.get("kind", "")
            unit = price(Decimal(tier["unit_price"]), currency, ADMIN_LOCALE) \
                if tier.get("unit_price") else ""
            flat = price(Decimal(tier["flat_price"]), currency, ADMIN_LOCALE) \
                if tier.get("flat_price") else ""
            rows.append((label, quantity(Decimal(tier["quantity"])),
                         " × " + unit if unit else "", " + " + flat + " flat" if flat else "",
                         amount(Decimal(tier["amount"]), currency)))
        return format_html_join(
            "", "<div class=\"whitespace-nowrap text-xs\">{}: {}{}{} = {}</div>", rows) or "—"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, strip=True,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="Kept with the invoice and printed on the document.")


# Which detail actions apply to an invoice in which state; the services check again.
ACTION_APPLIES = {
    "approve": lambda i: i.is_draft,
    "refresh": lambda i: i.is_draft and i.kind == Invoice.Kind.STANDARD,
    "mark_paid": lambda i: i.kind == Invoice.Kind.STANDARD
    and i.status in (Status.ISSUED, Status.UNCOLLECTIBLE),
    "mark_uncollectible": lambda i: i.kind == Invoice.Kind.STANDARD
    and i.status == Status.ISSUED,
    "credit_note": lambda i: i.kind == Invoice.Kind.STANDARD
    and i.status in (Status.ISSUED, Status.PAID, Status.UNCOLLECTIBLE),
    "void": lambda i: i.status in (Status.ISSUED, Status.UNCOLLECTIBLE),
    "rerender_pdf": lambda i: not i.is_draft,
}


@admin.register(Invoice)
class InvoiceAdmin(GuardedHistoryAdmin, ModelAdmin):
    list_display = ["invoice_number", "customer", "status_badge", "kind", "service_period",
                    "total_text", "issued_on"]
    list_filter = ["status", "requires_approval", "kind", ("customer", AutocompleteSelectFilter),
                   "currency", TotalRangeFilter]
    list_filter_submit = True  # the range and autocomplete filters need a submit button
    search_fields = ["number", "customer__name", "customer__key", "=id"]
    list_select_related = ["customer", "profile"]
    date_hierarchy = "period_start"
    list_before_template = "billing/admin/invoice_totals.html"
    change_form_after_template = "billing/admin/invoice_pdf_preview.html"
    inlines = [InvoiceLineInline]
    actions = ["export_invoices_csv", "export_lines_csv"]
    actions_detail = ["approve", "refresh", "credit_note", "void",
                      {"title": "More", "icon": "more_horiz",
                       "items": ["mark_paid", "mark_uncollectible", "rerender_pdf"]},
                      "download_pdf"]
    fieldsets = [
        (None, {"fields": ["invoice_number", "status_detail", "kind", "customer", "currency",
                           "corrects_link", "credit_notes_links"]}),
        ("Amounts", {"fields": ["subtotal_text", "discount_text", "adjustment_text",
                                "tax_text", "total_text"]}),
        ("Dates", {"fields": ["service_period", "issued_at", "due_at", "paid_at",
                              "voided_at", "void_reason", "issue_after",
                              "requires_approval"]}),
        ("Stripe", {"fields": ["stripe_sync"]}),
        ("Parties", {"fields": ["supplier_text", "buyer_text"], "classes": ["collapse"]}),
        ("Record", {"fields": ["id", "profile", "cycle_at", "pdf_rendered_at", "created_at",
                               "updated_at"], "classes": ["collapse"]}),
    ]
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]

    # Invoices come from billing runs and change only through the actions below.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_finance_permission(self, request, obj=None):
        """May act on invoices (approve, void, credit...): the Finance role's right."""
        return request.user.has_perm(FINANCE)

    @display(description="Stripe")
    def stripe_sync(self, obj):
        """Sync state, Stripe ids and links, kept by apps.stripe_sync."""
        try:
            sync = obj.stripe
        except ObjectDoesNotExist:
            return "Not sent to Stripe (sync is off, or the invoice is not issued)."
        page = reverse("admin:stripe_sync_stripeinvoice_change", args=[obj.pk])
        parts = [format_html('<a href="{}">{}</a>', page, sync.get_state_display())]
        if sync.stripe_id:
            parts.append(format_html("Stripe {} {}", sync.stripe_id, sync.stripe_number))
        if sync.hosted_invoice_url:
            parts.append(format_html('<a href="{}" target="_blank" rel="noopener">hosted '
                                     'invoice page</a>', sync.hosted_invoice_url))
        if sync.last_error:
            parts.append(format_html("last error: {}", sync.last_error))
        return format_html_join(" · ", "{}", ((part,) for part in parts))

    # --- list ---

    @display(description="Number", ordering="number")
    def invoice_number(self, obj):
        return str(obj)

    @display(description="Status", ordering="status", label=STATUS_COLOURS)
    def status_badge(self, obj):
        return status_text(obj)

    @display(description="Service period", ordering="period_start")
    def service_period(self, obj):
        return period(obj.period_start, obj.period_end, ADMIN_LOCALE, obj.customer.time_zone)

    @display(description="Issued", ordering="issued_at")
    def issued_on(self, obj):
        return day(obj.issued_at, ADMIN_LOCALE) or "—"

    @display(description="Total", ordering=Cast("total", TOTAL_AS_NUMBER))
    def total_text(self, obj):
        return amount(obj.total, obj.currency)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:  # not a redirect: add the filtered list's totals
            response.context_data["currency_totals"] = [
                {**row, "text": amount(row["total"], row["currency"])}
                for row in selectors.totals_by_currency(changelist.queryset)]
        return response

    # --- detail ---

    @display(description="Status")
    def status_detail(self, obj):
        # The list's coloured label, on the read-only page (where Unfold shows plain text).
        return render_to_string("unfold/helpers/label.html", {
            "text": status_text(obj), "type": STATUS_COLOURS.get(status_text(obj)),
            "class": "invoice-status"})

    @display(description="Subtotal")
    def subtotal_text(self, obj):
        return amount(obj.subtotal, obj.currency)

    @display(description="Discounts")
    def discount_text(self, obj):
        return amount(-obj.discount_total, obj.currency)

    @display(description="Commitments")
    def adjustment_text(self, obj):
        return amount(obj.adjustment_total, obj.currency)

    @display(description="Tax")
    def tax_text(self, obj):
        return f"{amount(obj.tax_amount, obj.currency)} ({obj.tax_rate.normalize():f} %)"

    @display(description="Corrects")
    def corrects_link(self, obj):
        if obj.corrects_id is None:
            return "—"
        return format_html('<a class="text-primary-600" href="{}">{}</a>',
                           reverse("admin:billing_invoice_change", args=[obj.corrects_id]),
                           obj.corrects)

    @display(description="Credit notes")
    def credit_notes_links(self, obj):
        notes = [(reverse("admin:billing_invoice_change", args=[note.pk]), str(note),
                  amount(note.total, note.currency)) for note in obj.credit_notes.all()]
        return format_html_join(", ", '<a class="text-primary-600" href="{}">{}</a> ({})',
                                notes) or "—"

    @display(description="Supplier (as issued)")
    def supplier_text(self, obj):
        return _party(obj.supplier)

    @display(description="Buyer (as issued)")
    def buyer_text(self, obj):
        return _party(obj.buyer)

    def get_urls(self):
        return [path("<path:object_id>/pdf/", self.admin_site.admin_view(self.pdf_view),
                     name="billing_invoice_pdf"), *super().get_urls()]

    @xframe_options_sameorigin  # the change page shows it in an <iframe>
    def pdf_view(self, request, object_id):
        """The invoice's PDF: the stored one once issued (what was sent), a fresh rendering
        for drafts. Inline for the preview, as an attachment with ?download=1."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice.objects.select_related("profile", "customer"),
                                    pk=object_id)
        response = HttpResponse(pdf.pdf_of(invoice), content_type="application/pdf")
        disposition = "attachment" if request.GET.get("download") else "inline"
        response["Content-Disposition"] = f'{disposition}; filename="{pdf_filename(invoice)}"'
        return response

    # --- actions: state changes through the services, each after a POST ---

    def get_actions_detail(self, request, object_id):
        invoice = Invoice.objects.filter(pk=object_id).first()
        actions = super().get_actions_detail(request, object_id)
        if invoice is None:
            return actions
        prefix = "billing_invoice_"
        return [a for a in actions
                if ACTION_APPLIES.get(a.action_name.removeprefix(prefix), bool)(invoice)]

    def _act(self, request, object_id, *, title, explanation, perform, form_class=None,
             submit="Yes, go ahead"):
        """Confirmation page (and form) on GET; on a valid POST, call the service, report
        the outcome as a message and go back to the invoice (or where `perform` says)."""
        invoice = get_object_or_404(Invoice, pk=object_id)
        form = form_class(request.POST or None) if form_class else None
        if request.method == "POST" and (form is None or form.is_valid()):
            target = invoice
            try:
                target, message = perform(invoice, **(form.cleaned_data if form else {}))
            except (ApplicationError, ValidationError) as error:
                self.message_user(request, getattr(error, "detail", None)
                                  or " ".join(error.messages), messages.ERROR)
            else:
                self.message_user(request, message, messages.SUCCESS)
            return redirect("admin:billing_invoice_change", target.pk)
        context = {**self.admin_site.each_context(request), "title": title,
                   "explanation": explanation, "form": form, "submit": submit,
                   "invoice": invoice, "opts": self.model._meta,
                   "back_url": reverse("admin:billing_invoice_change", args=[invoice.pk])}
        return TemplateResponse(request, "billing/admin/invoice_action.html", context)

    @action(description="Approve & issue", url_path="approve", icon="task_alt",
            permissions=["finance"])
    def approve(self, request, object_id):
        def perform(invoice):
            issued = services.invoice_approve(invoice)
            return issued, f"Invoice {issued.number} issued for {issued.customer}."

        return self._act(
            request, object_id, title="Approve and issue this invoice?", perform=perform,
            explanation="It gets the next number of its series and can no longer change; "
                        "corrections are then credit notes.", submit="Approve & issue")

    @action(description="Refresh draft", url_path="refresh", icon="refresh",
            permissions=["finance"])
    def refresh(self, request, object_id):
        def perform(invoice):
            refreshed = services.refresh_draft(invoice)
            return refreshed, f"Draft recomputed from current usage: total " \
                              f"{amount(refreshed.total, refreshed.currency)}."

        return self._act(request, object_id, title="Refresh this draft?", perform=perform,
                         explanation="Its billed lines are rebuilt from the usage recorded "
                                     "so far; lines added by hand stay.")

    @action(description="Mark paid", url_path="mark-paid", icon="paid",
            permissions=["finance"])
    def mark_paid(self, request, object_id):
        def perform(invoice):
            paid = services.invoice_mark(invoice, Status.PAID)
            return paid, f"Invoice {paid} marked paid."

        return self._act(request, object_id, title="Mark this invoice paid?", perform=perform,
                         explanation="For payments received outside Stripe, e.g. by bank "
                                     "transfer.")

    @action(description="Mark uncollectible", url_path="mark-uncollectible", icon="money_off",
            permissions=["finance"])
    def mark_uncollectible(self, request, object_id):
        def perform(invoice):
            marked = services.invoice_mark(invoice, Status.UNCOLLECTIBLE)
            return marked, f"Invoice {marked} marked uncollectible."

        return self._act(request, object_id, title="Mark this invoice uncollectible?",
                         perform=perform, explanation="It stays issued for the records; it "
                         "can still be marked paid if the money comes in after all.")

    @action(description="Credit note", url_path="credit-note", icon="undo",
            permissions=["finance"])
    def credit_note(self, request, object_id):
        def perform(invoice, reason):
            note = services.credit_note_create(invoice, reason=reason)
            return note, f"Credit note {note.number} issued for {invoice.number}."

        return self._act(request, object_id, title="Credit the whole invoice?",
                         perform=perform, form_class=ReasonForm, submit="Issue credit note",
                         explanation="A credit note with every line of the invoice, negated, "
                                     "is issued at once with its own number.")

    @action(description="Void", url_path="void", icon="block", permissions=["finance"])
    def void(self, request, object_id):
        def perform(invoice, reason):
            voided = services.invoice_void(invoice, reason=reason)
            return voided, f"Invoice {voided} voided."

        return self._act(request, object_id, title="Void this invoice?", perform=perform,
                         form_class=ReasonForm, submit="Void invoice",
                         explanation="A void invoice is not payable and keeps its number; "
                                     "its PDF shows VOID. Paid invoices are corrected with a "
                                     "credit note instead.")

    @action(description="Re-render PDF", url_path="rerender-pdf", icon="picture_as_pdf",
            permissions=["finance"])
    def rerender_pdf(self, request, object_id):
        def perform(invoice):
            if invoice.is_draft:  # never stored: every view renders a fresh one
                return invoice, "Drafts are rendered afresh each time; nothing to do."
            pdf.store_pdf(invoice)
            return invoice, f"PDF of {invoice} rendered again."

        return self._act(request, object_id, title="Render the PDF again?", perform=perform,
                         explanation="Replaces the stored PDF with one rendered from the "
                                     "invoice as issued (e.g. after a template fix); the "
                                     "amounts cannot change.")

    @action(description="Download PDF", url_path="download", icon="download",
            permissions=["view"])
    def download_pdf(self, request, object_id):
        return redirect(reverse("admin:billing_invoice_pdf", args=[object_id]) + "?download=1")

    # --- CSV exports of the selected invoices ---

    @admin.action(description="Export selected invoices (CSV)", permissions=["view"])
    def export_invoices_csv(self, request, queryset):
        response, writer = _csv_response("invoices")
        writer.writerow(["number", "id", "kind", "status", "customer_key", "customer_name",
                         "currency", "period_start", "period_end", "issued_at", "due_at",
                         "paid_at", "voided_at", "subtotal", "discount_total",
                         "adjustment_total", "tax_rate", "tax_amount", "total", "corrects",
                         "void_reason"])
        # In issue order (numbers sort within a series), then drafts.
        ordered = queryset.select_related("customer", "corrects").order_by(
            F("issued_at").asc(nulls_last=True), "number", "created_at", "id")
        for invoice in ordered:
            writer.writerow([
                invoice.number or "", invoice.pk, invoice.kind, invoice.status,
                invoice.customer.key or "", invoice.customer.name, invoice.currency,
                _iso(invoice.period_start), _iso(invoice.period_end),
                _iso(invoice.issued_at), _iso(invoice.due_at), _iso(invoice.paid_at),
                _iso(invoice.voided_at), _plain(invoice.subtotal),
                _plain(invoice.discount_total), _plain(invoice.adjustment_total),
                _plain(invoice.tax_rate), _plain(invoice.tax_amount), _plain(invoice.total),
                invoice.corrects.number if invoice.corrects_id else "", invoice.void_reason])
        return response

    @admin.action(description="Export lines of selected invoices (CSV)", permissions=["view"])
    def export_lines_csv(self, request, queryset):
        response, writer = _csv_response("invoice-lines")
        writer.writerow(["invoice_number", "invoice_id", "currency", "position", "type",
                         "customer_key", "customer_name", "subscription_id", "rate_card_key",
                         "feature_key", "name", "description", "period_start", "period_end",
                         "quantity", "unit_price", "subtotal", "discount", "adjustment",
                         "amount", "tiers"])
        lines = InvoiceLine.objects.filter(invoice__in=queryset).select_related(
            "invoice", "customer").order_by(
            F("invoice__issued_at").asc(nulls_last=True), "invoice__number",
            "invoice__created_at", "invoice_id", "position", "id")
        for line in lines:
            writer.writerow([
                line.invoice.number or "", line.invoice_id, line.invoice.currency,
                line.position, line.type, line.customer.key or "", line.customer.name,
                line.subscription_id or "", line.rate_card_key, line.feature_key, line.name,
                line.description, _iso(line.period_start), _iso(line.period_end),
                _plain(line.quantity), _plain(line.unit_price), _plain(line.subtotal),
                _plain(line.discount), _plain(line.adjustment), _plain(line.amount),
                json.dumps(line.tiers) if line.tiers else ""])
        return response


def pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number or 'draft-' + invoice.pk.lower()}.pdf"


def _party(snapshot: dict) -> str:
    if not snapshot:
        return "— (taken when the invoice is issued)"
    keys = ["name", "line1", "line2", "postalCode", "city", "state", "country", "taxId", "email"]
    return format_html_join(", ", "{}", ((snapshot[k],) for k in keys if snapshot.get(k)))


def _csv_response(name: str):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response, csv.writer(response)


def _plain(value: Decimal | None) -> str:
    """Money and quantities as plain decimal strings: 1234.50, never 1,234.50 or 1.2345E+3."""
    return "" if value is None else format(value, "f")


def _iso(value) -> str:
    return value.isoformat() if value else ""


# --- billing settings -----------------------------------------------------------------------


@admin.register(BillingProfile)
class BillingProfileAdmin(GuardedHistoryAdmin, ModelAdmin):
    list_display = ["name", "is_default", "supplier_name", "invoice_prefix", "tax_rate",
                    "requires_approval", "locale"]
    search_fields = ["name", "supplier_name", "invoice_prefix"]
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = DECIMAL_FORM_FIELD
    fieldsets = [
        (None, {"fields": ["name", "is_default"]}),
        ("Supplier on invoices", {"fields": [
            "supplier_name", "supplier_email", "supplier_tax_id", "supplier_address_line1",
            "supplier_address_city", "supplier_address_postal_code",
            "supplier_address_country"]}),
        ("Invoicing", {"fields": ["invoice_prefix", "credit_note_prefix", "collection_delay",
                                  "draft_period", "requires_approval", "due_after_days",
                                  "tax_rate", "collection_method", "locale"],
                       "description": "Changes apply to invoices issued from now on; issued "
                                      "invoices keep the details they were issued with."}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]


@admin.register(CustomerBilling)
class CustomerBillingAdmin(GuardedHistoryAdmin, ModelAdmin):
    list_display = ["customer", "profile", "tax_rate", "requires_approval",
                    "collection_method", "updated_at"]
    list_filter = ["profile", "requires_approval", "collection_method"]
    search_fields = ["customer__name", "customer__key"]
    list_select_related = ["customer", "profile"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["updated_at"]
    formfield_overrides = DECIMAL_FORM_FIELD
    fields = ["customer", "profile", "tax_rate", "requires_approval", "collection_method",
              "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # The customer is the row's identity; settings for another one are a new row.
        return [*self.readonly_fields, "customer"] if obj else self.readonly_fields


# --- subscriptions --------------------------------------------------------------------------


class SubscriptionStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("running", "Running"), ("scheduled", "Scheduled"), ("ended", "Ended")]

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "running":
                return queryset.filter(active_from__lte=now).overlapping(now, None)
            case "scheduled":
                return queryset.filter(active_from__gt=now)
            case "ended":
                return queryset.filter(active_to__lte=now)
        return queryset


class SubscriptionAddonInline(TabularInline):
    model = SubscriptionAddon
    fields = ["addon", "quantity", "active_from", "active_to"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "add-ons — bought and changed through the API"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OverrideForm(forms.ModelForm):
    """A negotiated price for one of the plan's rate cards; `plan` is set per subscription."""

    plan = None
    price_amount = forms.DecimalField(
        label="Amount", required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"}),
        help_text="Replaces the flat amount, unit price or package price.")
    discount_percentage = forms.DecimalField(
        label="Percentage discount", required=False, min_value=0, max_value=100,
        widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"}))

    class Meta:
        model = SubscriptionOverride
        fields = ["rate_card_key", "price_amount", "tiers", "discount_percentage", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.plan is not None:
            cards = self.plan.rate_cards.order_by("position", "id").values_list("key", "name")
            choices = dict(cards)  # the same key in several phases is one override
            self.fields["rate_card_key"] = forms.ChoiceField(
                label="Rate card", choices=[("", "---------"), *choices.items()])

    def clean_tiers(self):
        from apps.catalog.prices import RateCardError, tiers_of

        tiers = self.cleaned_data.get("tiers")
        if tiers in (None, "", []):
            return None
        try:
            tiers_of(tiers)
        except RateCardError as error:
            raise forms.ValidationError(str(error)) from error
        return tiers


class SubscriptionOverrideInline(TabularInline):
    model = SubscriptionOverride
    form = OverrideForm
    extra = 0
    verbose_name_plural = "negotiated prices — apply to periods billed from now on"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type("OverrideForm", (formset.form,), {"plan": obj.plan if obj else None})
        return formset


@admin.register(Subscription)
class SubscriptionAdmin(GuardedHistoryAdmin, ModelAdmin):
    """Subscriptions are created, changed and cancelled through the API (apps.billing.
    subscriptions); here Finance reads them and edits negotiated prices."""

    list_display = ["customer", "plan", "status_badge", "active_from", "active_to",
                    "billing_anchor"]
    list_filter = [SubscriptionStatusFilter, ("customer", AutocompleteSelectFilter)]
    list_filter_submit = True
    search_fields = ["customer__name", "customer__key", "plan__key", "plan__name", "=id"]
    list_select_related = ["customer", "plan"]
    date_hierarchy = "active_from"
    inlines = [SubscriptionAddonInline, SubscriptionOverrideInline]
    fields = ["id", "customer", "plan", "name", "description", "starting_phase",
              "active_from", "active_to", "billing_anchor", "previous", "metadata",
              "created_at", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        pass  # every field is read-only: saving the page saves the negotiated prices only

    @display(description="Status", label={"active": "success", "scheduled": "info",
                                          "canceled": "warning", "inactive": "danger"})
    def status_badge(self, obj):
        return obj.status


@admin.register(SubscriptionCycle)
class SubscriptionCycleAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """The billing runs' ledger: one row per (subscription, cycle), billed exactly once."""

    list_display = ["subscription", "cycle_at", "invoice_link", "created_at"]
    search_fields = ["subscription__customer__name", "subscription__customer__key",
                     "invoice__number"]
    list_select_related = ["subscription__customer", "subscription__plan", "invoice"]
    date_hierarchy = "cycle_at"
    fields = ["subscription", "cycle_at", "invoice", "created_at"]
    readonly_fields = fields

    @display(description="Invoice")
    def invoice_link(self, obj):
        if obj.invoice_id is None:
            return "nothing owed"
        return format_html('<a class="text-primary-600" href="{}">{}</a>',
                           reverse("admin:billing_invoice_change", args=[obj.invoice_id]),
                           obj.invoice)
