"""Meters in the form the hot path needs: JSONPaths compiled once, no ORM access."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from apps.metering.domain import extraction
from apps.metering.domain.aggregation import Aggregation, BucketState, state_of
from apps.metering.domain.events import CloudEvent
from apps.metering.domain.windows import bucket_start


@dataclass(frozen=True)
class CompiledMeter:
    id: str
    slug: str
    event_type: str
    aggregation: Aggregation
    value_path: object | None
    group_paths: dict
    event_from: datetime | None

    def contribution(self, event: CloudEvent, seq: int):
        """(rollup key, state, unique value) for one event, or an ExtractionError."""
        data = event.data
        value: Decimal | str | None = None
        if self.aggregation == Aggregation.UNIQUE_COUNT:
            value = extraction.extract_unique(data, self.value_path)
        elif self.aggregation != Aggregation.COUNT:
            value = extraction.extract_number(data, self.value_path)
        groups = extraction.extract_group(data, self.group_paths)
        key = (self.id, event.subject, extraction.group_key(groups), bucket_start(event.time))
        numeric = value if isinstance(value, Decimal) else None
        state: BucketState = state_of(numeric, time=event.time, seq=seq)
        unique = value if isinstance(value, str) else None
        return key, groups, state, unique

    def counts(self, event: CloudEvent) -> bool:
        return event.type == self.event_type and (
            self.event_from is None or event.time >= self.event_from
        )


@lru_cache(maxsize=1024)
def _compile(meter_id, slug, event_type, aggregation, value_property, group_by_items,
             event_from, updated_at) -> CompiledMeter:
    return CompiledMeter(
        id=meter_id,
        slug=slug,
        event_type=event_type,
        aggregation=Aggregation(aggregation),
        value_path=extraction.compile_path(value_property) if value_property else None,
        group_paths={name: extraction.compile_path(path) for name, path in group_by_items},
        event_from=event_from,
    )


def compile_meter(meter) -> CompiledMeter:
    return _compile(meter.id, meter.slug, meter.event_type, meter.aggregation,
                    meter.value_property, tuple(sorted(meter.group_by.items())),
                    meter.event_from, meter.updated_at)
