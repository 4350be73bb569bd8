"""Billing periods: anchor + k × cadence in the customer's time zone. Pure Python.

Boundaries are computed from the anchor every time (never by adding to the previous one), so a
monthly anchor on the 31st gives Jan 31, Feb 28, Mar 31, and local midnight stays local midnight
across daylight-saving changes (wall-clock arithmetic on zoneinfo datetimes).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from apps.core.durations import Duration


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def boundary(anchor: datetime, cadence: Duration, k: int, zone: ZoneInfo) -> datetime:
    """anchor + k × cadence, counted in local wall time, returned in UTC."""
    local = anchor.astimezone(zone)
    return cadence.add_to(local, k).astimezone(UTC)


def period_at(anchor: datetime, cadence: Duration, instant: datetime, zone: ZoneInfo) -> Period:
    """The full anchored period containing `instant`."""
    k = _estimate(anchor, cadence, instant)
    while boundary(anchor, cadence, k, zone) > instant:
        k -= 1
    while boundary(anchor, cadence, k + 1, zone) <= instant:
        k += 1
    return Period(boundary(anchor, cadence, k, zone), boundary(anchor, cadence, k + 1, zone))


def split(span: Period, anchor: datetime, cadence: Duration, zone: ZoneInfo) -> list[Period]:
    """`span` cut at every anchored boundary inside it."""
    pieces = []
    start = span.start
    while start < span.end:
        end = min(period_at(anchor, cadence, start, zone).end, span.end)
        pieces.append(Period(start, end))
        start = end
    return pieces


def share(piece: Period, full: Period) -> Fraction:
    """The exact part of a full period that a piece covers (1 for a whole period)."""
    return Fraction(piece.seconds, full.seconds)


def _estimate(anchor: datetime, cadence: Duration, instant: datetime) -> int:
    if cadence.months:
        months = (instant.year - anchor.year) * 12 + instant.month - anchor.month
        return months // cadence.months
    return int((instant - anchor) / timedelta(seconds=cadence.seconds))
