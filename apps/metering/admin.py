import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.history import GuardedHistoryAdmin
from apps.customers.models import Customer, GatewayConsumer
from apps.metering import presets, selectors, services
from apps.metering.domain.aggregation import Aggregation
from apps.metering.domain.events import parse_event
from apps.metering.domain.extraction import ExtractionError
from apps.metering.domain.windows import WindowSize
from apps.metering.models import Event, EventConflict, Meter


class MeterForm(forms.ModelForm):
    class Meta:
        model = Meter
        fields = ["slug", "name", "description", "event_type", "aggregation", "value_property",
                  "group_by", "event_from", "metadata"]

    def clean(self):
        from apps.metering.domain.extraction import compile_path

        cleaned = super().clean()
        if cleaned.get("aggregation") not in (None, Aggregation.COUNT) and not cleaned.get(
                "value_property"):
            self.add_error("value_property", "This aggregation needs a value property.")
        paths = {"value_property": cleaned.get("value_property")}
        for name, value in paths.items():
            if value:
                try:
                    compile_path(value)
                except ValueError as exc:
                    self.add_error(name, f"Invalid JSONPath: {exc}")
        group_by = cleaned.get("group_by") or {}
        if not isinstance(group_by, dict):
            self.add_error("group_by", 'Enter an object such as {"model": "$.model"}.')
        else:
            for dimension, value in group_by.items():
                try:
                    compile_path(value)
                except (ValueError, TypeError) as exc:
                    self.add_error("group_by", f"{dimension}: invalid JSONPath: {exc}")
        return cleaned


class SampleEventForm(forms.Form):
    event = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "class": "font-mono"}),
                            help_text="A CloudEvent as a gateway would send it.")


@admin.register(Meter)
class MeterAdmin(GuardedHistoryAdmin, ModelAdmin):
    form = MeterForm
    list_display = ["slug", "name", "event_type", "aggregation", "value_property",
                    "dimensions", "created_at"]
    list_filter = ["aggregation", "event_type"]
    search_fields = ["slug", "name", "event_type"]
    readonly_fields = ["id", "created_at", "updated_at"]
    actions = ["rebuild_selected"]
    actions_list = ["preset_api_requests", "preset_llm_tokens"]
    actions_detail = ["try_sample_event", "rebuild_detail"]
    change_form_after_template = "metering/meter_usage_chart.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_readonly_fields(self, request, obj=None):
        # What events mean cannot change once counted; make a new meter instead.
        frozen = ["slug", "event_type", "aggregation", "value_property", "event_from"]
        return self.readonly_fields + (frozen if obj else [])

    @display(description="Group by")
    def dimensions(self, obj):
        return ", ".join(obj.group_by) or "—"

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in form.fields
                if name in form.cleaned_data}
        if change:
            changes = {k: v for k, v in data.items()
                       if k in ("name", "description", "group_by", "metadata")}
            services.meter_update(meter=Meter.objects.get(pk=obj.pk), **changes)
        else:
            meter = services.meter_create(**data)
            obj.pk = meter.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.meter_delete(meter=obj)

    def delete_queryset(self, request, queryset):
        for meter in queryset:
            services.meter_delete(meter=meter)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        meter = Meter.objects.filter(pk=object_id).first()
        extra_context = extra_context or {}
        if meter:
            extra_context["usage_chart"] = json.dumps(usage_chart(meter))
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Rebuild rollups from raw events")
    def rebuild_selected(self, request, queryset):
        for meter in queryset:
            counted = services.rebuild_rollups(meter=meter)
            self.message_user(request, f"{meter.slug}: rebuilt from {counted} events.")

    @action(description="Rebuild rollups", url_path="rebuild", permissions=["change"])
    def rebuild_detail(self, request, object_id):
        meter = get_object_or_404(Meter, pk=object_id)
        if request.method != "POST":
            return confirm(request, self, f"Rebuild the rollups of {meter.slug}?",
                           "Recomputes this meter from every stored event; queries keep "
                           "answering from the old rollups until it is done.")
        counted = services.rebuild_rollups(meter=meter)
        self.message_user(request, f"{meter.slug}: rebuilt from {counted} events.")
        return redirect("admin:metering_meter_change", object_id)

    @action(description="Add API requests meter", url_path="preset-api-requests",
            permissions=["add"])
    def preset_api_requests(self, request):
        return self._install(request, "api_requests")

    @action(description="Add LLM token meters", url_path="preset-llm-tokens",
            permissions=["add"])
    def preset_llm_tokens(self, request):
        return self._install(request, "llm_tokens")

    def _install(self, request, name):
        if request.method != "POST":
            slugs = ", ".join(spec["slug"] for spec in presets.PRESETS[name])
            return confirm(request, self, f"Add the preset meters {slugs}?",
                           presets.describe(name))
        created = presets.install_preset(name)
        if created:
            self.message_user(request, "Created " + ", ".join(m.slug for m in created) + ".")
        else:
            self.message_user(request, "Those meters exist already.", messages.WARNING)
        return redirect("admin:metering_meter_changelist")

    @action(description="Try on a sample event", url_path="try", permissions=["view"])
    def try_sample_event(self, request, object_id):
        meter = get_object_or_404(Meter, pk=object_id)
        form = SampleEventForm(request.POST or None, initial={"event": json.dumps(
            sample_event(meter), indent=2)})
        outcome = None
        if request.method == "POST" and form.is_valid():
            outcome = try_meter(meter, form.cleaned_data["event"])
        context = {**self.admin_site.each_context(request), "title": f"Try {meter.slug}",
                   "meter": meter, "form": form, "outcome": outcome, "opts": self.model._meta}
        return TemplateResponse(request, "metering/try_meter.html", context)


