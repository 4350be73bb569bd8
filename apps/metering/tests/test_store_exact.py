"""Ingest hands values to the database as text (PostgreSQL: inside one JSON document per
batch); every digit must arrive, and every other field of the event as sent."""

from datetime import UTC, datetime
from decimal import Decimal, localcontext

import pytest

from apps.metering import services
from apps.metering.models import Event, MeterRollup, MeterUniqueValue

pytestmark = pytest.mark.django_db

VALUES = ["123456789012345678901234567890.123456789012345678901234567891", "1E-30", "-7.50",
          "1e29", "0.000000000000000000000000000001", "-99999999999999999999999999999.9", 3,
          2.5, "0"]


def test_values_and_fields_arrive_digit_for_digit():
    for aggregation in ("SUM", "MIN", "MAX", "LATEST", "UNIQUE_COUNT"):
        services.meter_create(slug=aggregation.lower(), aggregation=aggregation, event_type="t",
                              value_property="$.v", group_by={"k": "$.k"})
    events = [{"specversion": "1.0", "id": f"e{n}", "source": "exact", "type": "t",
               "subject": "sübject \"q\" \\ ✓", "time": f"2024-05-01T10:00:{n:02d}.000123Z",
               "datacontenttype": "application/json", "dataschema": "https://x.test/s?a=b",
               "data": {"v": value, "k": None if n % 2 else "ünï", "nested": [1, {"x": None}]}}
              for n, value in enumerate(VALUES)]
    result = services.ingest_events(events)
    assert result.stored == len(VALUES)
    assert services.ingest_events(events).stored == 0  # retries are not counted twice

    numbers = [Decimal(str(v)) for v in VALUES]
    rows = {(r.meter.slug, r.group_values.get("k")): r
            for r in MeterRollup.objects.select_related("meter")}
    odd, even = numbers[1::2], numbers[0::2]
    with localcontext(prec=100):
        assert rows["sum", None].sum == sum(odd, Decimal(0))
        assert rows["sum", "ünï"].sum == sum(even, Decimal(0))
    assert rows["sum", "ünï"].count == len(even)
    assert rows["min", "ünï"].min == min(even)
    assert rows["max", None].max == max(odd)
    assert rows["latest", None].latest_value == odd[-1]
    assert rows["latest", None].latest_time == datetime(2024, 5, 1, 10, 0, len(VALUES) - 2,
                                                         123, tzinfo=UTC)
    uniques = set(MeterUniqueValue.objects.values_list("value", flat=True))
    assert uniques == {str(v) if isinstance(v, str) else repr(v) for v in VALUES}

    stored = Event.objects.get(event_id="e0")
    assert (stored.subject, stored.datacontenttype, stored.dataschema) == (
        "sübject \"q\" \\ ✓", "application/json", "https://x.test/s?a=b")
    assert stored.data == events[0]["data"]
    assert stored.time == datetime(2024, 5, 1, 10, 0, 0, 123, tzinfo=UTC)
