"""Metering state changes: ingest, meters, rollup rebuilds."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, Conflict, InvalidInput
from apps.core.times import rfc3339
from apps.customers.models import Customer, GatewayConsumer
from apps.metering import rollups
from apps.metering.compiled import compile_meter
from apps.metering.domain.events import CloudEvent, EventError, event_payload_hash, parse_event
from apps.metering.domain.extraction import group_key
from apps.metering.domain.windows import bucket_start
from apps.metering.models import Event, EventConflict, Meter, MeterRollup, MeterUniqueValue


class InvalidEvents(ApplicationError):
    status = 400
    code = "invalid_events"

    def __init__(self, errors: list[EventError]):
        first = errors[0]
        super().__init__(
            f"{len(errors)} problem(s) in the batch; event {first.index}: "
            f"{first.field} {first.reason}. Nothing was stored.",
            errors=[{"index": e.index, "field": e.field, "code": "invalid", "message": e.reason}
                    for e in errors],
        )


@dataclass(frozen=True)
class IngestResult:
    received: int
    stored: int
    duplicates: int
    conflicts: int


def parse_batch(objects: Sequence, *, now: datetime) -> list[CloudEvent]:
    """Every event valid, or InvalidEvents listing each problem: a batch is all or nothing."""
    events, errors = [], []
    for index, obj in enumerate(objects):
        parsed = parse_event(obj, index=index, now=now)
        if isinstance(parsed, list):
            errors.extend(parsed)
        else:
            events.append(parsed)
    if errors:
        raise InvalidEvents(errors)
    return events


def ingest_events(objects: Sequence, *, now: datetime | None = None) -> IngestResult:
    """Validate and store a batch (all or nothing), updating rollups in the same transaction."""
    now = now or timezone.now()
    return store_events(parse_batch(objects, now=now), now=now)


def store_events(events: list[CloudEvent], *, now: datetime) -> IngestResult:
    first_copies: dict[tuple[str, str], tuple[CloudEvent, str]] = {}
    in_batch_conflicts: list[CloudEvent] = []
    for event in events:
        key, digest = (event.source, event.id), event_payload_hash(event)
        if key not in first_copies:
            first_copies[key] = (event, digest)
        elif first_copies[key][1] != digest:
            in_batch_conflicts.append(event)
    with transaction.atomic():
        by_type = rollups.live_meters_for_ingest({event.type for event, _ in first_copies.values()})
        batch = list(first_copies.values())
        if connection.vendor == "postgresql":
            stored, existing = _store_postgresql(batch, by_type, ingested_at=now)
        else:
            stored, existing = _store_sqlite(batch, ingested_at=now)
            meters = [m for t in {e.type for e, _ in batch} for m in by_type.get(t, ())]
            rollups.apply(rollups.deltas_for(stored, meters))
        conflicts = [event for event, digest in existing if digest is not None]
        conflicts += in_batch_conflicts
        _record_conflicts(conflicts, now)
        _register_subjects({event.subject for event, _ in stored})
    return IngestResult(received=len(events), stored=len(stored),
                        duplicates=len(events) - len(stored), conflicts=len(conflicts))


# One statement stores the new events and folds exactly those into the rollups: events that
# were already stored (retries) drop out at the join with what the INSERT returned. The batch
# comes as two JSON documents (events, contributions) rather than a parameter array per
# column: orjson writes them in C, while adapting ~20 arrays of Python values took about as
# much CPU per event as validating it.
STORE_SQL = (
    """
