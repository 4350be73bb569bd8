"""Forms of the catalog admin.

Rate cards are validated by the model's clean (apps.catalog.rules), which the API uses too, so
both refuse the same things in the same words. What spans several formsets of one plan page
(a rate card's phase, an allowed add-on's first phase) is checked against the phases submitted
on that page, not the stored ones.
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.text import capfirst
from unfold.widgets import (
    INPUT_CLASSES,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apps.catalog.models import Addon, Feature, Plan, PlanAddon, RateCard, Status, validate_key
from apps.catalog.prices import RateCardError, tiers_of
from apps.catalog.rules import currency_problem, phase_problems
from apps.catalog.widgets import MoneyInput, TierTableField
from apps.customers.models import Customer

TIERS_HELP = (
    "Each tier starts where the previous one ends, so tiers can have no gaps. Bounds must "
    "ascend; leave “up to” empty on the last tier (open-ended). Graduated: each tier's units "
    "at that tier's price. Volume: all units at the price of the tier the total falls in."
)
TIER_WORDS = {"upToAmount": "“up to”", "up_to": "“up to”", "unitPrice": "unit price",
              "unit_price": "unit price", "flatPrice": "flat price", "flat_price": "flat price"}


def default_currency() -> str:
    return getattr(settings, "METERLINE_DEFAULT_CURRENCY", "USD")


def model_field_kwargs(model, name: str) -> dict:
    field = model._meta.get_field(name)
    return {"label": capfirst(field.verbose_name), "help_text": field.help_text,
            "required": False}


def decimal_field(model, name: str, *, money: bool = False) -> forms.DecimalField:
    """A decimal of any size (ExactDecimalField); money shows the currency beside it."""
    widget = MoneyInput() if money else UnfoldAdminTextInputWidget(
        attrs={"inputmode": "decimal", "autocomplete": "off"})
    return forms.DecimalField(widget=widget, **model_field_kwargs(model, name))


class OptionalJSONField(forms.JSONField):
    """Nothing stored shows as an empty box rather than the word null."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


def json_field(model, name: str) -> OptionalJSONField:
    return OptionalJSONField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
                             **model_field_kwargs(model, name))


def set_currency(form: forms.BaseForm, currency: str) -> None:
    for field in form.fields.values():
        if hasattr(field.widget, "currency"):
            field.widget.currency = currency


def tier_message(error: RateCardError) -> str:
    """The pricing engine's message, naming the tier row it is about as "Tier 2: …"."""
    message = str(error)
    for word, label in TIER_WORDS.items():
        message = message.replace(word, label)
    if error.tier is None:
        return message
    prefix = f"Tier {error.tier + 1}: "
    message = message.removeprefix(prefix)
    return prefix + message[0].lower() + message[1:]


def live_forms(formset) -> list[forms.BaseForm]:
    """Forms that will be saved: filled in and not marked for deletion."""
    return [form for form in formset.forms
            if form.cleaned_data and not (formset.can_delete
                                          and formset._should_delete_form(form))]


def submitted_phase_keys(phases_formset, plan: Plan) -> list[str] | None:
    """The phase keys the page is saving, or None while the phases themselves are invalid."""
    if phases_formset is None:
        return list(plan.phases.values_list("key", flat=True)) if plan.pk else []
    if not phases_formset.is_valid():
        return None
    return [form.cleaned_data["key"] for form in live_forms(phases_formset)]


# --- features -------------------------------------------------------------------------------


class FeatureForm(forms.ModelForm):
    class Meta:
        model = Feature
        fields = ["key", "name", "meter", "meter_group_by_filters", "metadata"]
        widgets = {"meter_group_by_filters": UnfoldAdminTextareaWidget(attrs={"rows": 3}),
                   "metadata": UnfoldAdminTextareaWidget(attrs={"rows": 2})}

    def clean_key(self):
        key = self.cleaned_data["key"]
        taken = Feature.objects.filter(key=key, archived_at__isnull=True)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(f"A feature with key “{key}” already exists.")
        return key


# --- plan and add-on versions ---------------------------------------------------------------


