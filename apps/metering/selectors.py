"""Reads: meter queries from rollups, subjects, group-by values, the event list."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform

from apps.core.errors import NotFound
from apps.core.times import rfc3339
from apps.customers.models import Customer, GatewayConsumer
from apps.metering import rollups
from apps.metering.compiled import compile_meter
from apps.metering.domain.aggregation import Aggregation, BucketState, finalize, merge
from apps.metering.domain.events import CloudEvent
from apps.metering.domain.windows import (
    BUCKET,
    WindowSize,
    bucket_start,
    iter_windows,
    window_end,
    window_start,
)
from apps.metering.models import Event, Meter, MeterRollup, MeterUniqueValue
from apps.metering.services import event_as_json

RESERVED_DIMENSIONS = ("subject", "customer_id")


def meter_get(id_or_slug: str) -> Meter:
    # One query for both ways of naming a meter; an id wins over another meter's equal slug.
    found = list(Meter.objects.filter(Q(pk=id_or_slug) | Q(slug=id_or_slug),
                                      deleted_at__isnull=True)[:2])
    meter = next((m for m in found if m.pk == id_or_slug), found[0] if found else None)
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
    cached = [1, 0, None]  # the last window as [start epoch, end epoch, start]: rows come
    # sorted by time, so most of them fall into the window looked up just before

    def window_of(instant: datetime | int) -> datetime | None:
        """The window of a datetime, or of a rollup minute given in epoch seconds."""
        if query.window_size is None:
            return None
        epoch = instant if isinstance(instant, int) else instant.timestamp()
        if cached[0] <= epoch < cached[1]:
            return cached[2]
        if isinstance(instant, int):
            instant = datetime.fromtimestamp(instant, UTC)
        start = window_start(instant, query.window_size, query.time_zone)
        end = windows.setdefault(start, window_end(start, query.window_size, query.time_zone))
        cached[:] = [start.timestamp(), end.timestamp(), start]
        return start

    keep_subject = group_by_subject or group_by_customer  # customers are found by subject

    def key_of(subject, group_values, instant):
        return (window_of(instant), subject if keep_subject else None,
                tuple(group_values.get(d) for d in dimensions) if dimensions else ())

    folded = None
    if connection.vendor == "postgresql" and aggregation in SQL_FOLDS:
        folded = _fold_rollups_in_sql(meter, aggregation, query, subject_filter, keep_subject,
                                      dimensions, windows)
    if folded is None:
        folded = _fold_rollups(meter, aggregation, query, subject_filter, key_of,
                               with_groups=bool(dimensions))
    for subject, group_values, instant, state in _sliver_states(meter, query, subject_filter):
        key = key_of(subject, group_values, instant)
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


def _aligned_range(query):
    """The whole minutes of [from, to) that rollups answer; None when there are none."""
    start, end = query.start, query.end
    aligned_start = _ceil_minute(start) if start else None
    aligned_end = bucket_start(end) if end else None
    if aligned_start and aligned_end and aligned_start >= aligned_end:
        return None
    return aligned_start, aligned_end


EPOCH_SQL = {
    "postgresql": "extract(epoch from bucket_start)::bigint",
    "sqlite": "CAST(strftime('%%s', bucket_start) AS integer)",
}


def _fold_rollups(meter, aggregation, query, subject_filter, key_of, with_groups):
    """Whole-minute rollups folded into query keys, with only the columns the aggregation
    needs: this loop runs once per stored minute, so it stays small."""
    aligned = _aligned_range(query)
    if aligned is None:
        return {}
    # Minutes as epoch seconds: parsing a timestamp per row would cost more than the fold.
    rows = _rollups(meter, aggregation, query, subject_filter, *aligned).annotate(
        minute=RawSQL(EPOCH_SQL[connection.vendor], ())  # noqa: S611  (constant SQL)
    ).order_by("bucket_start")
    groups = "group_values" if with_groups else "subject"  # a cheap stand-in when unused
    empty: dict = {}
    folded: dict = {}
    if aggregation == Aggregation.UNIQUE_COUNT:
        for subject, group_values, instant, value in rows.values_list(
                "subject", groups, "minute", "value"):
            key = key_of(subject, group_values if with_groups else empty, instant)
            folded.setdefault(key, set()).add(value)
        return {key: BucketState(uniques=frozenset(values)) for key, values in folded.items()}
    columns = {
        Aggregation.SUM: ("sum",), Aggregation.COUNT: ("count",),
        Aggregation.AVG: ("sum", "count"), Aggregation.MIN: ("min",),
        Aggregation.MAX: ("max",),
        Aggregation.LATEST: ("latest_time", "latest_seq", "latest_value"),
    }[aggregation]
    for subject, group_values, instant, *values in rows.values_list(
            "subject", groups, "minute", *columns):
        key = key_of(subject, group_values if with_groups else empty, instant)
        previous = folded.get(key)
        if previous is None:
            folded[key] = values
        elif aggregation in (Aggregation.SUM, Aggregation.COUNT):
            previous[0] += values[0]
        elif aggregation == Aggregation.AVG:
            previous[0] += values[0]
            previous[1] += values[1]
        elif aggregation == Aggregation.MIN:
            if values[0] is not None and (previous[0] is None or values[0] < previous[0]):
                previous[0] = values[0]
        elif aggregation == Aggregation.MAX:
            if values[0] is not None and (previous[0] is None or values[0] > previous[0]):
                previous[0] = values[0]
        elif values[0] is not None and (previous[0] is None
                                        or (values[0], values[1]) > (previous[0], previous[1])):
            folded[key] = values
    return {key: _state_of_columns(aggregation, values) for key, values in folded.items()}


# What PostgreSQL folds itself: the states whose merge is a plain SQL aggregate. LATEST (a
# greatest (time, seq) pair) and UNIQUE_COUNT (sets of values) keep the Python fold.
SQL_FOLDS = {
    Aggregation.SUM: [Sum("sum")],
    Aggregation.COUNT: [Sum("count")],
    Aggregation.AVG: [Sum("sum"), Sum("count")],
    Aggregation.MIN: [Min("min")],
    Aggregation.MAX: [Max("max")],
}
# Above this many windows the window bounds cost more to compute than folding in Python.
SQL_FOLD_MAX_WINDOWS = 1500
_SHORTEST_WINDOW = {WindowSize.MINUTE: timedelta(minutes=1), WindowSize.HOUR: timedelta(hours=1),
                    WindowSize.DAY: timedelta(hours=23), WindowSize.MONTH: timedelta(days=28)}


def _fold_rollups_in_sql(meter, aggregation, query, subject_filter, keep_subject, dimensions,
                         windows):
    """The same fold as `_fold_rollups`, done by PostgreSQL: one row per query key instead of
    one per stored minute. Each minute's window is found with width_bucket over the window
    bounds that the domain computes, so windows are exactly the domain's (DST days, odd zones)
    without SQL time-zone arithmetic. Fills `windows` (start → end); None when there would be
    too many windows, for the Python fold to do it."""
    aligned = _aligned_range(query)
    if aligned is None:
        return {}
    rows = _rollups(meter, aggregation, query, subject_filter, *aligned)
    names = []
    bounds: list[datetime] = []
    if query.window_size is not None:
        start, end = aligned
        if start is None or end is None:  # an open range: windows over the stored minutes
            span = rows.aggregate(first=Min("bucket_start"), last=Max("bucket_start"))
            if span["first"] is None:
                return {}
            start, end = start or span["first"], end or span["last"] + BUCKET
        if (end - start) / _SHORTEST_WINDOW[query.window_size] > SQL_FOLD_MAX_WINDOWS + 2:
            return None
        spans = list(islice(iter_windows(start, end, query.window_size, query.time_zone),
                            SQL_FOLD_MAX_WINDOWS + 1))
        if len(spans) > SQL_FOLD_MAX_WINDOWS:
            return None
        bounds = [s for s, _ in spans] + [spans[-1][1]]
        # The window's number: i when bounds[i - 1] <= bucket_start < bounds[i].
        rows = rows.annotate(window=RawSQL(
            "width_bucket(bucket_start, %s::timestamptz[])", (bounds,)))
        names.append("window")
    if keep_subject:
        names.append("subject")
    for n, dimension in enumerate(dimensions):
        rows = rows.annotate(**{f"group_{n}": KeyTextTransform(dimension, "group_values")})
        names.append(f"group_{n}")
    folds = {f"fold_{n}": fold for n, fold in enumerate(SQL_FOLDS[aggregation])}
    if names:
        grouped = rows.values_list(*names).annotate(**folds).order_by()
    else:  # one total; none at all when no minute matched, as in the Python fold
        total = rows.aggregate(**folds, minutes=Count("pk"))
        grouped = [[total[name] for name in folds]] if total.pop("minutes") else []
    folded = {}
    for row in grouped:
        row = list(row)
        start = None
        if bounds:
            index = row.pop(0)
            start = bounds[index - 1]
            windows[start] = bounds[index]
        subject = row.pop(0) if keep_subject else None
        values = row[len(dimensions):]
        if aggregation in (Aggregation.COUNT, Aggregation.AVG):
            values[-1] = int(values[-1])  # sum(bigint) is numeric in PostgreSQL
        folded[(start, subject, tuple(row[:len(dimensions)]))] = _state_of_columns(
            aggregation, values)
    return folded


def _state_of_columns(aggregation, values) -> BucketState:
    match aggregation:
        case Aggregation.SUM:
            return BucketState(sum=values[0], count=1)
        case Aggregation.COUNT:
            return BucketState(count=values[0])
        case Aggregation.AVG:
            return BucketState(sum=values[0], count=values[1])
        case Aggregation.MIN:
            return BucketState(min=values[0], count=1)
        case Aggregation.MAX:
            return BucketState(max=values[0], count=1)
    return BucketState(latest_time=values[0], latest_seq=values[1], latest_value=values[2],
                       count=1)


def _sliver_states(meter, query, subject_filter):
    """(subject, group values, instant, state) for the partial minutes at either end of an
    unaligned [from, to), straight from the raw events."""
    start, end = query.start, query.end
    aligned = _aligned_range(query)
    if aligned is None:
        yield from _raw_states(meter, query, subject_filter, start, end)
        return
    if start and aligned[0] != start:
        yield from _raw_states(meter, query, subject_filter, start, aligned[0])
    if end and aligned[1] != end:
        yield from _raw_states(meter, query, subject_filter, aligned[1], end)


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


def _rollups_between(meter: Meter, start=None, end=None):
    rows = MeterRollup.objects.filter(meter=meter)
    if start:
        rows = rows.filter(bucket_start__gte=bucket_start(start))
    if end:
        rows = rows.filter(bucket_start__lt=end)
    return rows


def meter_subjects(meter: Meter, start=None, end=None) -> list[str]:
    return sorted(set(_rollups_between(meter, start, end).values_list("subject", flat=True)))


def meter_group_values(meter: Meter, dimension: str, start=None, end=None) -> list[str]:
    values = _rollups_between(meter, start, end).values_list(
        f"group_values__{dimension}", flat=True).distinct()
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
    conditions = {"time__gte": start, "time__lt": end, "ingested_at__gte": ingested_from,
                  "ingested_at__lt": ingested_to, "event_id__contains": id_contains,
                  "subject__contains": subject_contains}
    events = Event.objects.filter(**{k: v for k, v in conditions.items() if v})
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
        stamp = rfc3339(event.ingested_at)
        item["ingestedAt"] = item["storedAt"] = stamp
        listed.append(item)
    return listed
