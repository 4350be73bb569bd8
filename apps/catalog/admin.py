"""The product manager's catalog admin: features, plan and add-on versions, their rate cards.

Drafts are edited as ordinary admin forms; the models refuse to change a published version,
and so does the admin (its pages turn read-only). Lifecycle steps (new version, publish,
archive, duplicate, delete) go through apps.catalog.services.
"""

from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.decorators import action, display

from apps.catalog import services
from apps.catalog.admin_display import (
    price_sheet,
    tier_lines,
    version_diff,
    version_history,
)
from apps.catalog.api.presenters import money, simulation_representation
from apps.catalog.forms import (
    AddonForm,
    AddonRateCardFormSet,
    DuplicateForm,
    FeatureForm,
    PhaseFormSet,
    PlanAddonForm,
    PlanAddonFormSet,
    PlanForm,
    PlanRateCardFormSet,
    RateCardForm,
    SimulationForm,
    default_currency,
)
from apps.catalog.models import (
    Addon,
    Feature,
    Plan,
    PlanAddon,
    PlanPhase,
    RateCard,
    Status,
    Versioned,
)
from apps.catalog.simulation import (
    comparison_version,
    customer_usage,
    priced_feature_keys,
    simulate,
)
from apps.core.errors import ApplicationError, InvalidInput
from apps.core.history import GuardedHistoryAdmin

STATUS_COLOURS = {Status.DRAFT: "info", Status.SCHEDULED: "warning", Status.ACTIVE: "success",
                  Status.ARCHIVED: "danger"}


def confirm(request, model_admin, question: str, explanation: str):
    """A POST form for actions that change state; links must never do that on their own."""
    context = {**model_admin.admin_site.each_context(request), "title": question,
               "explanation": explanation, "opts": model_admin.model._meta}
    return TemplateResponse(request, "admin/confirm_action.html", context)


# --- features -------------------------------------------------------------------------------


class ArchivedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("archived", "Archived")]

    def queryset(self, request, queryset):
        match self.value():
            case "live":
                return queryset.filter(archived_at__isnull=True)
            case "archived":
                return queryset.filter(archived_at__isnull=False)
        return queryset


@admin.register(Feature)
class FeatureAdmin(GuardedHistoryAdmin, ModelAdmin):
    form = FeatureForm
    list_display = ["key", "name", "meter", "filters", "state"]
    list_filter = [ArchivedFilter, "meter"]
    search_fields = ["key", "name", "meter__slug"]
    list_select_related = ["meter"]
    readonly_fields = ["id", "created_at", "updated_at", "archived_at"]
    fields = ["key", "name", "meter", "meter_group_by_filters", "metadata", "id", "created_at",
              "updated_at", "archived_at"]
    actions = ["archive_selected"]
    actions_detail = ["archive_detail"]

    def has_delete_permission(self, request, obj=None):
        return False  # rate cards of published versions keep pointing at features: archive

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj and obj.is_archived)

    def get_readonly_fields(self, request, obj=None):
        # What a feature measures is part of every published price that uses it.
        published = Q(plan__effective_from__isnull=False) | Q(addon__effective_from__isnull=False)
        if obj is not None and obj.rate_cards.filter(published).exists():
            return [*self.readonly_fields, "key", "meter", "meter_group_by_filters"]
        return self.readonly_fields

    @display(description="Filters")
    def filters(self, obj):
        return ", ".join(f"{k}={v}" for k, v in obj.meter_group_by_filters.items()) or "—"

    @display(description="State", label={"live": "success", "archived": "danger"})
    def state(self, obj):
        return "archived" if obj.is_archived else "live"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        feature = services.feature_create(
            key=obj.key, name=obj.name, meter=obj.meter, filters=obj.meter_group_by_filters,
            metadata=obj.metadata)
        obj.pk = feature.pk
        obj.refresh_from_db()

    @admin.action(description="Archive selected features", permissions=["change"])
    def archive_selected(self, request, queryset):
        for feature in queryset:
            services.feature_archive(feature=feature)
        self.message_user(request, f"Archived {len(queryset)} feature(s).")

    def has_archive_permission(self, request, obj=None):
        # Unfold passes the object's id here, not the object: the model permission decides.
        return super().has_change_permission(request)

    @action(description="Archive", url_path="archive", permissions=["archive"])
    def archive_detail(self, request, object_id):
        feature = get_object_or_404(Feature, pk=object_id)
        if request.method != "POST":
            return confirm(request, self, f"Archive the feature {feature.key}?",
                           "Versions already published keep pricing it; new rate cards "
                           "cannot use it, and its key becomes free again.")
        services.feature_archive(feature=feature)
        self.message_user(request, f"Archived {feature.key}.")
        return redirect("admin:catalog_feature_change", object_id)


