"""Reads: meter queries from rollups, subjects, group-by values, the event list."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Q

from apps.core.errors import NotFound
from apps.customers.models import Customer, GatewayConsumer
from apps.metering import rollups
from apps.metering.compiled import compile_meter
from apps.metering.domain.aggregation import Aggregation, BucketState, finalize, merge
from apps.metering.domain.events import CloudEvent
from apps.metering.domain.windows import BUCKET, WindowSize, bucket_start, window_end, window_start
from apps.metering.models import Event, Meter, MeterRollup, MeterUniqueValue
from apps.metering.services import event_as_json

RESERVED_DIMENSIONS = ("subject", "customer_id")


def meter_get(id_or_slug: str) -> Meter:
    meters = Meter.objects.filter(deleted_at__isnull=True)
    meter = meters.filter(pk=id_or_slug).first() or meters.filter(slug=id_or_slug).first()
    if meter is None:
        raise NotFound(f"Meter “{id_or_slug}” not found.")
    return meter


@dataclass
class MeterQuery:
    start: datetime | None = None
    end: datetime | None = None
    window_size: WindowSize | None = None
    time_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    subjects: list[str] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    filter_group_by: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MeterRow:
    value: Decimal | None
    window_start: datetime
    window_end: datetime
    subject: str | None
    customer_id: str | None
    group_by: dict[str, str | None]


def subjects_of_customers(customer_ids: list[str]) -> dict[str, str]:
    """subject → customer id, for the given customers (by id or key)."""
    customers = Customer.objects.live().filter(Q(pk__in=customer_ids) | Q(key__in=customer_ids))
    found = {c.pk: c for c in customers}
    missing = set(customer_ids) - set(found) - {c.key for c in found.values()}
    if missing:
        raise NotFound(f"Customer “{sorted(missing)[0]}” not found.")
    owners = {c.key: c.pk for c in found.values() if c.key}
    for key, customer_id in GatewayConsumer.objects.filter(
        customer_id__in=found
    ).values_list("key", "customer_id"):
        owners[key] = customer_id
    return owners


def customer_ids_of_subjects(subjects: set[str]) -> dict[str, str]:
    owners = dict(Customer.objects.live().filter(key__in=subjects).values_list("key", "pk"))
    owners.update(GatewayConsumer.objects.filter(
        key__in=subjects, customer__deleted_at__isnull=True, customer__isnull=False
    ).values_list("key", "customer_id"))
    return owners


def query_meter(meter: Meter, query: MeterQuery) -> list[MeterRow]:
    aggregation = Aggregation(meter.aggregation)
    subject_filter = set(query.subjects)
    owners: dict[str, str] = {}
    if query.customer_ids:
        owners = subjects_of_customers(query.customer_ids)
        subject_filter = (subject_filter & set(owners)) if subject_filter else set(owners)
        if not subject_filter:
            return []
    group_by_subject = bool(query.subjects) or "subject" in query.group_by
    group_by_customer = bool(query.customer_ids) or "customer_id" in query.group_by
    dimensions = [d for d in query.group_by if d not in RESERVED_DIMENSIONS]

    folded: dict[tuple, BucketState] = {}
    windows: dict[datetime, datetime] = {}
    window_cache: list = [None, None, None]  # last (start, end, window start) for speed

    def window_of(instant: datetime) -> datetime | None:
        if query.window_size is None:
            return None
        if window_cache[0] is not None and window_cache[0] <= instant < window_cache[1]:
            return window_cache[2]
        start = window_start(instant, query.window_size, query.time_zone)
        end = windows.setdefault(start, window_end(start, query.window_size, query.time_zone))
        window_cache[:] = [start, end, start]
        return start

    keep_subject = group_by_subject or group_by_customer  # customers are found by subject
    for subject, group_values, instant, state in _bucket_states(meter, aggregation, query,
                                                                subject_filter):
        key = (window_of(instant), subject if keep_subject else None,
               tuple(group_values.get(d) for d in dimensions))
        previous = folded.get(key)
        folded[key] = state if previous is None else merge(previous, state)

    customer_of: dict[str, str] = {}
    if group_by_customer:
        customer_of = owners or customer_ids_of_subjects({key[1] for key in folded})
        regrouped: dict[tuple, BucketState] = {}
        for (start, subject, values), state in folded.items():
            key = (start, subject if group_by_subject else None, values,
                   customer_of.get(subject))
            previous = regrouped.get(key)
            regrouped[key] = state if previous is None else merge(previous, state)
        folded = regrouped
    else:
        folded = {(*key, None): state for key, state in folded.items()}
    span_start, span_end = query.start, query.end
    if query.window_size is None and folded and (span_start is None or span_end is None):
        first, last = _time_span(meter, aggregation, query, subject_filter)
        span_start, span_end = span_start or first, span_end or last
    result = []
    for (start, subject, values, customer_id), state in folded.items():
        result.append(MeterRow(
            value=finalize(aggregation, state),
            window_start=span_start if start is None else start,
            window_end=span_end if start is None else windows[start],
            subject=subject, customer_id=customer_id,
            group_by=dict(zip(dimensions, values, strict=True)),
        ))
    result.sort(key=lambda r: (r.window_start or datetime.min, r.subject or "",
                               r.customer_id or "",
                               sorted((k, v or "") for k, v in r.group_by.items())))
    return result


def _rollups(meter, aggregation, query, subject_filter, start, end):
    model = MeterUniqueValue if aggregation == Aggregation.UNIQUE_COUNT else MeterRollup
    rows = model.objects.filter(meter=meter)
    if start is not None:
        rows = rows.filter(bucket_start__gte=start)
    if end is not None:
        rows = rows.filter(bucket_start__lt=end)
    if subject_filter:
        rows = rows.filter(subject__in=subject_filter)
    for dimension, values in query.filter_group_by.items():
        rows = rows.filter(**{f"group_values__{dimension}__in": values})
    return rows.order_by()


def _bucket_states(meter, aggregation, query, subject_filter):
    """(subject, group values, instant, state) from whole-minute rollups, plus raw events for
    the partial minutes at either end of an unaligned [from, to)."""
    start, end = query.start, query.end
    aligned_start = _ceil_minute(start) if start else None
    aligned_end = bucket_start(end) if end else None
    if aligned_start and aligned_end and aligned_start >= aligned_end:
        yield from _raw_states(meter, query, subject_filter, start, end)
        return
    if aggregation == Aggregation.UNIQUE_COUNT:
        for subject, group_values, instant, value in _rollups(
            meter, aggregation, query, subject_filter, aligned_start, aligned_end
        ).values_list("subject", "group_values", "bucket_start", "value").iterator(2000):
            yield subject, group_values, instant, BucketState(uniques=frozenset([value]))
    else:
        for (subject, group_values, instant, count, total, low, high, latest, latest_time,
             latest_seq) in _rollups(
            meter, aggregation, query, subject_filter, aligned_start, aligned_end
        ).values_list("subject", "group_values", "bucket_start", "count", "sum", "min", "max",
                      "latest_value", "latest_time", "latest_seq").iterator(2000):
            yield subject, group_values, instant, BucketState(
                count=count, sum=total, min=low, max=high, latest_value=latest,
                latest_time=latest_time, latest_seq=latest_seq)
    if start and aligned_start != start:
        yield from _raw_states(meter, query, subject_filter, start, aligned_start)
    if end and aligned_end != end:
        yield from _raw_states(meter, query, subject_filter, aligned_end, end)


def _ceil_minute(instant: datetime) -> datetime:
    floor = bucket_start(instant)
    return floor if floor == instant else floor + BUCKET


def _raw_states(meter, query, subject_filter, start, end):
    """Exact states for a sliver shorter than a minute, straight from the stored events."""
    compiled = compile_meter(meter)
    events = Event.objects.filter(type=meter.event_type, time__gte=start, time__lt=end)
    if subject_filter:
        events = events.filter(subject__in=subject_filter)
    pairs = [(CloudEvent(specversion="1.0", id=event_id, source=source, type=meter.event_type,
                         subject=subject, time=time, data=data), seq)
             for seq, source, event_id, subject, time, data in events.values_list(
                 "id", "source", "event_id", "subject", "time", "data")]
    deltas = rollups.deltas_for(pairs, [compiled])
    for key, state in deltas.states.items():
        groups = deltas.groups[key]
        if all(groups.get(d) in values for d, values in query.filter_group_by.items()):
            if compiled.aggregation == Aggregation.UNIQUE_COUNT:
                state = BucketState(uniques=frozenset(
                    u[4] for u in deltas.uniques if u[:4] == key))
            yield key[1], groups, key[3], state


def _time_span(meter, aggregation, query, subject_filter) -> tuple[datetime, datetime]:
    """First and last minute with data, as OpenMeter reports an unbounded query's span."""
    rows = _rollups(meter, aggregation, query, subject_filter, query.start, query.end)
    first = rows.order_by("bucket_start").values_list("bucket_start", flat=True).first()
    last = rows.order_by("-bucket_start").values_list("bucket_start", flat=True).first()
    return first, last + timedelta(minutes=1)


