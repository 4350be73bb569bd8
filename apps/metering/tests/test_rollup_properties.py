"""Rollups maintained on ingest equal a from-scratch recomputation, whatever the arrival order."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.metering import selectors, services
from apps.metering.models import Event, Meter, MeterRollup, MeterUniqueValue
from apps.metering.tests.oracle import expected_rows

pytestmark = pytest.mark.django_db

BASE = datetime(2024, 3, 10, 6, 58, tzinfo=UTC)
AGGREGATIONS = ["SUM", "COUNT", "UNIQUE_COUNT", "AVG", "MIN", "MAX", "LATEST"]

event_strategy = st.fixed_dictionaries({
    "id": st.integers(0, 40).map(str),
    "subject": st.sampled_from(["a", "b", "c"]),
    "offset": st.integers(0, 6 * 60),  # seconds: six minutes, many collisions and ties
    "value": st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False),
    "model": st.sampled_from(["x", "y"]),
})


def as_cloud_event(spec) -> dict:
    instant = BASE + timedelta(seconds=spec["offset"])
    return {"specversion": "1.0", "id": spec["id"], "source": "prop", "type": "t",
            "subject": spec["subject"], "time": instant.isoformat().replace("+00:00", "Z"),
            "data": {"v": float(spec["value"]), "model": spec["model"],
                     "u": f"user-{spec['value'] % 5}"}}


def rollup_snapshot():
    columns = ["meter__slug", "subject", "group_key", "bucket_start", "count", "sum", "min",
               "max", "latest_value", "latest_time", "latest_seq"]
    return (sorted(MeterRollup.objects.values_list(*columns)),
            sorted(MeterUniqueValue.objects.values_list("meter__slug", "subject", "group_key",
                                                        "bucket_start", "value")))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(specs=st.lists(event_strategy, min_size=1, max_size=60),
       cuts=st.lists(st.integers(1, 60), max_size=5), data=st.data())
def test_rollups_equal_recomputation(specs, cuts, data):
    for model in (MeterRollup, MeterUniqueValue, Event, Meter):
        model.objects.all().delete()
    for aggregation in AGGREGATIONS:
        services.meter_create(
            slug=aggregation.lower(), aggregation=aggregation, event_type="t",
            value_property="$.u" if aggregation == "UNIQUE_COUNT" else "$.v",
            group_by={"model": "$.model"})
    events = [as_cloud_event(spec) for spec in specs]
    arrival = data.draw(st.permutations(events))  # late and out-of-order arrival
    bounds = sorted({0, len(arrival), *[c for c in cuts if c < len(arrival)]})
    for start, end in pairwise(bounds):
        services.ingest_events(arrival[start:end])
    services.ingest_events(arrival[: len(arrival) // 2])  # retries change nothing

    first_copies = {}
    for event in arrival:
        first_copies.setdefault(event["id"], event)
    stored = list(first_copies.values())
    maintained = rollup_snapshot()
    for aggregation in AGGREGATIONS:
        meter = Meter.objects.get(slug=aggregation.lower())
        path = "$.u" if aggregation == "UNIQUE_COUNT" else "$.v"
        for window_size in (None, "MINUTE"):
            query = selectors.MeterQuery(
                start=BASE, end=BASE + timedelta(minutes=7),
                window_size=window_size and selectors.WindowSize(window_size),
                subjects=["a", "b", "c"], group_by=["model"])
            rows = {(r.window_start if window_size else None, r.subject,
                     (r.group_by["model"],)): r.value
                    for r in selectors.query_meter(meter, query)}
            expected = expected_rows(
                _in_arrival_order(stored, arrival), aggregation=aggregation, path=path,
                start=BASE, end=BASE + timedelta(minutes=7), window_size=window_size,
                group_by=["model"], by_subject=True)
            assert set(rows) == set(expected)
            for key, value in expected.items():
                if aggregation == "AVG":  # the oracle divides with 28 digits, we with more
                    assert abs(rows[key] - value) < Decimal("1e-24"), key
                else:
                    assert rows[key] == value, (aggregation, key)
    for meter in Meter.objects.all():
        services.rebuild_rollups(meter=meter)
    assert rollup_snapshot() == maintained


def _in_arrival_order(stored, arrival):
    """LATEST breaks equal times by storage order, i.e. the order events first arrived."""
    order = {id(event): n for n, event in enumerate(arrival)}
    return sorted(stored, key=lambda event: order[id(event)])
