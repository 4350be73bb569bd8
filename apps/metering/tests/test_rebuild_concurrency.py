"""An ingest that waits for a meter's rebuild counts its events the way the rebuilt meter
does: a regroup committed while the ingest waited must not be rolled up with the old
dimensions (PostgreSQL: advisory locks between ingest and rebuild)."""

import threading
import time

import pytest
from django.db import connection, transaction

from apps.metering import services
from apps.metering.models import MeterRollup

pytestmark = pytest.mark.django_db(transaction=True)


def event(n):
    return {"specversion": "1.0", "id": f"e{n}", "source": "s", "type": "calls",
            "subject": "acme", "time": "2026-11-01T10:00:00Z",
            "data": {"route": "/a", "method": "GET"}}


def waiting_for_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                       "AND NOT granted")
        return cursor.fetchone()[0] > 0


def test_ingest_waiting_for_a_regroup_uses_the_new_dimensions():
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    meter = services.meter_create(slug="calls", aggregation="COUNT", event_type="calls",
                                  group_by={"route": "$.route"})
    services.ingest_events([event(1)])
    services.ingest_events([event(0)])  # the ingest process now caches the meter as it is

    rebuilt, release = threading.Event(), threading.Event()

    def regroup():
        try:
            with transaction.atomic():
                services.meter_update(meter=meter, group_by={"route": "$.route",
                                                             "method": "$.method"})
                rebuilt.set()
                release.wait(10)  # holds the meter's lock until the ingest waits for it
        finally:
            connection.close()

    def ingest():
        try:
            services.ingest_events([event(2)])
        finally:
            connection.close()

    regrouping = threading.Thread(target=regroup)
    regrouping.start()
    assert rebuilt.wait(10)
    ingesting = threading.Thread(target=ingest)
    ingesting.start()
    deadline = time.monotonic() + 10
    while not waiting_for_advisory_lock():
        assert time.monotonic() < deadline, "the ingest did not wait for the rebuild"
        time.sleep(0.01)
    release.set()
    regrouping.join(10)
    ingesting.join(10)

    rows = list(MeterRollup.objects.filter(meter=meter).values_list("group_values", "count"))
    assert rows == [({"route": "/a", "method": "GET"}, 3)]
