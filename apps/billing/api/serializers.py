"""OpenMeter's subscription and invoice shapes; money as decimal strings."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.billing.models import Invoice, InvoiceLine, Subscription
from apps.core.times import rfc3339
from apps.customers.api.serializers import MetadataField


@extend_schema_field(OpenApiTypes.STR)
class TimingField(serializers.Field):
    """`immediate`, `next_billing_cycle` or an RFC 3339 instant."""

    def to_internal_value(self, data):
        if data in ("immediate", "next_billing_cycle"):
            return data
        return serializers.DateTimeField().to_internal_value(data)

    def to_representation(self, value):
        return value


class PlanRefSerializer(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField(required=False, min_value=1)


class SubscriptionCreateSerializer(serializers.Serializer):
    plan = PlanRefSerializer()
    customerId = serializers.CharField(required=False)
    customerKey = serializers.CharField(required=False)
    timing = TimingField(required=False, default="immediate")
    billingAnchor = serializers.DateTimeField(required=False, allow_null=True)
    startingPhase = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=256)
    description = serializers.CharField(required=False, allow_blank=True)
    metadata = MetadataField(required=False, allow_null=True)

    def validate(self, attrs):
        if not attrs.get("customerId") and not attrs.get("customerKey"):
            raise serializers.ValidationError({"customerId": "customerId or customerKey is "
                                                             "required."})
        return attrs


class CancelSerializer(serializers.Serializer):
    timing = TimingField(required=False, default="immediate")


class ChangeSerializer(serializers.Serializer):
    timing = TimingField()
    plan = PlanRefSerializer()


class MigrateSerializer(serializers.Serializer):
    targetVersion = serializers.IntegerField(required=False, min_value=1)
    timing = TimingField(required=False, default="immediate")


class AddonRefSerializer(serializers.Serializer):
    id = serializers.CharField()


class SubscriptionAddonSerializer(serializers.Serializer):
    addon = AddonRefSerializer()
    quantity = serializers.IntegerField(min_value=0)


class QuantitySerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=0)


class InvoiceNowSerializer(serializers.Serializer):
    customerId = serializers.CharField()


class VoidSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def number(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def subscription_representation(subscription: Subscription) -> dict:
    plan = subscription.plan
    return {
        "id": subscription.id,
        "customerId": subscription.customer_id,
        "plan": {"id": plan.id, "key": plan.key, "version": plan.version},
        "name": subscription.name,
        "description": subscription.description or None,
        "status": subscription.status.value,
        "activeFrom": rfc3339(subscription.active_from),
        "activeTo": rfc3339(subscription.active_to),
        "currency": plan.currency,
        "billingCadence": plan.billing_cadence,
        "billingAnchor": rfc3339(subscription.billing_anchor or subscription.active_from),
        "proRatingConfig": {"enabled": plan.pro_rating_enabled, "mode": "prorate_prices"},
        "startingPhase": subscription.starting_phase or None,
        "metadata": subscription.metadata,
        "addons": [{"id": str(bought.pk), "addon": {"id": bought.addon_id,
                                                    "key": bought.addon.key},
                    "quantity": bought.quantity, "activeFrom": rfc3339(bought.active_from),
                    "activeTo": rfc3339(bought.active_to)}
                   for bought in sorted(subscription.addons.all(),
                                        key=lambda b: (b.active_from, b.pk))],
        "createdAt": rfc3339(subscription.created_at),
        "updatedAt": rfc3339(subscription.updated_at),
    }


def line_representation(line: InvoiceLine) -> dict:
    return {
        "id": str(line.pk) if line.pk else None,
        "type": line.type,
        "name": line.name,
        "description": line.description or None,
        "customerId": line.customer_id,
        "subscriptionId": line.subscription_id,
        "rateCardKey": line.rate_card_key or None,
        "featureKey": line.feature_key or None,
        "period": {"from": rfc3339(line.period_start), "to": rfc3339(line.period_end)},
        "quantity": number(line.quantity),
        "meteredQuantity": number(line.metered_quantity),
        "unitPrice": number(line.unit_price),
        "totals": {"amount": money(line.subtotal), "discountsTotal": money(line.discount),
                   "chargesTotal": money(line.adjustment), "total": money(line.amount)},
        "children": line.tiers,
    }


ACTIONS = {
    Invoice.Status.DRAFT: ["approve"],
    Invoice.Status.ISSUED: ["void"],
    Invoice.Status.UNCOLLECTIBLE: ["void"],
    Invoice.Status.PAID: [],
    Invoice.Status.VOID: [],
}


def invoice_representation(invoice: Invoice, *, with_lines: bool = True) -> dict:
    customer = invoice.customer
    body = {
        "id": invoice.id,
        "type": invoice.kind,
        "number": invoice.number,
        "status": invoice.status,
        "statusDetails": {"immutable": not invoice.is_draft,
                          "availableActions": ACTIONS[invoice.status]},
        "currency": invoice.currency,
        "customer": {"id": customer.pk, "key": customer.key, "name": customer.name},
        "supplier": invoice.supplier or None,
        "period": ({"from": rfc3339(invoice.period_start), "to": rfc3339(invoice.period_end)}
                   if invoice.period_start else None),
        "correctsInvoiceId": invoice.corrects_id,
        "issuedAt": rfc3339(invoice.issued_at),
        "dueAt": rfc3339(invoice.due_at),
        "paidAt": rfc3339(invoice.paid_at),
        "voidedAt": rfc3339(invoice.voided_at),
        "voidReason": invoice.void_reason or None,
        "requiresApproval": invoice.requires_approval,
        "taxRate": number(invoice.tax_rate),
        "totals": {"amount": money(invoice.subtotal),
                   "discountsTotal": money(invoice.discount_total),
                   "chargesTotal": money(invoice.adjustment_total),
                   "taxesTotal": money(invoice.tax_amount), "total": money(invoice.total)},
        "createdAt": rfc3339(invoice.created_at),
        "updatedAt": rfc3339(invoice.updated_at),
    }
    if with_lines:
        body["lines"] = [line_representation(line) for line in invoice.lines.all()]
    return body
