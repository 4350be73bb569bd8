"""Query windows: local-calendar minutes, hours, days and months in an IANA time zone.

Windows tile time without gaps or overlaps; each is a local-calendar unit of the zone:

- DAY and MONTH follow the local date, so a day is 23 hours long on a spring-forward day and 25
  on a fall-back day. Precisely, a day starts at the instant from which the local clock never
  again shows an earlier date. Usually that is local midnight; a day whose midnight does not
  exist (America/Santiago, Asia/Beirut: the clocks jump from 24:00 to 01:00) starts at the jump;
  a day reached twice because the clocks fall back across midnight (America/St_Johns until
  2011: 00:01 back to 23:01) starts at its second midnight, so the repeated hour stays with the
  day it belongs to and the one minute between the two midnights joins it. A skipped date
  (Pacific/Apia, 2011-12-30) has no window. A month is the days of its dates.
- MINUTE and HOUR are the maximal runs of instants sharing the local wall-clock minute or hour
  and the UTC offset, so the local hour 01:00–02:00 that repeats on a fall-back day is two
  windows, one per offset. In zones with :30 or :45 offsets (Asia/Kolkata, Australia/Eucla)
  hours start at local :00, i.e. at :30 or :15 UTC.

Events are pre-aggregated per UTC minute (`BUCKET`), and a query merges whole buckets into
windows. That is exact only if no bucket straddles a window boundary, i.e. if every window
boundary is a UTC minute boundary. It is, for every zone in `zoneinfo.available_timezones()`
from 1972-01-07 on: all UTC offsets are whole minutes and all transitions fall on whole minutes
(the tests check this against the tz database). Before that, some zones used offsets with
seconds (local mean time, e.g. Europe/Amsterdam +00:19:32 until 1937; Africa/Monrovia −00:44:30
until 1972-01-07); there each boundary is floored to the UTC minute, so windows still tile time
and hold whole buckets, but begin up to 59 seconds before the local midnight or hour.

Instants must be aware. Supported instants are from year 2 to year 9998 (zone arithmetic
near `datetime.min`/`max` would overflow); outside that ValueError is raised.
"""

import functools
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

BUCKET = timedelta(minutes=1)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
_LATEST = datetime(9998, 12, 31, tzinfo=UTC)


class WindowSize(StrEnum):
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"


# OpenMeter's v3 API names the same sizes as ISO 8601 durations (`granularity`).
_ISO_DURATIONS = {
    "PT1M": WindowSize.MINUTE,
    "PT1H": WindowSize.HOUR,
    "P1D": WindowSize.DAY,
    "P1M": WindowSize.MONTH,
}


def parse_window_size(text: object) -> WindowSize:
    """MINUTE, HOUR, DAY or MONTH (exactly, as OpenMeter); PT1M, PT1H, P1D, P1M also accepted."""
    if isinstance(text, str):
        if text in WindowSize.__members__:
            return WindowSize(text)
        if text in _ISO_DURATIONS:
            return _ISO_DURATIONS[text]
    raise ValueError(f"invalid window size {text!r}: expected one of MINUTE, HOUR, DAY, MONTH")


def parse_time_zone(name: object) -> ZoneInfo:
    """An IANA time zone by name, e.g. "Europe/Berlin" or "UTC" (case-sensitive)."""
    if not isinstance(name, str) or name not in _known_zone_names():
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as "
                         "Europe/Berlin or UTC")
    return ZoneInfo(name)


def bucket_start(instant: datetime) -> datetime:
    """The start of the UTC minute containing `instant` (aware UTC)."""
    instant = _utc(instant)
    return instant.replace(second=0, microsecond=0)


def window_start(instant: datetime, size: WindowSize | str, tz: tzinfo) -> datetime:
    """The start (aware UTC) of the window containing `instant`."""
    return _window(_utc(instant), WindowSize(size), tz)[0]


def window_end(start: datetime, size: WindowSize | str, tz: tzinfo) -> datetime:
    """The end (aware UTC, exclusive) of the window containing `start`: the next window's start."""
    return _window(_utc(start), WindowSize(size), tz)[1]


