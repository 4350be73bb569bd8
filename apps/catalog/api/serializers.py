"""OpenMeter's catalog shapes (features, plans, add-ons, rate cards) and the simulation body."""

from decimal import Decimal, InvalidOperation

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.catalog.models import Feature, RateCard
from apps.customers.api.serializers import MetadataField
from apps.metering.models import SLUG_PATTERN as SLUG


@extend_schema_field(OpenApiTypes.STR)
class NumericField(serializers.Field):
    """OpenMeter's `Numeric`: a decimal string (numbers accepted), kept exact."""

    default_error_messages = {
        "invalid": "Enter a decimal number such as \"0.01\".",
        "inexact": "Send decimals as strings (e.g. \"0.01\"): a JSON number with a fraction "
                   "is binary floating point and may not be exact.",
    }

    def __init__(self, *, minimum: Decimal | None = Decimal(0), **kwargs):
        self.minimum = minimum
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("inexact" if type(data).__name__ == "float" else "invalid")
        try:
            number = Decimal(data.strip() if isinstance(data, str) else data)
        except InvalidOperation:
            self.fail("invalid")
        if not number.is_finite():
            self.fail("invalid")
        if self.minimum is not None and number < self.minimum:
            raise serializers.ValidationError(f"Must be at least {self.minimum}.")
        return number

    def to_representation(self, value):
        return None if value is None else str(value)


def numeric(value) -> str | None:
    return None if value is None else str(value)


class KeyField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(SLUG, max_length=64, error_messages={
            "invalid": "Use lower-case letters, digits and single underscores, e.g. api_calls."
        }, **kwargs)


# --- features ------------------------------------------------------------------------------


class FeatureInputSerializer(serializers.Serializer):
    key = KeyField()
    name = serializers.CharField(max_length=256)
    meterSlug = serializers.CharField(required=False, allow_null=True)
    meterGroupByFilters = serializers.DictField(child=serializers.CharField(), required=False,
                                                allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)


class FeatureOutputSerializer(serializers.ModelSerializer):
    meterSlug = serializers.SerializerMethodField()
    meterGroupByFilters = serializers.JSONField(source="meter_group_by_filters")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    archivedAt = serializers.DateTimeField(source="archived_at", allow_null=True)

    class Meta:
        model = Feature
        fields = ["id", "key", "name", "metadata", "meterSlug", "meterGroupByFilters",
                  "archivedAt", "createdAt", "updatedAt"]

    def get_meterSlug(self, feature) -> str | None:
        return feature.meter.slug if feature.meter_id else None


# --- rate cards ----------------------------------------------------------------------------


class AmountSerializer(serializers.Serializer):
    type = serializers.CharField(required=False)
    amount = NumericField()


class TierSerializer(serializers.Serializer):
    upToAmount = NumericField(required=False, allow_null=True)
    flatPrice = AmountSerializer(required=False, allow_null=True)
    unitPrice = AmountSerializer(required=False, allow_null=True)


class PriceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["flat", "unit", "tiered", "package", "dynamic"])
    amount = NumericField(required=False)
    paymentTerm = serializers.ChoiceField(choices=["in_advance", "in_arrears"], required=False)
    mode = serializers.ChoiceField(choices=["graduated", "volume"], required=False)
    tiers = TierSerializer(many=True, required=False)
    quantityPerPackage = NumericField(required=False)
    minimumAmount = NumericField(required=False, allow_null=True)
    maximumAmount = NumericField(required=False, allow_null=True)

    def validate(self, attrs):
        kind = attrs["type"]
        if kind == "dynamic":
            raise serializers.ValidationError({"type": "Dynamic prices are not supported; use a "
                                                       "unit, tiered or package price."})
        required = {"flat": ["amount"], "unit": ["amount"], "tiered": ["mode", "tiers"],
                    "package": ["amount", "quantityPerPackage"]}[kind]
        missing = {name: "This field is required for a " f"{kind} price."
                   for name in required if name not in attrs}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class PercentageDiscountSerializer(serializers.Serializer):
    percentage = NumericField()


class UsageDiscountSerializer(serializers.Serializer):
    quantity = NumericField()