class VersionForm(forms.ModelForm):
    """Fields shared by plan and add-on versions."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        set_currency(self, self.instance.currency if self.instance.pk
                     else self.initial.get("currency") or default_currency())

    def clean_key(self):
        key = self.cleaned_data["key"]
        if self.instance._state.adding:
            model = type(self.instance)
            draft = model.objects.live().filter(key=key).with_status(Status.DRAFT).first()
            if draft is not None:
                raise ValidationError(f"“{key}” already has a draft (version {draft.version}); "
                                      f"edit that one instead.")
        return key

    def clean_currency(self):
        currency = self.cleaned_data["currency"].strip().upper()
        if message := currency_problem(currency):
            raise ValidationError(message)
        return currency


class PlanForm(VersionForm):
    minimum_spend = decimal_field(Plan, "minimum_spend", money=True)

    class Meta:
        model = Plan
        fields = ["key", "name", "description", "currency", "billing_cadence",
                  "pro_rating_enabled", "minimum_spend", "metadata"]
        widgets = {"description": UnfoldAdminTextareaWidget(attrs={"rows": 3})}


class AddonForm(VersionForm):
    class Meta:
        model = Addon
        fields = ["key", "name", "description", "currency", "instances", "metadata"]
        widgets = {"description": UnfoldAdminTextareaWidget(attrs={"rows": 3})}


class PhaseFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        ordered = sorted(enumerate(live_forms(self)),
                         key=lambda item: (item[1].cleaned_data.get("position") or 0, item[0]))
        phases = [form.instance for _, form in ordered]
        problems = []
        for index, wire, message in phase_problems(phases):
            if wire == "phases":
                problems.append(message)
            else:
                problems.append(f"Phase “{phases[index].key}”: {message}")
        if problems:
            raise ValidationError(problems)


class RateCardForm(forms.ModelForm):
    tiers = TierTableField(label="Tiers", required=False, help_text=TIERS_HELP)
    price_amount = decimal_field(RateCard, "price_amount", money=True)
    minimum_amount = decimal_field(RateCard, "minimum_amount", money=True)
    maximum_amount = decimal_field(RateCard, "maximum_amount", money=True)
    quantity_per_package = decimal_field(RateCard, "quantity_per_package")
    discount_percentage = decimal_field(RateCard, "discount_percentage")
    discount_usage_quantity = decimal_field(RateCard, "discount_usage_quantity")
    entitlement_template = json_field(RateCard, "entitlement_template")
    tax_config = json_field(RateCard, "tax_config")

    currency = ""  # the plan's or add-on's; the inline sets it per page

    class Meta:
        model = RateCard
        fields = ["phase_key", "key", "name", "type", "feature", "billing_cadence", "position",
                  "price_type", "price_amount", "payment_term", "tiered_mode", "tiers",
                  "quantity_per_package", "minimum_amount", "maximum_amount",
                  "discount_percentage", "discount_usage_quantity", "entitlement_template",
                  "tax_config", "description"]
        widgets = {"description": UnfoldAdminTextareaWidget(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        set_currency(self, self.currency or default_currency())
        if "quantity_per_package" in self.fields:
            self.fields["quantity_per_package"].label = "Package size"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("price_type") != RateCard.PriceType.TIERED and "tiers" in cleaned:
            cleaned["tiers"] = []  # tiers belong to tiered prices only
        return cleaned

    def full_clean(self):
        super().full_clean()
        # The model's clean reports tier problems in the engine's words; say which row.
        if self._errors and "tiers" in self._errors \
                and self.instance.price_type == RateCard.PriceType.TIERED:
            try:
                tiers_of(self.instance.tiers)
            except RateCardError as error:
                self._errors["tiers"] = self.error_class([tier_message(error)],
                                                         renderer=self.renderer)
                self.fields["tiers"].widget.error_row = error.tier


class PlanRateCardFormSet(BaseInlineFormSet):
    phases_formset = None  # the phases submitted on the same page (set by PlanAdmin)

    def clean(self):
        super().clean()
        phase_keys = submitted_phase_keys(self.phases_formset, self.instance)
        seen = set()
        for form in live_forms(self):
            data = form.cleaned_data
            phase_key = data.get("phase_key") or ""
            if phase_keys is not None:
                if not phase_key and len(phase_keys) == 1:
                    phase_key = data["phase_key"] = form.instance.phase_key = phase_keys[0]
                if phase_key not in phase_keys:
                    known = ", ".join(f"“{key}”" for key in phase_keys) or "none yet"
                    form.add_error("phase_key", (
                        f"This plan has no phase “{phase_key}”; its phases are {known}."
                        if phase_key else f"Choose the phase: {known}."))
            scope = (phase_key, data.get("key"))
            if data.get("key") and scope in seen:
                form.add_error("key", f"Rate card key “{data['key']}” is used twice in phase "
                                      f"“{phase_key}”.")
            seen.add(scope)


class AddonRateCardFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        seen = set()
        for form in live_forms(self):
            key = form.cleaned_data.get("key")
            if key and key in seen:
                form.add_error("key", f"Rate card key “{key}” is used twice.")
            seen.add(key)


class PlanAddonFormSet(BaseInlineFormSet):
    """The same rules as services.plan_addon_set, reported on the fields."""

    phases_formset = None

    def clean(self):
        super().clean()
        plan = self.instance
        phase_keys = submitted_phase_keys(self.phases_formset, plan)
        for form in live_forms(self):
            data = form.cleaned_data
            addon, quantity = data.get("addon"), data.get("max_quantity")
            if addon is not None:
                if addon.deleted_at is not None or addon.status == Status.ARCHIVED:
                    form.add_error("addon", f"{addon} is {addon.status}; allow an active "
                                            f"add-on version.")
                elif addon.currency != plan.currency:
                    form.add_error("addon", f"{addon} is priced in {addon.currency}, the plan "
                                            f"in {plan.currency}.")
                elif addon.instances == Addon.Instances.SINGLE and quantity not in (None, 1):
                    form.add_error("max_quantity",
                                   "A single-instance add-on can only be bought once.")
            phase = data.get("from_plan_phase")
            if phase and phase_keys is not None and phase not in phase_keys:
                known = ", ".join(f"“{key}”" for key in phase_keys) or "none yet"
                form.add_error("from_plan_phase",
                               f"This plan has no phase “{phase}”; its phases are {known}.")


class AddonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj} — {obj.status.label.lower()}, {obj.currency}"


class PlanAddonForm(forms.ModelForm):
    # Archived versions stay listed so that a row allowing one shows why it is refused.
    addon = AddonChoiceField(queryset=Addon.objects.live().order_by("key", "-version"),
                             widget=UnfoldAdminSelectWidget, label="Add-on")

    class Meta:
        model = PlanAddon
        fields = ["addon", "from_plan_phase", "max_quantity"]


# --- actions and pages ----------------------------------------------------------------------


class DuplicateForm(forms.Form):
    key = forms.CharField(max_length=64, validators=[validate_key],
                          widget=UnfoldAdminTextInputWidget,
                          help_text="The new key; the copy starts as its version 1, a draft.")
    name = forms.CharField(max_length=256, widget=UnfoldAdminTextInputWidget)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs={"class": " ".join(INPUT_CLASSES), **(attrs or {})},
                         format="%Y-%m-%dT%H:%M")


class SimulationForm(forms.Form):
    """Usage for one billing period: quantities typed in, or a customer's stored usage."""

    phase = forms.ChoiceField(widget=UnfoldAdminSelectWidget)
    customer = forms.ModelChoiceField(queryset=Customer.objects.none(), required=False,
                                      widget=UnfoldAdminSelectWidget,
                                      help_text="Price this customer's metered usage instead "
                                                "of the quantities above.")
    start = forms.DateTimeField(label="From", required=False, widget=DateTimeLocalInput)
    end = forms.DateTimeField(label="To", required=False, widget=DateTimeLocalInput,
                              help_text="Usage in [from, to), in UTC.")
    compare = forms.ModelChoiceField(queryset=Plan.objects.none(), required=False,
                                     widget=UnfoldAdminSelectWidget, label="Compare with",
                                     empty_label="(no comparison)")

    def __init__(self, *args, plan: Plan, features: list[Feature], comparison: Plan | None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        phases = list(plan.phases.all())
        self.fields["phase"].choices = [(p.key, f"{p.name} ({p.key})") for p in phases]
        self.fields["phase"].initial = phases[-1].key if phases else None
        self.fields["customer"].queryset = Customer.objects.live().order_by("name")
        self.fields["compare"].queryset = Plan.objects.live().filter(key=plan.key) \
            .exclude(pk=plan.pk).order_by("-version")
        self.fields["compare"].initial = comparison.pk if comparison else None
        end = timezone.now().replace(second=0, microsecond=0)
        self.fields["end"].initial = end
        self.fields["start"].initial = end - timedelta(days=30)
        self.usage_fields = {}
        for feature in features:
            name = f"usage__{feature.key}"
            self.fields[name] = forms.DecimalField(
                label=f"{feature.name} ({feature.key})", required=False, min_value=0,
                widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"}))
            self.usage_fields[feature.key] = name

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("customer"):
            if self.usage():
                self.add_error(None, "Enter quantities or choose a customer, not both.")
            for name in ("start", "end"):
                if not cleaned.get(name) and name not in self.errors:
                    self.add_error(name, "Required for a customer's usage.")
        return cleaned

    def usage(self) -> dict:
        return {key: self.cleaned_data[name] for key, name in self.usage_fields.items()
                if self.cleaned_data.get(name) is not None}

    def is_customer_usage(self) -> bool:
        return self.cleaned_data.get("customer") is not None

    def field_for(self, wire: str | None) -> str | None:
        """The form field a service error names (usage.api_calls, phase, to), if any."""
        if wire and wire.startswith("usage.") and wire[6:] in self.usage_fields:
            return self.usage_fields[wire[6:]]
        return {"phase": "phase", "to": "end", "from": "start"}.get(wire or "")
