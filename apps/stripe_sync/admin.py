from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.stripe_sync import client, services
from apps.stripe_sync.models import StripeCustomer, StripeInvoice, StripeWebhookEvent


def stripe_link(kind: str, stripe_id: str):
    if not stripe_id:
        return "—"
    mode = "" if settings.STRIPE_SECRET_KEY.startswith("sk_live") else "test/"
    return format_html('<a href="https://dashboard.stripe.com/{}{}/{}" target="_blank" '
                       'rel="noopener">{}</a>', mode, kind, stripe_id, stripe_id)


class SyncOffNotice:
    """Every Stripe page says so when sync is off, instead of failing silently."""

    def changelist_view(self, request, extra_context=None):
        if not client.enabled():
            messages.warning(request, "Stripe sync is off: set STRIPE_SECRET_KEY (and "
                                      "STRIPE_WEBHOOK_SECRET) to push invoices and receive "
                                      "payment status.")
        return super().changelist_view(request, extra_context)


@admin.register(StripeInvoice)
class StripeInvoiceAdmin(SyncOffNotice, ModelAdmin):
    list_display = ["invoice", "customer", "state_badge", "stripe", "stripe_status",
                    "stripe_number", "attempts", "last_error", "synced_at"]
    list_filter = ["state", "stripe_status"]
    search_fields = ["invoice__number", "stripe_id", "stripe_number",
                     "invoice__customer__name"]
    readonly_fields = ["invoice", "state", "stripe", "stripe_number", "hosted_link",
                       "stripe_status", "payment_error", "item_ids", "attempts", "last_error",
                       "first_attempt_at", "synced_at", "last_event_at"]
    exclude = ["stripe_id", "hosted_invoice_url"]
    actions = ["retry_selected"]
    actions_detail = ["retry_detail"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="customer")
    def customer(self, obj):
        return obj.invoice.customer

    @display(description="state", label={"synced": "success", "failed": "danger",
                                         "pending": "warning", "voided": "info"})
    def state_badge(self, obj):
        return obj.state

    @display(description="Stripe invoice")
    def stripe(self, obj):
        return stripe_link("invoices", obj.stripe_id)

    @display(description="hosted invoice page")
    def hosted_link(self, obj):
        if not obj.hosted_invoice_url:
            return "—"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>',
                           obj.hosted_invoice_url, obj.hosted_invoice_url)

    @admin.action(description="Retry sync", permissions=["change"])
    def retry_selected(self, request, queryset):
        for sync in queryset.exclude(state=StripeInvoice.State.SYNCED):
            services.retry_sync(sync)
        messages.success(request, "Queued again; the push resumes where it stopped.")

    @action(description="Retry sync", url_path="retry", permissions=["change"])
    def retry_detail(self, request, object_id):
        sync = StripeInvoice.objects.get(pk=object_id)
        if sync.state == StripeInvoice.State.SYNCED:
            messages.info(request, "Already in Stripe.")
        else:
            services.retry_sync(sync)
            messages.success(request, "Queued again; the push resumes where it stopped.")
        return redirect("admin:stripe_sync_stripeinvoice_change", object_id)


@admin.register(StripeCustomer)
class StripeCustomerAdmin(SyncOffNotice, ModelAdmin):
    list_display = ["customer", "stripe", "synced_at", "last_error"]
    search_fields = ["customer__name", "customer__key", "stripe_id"]
    readonly_fields = ["synced_at", "last_error", "first_attempt_at"]
    autocomplete_fields = ["customer"]
    actions = ["sync_selected"]

    @display(description="Stripe customer")
    def stripe(self, obj):
        return stripe_link("customers", obj.stripe_id)

    @admin.action(description="Create or update in Stripe", permissions=["change"])
    def sync_selected(self, request, queryset):
        if not client.enabled():
            messages.error(request, "Stripe sync is off (no STRIPE_SECRET_KEY).")
            return
        for link in queryset.select_related("customer"):
            try:
                services.customer_sync(link.customer)
            except Exception as error:  # shown to the user; the row keeps it too
                link.last_error = str(error)
                link.save(update_fields=["last_error"])
                messages.error(request, f"{link.customer}: {error}")
        messages.success(request, "Customers synced.")


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(SyncOffNotice, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["id", "type", "state_badge", "object_id", "created", "received_at",
                    "result"]
    list_filter = ["state", "type"]
    search_fields = ["id", "object_id", "type"]
    date_hierarchy = "received_at"

    @display(description="state", label={"processed": "success", "failed": "danger",
                                         "ignored": "info", "received": "warning"})
    def state_badge(self, obj):
        return obj.state
