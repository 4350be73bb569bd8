"""OpenMeter's customer shape (camelCase), plus a few Meterline extensions."""

from rest_framework import serializers

from apps.core.serializers import LifecycleFields
from apps.core.validators import (
    validate_country_code,
    validate_currency_code,
    validate_time_zone,
)
from apps.customers.models import Customer

ADDRESS_FIELDS = {
    "country": "address_country",
    "postalCode": "address_postal_code",
    "state": "address_state",
    "city": "address_city",
    "line1": "address_line1",
    "line2": "address_line2",
    "phoneNumber": "phone_number",
}


def django_validator(validator):
    """Run a model-field validator and report its message as a DRF error."""
    from django.core.exceptions import ValidationError

    def run(value):
        try:
            validator(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages[0]) from exc

    return run


class MetadataField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, max_length=1024)


class BillingAddressSerializer(serializers.Serializer):
    country = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                    validators=[django_validator(validate_country_code)])
    postalCode = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                       max_length=32)
    state = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                  max_length=128)
    city = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                 max_length=128)
    line1 = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                  max_length=256)
    line2 = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                  max_length=256)
    phoneNumber = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                        max_length=64)


class UsageAttributionSerializer(serializers.Serializer):
    subjectKeys = serializers.ListField(
        child=serializers.CharField(min_length=1, max_length=256), max_length=1000
    )


class CustomerInputSerializer(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=256)
    key = serializers.CharField(required=False, allow_null=True, min_length=1, max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    currency = serializers.CharField(required=False, allow_null=True,
                                     validators=[django_validator(validate_currency_code)])
    primaryEmail = serializers.EmailField(required=False, allow_blank=True, allow_null=True)
    billingAddress = BillingAddressSerializer(required=False, allow_null=True)
    usageAttribution = UsageAttributionSerializer(required=False, allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)
    timezone = serializers.CharField(required=False, allow_null=True,
                                     validators=[django_validator(validate_time_zone)],
                                     help_text="Meterline extension: IANA time zone.")
    taxId = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                  max_length=64, help_text="Meterline extension.")
    parentCustomerId = serializers.CharField(
        required=False, allow_null=True, help_text="Meterline extension: parent id or key."
    )
    billToParent = serializers.BooleanField(required=False, default=False,
                                            help_text="Meterline extension.")

    def validate(self, attrs):
        subject_keys = (attrs.get("usageAttribution") or {}).get("subjectKeys") or []
        if not attrs.get("key") and not subject_keys:
            raise serializers.ValidationError(
                {"key": ["Either key or usageAttribution.subjectKeys is required."]}
            )
        if len(set(subject_keys)) != len(subject_keys):
            raise serializers.ValidationError(
                {"usageAttribution": {"subjectKeys": ["Subject keys must be unique."]}}
            )
        return attrs


class CustomerOutputSerializer(LifecycleFields, serializers.ModelSerializer):
    primaryEmail = serializers.SerializerMethodField()
    billingAddress = serializers.SerializerMethodField()
    usageAttribution = serializers.SerializerMethodField()
    currentSubscriptionId = serializers.SerializerMethodField()
    timezone = serializers.CharField(source="time_zone")
    taxId = serializers.CharField(source="tax_id")
    parentCustomerId = serializers.CharField(source="parent_id", allow_null=True)
    billToParent = serializers.BooleanField(source="bill_to_parent")

    class Meta:
        model = Customer
        fields = [
            "id", "key", "name", "description", "currency", "primaryEmail", "billingAddress",
            "usageAttribution", "metadata", "currentSubscriptionId", "timezone", "taxId",
            "parentCustomerId", "billToParent", "createdAt", "updatedAt", "deletedAt",
        ]

    def get_primaryEmail(self, customer) -> str | None:
        return customer.primary_email or None

    def get_billingAddress(self, customer) -> dict | None:
        address = {api: getattr(customer, model) or None for api, model in ADDRESS_FIELDS.items()}
        return {k: v for k, v in address.items() if v is not None} or None

    def get_usageAttribution(self, customer) -> dict:
        return {"subjectKeys": [consumer.key for consumer in customer.consumers.all()]}

    def get_currentSubscriptionId(self, customer) -> str | None:
        return None  # subscriptions arrive with the billing app


class CustomerListSerializer(serializers.Serializer):
    totalCount = serializers.IntegerField()
    page = serializers.IntegerField()
    pageSize = serializers.IntegerField()
    items = CustomerOutputSerializer(many=True)
