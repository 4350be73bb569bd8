"""Maintaining per-minute rollups: exactly once per stored event, in the event's transaction.

On PostgreSQL, ingest folds its events into the rollups in its own INSERT statement
(``services.STORE_SQL``, ``INSERT … ON CONFLICT DO UPDATE`` with ``MERGE_SET_SQL``: atomic per
row, so concurrent writers never lose an update), and a rebuild aggregates all of a meter's
events in SQL (``services.REBUILD_ROLLUPS_SQL``). On SQLite (one writer at a time, no exact
decimal type) deltas are merged in Python and written with ``apply``, read-merge-write. The
ingest locks and the meters cache live here too.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection
from psycopg import sql

from apps.metering.compiled import CompiledMeter, compile_meter
from apps.metering.domain.aggregation import BucketState, merge
from apps.metering.domain.events import CloudEvent
from apps.metering.domain.extraction import ExtractionError
from apps.metering.models import MeterRollup, MeterUniqueValue

# Advisory lock classes (PostgreSQL): ingest holds INGEST shared and each meter's lock shared;
# a rebuild takes INGEST exclusively for a moment (a barrier) and its meter's lock exclusively.
INGEST_LOCK = 7_301
METER_LOCK = 7_302


@dataclass
class Deltas:
    states: dict[tuple, BucketState] = field(default_factory=dict)
    groups: dict[tuple, dict] = field(default_factory=dict)
    uniques: set[tuple] = field(default_factory=set)

    def add(self, meter: CompiledMeter, event: CloudEvent, seq: int) -> None:
        try:
            key, groups, state, unique = meter.contribution(event, seq)
        except ExtractionError:
            return  # stored, shown with its validation error, counted by no meter
        previous = self.states.get(key)
        self.states[key] = state if previous is None else merge(previous, state)
        self.groups[key] = groups
        if unique is not None:
            self.uniques.add((*key, unique))

    def __bool__(self):
        return bool(self.states)


def deltas_for(events: Iterable[tuple[CloudEvent, int]], meters: list[CompiledMeter]) -> Deltas:
    by_type: dict[str, list[CompiledMeter]] = {}
    for meter in meters:
        by_type.setdefault(meter.event_type, []).append(meter)
    deltas = Deltas()
    for event, seq in events:
        for meter in by_type.get(event.type, ()):
            if meter.counts(event):
                deltas.add(meter, event, seq)
    return deltas


# max(id) too: a meter replaced within the same clock tick (frozen test clocks) still changes it.
METERS_VERSION_SQL = "SELECT count(*), max(updated_at), max(id) FROM metering_meter"
# One round trip: the ingest lock, the locks of the live meters of this batch's event types
# (a rebuild of one meter holds up only the ingests it concerns), then the meters' version,
# read last with its own snapshot: after any wait for a rebuild, a meter that the rebuild
# regrouped is seen with its new dimensions.
INGEST_START_SQL = (
    f"SELECT pg_advisory_xact_lock_shared({INGEST_LOCK}, 0); "
    f"SELECT pg_advisory_xact_lock_shared({METER_LOCK}, hashtext(id)) FROM metering_meter "
    "WHERE deleted_at IS NULL AND event_type = ANY({types}) ORDER BY id; "
    f"{METERS_VERSION_SQL}"
)

_meters_cache: dict = {"version": None, "by_type": {}}


def live_meters_for_ingest(event_types: set[str]) -> dict[str, list[CompiledMeter]]:
    """Compiled live meters by event type, as of this transaction.

    Taken after the ingest lock (one round trip for both), so a rebuild's barrier sees this
    ingest finish; cached in-process and reloaded whenever a meter changes.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Several statements in one round trip only work without parameters, so the
            # types go in as a literal that psycopg quotes.
            types = sql.Literal(sorted(event_types)).as_string(connection.connection)
            cursor.execute(INGEST_START_SQL.replace("{types}", types + "::varchar[]"))
            cursor.nextset()
            cursor.nextset()
            version = cursor.fetchone()
        else:
            cursor.execute(METERS_VERSION_SQL)
            version = cursor.fetchone()
    if _meters_cache["version"] != version:
        from apps.metering.models import Meter

        by_type: dict[str, list[CompiledMeter]] = {}
        for meter in Meter.objects.filter(deleted_at__isnull=True):
            by_type.setdefault(meter.event_type, []).append(compile_meter(meter))
        _meters_cache.update(version=version, by_type=by_type)
    return _meters_cache["by_type"]


def lock_for_rebuild(meter_id: str) -> None:
    """Wait for in-flight ingests, then keep new ones for this meter out until commit."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, 0)", [INGEST_LOCK])
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                           [METER_LOCK, meter_id])
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [INGEST_LOCK])


def apply(deltas: Deltas) -> None:
    """Merge deltas into the stored rollups by read-merge-write: for SQLite, which has one
    writer at a time (PostgreSQL folds in SQL: ``services.STORE_SQL``, rebuilds)."""
    if deltas:
        _apply_python(deltas)


# How PostgreSQL merges an incoming state into a stored rollup row (``services.STORE_SQL``).
MERGE_SET_SQL = """
  count = r.count + EXCLUDED.count,
  sum = r.sum + EXCLUDED.sum,
  min = LEAST(r.min, EXCLUDED.min),
  max = GREATEST(r.max, EXCLUDED.max),
  latest_value = CASE WHEN r.latest_time IS NULL
      OR (EXCLUDED.latest_time, EXCLUDED.latest_seq) > (r.latest_time, r.latest_seq)
      THEN EXCLUDED.latest_value ELSE r.latest_value END,
  latest_seq = CASE WHEN r.latest_time IS NULL
      OR (EXCLUDED.latest_time, EXCLUDED.latest_seq) > (r.latest_time, r.latest_seq)
      THEN EXCLUDED.latest_seq ELSE r.latest_seq END,
  latest_time = GREATEST(r.latest_time, EXCLUDED.latest_time)
"""


def _state_of_row(row: MeterRollup) -> BucketState:
    return BucketState(count=row.count, sum=row.sum, min=row.min, max=row.max,
                       latest_value=row.latest_value, latest_time=row.latest_time,
                       latest_seq=row.latest_seq)


def _apply_python(deltas: Deltas) -> None:
    meter_ids = {key[0] for key in deltas.states}
    buckets = {key[3] for key in deltas.states}
    existing = {
        (row.meter_id, row.subject, row.group_key, row.bucket_start): row
        for row in MeterRollup.objects.filter(meter_id__in=meter_ids, bucket_start__in=buckets)
    }
    changed = []
    for key, state in deltas.states.items():
        row = existing.get(key)
        if row is not None:
            state = merge(_state_of_row(row), state)
        else:
            row = MeterRollup(meter_id=key[0], subject=key[1], group_key=key[2],
                              group_values=deltas.groups[key], bucket_start=key[3])
        row.count, row.sum, row.min, row.max = state.count, state.sum, state.min, state.max
        row.latest_value, row.latest_time = state.latest_value, state.latest_time
        row.latest_seq = state.latest_seq
        changed.append(row)
    MeterRollup.objects.bulk_create(
        changed, update_conflicts=True,
        unique_fields=["meter", "subject", "group_key", "bucket_start"],
        update_fields=["count", "sum", "min", "max", "latest_value", "latest_time", "latest_seq"],
    )
    MeterUniqueValue.objects.bulk_create(
        [MeterUniqueValue(meter_id=u[0], subject=u[1], group_key=u[2],
                          group_values=deltas.groups[u[:4]], bucket_start=u[3], value=u[4])
         for u in deltas.uniques],
        ignore_conflicts=True,
    )