def confirm(request, model_admin, question: str, explanation: str):
    """A POST form for actions that change state; links must never do that on their own."""
    context = {**model_admin.admin_site.each_context(request), "title": question,
               "explanation": explanation, "opts": model_admin.model._meta}
    return TemplateResponse(request, "admin/confirm_action.html", context)


def sample_event(meter: Meter) -> dict:
    data = {name: f"<{name}>" for name in meter.group_by}
    if meter.value_property.startswith("$.") and "." not in meter.value_property[2:]:
        data[meter.value_property[2:]] = 42
    return {"specversion": "1.0", "id": "sample-1", "source": "admin", "type": meter.event_type,
            "subject": "customer-1", "time": timezone.now().isoformat(), "data": data}


def try_meter(meter: Meter, text: str) -> dict:
    """What the meter makes of one event, without storing anything."""
    from apps.metering.compiled import compile_meter

    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return {"ok": False, "message": f"Not valid JSON: {exc}"}
    parsed = parse_event(obj, index=0, now=timezone.now())
    if isinstance(parsed, list):
        return {"ok": False, "message": "; ".join(f"{e.field}: {e.reason}" for e in parsed)}
    compiled = compile_meter(meter)
    if not compiled.counts(parsed):
        return {"ok": False, "message": f"This meter counts events of type “{meter.event_type}”"
                + (f" from {meter.event_from}" if meter.event_from else "") + " only."}
    try:
        _key, groups, state, unique = compiled.contribution(parsed, 0)
    except ExtractionError as exc:
        return {"ok": False, "message": str(exc)}
    value = unique if unique is not None else (
        state.sum if meter.aggregation != Aggregation.COUNT else 1)
    return {"ok": True, "value": value, "groups": groups, "subject": parsed.subject,
            "bucket": _key[3]}


def usage_chart(meter: Meter, days: int = 30) -> dict:
    end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = end - timedelta(days=days)
    rows = selectors.query_meter(meter, selectors.MeterQuery(
        start=start, end=end, window_size=WindowSize.DAY))
    values = {row.window_start.date(): float(row.value or 0) for row in rows}
    labels = [(start + timedelta(days=n)).date() for n in range(days)]
    return {"labels": [label.strftime("%b %d") for label in labels],
            "datasets": [{"label": meter.name or meter.slug,
                          "data": [values.get(label, 0) for label in labels]}]}


class EventStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("ok", "OK"), ("unmetered", "Unmetered"), ("unattributed", "Unattributed"),
                ("conflict", "Conflict")]

    def queryset(self, request, queryset):
        metered = Exists(Meter.objects.filter(deleted_at__isnull=True,
                                              event_type=OuterRef("type")))
        attributed = Exists(GatewayConsumer.objects.filter(
            key=OuterRef("subject"), customer__isnull=False, customer__deleted_at__isnull=True
        )) | Exists(Customer.objects.live().filter(key=OuterRef("subject")))
        conflicted = Exists(EventConflict.objects.filter(stored_event=OuterRef("pk")))
        match self.value():
            case "ok":
                return queryset.filter(metered & attributed & ~conflicted)
            case "unmetered":
                return queryset.filter(~metered)
            case "unattributed":
                return queryset.filter(~attributed)
            case "conflict":
                return queryset.filter(conflicted)
        return queryset


class CustomerOfEventFilter(admin.SimpleListFilter):
    title = "customer"
    parameter_name = "customer"

    def lookups(self, request, model_admin):
        return [(c.pk, c.name) for c in Customer.objects.live().order_by("name")[:200]]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        subjects = list(GatewayConsumer.objects.filter(customer_id=self.value())
                        .values_list("key", flat=True))
        customer = Customer.objects.filter(pk=self.value()).first()
        if customer and customer.key:
            subjects.append(customer.key)
        return queryset.filter(subject__in=subjects)


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, ModelAdmin):  # the event store is append-only
    list_display = ["time", "type", "subject", "source", "event_id", "ingested_at"]
    list_filter = [EventStatusFilter, "type", CustomerOfEventFilter]
    search_fields = ["=subject", "=event_id", "=source"]
    date_hierarchy = "time"
    show_full_result_count = False  # counting a billion events would take longer than listing
    readonly_fields = ["source", "event_id", "type", "subject", "time", "pretty_data",
                       "specversion", "datacontenttype", "dataschema", "payload_hash",
                       "ingested_at", "problem"]
    exclude = ["data"]

    @display(description="Data")
    def pretty_data(self, obj):
        from django.utils.html import format_html

        return format_html("<pre class=\"font-mono text-xs\">{}</pre>",
                           json.dumps(obj.data, indent=2))

    @display(description="Counts toward")
    def problem(self, obj):
        from apps.metering.compiled import compile_meter

        meters = [compile_meter(m) for m in Meter.objects.filter(
            deleted_at__isnull=True, event_type=obj.type)]
        owners = selectors.customer_ids_of_subjects({obj.subject})
        problem = selectors.validation_problem(obj, meters, owners)
        if problem:
            return problem
        return ", ".join(m.slug for m in meters)


@admin.register(EventConflict)
class EventConflictAdmin(ModelAdmin):
    list_display = ["received_at", "source", "event_id", "stored_event"]
    search_fields = ["=event_id", "=source"]
    readonly_fields = ["source", "event_id", "stored_event", "received_payload", "received_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

