"""Meters in the form the hot path needs: JSONPaths compiled once, no ORM access."""

from dataclasses import dataclass
from datetime import datetime
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

    def extract(self, event: CloudEvent):
        """(group values, numeric value, distinct value) of one event, or ExtractionError."""
        data = event.data
        number = unique = None
        if self.aggregation == Aggregation.UNIQUE_COUNT:
            unique = extraction.extract_unique(data, self.value_path)
        elif self.aggregation != Aggregation.COUNT:
            number = extraction.extract_number(data, self.value_path)
        return extraction.extract_group(data, self.group_paths), number, unique

    def counted_values(self, event: CloudEvent):
        """What ``extract`` gives for an event this meter counts; None for one it does not
        count, or cannot read (stored, shown with its validation error, counted by no meter)."""
        if not self.counts(event):
            return None
        try:
            return self.extract(event)
        except extraction.ExtractionError:
            return None

    def contribution(self, event: CloudEvent, seq: int):
        """(rollup key, group values, state, distinct value) of one event."""
        groups, number, unique = self.extract(event)
        key = (self.id, event.subject, extraction.group_key(groups), bucket_start(event.time))
        state: BucketState = state_of(number, time=event.time, seq=seq)
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
