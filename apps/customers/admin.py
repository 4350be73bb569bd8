from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html_join
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from apps.core.history import GuardedHistoryAdmin
from apps.customers import services
from apps.customers.models import Customer, GatewayConsumer


class GatewayConsumerInline(TabularInline):
    model = GatewayConsumer
    fields = ["key", "display_name", "auto_registered", "created_at"]
    readonly_fields = ["auto_registered", "created_at"]
    extra = 0
    show_change_link = True
    verbose_name_plural = (
        "Gateway consumers — to claim an auto-registered subject, open it under "
        "Gateway consumers and pick this customer"
    )


class SubsidiaryInline(TabularInline):
    model = Customer
    fk_name = "parent"
    fields = ["name", "key", "currency", "bill_to_parent"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    verbose_name = "subsidiary"
    verbose_name_plural = "subsidiaries — set the parent on the subsidiary to add one"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)


class LifecycleFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("deleted", "Deleted"), ("all", "All")]

    def choices(self, changelist):
        value = self.value() or "live"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "live"
        if value == "live":
            return queryset.filter(deleted_at__isnull=True)
        if value == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class HierarchyFilter(admin.SimpleListFilter):
    title = "hierarchy"
    parameter_name = "has_subsidiaries"

    def lookups(self, request, model_admin):
        return [("yes", "Parent companies"), ("subsidiary", "Subsidiaries"),
                ("standalone", "Standalone")]

    def queryset(self, request, queryset):
        match self.value():
            case "yes":
                return queryset.filter(subsidiaries__isnull=False).distinct()
            case "subsidiary":
                return queryset.filter(parent__isnull=False)
            case "standalone":
                return queryset.filter(parent__isnull=True, subsidiaries__isnull=True)
        return queryset


@admin.register(Customer)
class CustomerAdmin(GuardedHistoryAdmin, ModelAdmin):
    list_display = ["name", "key", "currency", "primary_email", "parent", "consumer_count",
                    "state", "created_at"]
    list_filter = [LifecycleFilter, HierarchyFilter, "currency", "bill_to_parent",
                   "address_country"]
    search_fields = ["name", "key", "primary_email", "tax_id", "consumers__key", "id"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["id", "created_at", "updated_at", "deleted_at", "billing_links"]
    inlines = [GatewayConsumerInline, SubsidiaryInline]
    fieldsets = [
        (None, {"fields": ["name", "key", "description", "currency", "time_zone", "id"]}),
        ("Billing contact", {"fields": ["primary_email", "tax_id", "phone_number"]}),
        ("Billing address", {"fields": ["address_line1", "address_line2", "address_city",
                                        "address_state", "address_postal_code",
                                        "address_country"]}),
        ("Hierarchy", {"fields": ["parent", "bill_to_parent"]}),
        ("Billing and Stripe", {"fields": ["billing_links"]}),
        ("More", {"fields": ["metadata", "created_at", "updated_at", "deleted_at"],
                  "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(consumer_total=Count("consumers"))

    @display(description="Links")
    def billing_links(self, obj):
        """Where this customer's invoices, subscriptions and Stripe record live."""
        if obj.pk is None:
            return "—"
        links = [
            (f"{reverse('admin:billing_invoice_changelist')}?customer__id__exact={obj.pk}",
             "Invoices"),
            (f"{reverse('admin:billing_subscription_changelist')}?customer__id__exact={obj.pk}",
             "Subscriptions"),
        ]
        try:
            link = obj.stripe  # kept by apps.stripe_sync once pushed or linked
        except ObjectDoesNotExist:
            link = None
        if link is None:
            links.append((reverse("admin:stripe_sync_stripecustomer_add")
                          + f"?customer={obj.pk}",
                          "Stripe: not linked (link an existing Stripe customer)"))
        else:
            links.append((reverse("admin:stripe_sync_stripecustomer_change", args=[obj.pk]),
                          f"Stripe: {link.stripe_id or 'not pushed yet'}"))
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @display(description="Consumers", ordering="consumer_total")
    def consumer_count(self, obj):
        return obj.consumer_total

    @display(description="Status", label={"live": "success", "deleted": "danger"})
    def state(self, obj):
        return "deleted" if obj.is_deleted else "live"

    def delete_model(self, request, obj):
        services.customer_delete(customer=obj)

    def delete_queryset(self, request, queryset):
        for customer in queryset:
            services.customer_delete(customer=customer)


class AttributionFilter(admin.SimpleListFilter):
    title = "attribution"
    parameter_name = "customer__isnull"

    def lookups(self, request, model_admin):
        return [("True", "Unattributed"), ("False", "Attributed")]

    def queryset(self, request, queryset):
        if self.value() in ("True", "False"):
            return queryset.filter(customer__isnull=self.value() == "True")
        return queryset


@admin.register(GatewayConsumer)
class GatewayConsumerAdmin(GuardedHistoryAdmin, ModelAdmin):
    list_display = ["key", "display_name", "customer", "auto_registered", "created_at"]
    list_filter = [AttributionFilter, "auto_registered"]
    search_fields = ["key", "display_name", "customer__name", "customer__key"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["auto_registered", "created_at", "updated_at"]
    fields = ["key", "display_name", "customer", "metadata", "auto_registered", "created_at",
              "updated_at"]