def meter_subjects(meter: Meter, start=None, end=None) -> list[str]:
    rows = MeterRollup.objects.filter(meter=meter)
    if start:
        rows = rows.filter(bucket_start__gte=bucket_start(start))
    if end:
        rows = rows.filter(bucket_start__lt=end)
    return sorted(set(rows.values_list("subject", flat=True).distinct()))


def meter_group_values(meter: Meter, dimension: str, start=None, end=None) -> list[str]:
    rows = MeterRollup.objects.filter(meter=meter)
    if start:
        rows = rows.filter(bucket_start__gte=bucket_start(start))
    if end:
        rows = rows.filter(bucket_start__lt=end)
    values = rows.values_list(f"group_values__{dimension}", flat=True).distinct()
    return sorted({v for v in values if v is not None})


def meters_listed(include_deleted: bool = False):
    return Meter.objects.all() if include_deleted else Meter.objects.filter(
        deleted_at__isnull=True)


def subject_display_names(subjects: set[str]) -> dict[str, str]:
    return {key: name for key, name in GatewayConsumer.objects.filter(
        key__in=subjects).values_list("key", "display_name") if name}


def validation_problem(event: Event, meters: list, owners: dict[str, str]) -> str | None:
    """Why an event counts toward nothing, computed at read time as OpenMeter does."""
    matching = [m for m in meters if m.event_type == event.type]
    if not matching:
        return f"no meter found for event type: {event.type}"
    for meter in matching:
        try:
            meter.contribution(as_cloud_event(event), event.pk)
        except ValueError as exc:
            return str(exc)
    if event.subject not in owners:
        return f"no customer found for event subject: {event.subject}"
    return None


