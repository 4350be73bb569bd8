"""OpenMeter's page envelope: ``{totalCount, page, pageSize, items}`` with 1-based pages."""

from rest_framework import serializers


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, default=1, min_value=1)
    pageSize = serializers.IntegerField(required=False, default=100, min_value=1,
                                        max_value=1000)
    order = serializers.ChoiceField(choices=["ASC", "DESC"], required=False, default="ASC")


def page_of(queryset, *, page: int, page_size: int) -> dict:
    start = (page - 1) * page_size
    return {
        "totalCount": queryset.count(),
        "page": page,
        "pageSize": page_size,
        "items": list(queryset[start : start + page_size]),
    }
