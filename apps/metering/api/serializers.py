"""OpenMeter's meter, query and event shapes."""

from rest_framework import serializers

from apps.core.serializers import LifecycleFields
from apps.metering.domain import extraction
from apps.metering.domain.aggregation import Aggregation
from apps.metering.models import SLUG_PATTERN, Meter


def validate_json_path(value: str) -> str:
    try:
        extraction.compile_path(value)
    except ValueError as exc:
        raise serializers.ValidationError(f"Invalid JSONPath: {exc}") from exc
    return value


class GroupByField(serializers.DictField):
    child = serializers.CharField(validators=[validate_json_path])

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        for name in value:
            if name in ("subject", "customer_id"):
                raise serializers.ValidationError(f"“{name}” is a reserved dimension.")
        return value


class MeterCreateSerializer(serializers.Serializer):
    slug = serializers.RegexField(SLUG_PATTERN, max_length=64)
    name = serializers.CharField(required=False, allow_blank=True, max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    aggregation = serializers.ChoiceField(choices=[a.value for a in Aggregation])
    eventType = serializers.CharField(max_length=256)
    eventFrom = serializers.DateTimeField(required=False, allow_null=True)
    valueProperty = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                                          validators=[validate_json_path])
    groupBy = GroupByField(required=False)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                     required=False)

    def validate(self, attrs):
        needs_value = attrs["aggregation"] != Aggregation.COUNT
        if needs_value and not attrs.get("valueProperty"):
            raise serializers.ValidationError(
                {"valueProperty": [f"{attrs['aggregation']} needs a value property."]})
        return attrs


class MeterUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    groupBy = GroupByField(required=False)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                     required=False)


class MeterSerializer(LifecycleFields, serializers.ModelSerializer):
    eventType = serializers.CharField(source="event_type")
    eventFrom = serializers.DateTimeField(source="event_from", allow_null=True)
    valueProperty = serializers.SerializerMethodField()
    groupBy = serializers.JSONField(source="group_by")

    class Meta:
        model = Meter
        fields = ["id", "slug", "name", "description", "metadata", "aggregation", "eventType",
                  "eventFrom", "valueProperty", "groupBy", "createdAt", "updatedAt",
                  "deletedAt"]

    def get_valueProperty(self, meter) -> str | None:
        return meter.value_property or None


class MeterQuerySerializer(serializers.Serializer):
    """The query parameters (GET) or body (POST) of a meter query."""

    from_ = serializers.DateTimeField(required=False, source="start")
    to = serializers.DateTimeField(required=False, source="end")
    windowSize = serializers.ChoiceField(choices=["MINUTE", "HOUR", "DAY", "MONTH"],
                                         required=False, allow_null=True)
    windowTimeZone = serializers.CharField(required=False, default="UTC")
    subject = serializers.ListField(child=serializers.CharField(), required=False,
                                    max_length=100)
    filterCustomerId = serializers.ListField(child=serializers.CharField(), required=False,
                                             max_length=100)
    groupBy = serializers.ListField(child=serializers.CharField(), required=False,
                                    max_length=100)
    filterGroupBy = serializers.DictField(child=serializers.ListField(
        child=serializers.CharField()), required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and start >= end:
            raise serializers.ValidationError({"to": ["must be after from"]})
        return attrs


class MeterQueryRowSerializer(serializers.Serializer):
    value = serializers.FloatField()
    windowStart = serializers.DateTimeField()
    windowEnd = serializers.DateTimeField()
    subject = serializers.CharField(allow_null=True)
    customerId = serializers.CharField(required=False)
    groupBy = serializers.DictField(child=serializers.CharField(allow_null=True))


class MeterQueryResultSerializer(serializers.Serializer):
    from_ = serializers.DateTimeField(required=False)
    to = serializers.DateTimeField(required=False)
    windowSize = serializers.CharField(required=False)
    data = MeterQueryRowSerializer(many=True)


class IngestedEventSerializer(serializers.Serializer):
    event = serializers.DictField()
    customerId = serializers.CharField(required=False)
    validationError = serializers.CharField(required=False)
    ingestedAt = serializers.DateTimeField()
    storedAt = serializers.DateTimeField()


class CloudEventSerializer(serializers.Serializer):
    """For the schema only: ingest validates events itself (apps.metering.domain.events)."""

    specversion = serializers.CharField(default="1.0")
    id = serializers.CharField()
    source = serializers.CharField()
    type = serializers.CharField()
    subject = serializers.CharField()
    time = serializers.DateTimeField(required=False, allow_null=True)
    data = serializers.DictField(required=False, allow_null=True)
    datacontenttype = serializers.CharField(required=False, allow_null=True)
    dataschema = serializers.CharField(required=False, allow_null=True)