WITH incoming AS (
  SELECT * FROM json_to_recordset(%(events)s::json)
    AS s(n bigint, source varchar, event_id varchar, type varchar, subject varchar,
         time timestamptz, data jsonb, specversion varchar, datacontenttype varchar,
         dataschema varchar, payload_hash varchar)
),
inserted AS (
  INSERT INTO metering_event (source, event_id, type, subject, time, data, specversion,
                              datacontenttype, dataschema, payload_hash, ingested_at)
  SELECT source, event_id, type, subject, time, data, specversion, datacontenttype,
         dataschema, payload_hash, %(ingested_at)s FROM incoming ORDER BY n
  ON CONFLICT (source, event_id) DO NOTHING
  RETURNING id, source, event_id
),
new_events AS (
  SELECT incoming.n, inserted.id FROM inserted
  JOIN incoming USING (source, event_id)
),
contributions AS (
  SELECT c.*, new_events.id AS seq FROM json_to_recordset(%(contributions)s::json)
    AS c(n bigint, meter_id varchar, subject varchar, group_key text,
         bucket_start timestamptz, value numeric, time timestamptz, unique_value text)
  JOIN new_events USING (n)
),
rolled AS (
  INSERT INTO metering_meterrollup AS r
    (meter_id, subject, group_key, group_values, bucket_start, count, sum, min, max,
     latest_value, latest_time, latest_seq)
  SELECT meter_id, subject, group_key, group_key::jsonb AS group_values, bucket_start, count(*),
         coalesce(sum(value), 0), min(value), max(value),
         (array_agg(value ORDER BY time DESC, seq DESC) FILTER (WHERE value IS NOT NULL))[1],
         max(time) FILTER (WHERE value IS NOT NULL),
         (array_agg(seq ORDER BY time DESC, seq DESC) FILTER (WHERE value IS NOT NULL))[1]
  FROM contributions GROUP BY meter_id, subject, group_key, bucket_start
  ORDER BY meter_id, subject, group_key, bucket_start
  ON CONFLICT (meter_id, subject, group_key, bucket_start) DO UPDATE SET
""" + rollups.MERGE_SET_SQL + """
),
uniques AS (
  INSERT INTO metering_meteruniquevalue (meter_id, subject, group_key, group_values,
                                         bucket_start, value)
  SELECT DISTINCT meter_id, subject, group_key, group_key::jsonb AS group_values, bucket_start,
         unique_value
  FROM contributions WHERE unique_value IS NOT NULL
  ON CONFLICT DO NOTHING
)
SELECT n, id FROM new_events
"""
)

STORED_HASHES_SQL = """
SELECT e.source, e.event_id, e.payload_hash FROM metering_event e
JOIN unnest(%s::varchar[], %s::varchar[]) AS k(source, event_id)
  ON e.source = k.source AND e.event_id = k.event_id
"""


def _store_postgresql(batch: list[tuple[CloudEvent, str]], meters_by_type, *, ingested_at):
    """Insert what is new and roll it up. Returns ([(event, seq)], [(event, digest if it
    conflicts with the stored copy)])."""
    params = {
        "events": orjson.dumps([
            {"n": n, "source": e.source, "event_id": e.id, "type": e.type,
             "subject": e.subject, "time": e.time, "data": e.data,
             "specversion": e.specversion, "datacontenttype": e.datacontenttype or "",
             "dataschema": e.dataschema or "", "payload_hash": digest}
            for n, (e, digest) in enumerate(batch, start=1)]).decode(),
        "contributions": orjson.dumps(_contributions(batch, meters_by_type)).decode(),
        "ingested_at": ingested_at,
    }
    with connection.cursor() as cursor:
        cursor.execute(STORE_SQL, params)
        seq_of = dict(cursor.fetchall())
        repeats = [(e, d) for n, (e, d) in enumerate(batch, start=1) if n not in seq_of]
        stored_hash = {}
        if repeats:
            cursor.execute(STORED_HASHES_SQL, [[e.source for e, _ in repeats],
                                               [e.id for e, _ in repeats]])
            stored_hash = {(s, i): h for s, i, h in cursor.fetchall()}
    stored = [(e, seq_of[n]) for n, (e, _) in enumerate(batch, start=1) if n in seq_of]
    existing = [(e, d if stored_hash.get((e.source, e.id)) not in (None, d) else None)
                for e, d in repeats]
    return stored, existing


def _contributions(batch, meters_by_type) -> list[dict]:
    """What each event adds to each of its meters, as rows for STORE_SQL. Values go as text,
    which PostgreSQL reads into numeric digit for digit."""
    rows = []
    for n, (event, _) in enumerate(batch, start=1):
        for meter in meters_by_type.get(event.type, ()):
            if (values := meter.counted_values(event)) is None:
                continue
            groups, number, unique = values
            rows.append({"n": n, "meter_id": meter.id, "subject": event.subject,
                         "group_key": group_key(groups), "bucket_start": bucket_start(event.time),
                         "value": None if number is None else str(number), "time": event.time,
                         "unique_value": unique})
    return rows


def _store_sqlite(batch: list[tuple[CloudEvent, str]], *, ingested_at):
    """SQLite has one writer at a time, so read-then-insert is safe here."""
    known = {
        (source, event_id): digest
        for source, event_id, digest in Event.objects.filter(
            source__in={e.source for e, _ in batch}, event_id__in={e.id for e, _ in batch}
        ).values_list("source", "event_id", "payload_hash")
    }
    new = [Event(source=e.source, event_id=e.id, type=e.type, subject=e.subject, time=e.time,
                 data=e.data, specversion=e.specversion,
                 datacontenttype=e.datacontenttype or "", dataschema=e.dataschema or "",
                 payload_hash=digest, ingested_at=ingested_at)
           for e, digest in batch if (e.source, e.id) not in known]
    Event.objects.bulk_create(new)
    seq_of = {(row.source, row.event_id): row.pk for row in new}
    stored = [(e, seq_of[(e.source, e.id)]) for e, _ in batch if (e.source, e.id) in seq_of]
    existing = [(e, d if known.get((e.source, e.id)) not in (None, d) else None)
                for e, d in batch if (e.source, e.id) not in seq_of]
    return stored, existing


def _record_conflicts(events: list[CloudEvent], now) -> None:
    if not events:
        return
    stored = {(row.source, row.event_id): row for row in Event.objects.filter(
        source__in={e.source for e in events}, event_id__in={e.id for e in events})}
    EventConflict.objects.bulk_create([
        EventConflict(source=e.source, event_id=e.id, stored_event=stored.get((e.source, e.id)),
                      received_payload=event_as_json(e), received_at=now)
        for e in events
    ])


def event_as_json(event: CloudEvent) -> dict:
    """An event as OpenMeter's API shows it."""
    body = {"specversion": event.specversion, "id": event.id, "source": event.source,
            "type": event.type, "subject": event.subject,
            "time": rfc3339(event.time)}
    optional = {"data": event.data, "datacontenttype": event.datacontenttype,
                "dataschema": event.dataschema}
    body.update({name: value for name, value in optional.items() if value})
    return body