def as_cloud_event(event: Event) -> CloudEvent:
    return CloudEvent(specversion=event.specversion, id=event.event_id, source=event.source,
                      type=event.type, subject=event.subject, time=event.time, data=event.data,
                      datacontenttype=event.datacontenttype or None,
                      dataschema=event.dataschema or None)


def events_listed(*, start=None, end=None, ingested_from=None, ingested_to=None,
                  id_contains=None, subject_contains=None, customer_ids=(), limit=100):
    events = Event.objects.all()
    if start:
        events = events.filter(time__gte=start)
    if end:
        events = events.filter(time__lt=end)
    if ingested_from:
        events = events.filter(ingested_at__gte=ingested_from)
    if ingested_to:
        events = events.filter(ingested_at__lt=ingested_to)
    if id_contains:
        events = events.filter(event_id__contains=id_contains)
    if subject_contains:
        events = events.filter(subject__contains=subject_contains)
    if customer_ids:
        events = events.filter(subject__in=subjects_of_customers(list(customer_ids)))
    events = list(events.order_by("-time", "-id")[:limit])
    meters = [compile_meter(m) for m in Meter.objects.filter(
        deleted_at__isnull=True, event_type__in={e.type for e in events})]
    owners = customer_ids_of_subjects({e.subject for e in events})
    listed = []
    for event in events:
        item = {"event": event_as_json(as_cloud_event(event))}
        if event.subject in owners:
            item["customerId"] = owners[event.subject]
        problem = validation_problem(event, meters, owners)
        if problem:
            item["validationError"] = problem
        stamp = event.ingested_at.isoformat().replace("+00:00", "Z")
        item["ingestedAt"] = item["storedAt"] = stamp
        listed.append(item)
    return listed