class DiscountsSerializer(serializers.Serializer):
    percentage = PercentageDiscountSerializer(required=False, allow_null=True)
    usage = UsageDiscountSerializer(required=False, allow_null=True)


class RateCardInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["flat_fee", "usage_based"])
    key = KeyField()
    name = serializers.CharField(max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)
    featureKey = serializers.CharField(required=False, allow_null=True)
    billingCadence = serializers.CharField(required=False, allow_null=True)
    price = PriceSerializer(required=False, allow_null=True)
    discounts = DiscountsSerializer(required=False, allow_null=True)
    entitlementTemplate = serializers.JSONField(required=False, allow_null=True)
    taxConfig = serializers.JSONField(required=False, allow_null=True)


def rate_card_values(data: dict, features: dict) -> dict:
    """Validated wire rate card -> RateCard model field values."""
    price = data.get("price") or {}
    discounts = data.get("discounts") or {}
    tiers = [
        {"upToAmount": numeric(tier.get("upToAmount")),
         "unitPrice": numeric((tier.get("unitPrice") or {}).get("amount")),
         "flatPrice": numeric((tier.get("flatPrice") or {}).get("amount"))}
        for tier in price.get("tiers") or []
    ]
    return {
        "key": data["key"], "type": data["type"], "name": data["name"],
        "description": data.get("description") or "", "metadata": data.get("metadata") or {},
        "feature": features.get(data.get("featureKey")),
        "billing_cadence": data.get("billingCadence") or "",
        "price_type": price.get("type", ""), "price_amount": price.get("amount"),
        "payment_term": price.get("paymentTerm", "in_advance"),
        "tiered_mode": price.get("mode", "graduated"), "tiers": tiers,
        "quantity_per_package": price.get("quantityPerPackage"),
        "minimum_amount": price.get("minimumAmount"),
        "maximum_amount": price.get("maximumAmount"),
        "discount_percentage": (discounts.get("percentage") or {}).get("percentage"),
        "discount_usage_quantity": (discounts.get("usage") or {}).get("quantity"),
        "entitlement_template": data.get("entitlementTemplate"),
        "tax_config": data.get("taxConfig"),
    }


def rate_card_representation(card: RateCard) -> dict:
    body = {
        "type": card.type, "key": card.key, "name": card.name,
        "description": card.description or None, "metadata": card.metadata,
        "featureKey": card.feature.key if card.feature_id else None,
        "billingCadence": card.billing_cadence or None,
        "price": price_representation(card),
        "entitlementTemplate": card.entitlement_template,
        "taxConfig": card.tax_config,
    }
    discounts = {}
    if card.discount_percentage is not None:
        discounts["percentage"] = {"percentage": numeric(card.discount_percentage)}
    if card.discount_usage_quantity is not None:
        discounts["usage"] = {"quantity": numeric(card.discount_usage_quantity)}
    body["discounts"] = discounts or None
    return body


def price_representation(card: RateCard) -> dict | None:
    commitments = {"minimumAmount": numeric(card.minimum_amount),
                   "maximumAmount": numeric(card.maximum_amount)}
    match card.price_type:
        case "flat":
            return {"type": "flat", "amount": numeric(card.price_amount),
                    "paymentTerm": card.payment_term}
        case "unit":
            return {"type": "unit", "amount": numeric(card.price_amount), **commitments}
        case "package":
            return {"type": "package", "amount": numeric(card.price_amount),
                    "quantityPerPackage": numeric(card.quantity_per_package), **commitments}
        case "tiered":
            return {"type": "tiered", "mode": card.tiered_mode, "tiers": [
                {"upToAmount": tier.get("upToAmount"),
                 "unitPrice": ({"type": "unit", "amount": tier["unitPrice"]}
                               if tier.get("unitPrice") is not None else None),
                 "flatPrice": ({"type": "flat", "amount": tier["flatPrice"]}
                               if tier.get("flatPrice") is not None else None)}
                for tier in card.tiers
            ], **commitments}
    return None


# --- plans and add-ons ---------------------------------------------------------------------


class ProRatingSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(default=True)
    mode = serializers.ChoiceField(choices=["prorate_prices"], default="prorate_prices")