_known_subjects: set[str] = set()


def _register_subjects(subjects: set[str]) -> None:
    """Auto-register subjects nobody owns yet, so they show up as unattributed usage."""
    unseen = subjects - _known_subjects
    if not unseen:
        return
    known = set(GatewayConsumer.objects.filter(key__in=unseen).values_list("key", flat=True))
    known |= set(Customer.objects.live().filter(key__in=unseen).values_list("key", flat=True))
    GatewayConsumer.objects.bulk_create(
        [GatewayConsumer(key=key, auto_registered=True) for key in sorted(unseen - known)],
        ignore_conflicts=True,
    )
    # Consumers are never deleted, so a subject once known stays known (customer keys too,
    # since a customer key that loses its customer gets registered on its next event).
    transaction.on_commit(lambda: _known_subjects.update(unseen))


@transaction.atomic
def rebuild_rollups(*, meter: Meter) -> int:
    """Recompute a meter's rollups from raw events; returns how many events it counted."""
    rollups.lock_for_rebuild(meter.id)
    MeterRollup.objects.filter(meter=meter).delete()
    MeterUniqueValue.objects.filter(meter=meter).delete()
    if meter.is_deleted:
        return 0
    compiled = compile_meter(meter)
    events = Event.objects.filter(type=meter.event_type)
    if meter.event_from:
        events = events.filter(time__gte=meter.event_from)
    rows = events.order_by().values_list("id", "source", "event_id", "type", "subject", "time",
                                         "data").iterator(chunk_size=5000)
    if connection.vendor == "postgresql":
        return _rebuild_postgresql(rows, compiled)
    counted, chunk = 0, []
    for row in rows:
        chunk.append(row)
        if len(chunk) == 5000:
            counted += _rebuild_chunk(chunk, compiled)
            chunk = []
    counted += _rebuild_chunk(chunk, compiled)
    return counted


def _rebuild_chunk(rows, compiled) -> int:
    pairs = [(CloudEvent(specversion="1.0", id=event_id, source=source, type=type_,
                         subject=subject, time=time, data=data), seq)
             for seq, source, event_id, type_, subject, time, data in rows]
    rollups.apply(rollups.deltas_for(pairs, [compiled]))
    return len(pairs)


# A rebuild on PostgreSQL copies every event's contribution into a scratch table, then writes
# each rollup row once, aggregated as STORE_SQL aggregates, in key order. Upserting chunk by
# chunk instead rewrote a row for every chunk touching its minute (events are read in storage
# order, not time order): several dead versions per row, a table several times its size, and
# one subject's minutes scattered over as many pages as it has rows.
REBUILD_SCRATCH_SQL = """
CREATE TEMPORARY TABLE rebuild_contribution (seq bigint, subject varchar, group_key text,
    bucket_start timestamptz, value numeric, time timestamptz, unique_value text)
ON COMMIT DROP
"""
REBUILD_ROLLUPS_SQL = """
INSERT INTO metering_meterrollup
  (meter_id, subject, group_key, group_values, bucket_start, count, sum, min, max,
   latest_value, latest_time, latest_seq)
SELECT %s, subject, group_key, group_key::jsonb AS group_values, bucket_start, count(*),
       coalesce(sum(value), 0), min(value), max(value),
       (array_agg(value ORDER BY time DESC, seq DESC) FILTER (WHERE value IS NOT NULL))[1],
       max(time) FILTER (WHERE value IS NOT NULL),
       (array_agg(seq ORDER BY time DESC, seq DESC) FILTER (WHERE value IS NOT NULL))[1]
FROM rebuild_contribution GROUP BY subject, group_key, bucket_start
ORDER BY subject, group_key, bucket_start
"""
REBUILD_UNIQUES_SQL = """
INSERT INTO metering_meteruniquevalue (meter_id, subject, group_key, group_values,
                                       bucket_start, value)
SELECT DISTINCT %s, subject, group_key, group_key::jsonb AS group_values, bucket_start,
       unique_value
FROM rebuild_contribution WHERE unique_value IS NOT NULL
ORDER BY 2, 3, 5, 6
"""


def _rebuild_postgresql(rows, compiled) -> int:
    counted, chunk = 0, []
    with connection.cursor() as cursor:
        cursor.execute(REBUILD_SCRATCH_SQL)
        for row in rows:
            chunk.append(row)
            if len(chunk) == 5000:
                counted += _copy_contributions(cursor, chunk, compiled)
                chunk = []
        counted += _copy_contributions(cursor, chunk, compiled)
        cursor.execute(REBUILD_ROLLUPS_SQL, [compiled.id])
        cursor.execute(REBUILD_UNIQUES_SQL, [compiled.id])
        cursor.execute("DROP TABLE rebuild_contribution")  # the next rebuild may share this
        # transaction (several meters, or a meter created within a larger one)
    return counted


def _copy_contributions(cursor, rows, compiled) -> int:
    # The events come from a server-side cursor on the same connection: one COPY per chunk,
    # so that fetching the next chunk never meets a COPY in progress.
    with cursor.cursor.copy("COPY rebuild_contribution FROM STDIN") as copy:
        for seq, source, event_id, type_, subject, time, data in rows:
            event = CloudEvent(specversion="1.0", id=event_id, source=source, type=type_,
                               subject=subject, time=time, data=data)
            if (values := compiled.counted_values(event)) is None:
                continue
            groups, number, unique = values
            copy.write_row((seq, subject, group_key(groups), bucket_start(time), number, time,
                            unique))
    return len(rows)


@transaction.atomic
def meter_create(*, slug, aggregation, event_type, name="", description="", value_property="",
                 group_by=None, event_from=None, metadata=None) -> Meter:
    if Meter.objects.filter(slug=slug, deleted_at__isnull=True).exists():
        raise Conflict(f"A meter with slug “{slug}” already exists.", field="slug")
    meter = Meter.objects.create(
        slug=slug, name=name or slug, description=description or "", aggregation=aggregation,
        event_type=event_type, value_property=value_property or "", group_by=group_by or {},
        event_from=event_from, metadata=metadata or {},
    )
    rebuild_rollups(meter=meter)  # a new meter counts the history already stored
    return meter


@transaction.atomic
def meter_update(*, meter: Meter, **changes) -> Meter:
    """Only name, description, metadata and groupBy may change; new dimensions re-roll."""
    allowed = {"name", "description", "group_by", "metadata"}
    regroup = "group_by" in changes and changes["group_by"] != meter.group_by
    for name, value in changes.items():
        if name not in allowed:
            raise InvalidInput(f"{name} cannot change after the meter is created.", field=name)
        setattr(meter, name, value if value is not None else "")
    meter.save()
    if regroup:
        rebuild_rollups(meter=meter)
    return meter


@transaction.atomic
def meter_delete(*, meter: Meter) -> None:
    meter.deleted_at = timezone.now()
    meter.save(update_fields=["deleted_at", "updated_at"])
    MeterRollup.objects.filter(meter=meter).delete()
    MeterUniqueValue.objects.filter(meter=meter).delete()