# --- inlines --------------------------------------------------------------------------------


class OwnerEditableMixin:
    """Rows of a published version are shown, never changed, added or deleted."""

    @staticmethod
    def _owner_editable(obj) -> bool:
        return obj is None or obj.is_editable

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._owner_editable(obj)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._owner_editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._owner_editable(obj)


class PhaseInline(OwnerEditableMixin, TabularInline):
    model = PlanPhase
    formset = PhaseFormSet
    fields = ["position", "key", "name", "duration"]
    verbose_name = "phase"
    verbose_name_plural = "phases — in order of position; only the last may be open-ended"

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0  # a new plan needs its first phase


class RateCardInline(OwnerEditableMixin, StackedInline):
    model = RateCard
    form = RateCardForm
    extra = 0
    verbose_name = "rate card"
    price_fields = ["price_type", "price_amount", "payment_term", "tiered_mode", "tiers",
                    "quantity_per_package"]
    first_fields = ["key", "name", "type", "feature", "billing_cadence", "position"]

    def get_fieldsets(self, request, obj=None):
        # Read-only pages show the tiers as text; the tier-table editor is for drafts.
        editable = self.has_change_permission(request, obj)
        price = [("tier_table" if name == "tiers" and not editable else name)
                 for name in self.price_fields]
        return [
            (None, {"fields": self.first_fields}),
            ("Price", {"fields": price}),
            ("Commitments and discounts", {"fields": [
                "minimum_amount", "maximum_amount", "discount_percentage",
                "discount_usage_quantity"]}),
            ("Entitlement and tax", {"fields": ["entitlement_template", "tax_config",
                                                "description"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return ["tier_table"]

    def get_formset(self, request, obj=None, **kwargs):
        # Money inputs show the currency of the version being edited.
        currency = obj.currency if obj is not None else default_currency()
        kwargs["form"] = type("RateCardForm", (self.form,), {"currency": currency})
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "feature":
            kwargs["queryset"] = Feature.objects.order_by("key")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @display(description="Tiers")
    def tier_table(self, obj):
        if obj.price_type != RateCard.PriceType.TIERED:
            return "—"
        lines = tier_lines(obj, obj.owner().currency)
        return format_html("<ul>{}</ul>", format_html_join(
            "", "<li>Tier {}: {}</li>", enumerate(lines, start=1)))


class PlanRateCardInline(RateCardInline):
    fk_name = "plan"
    formset = PlanRateCardFormSet
    first_fields = ["phase_key", *RateCardInline.first_fields]
    verbose_name_plural = "rate cards — by phase"

    def get_queryset(self, request):
        phase_position = PlanPhase.objects.filter(plan=OuterRef("plan"),
                                                  key=OuterRef("phase_key")).values("position")
        return super().get_queryset(request).select_related("feature", "plan").annotate(
            phase_position=Subquery(phase_position[:1])).order_by("phase_position",
                                                                 "position", "id")


class AddonRateCardInline(RateCardInline):
    fk_name = "addon"
    formset = AddonRateCardFormSet

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("feature", "addon")


class PlanAddonInline(OwnerEditableMixin, TabularInline):
    model = PlanAddon
    form = PlanAddonForm
    formset = PlanAddonFormSet
    fields = ["addon", "from_plan_phase", "max_quantity"]
    extra = 0
    verbose_name = "allowed add-on"
    verbose_name_plural = "allowed add-ons"


# --- plan and add-on versions ---------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(status.value, status.label) for status in Status]

    def queryset(self, request, queryset):
        return queryset.with_status(self.value()) if self.value() in Status.values else queryset


class VersionedAdmin(GuardedHistoryAdmin, ModelAdmin):
    """What plans and add-ons share: list, lifecycle actions, read-only published versions."""

    list_filter = [StatusFilter, "currency"]
    search_fields = ["key", "name"]
    ordering = ["key", "-version"]
    actions = None  # bulk changes would bypass the per-version lifecycle rules
    actions_detail = ["new_version", "publish", "archive", "duplicate"]
    change_form_outer_before_template = "catalog/version_header.html"
    lifecycle_fields = ["status_badge", "effective_from", "effective_to"]
    more_fields = ["metadata", "id", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return self.fieldsets
        # Version number and dates are given when the version is saved and published.
        hidden = {"version", *self.lifecycle_fields, "id", "created_at", "updated_at"}
        return [(title, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
                for title, options in self.fieldsets
                if any(f not in hidden for f in options["fields"])]

    def get_readonly_fields(self, request, obj=None):
        fields = ["version", *self.lifecycle_fields, "id", "created_at", "updated_at"]
        return fields + (["key"] if obj else [])  # the key of a version never changes

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.is_editable)

    def has_delete_permission(self, request, obj=None):
        # The active version is archived, not deleted (services.version_delete).
        return super().has_delete_permission(request, obj) and (
            obj is None or obj.status != Status.ACTIVE)

    def has_manage_versions_permission(self, request, obj=None):
        # Lifecycle actions are allowed on published versions, which are read-only otherwise.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @display(description="Status", label={status.value: colour
                                          for status, colour in STATUS_COLOURS.items()})
    def status_badge(self, obj):
        return obj.status.value

    def save_model(self, request, obj, form, change):
        if not change:
            # As services.plan_create does: a key's versions count up from its highest one.
            latest = type(obj).objects.filter(key=obj.key).order_by("-version").first()
            obj.version = latest.version + 1 if latest else 1
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        services.version_delete(obj)

    def _create_formsets(self, request, obj, change):
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        # Rate cards and allowed add-ons name phases by key: check them against the phases
        # submitted with them, which Django validates as a separate formset.
        phases = next((f for f in formsets if f.model is PlanPhase), None)
        for formset in formsets:
            formset.phases_formset = phases
        return formsets, inline_instances

    # --- pages ------------------------------------------------------------------------------

    def get_urls(self):
        return [
            path("<path:object_id>/compare/", self.admin_site.admin_view(self.compare_view),
                 name=f"{self.opts.app_label}_{self.opts.model_name}_compare"),
            *super().get_urls(),
        ]

    def _url(self, name: str, pk) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[pk])

    def _version(self, request, object_id) -> Versioned:
        version = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_or_change_permission(request, version):
            raise PermissionDenied
        return version

    def _siblings(self, version):
        return type(version).objects.live().filter(key=version.key).exclude(pk=version.pk) \
            .order_by("version")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.model.objects.filter(pk=object_id).first()
        if version is not None:
            extra_context = {**(extra_context or {}),
                             "catalog": self.header_context(request, version)}
        return super().change_view(request, object_id, form_url, extra_context)

    def header_context(self, request, version) -> dict:
        siblings = list(self._siblings(version))
        draft = next((other for other in siblings if other.status == Status.DRAFT), None)
        return {
            "version": version,
            "editable": version.is_editable,
            "sheet": price_sheet(version),
            "is_plan": isinstance(version, Plan),
            "siblings": [(other, f"{self._url('compare', version.pk)}?with={other.pk}")
                         for other in siblings],
            "history_url": self._url("history", version.pk),
            "new_version_url": self._url("new_version", version.pk),
            "draft": draft,
            "draft_url": self._url("change", draft.pk) if draft else None,
            "can_manage": self.has_manage_versions_permission(request),
        }

    def compare_view(self, request, object_id):
        version = self._version(request, object_id)
        siblings = list(self._siblings(version))
        other = next((s for s in siblings if s.pk == request.GET.get("with")), None)
        if other is None and siblings:
            active = next((s for s in siblings if s.status == Status.ACTIVE), None)
            other = active or siblings[-1]
        left = right = None
        if other is not None:  # the older version on the left
            left, right = sorted([version, other], key=lambda v: v.version)
        context = {
            **self.admin_site.each_context(request), "opts": self.opts,
            "title": f"Compare versions of {version.key}", "version": version,
            "siblings": siblings, "other": other, "left": left, "right": right,
            "sections": version_diff(left, right) if other else [],
            "change_url": self._url("change", version.pk),
        }
        return TemplateResponse(request, "catalog/compare.html", context)

    def history_view(self, request, object_id, extra_context=None):
        version = get_object_or_404(self.model.objects.all(), pk=object_id)
        if not self.has_view_or_change_permission(request, version):
            raise PermissionDenied
        page = Paginator(version_history(version), 100).get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "object": version,
            "title": f"Change history: {version}", "page_obj": page,
            "change_url": self._url("change", version.pk),
        }
        return TemplateResponse(request, "catalog/history.html", context)

    # --- lifecycle actions ------------------------------------------------------------------

    def _refused(self, request, version, error: ApplicationError):
        self.message_user(request, error.detail, messages.ERROR)
        return redirect(self._url("change", version.pk))

    @action(description="New version", url_path="new-version", icon="add_circle",
            permissions=["manage_versions"])
    def new_version(self, request, object_id):
        version = self._version(request, object_id)
        if request.method != "POST":
            return confirm(request, self, f"Create a new version of {version.key}?",
                           f"Copies {version} with everything in it into a new draft that "
                           f"you can edit and publish later.")
        try:
            draft = services.version_next(version)
        except ApplicationError as error:
            return self._refused(request, version, error)
        self.message_user(request, f"Created {draft}, a draft copy of version "
                                   f"{version.version}.")
        return redirect(self._url("change", draft.pk))

    @action(description="Publish", url_path="publish", icon="rocket_launch",
            permissions=["manage_versions"])
    def publish(self, request, object_id):
        version = self._version(request, object_id)
        if request.method != "POST":
            return confirm(request, self, f"Publish {version}?",
                           "It becomes the active version now and the version active until "
                           "now is archived. A published version never changes again; "
                           "later changes go into a new version.")
        try:
            services.version_publish(version)
        except ApplicationError as error:
            return self._refused(request, version, error)
        self.message_user(request, f"Published {version}; it is active now.")
        return redirect(self._url("change", version.pk))

    @action(description="Archive", url_path="archive", icon="inventory_2",
            permissions=["manage_versions"])
    def archive(self, request, object_id):
        version = self._version(request, object_id)
        if request.method != "POST":
            return confirm(request, self, f"Archive {version}?",
                           "It is no longer offered from now on; subscriptions on it stay "
                           "until they are migrated.")
        try:
            services.version_archive(version)
        except ApplicationError as error:
            return self._refused(request, version, error)
        self.message_user(request, f"Archived {version}.")
        return redirect(self._url("change", version.pk))

    @action(description="Duplicate", url_path="duplicate", icon="content_copy",
            permissions=["manage_versions"])
    def duplicate(self, request, object_id):
        version = self._version(request, object_id)
        form = DuplicateForm(request.POST if request.method == "POST" else None,
                             initial={"key": f"{version.key}_copy",
                                      "name": f"{version.name} (copy)"})
        if form.is_valid():
            try:
                copy = services.version_duplicate(version, key=form.cleaned_data["key"],
                                                  name=form.cleaned_data["name"])
            except ApplicationError as error:
                form.add_error("key" if error.errors and error.errors[0].get("field") == "key"
                               else None, error.detail)
            else:
                self.message_user(request, f"Created {copy} from {version}.")
                return redirect(self._url("change", copy.pk))
        context = {**self.admin_site.each_context(request), "opts": self.opts,
                   "title": f"Duplicate {version}", "version": version, "form": form,
                   "change_url": self._url("change", version.pk)}
        return TemplateResponse(request, "catalog/duplicate.html", context)


@admin.register(Plan)
class PlanAdmin(VersionedAdmin):
    form = PlanForm
    list_display = ["key", "version", "name", "currency", "billing_cadence", "status_badge",
                    "effective_from", "effective_to"]
    inlines = [PhaseInline, PlanRateCardInline, PlanAddonInline]
    fieldsets = [
        (None, {"fields": ["key", "version", "name", "description"]}),
        ("Billing", {"fields": ["currency", "billing_cadence", "pro_rating_enabled",
                                "minimum_spend"]}),
        ("Lifecycle", {"fields": VersionedAdmin.lifecycle_fields}),
        ("More", {"fields": VersionedAdmin.more_fields, "classes": ["collapse"]}),
    ]

    def get_urls(self):
        return [
            path("<path:object_id>/simulate/", self.admin_site.admin_view(self.simulate_view),
                 name="catalog_plan_simulate"),
            *super().get_urls(),
        ]

    def header_context(self, request, version) -> dict:
        return {**super().header_context(request, version),
                "simulate_url": self._url("simulate", version.pk)}

    def simulate_view(self, request, object_id):
        plan = self._version(request, object_id)
        features = list(Feature.objects.filter(rate_cards__plan=plan).distinct()
                        .order_by("key"))
        submitted = "phase" in request.GET
        form = SimulationForm(request.GET if submitted else None, plan=plan,
                              features=features, comparison=comparison_version(plan))
        result = None
        if submitted and form.is_valid():
            try:
                result = self._simulate(plan, form)
            except InvalidInput as error:
                wire = error.errors[0].get("field") if error.errors else None
                form.add_error(form.field_for(wire), error.detail)
        context = {
            **self.admin_site.each_context(request), "opts": self.opts,
            "title": f"Simulate {plan}", "plan": plan, "form": form, "result": result,
            "usage_fields": [form[name] for name in form.usage_fields.values()],
            "change_url": self._url("change", plan.pk),
        }
        return TemplateResponse(request, "catalog/simulate.html", context)

    @staticmethod
    def _simulate(plan: Plan, form: SimulationForm) -> dict:
        data = form.cleaned_data
        phase_key, customer = data["phase"], None
        start = end = None
        if form.is_customer_usage():
            customer, start, end = data["customer"], data["start"], data["end"]
            usage = customer_usage(plan, phase_key=phase_key, customer=customer, start=start,
                                   end=end)
        else:
            usage = form.usage()
        result = simulate(plan, usage=usage, phase_key=phase_key)
        comparison = None
        if other := data.get("compare"):
            # The same phase when the other version has it, else its evergreen phase.
            other_phase = phase_key if other.phases.filter(key=phase_key).exists() else None
            if customer is not None:
                other_usage = customer_usage(other, phase_key=other_phase, customer=customer,
                                             start=start, end=end)
            else:
                priced = priced_feature_keys(other, other_phase)
                other_usage = {key: value for key, value in usage.items() if key in priced}
            try:
                comparison = simulate(other, usage=other_usage, phase_key=other_phase)
            except InvalidInput as error:
                raise InvalidInput(f"{other}: {error.detail}") from error
        body = simulation_representation(result, customer=customer, start=start, end=end,
                                         comparison=comparison)
        for priced in (body, body["comparison"]):
            for line in (priced or {}).get("lines", []):
                # Detail rows only for what changed the line's amount.
                line["has_free_units"] = Decimal(line["freeQuantity"] or 0) != 0
                line["has_discount"] = Decimal(line["discount"]) != 0
                line["has_commitment"] = line["type"] != "minimum_spend" and Decimal(
                    line["commitmentAdjustment"]) != 0
        if comparison is not None and comparison.currency == result.currency:
            body["difference"] = money(Decimal(body["total"])
                                       - Decimal(body["comparison"]["total"]), result.currency)
        return body


@admin.register(Addon)
class AddonAdmin(VersionedAdmin):
    form = AddonForm
    list_display = ["key", "version", "name", "currency", "instances", "status_badge",
                    "effective_from", "effective_to"]
    inlines = [AddonRateCardInline]
    fieldsets = [
        (None, {"fields": ["key", "version", "name", "description"]}),
        ("Billing", {"fields": ["currency", "instances"]}),
        ("Lifecycle", {"fields": VersionedAdmin.lifecycle_fields}),
        ("More", {"fields": VersionedAdmin.more_fields, "classes": ["collapse"]}),
    ]