class PhaseInputSerializer(serializers.Serializer):
    key = KeyField()
    name = serializers.CharField(max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)
    duration = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    rateCards = RateCardInputSerializer(many=True)


class VersionInputSerializer(serializers.Serializer):
    key = KeyField()
    name = serializers.CharField(max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)
    currency = serializers.CharField(default="USD")


class PlanInputSerializer(VersionInputSerializer):
    billingCadence = serializers.CharField()
    proRatingConfig = ProRatingSerializer(required=False)
    minimumSpend = NumericField(required=False, allow_null=True,
                                help_text="Meterline extension: plan-level minimum per period.")
    phases = PhaseInputSerializer(many=True)


class AddonInputSerializer(VersionInputSerializer):
    instanceType = serializers.ChoiceField(choices=["single", "multiple"], default="single")
    rateCards = RateCardInputSerializer(many=True)


def version_representation(instance) -> dict:
    return {
        "id": instance.id, "key": instance.key, "name": instance.name,
        "description": instance.description or None, "metadata": instance.metadata,
        "version": instance.version, "currency": instance.currency,
        "effectiveFrom": _time(instance.effective_from),
        "effectiveTo": _time(instance.effective_to),
        "status": instance.status.value if instance.deleted_at is None else "deleted",
        "createdAt": _time(instance.created_at), "updatedAt": _time(instance.updated_at),
        "deletedAt": _time(instance.deleted_at),
    }


def plan_representation(plan) -> dict:
    cards: dict[str, list] = {}
    for card in plan.rate_cards.all():
        cards.setdefault(card.phase_key, []).append(rate_card_representation(card))
    return {
        **version_representation(plan),
        "billingCadence": plan.billing_cadence,
        "proRatingConfig": {"enabled": plan.pro_rating_enabled, "mode": "prorate_prices"},
        "minimumSpend": numeric(plan.minimum_spend),
        "phases": [{"key": phase.key, "name": phase.name,
                    "description": phase.description or None, "metadata": phase.metadata,
                    "duration": phase.duration or None,
                    "rateCards": cards.get(phase.key, [])} for phase in plan.phases.all()],
        "validationErrors": None,
    }


def addon_representation(addon) -> dict:
    return {
        **version_representation(addon),
        "instanceType": addon.instances,
        "rateCards": [rate_card_representation(card) for card in addon.rate_cards.all()],
    }


def _time(value):
    return None if value is None else serializers.DateTimeField().to_representation(value)


class PublishSerializer(serializers.Serializer):
    effectiveFrom = serializers.DateTimeField(required=False, allow_null=True)
    effectiveTo = serializers.DateTimeField(required=False, allow_null=True)


class PlanAddonInputSerializer(serializers.Serializer):
    addonId = serializers.CharField()
    fromPlanPhase = serializers.CharField()
    maxQuantity = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    metadata = MetadataField(required=False, allow_null=True)


def plan_addon_representation(link) -> dict:
    return {
        "id": str(link.pk), "addon": addon_representation(link.addon),
        "fromPlanPhase": link.from_plan_phase, "maxQuantity": link.max_quantity,
        "metadata": link.metadata, "createdAt": _time(link.created_at),
        "updatedAt": _time(link.updated_at),
    }


# --- simulation ----------------------------------------------------------------------------


class SimulateInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1)
    phase = serializers.CharField(required=False, help_text="Phase key; default: the last.")
    usage = serializers.DictField(child=NumericField(), required=False)
    customerId = serializers.CharField(required=False)
    to_ = serializers.DateTimeField(required=False)
    compareVersion = serializers.IntegerField(
        required=False, min_value=1, help_text="Price this version too; default: the active one.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(required=False)
        fields["to"] = fields.pop("to_")
        return fields

    def validate(self, attrs):
        has_usage = "usage" in attrs
        has_customer = "customerId" in attrs
        if has_usage == has_customer:
            raise serializers.ValidationError(
                {"usage": "Give either usage quantities or customerId with from and to."})
        if has_customer:
            missing = {name: "Required with customerId." for name in ("from", "to")
                       if name not in attrs}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs
