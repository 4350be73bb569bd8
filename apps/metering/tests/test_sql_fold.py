"""On PostgreSQL, SUM/COUNT/AVG/MIN/MAX queries fold rollups in SQL; the result must equal the
Python fold (which SQLite, LATEST and UNIQUE_COUNT use) key for key, value for value."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from apps.metering import selectors, services
from apps.metering.domain.windows import WindowSize

pytestmark = pytest.mark.django_db

AGGREGATIONS = ["SUM", "COUNT", "AVG", "MIN", "MAX", "UNIQUE_COUNT", "LATEST"]
# Around both Berlin DST changes of 2024 (23- and 25-hour days) and Kolkata's :30 offset.
SPANS = [datetime(2024, 3, 29, tzinfo=UTC), datetime(2024, 10, 25, tzinfo=UTC)]


def events(count=600, seed=5):
    rng = random.Random(seed)
    out = []
    for n in range(count):
        instant = rng.choice(SPANS) + timedelta(seconds=rng.randrange(5 * 86400))
        out.append({"specversion": "1.0", "id": f"e{n}", "source": "fold", "type": "t",
                    "subject": rng.choice(["a", "b", "c"]),
                    "time": instant.isoformat().replace("+00:00", "Z"),
                    "data": {"v": str(Decimal(rng.randrange(-5000, 5000)) / 100),
                             "model": rng.choice(["x", "y", None]),
                             "u": f"u{rng.randrange(9)}"}})
    return out


def python_fold(meter, query, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(selectors, "SQL_FOLDS", {})
        return selectors.query_meter(meter, query)


@pytest.fixture
def meters():
    made = {a: services.meter_create(slug=a.lower(), aggregation=a, event_type="t",
                                     value_property="$.u" if a == "UNIQUE_COUNT" else "$.v",
                                     group_by={"model": "$.model"})
            for a in AGGREGATIONS}
    services.ingest_events(events())
    return made


QUERIES = [
    dict(),
    dict(start=SPANS[0], end=SPANS[0] + timedelta(days=5)),
    dict(start=SPANS[0], end=SPANS[1] + timedelta(days=5), window_size=WindowSize.DAY,
         time_zone=ZoneInfo("Europe/Berlin")),
    dict(window_size=WindowSize.DAY, time_zone=ZoneInfo("Europe/Berlin"), group_by=["model"]),
    dict(start=SPANS[1], end=SPANS[1] + timedelta(days=4, seconds=30),
         window_size=WindowSize.HOUR, time_zone=ZoneInfo("Europe/Berlin"), subjects=["a", "b"]),
    dict(start=SPANS[0] + timedelta(seconds=20), end=SPANS[0] + timedelta(days=3),
         window_size=WindowSize.HOUR, time_zone=ZoneInfo("Asia/Kolkata"),
         group_by=["model", "subject"], filter_group_by={"model": ["x"]}),
    dict(window_size=WindowSize.MONTH, time_zone=ZoneInfo("America/New_York"),
         group_by=["subject"]),
    dict(start=SPANS[0], end=SPANS[0] + timedelta(hours=6), window_size=WindowSize.MINUTE),
    dict(end=SPANS[1], window_size=WindowSize.MINUTE),  # too many windows: the Python fold
]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_sql_fold_equals_python_fold(meters, aggregation, monkeypatch):
    meter = meters[aggregation]
    for params in QUERIES:
        query = selectors.MeterQuery(**params)
        rows = selectors.query_meter(meter, query)
        assert rows == python_fold(meter, query, monkeypatch), params
        assert rows


def test_sql_fold_is_used_on_postgresql(meters, django_assert_max_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite folds in Python")
    query = selectors.MeterQuery(start=SPANS[0], end=SPANS[1] + timedelta(days=5),
                                 window_size=WindowSize.DAY, time_zone=ZoneInfo("Europe/Berlin"))
    with django_assert_max_num_queries(1) as captured:
        rows = selectors.query_meter(meters["SUM"], query)
    assert "width_bucket" in captured.captured_queries[0]["sql"]
    # 23-hour and 25-hour days are windows like any other
    lengths = {row.window_start.date(): row.window_end - row.window_start for row in rows}
    assert lengths[datetime(2024, 3, 30).date()] == timedelta(hours=23)
    assert lengths[datetime(2024, 10, 26).date()] == timedelta(hours=25)
