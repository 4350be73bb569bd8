"""A deliberately naive reference for meter queries, computed from a plain list of events.

It shares no code with the product: windows come from zoneinfo arithmetic on wall-clock
times, values from plain Python over Decimal.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


def local_window_start(instant: datetime, size: str, tz: ZoneInfo) -> datetime:
    local = instant.astimezone(tz)
    if size == "MINUTE":
        local = local.replace(second=0, microsecond=0)
    elif size == "HOUR":
        local = local.replace(minute=0, second=0, microsecond=0)
    elif size == "DAY":
        local = datetime(local.year, local.month, local.day, tzinfo=tz)
    elif size == "MONTH":
        local = datetime(local.year, local.month, 1, tzinfo=tz)
    return local.astimezone(UTC)


def aggregate(aggregation: str, events: list[dict], path: str | None):
    def value(event):
        node = event["data"]
        for part in path.removeprefix("$.").split("."):
            node = node[part]
        return node

    if aggregation == "COUNT":
        return Decimal(len(events))
    if aggregation == "UNIQUE_COUNT":
        return Decimal(len({str(value(e)) for e in events}))
    numbers = [Decimal(str(value(e))) for e in events]
    if aggregation == "SUM":
        return sum(numbers, Decimal(0))
    if aggregation == "AVG":
        return sum(numbers, Decimal(0)) / len(numbers)
    if aggregation == "MIN":
        return min(numbers)
    if aggregation == "MAX":
        return max(numbers)
    if aggregation == "LATEST":
        latest = max(enumerate(events), key=lambda pair: (parse_time(pair[1]["time"]), pair[0]))
        return Decimal(str(value(latest[1])))
    raise ValueError(aggregation)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def expected_rows(events, *, aggregation, path, start, end, window_size=None, tz="UTC",
                  group_by=(), filters=None, by_subject=False):
    """{(window start | None, subject | None, (dimension values…)): value}"""
    zone = ZoneInfo(tz)
    groups = defaultdict(list)
    for event in events:
        instant = parse_time(event["time"])
        if not (start <= instant < end):
            continue
        data = event.get("data") or {}
        if any(data.get(k) not in v for k, v in (filters or {}).items()):
            continue
        window = local_window_start(instant, window_size, zone) if window_size else None
        key = (window, event["subject"] if by_subject else None,
               tuple(data.get(d) for d in group_by))
        groups[key].append(event)
    return {key: aggregate(aggregation, members, path) for key, members in groups.items()}


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
