from rest_framework import serializers


class LifecycleFields(serializers.Serializer):
    """OpenMeter's createdAt / updatedAt / deletedAt, for resources that are soft-deleted."""

    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    deletedAt = serializers.DateTimeField(source="deleted_at", allow_null=True)