def iter_windows(
    start: datetime, end: datetime, size: WindowSize | str, tz: tzinfo
) -> Iterator[tuple[datetime, datetime]]:
    """The windows that overlap [start, end), in order, as (start, end) pairs.

    Windows are whole: the first may begin before `start` and the last end after `end`, as
    OpenMeter reports them.
    """
    size = WindowSize(size)
    start, end = _utc(start), _utc(end)
    if start >= end:
        return
    window = _window(start, size, tz)
    while window[0] < end:
        yield window
        window = _window(window[1], size, tz)


# --- how windows are found ---------------------------------------------------------------------


@functools.cache
def _known_zone_names() -> frozenset[str]:
    # Only the tz database's names: not the files ZoneInfo would also open ("posixrules",
    # "right/UTC" with leap seconds), nor "localtime", which is whatever the server uses.
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


def _window(instant: datetime, size: WindowSize, tz: tzinfo) -> tuple[datetime, datetime]:
    start, end = _run(instant, size, tz)
    # A date shown briefly before the clocks fell back across midnight starts later (see the
    # module docstring): such an instant belongs to the day before.
    while start > instant:
        start, end = _run(start - _MICROSECOND, size, tz)
    # Only with offsets in seconds (see the module docstring) can the floored end come before
    # the instant; the instant then belongs to the next window(s).
    while _floor_minute(end) <= instant:
        start, end = _run(end, size, tz)
    return _floor_minute(start), _floor_minute(end)


def _run(instant: datetime, size: WindowSize, tz: tzinfo) -> tuple[datetime, datetime]:
    """The exact (unfloored) start and end of the local-calendar unit containing `instant`."""
    local = instant.astimezone(tz)
    offset = local.utcoffset()
    assert offset is not None
    wall = local.replace(tzinfo=None, fold=0)
    if size is WindowSize.DAY or size is WindowSize.MONTH:
        if size is WindowSize.DAY:
            first = wall.replace(hour=0, minute=0, second=0, microsecond=0)
            following = first + timedelta(days=1)
        else:
            first = wall.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            following = first.replace(year=first.year + first.month // 12,
                                      month=first.month % 12 + 1)
        return _unit_start(first, tz), _unit_start(following, tz)

    # MINUTE, HOUR: the offset is part of the unit, so within one run it is constant.
    if size is WindowSize.HOUR:
        first = wall.replace(minute=0, second=0, microsecond=0)
        following = first + timedelta(hours=1)
    else:
        first = wall.replace(second=0, microsecond=0)
        following = first + timedelta(minutes=1)
    start = (first - offset).replace(tzinfo=UTC)
    if _offset(start, tz) != offset:
        start = _transition(start, instant, tz)  # the unit began with another offset
    end = (following - offset).replace(tzinfo=UTC)
    if _offset(end - _MICROSECOND, tz) != offset:
        end = _transition(instant, end - _MICROSECOND, tz)  # the offset changes within the unit
    return start, end


def _unit_start(wall: datetime, tz: tzinfo) -> datetime:
    """The instant from which the local clock in `tz` never again shows a time before `wall`
    (for day and month starts, where no unit lasts less than the clocks ever go back)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) != wall:
        # `wall` was skipped by a forward jump: the unit starts at the jump. fold=0 and fold=1
        # map a skipped time with the offsets from before and after the jump, bracketing it.
        second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
        return _transition(min(first, second), max(first, second), tz)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if second != first:
        # `wall` happens twice. If the clock was before `wall` just before its second
        # occurrence, it went back across `wall`, and only the second occurrence is final.
        just_before = (second - _MICROSECOND).astimezone(tz).replace(tzinfo=None)
        if just_before < wall:
            return second
    return first


def _transition(low: datetime, high: datetime, tz: tzinfo) -> datetime:
    """The first instant in (low, high] whose UTC offset differs from the offset at `low`
    (to the microsecond; `high` must have a different offset)."""
    before = _offset(low, tz)
    low_us = (low - _EPOCH) // _MICROSECOND
    high_us = (high - _EPOCH) // _MICROSECOND
    while high_us - low_us > 1:
        middle = (low_us + high_us) // 2
        if _offset(_EPOCH + middle * _MICROSECOND, tz) == before:
            low_us = middle
        else:
            high_us = middle
    return _EPOCH + high_us * _MICROSECOND


def _offset(instant: datetime, tz: tzinfo) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


def _floor_minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant!r} must be an aware datetime")
    instant = instant.astimezone(UTC)
    if not _EARLIEST <= instant <= _LATEST:
        raise ValueError(f"{instant.isoformat()} is outside the supported years 2 to 9998")
    return instant
