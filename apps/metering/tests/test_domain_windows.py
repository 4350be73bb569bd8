"""Query windows in IANA time zones: DST, odd offsets, tiling and minute alignment."""

import bisect
import functools
import itertools
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.metering.domain import windows
from apps.metering.domain.windows import (
    BUCKET,
    WindowSize,
    bucket_start,
    iter_windows,
    parse_time_zone,
    parse_window_size,
    window_end,
    window_start,
)

MINUTE, HOUR, DAY, MONTH = WindowSize
ALL_ZONES = sorted(zoneinfo.available_timezones() - {"localtime"})  # "localtime": the host's
US = timedelta(microseconds=1)
NEW_YORK = "America/New_York"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(instant: datetime, size, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = window_start(instant, size, tz)
    return start, window_end(start, size, tz)


# --- examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "size", "zone", "start", "end"),
    [
        # New York springs forward on 2024-03-10 (23 h day) and falls back on 2024-11-03 (25 h).
        (utc(2024, 3, 10, 12), DAY, "America/New_York", utc(2024, 3, 10, 5), utc(2024, 3, 11, 4)),
        (utc(2024, 3, 10, 4, 59), DAY, "America/New_York", utc(2024, 3, 9, 5), utc(2024, 3, 10, 5)),
        (utc(2024, 3, 11, 4), DAY, "America/New_York", utc(2024, 3, 11, 4), utc(2024, 3, 12, 4)),
        (utc(2024, 11, 3, 12), DAY, "America/New_York", utc(2024, 11, 3, 4), utc(2024, 11, 4, 5)),
        # The fall-back hour 01:00–02:00 happens twice: two windows, one per offset.
        (utc(2024, 11, 3, 5, 30), HOUR, NEW_YORK, utc(2024, 11, 3, 5), utc(2024, 11, 3, 6)),
        (utc(2024, 11, 3, 6, 30), HOUR, NEW_YORK, utc(2024, 11, 3, 6), utc(2024, 11, 3, 7)),
        # Spring forward: 01:59 EST is followed by 03:00 EDT.
        (utc(2024, 3, 10, 6, 59), HOUR, NEW_YORK, utc(2024, 3, 10, 6), utc(2024, 3, 10, 7)),
        (utc(2024, 3, 10, 7, 0), HOUR, NEW_YORK, utc(2024, 3, 10, 7), utc(2024, 3, 10, 8)),
        # +05:30 and +08:45: hours start at local :00, i.e. at :30 and :15 UTC.
        (utc(2024, 1, 1, 10), HOUR, "Asia/Kolkata", utc(2024, 1, 1, 9, 30),
         utc(2024, 1, 1, 10, 30)),
        (utc(2024, 1, 1, 18, 29), DAY, "Asia/Kolkata", utc(2023, 12, 31, 18, 30),
         utc(2024, 1, 1, 18, 30)),
        (utc(2024, 1, 1, 0), HOUR, "Australia/Eucla", utc(2023, 12, 31, 23, 15),
         utc(2024, 1, 1, 0, 15)),
        (utc(2024, 1, 1, 0), DAY, "Australia/Eucla", utc(2023, 12, 31, 15, 15),
         utc(2024, 1, 1, 15, 15)),
        (utc(2024, 1, 1, 0, 14, 59), MINUTE, "Australia/Eucla", utc(2024, 1, 1, 0, 14),
         utc(2024, 1, 1, 0, 15)),
        # Lord Howe shifts by 30 minutes: fall back 02:00 (+11) → 01:30 (+10:30).
        (utc(2024, 4, 6, 14, 10), HOUR, "Australia/Lord_Howe", utc(2024, 4, 6, 14),
         utc(2024, 4, 6, 15)),
        (utc(2024, 4, 6, 15, 10), HOUR, "Australia/Lord_Howe", utc(2024, 4, 6, 15),
         utc(2024, 4, 6, 15, 30)),
        (utc(2024, 4, 6, 15, 40), HOUR, "Australia/Lord_Howe", utc(2024, 4, 6, 15, 30),
         utc(2024, 4, 6, 16, 30)),
        # ... and springs forward 02:00 (+10:30) → 02:30 (+11): a 30-minute hour.
        (utc(2024, 10, 5, 15, 40), HOUR, "Australia/Lord_Howe", utc(2024, 10, 5, 15, 30),
         utc(2024, 10, 5, 16)),
        # Chile jumps from 24:00 to 01:00: 2024-09-08 starts at the jump (04:00 UTC) and is 23 h.
        (utc(2024, 9, 8, 12), DAY, "America/Santiago", utc(2024, 9, 8, 4), utc(2024, 9, 9, 3)),
        (utc(2024, 9, 7, 12), DAY, "America/Santiago", utc(2024, 9, 7, 4), utc(2024, 9, 8, 4)),
        (utc(2024, 4, 6, 12), DAY, "America/Santiago", utc(2024, 4, 6, 3), utc(2024, 4, 7, 4)),
        # St. John's fell back across midnight until 2011: 2010-11-07 00:01 NDT became
        # 2010-11-06 23:01 NST. Nov 6 keeps its repeated hour (and the minute of Nov 7 before
        # it): 25 h, and Nov 7 starts at its second midnight.
        (utc(2010, 11, 6, 12), DAY, "America/St_Johns", utc(2010, 11, 6, 2, 30),
         utc(2010, 11, 7, 3, 30)),
        (utc(2010, 11, 7, 2, 30, 30), DAY, "America/St_Johns", utc(2010, 11, 6, 2, 30),
         utc(2010, 11, 7, 3, 30)),
        (utc(2010, 11, 7, 3), DAY, "America/St_Johns", utc(2010, 11, 6, 2, 30),
         utc(2010, 11, 7, 3, 30)),
        (utc(2010, 11, 7, 3, 30), DAY, "America/St_Johns", utc(2010, 11, 7, 3, 30),
         utc(2010, 11, 8, 3, 30)),
        (utc(2009, 11, 1, 2, 30, 30), MONTH, "America/St_Johns", utc(2009, 10, 1, 2, 30),
         utc(2009, 11, 1, 3, 30)),
        (utc(2010, 11, 7, 2, 30, 30), HOUR, "America/St_Johns", utc(2010, 11, 7, 2, 30),
         utc(2010, 11, 7, 2, 31)),
        # Samoa skipped 2011-12-30 entirely: no window for it, and a 30-day December.
        (utc(2011, 12, 30, 9), DAY, "Pacific/Apia", utc(2011, 12, 29, 10), utc(2011, 12, 30, 10)),
        (utc(2011, 12, 30, 10), DAY, "Pacific/Apia", utc(2011, 12, 30, 10), utc(2011, 12, 31, 10)),
        (utc(2011, 12, 15), MONTH, "Pacific/Apia", utc(2011, 12, 1, 10), utc(2011, 12, 31, 10)),
        # Months across the year end and across a DST change (March has 743 hours in Berlin).
        (utc(2024, 12, 15), MONTH, "Europe/Berlin", utc(2024, 11, 30, 23), utc(2024, 12, 31, 23)),
        (utc(2024, 12, 31, 23), MONTH, "Europe/Berlin", utc(2024, 12, 31, 23),
         utc(2025, 1, 31, 23)),
        (utc(2024, 3, 15), MONTH, "Europe/Berlin", utc(2024, 2, 29, 23), utc(2024, 3, 31, 22)),
        (utc(2024, 2, 10), MONTH, "UTC", utc(2024, 2, 1), utc(2024, 3, 1)),
        (utc(2024, 2, 10, 13, 45, 59, 999999), MINUTE, "UTC", utc(2024, 2, 10, 13, 45),
         utc(2024, 2, 10, 13, 46)),
    ],
)
def test_examples(instant, size, zone, start, end):
    assert window(instant, size, zone) == (start, end)
    assert window_start(instant, size, ZoneInfo(zone)).tzinfo is UTC


def test_historic_offsets_in_seconds_are_floored_to_the_minute():
    # Amsterdam used +00:19:32 until 1937: local midnight was 23:40:28 UTC.
    assert window(utc(1900, 1, 1, 12), DAY, "Europe/Amsterdam") == (
        utc(1899, 12, 31, 23, 40), utc(1900, 1, 1, 23, 40)
    )
    # An instant in the last seconds before a floored boundary belongs to the next window.
    assert window(utc(1900, 1, 1, 23, 40, 10), DAY, "Europe/Amsterdam") == (
        utc(1900, 1, 1, 23, 40), utc(1900, 1, 2, 23, 40)
    )
    # Minutes there are plain UTC minutes.
    assert window(utc(1900, 1, 1, 12, 0, 40), MINUTE, "Europe/Amsterdam") == (
        utc(1900, 1, 1, 12, 0), utc(1900, 1, 1, 12, 1)
    )


def test_iter_windows_over_a_fall_back_day():
    tz = ZoneInfo("America/New_York")
    hours = list(iter_windows(utc(2024, 11, 3, 4), utc(2024, 11, 4, 5), HOUR, tz))
    assert len(hours) == 25
    assert all(end - start == timedelta(hours=1) for start, end in hours)
    days = list(iter_windows(utc(2024, 3, 1, 5), utc(2024, 4, 1, 4), DAY, tz))
    assert len(days) == 31
    assert sorted({end - start for start, end in days}) == [timedelta(hours=23),
                                                           timedelta(hours=24)]


def test_iter_windows_returns_whole_windows_overlapping_the_range():
    tz = ZoneInfo("Europe/Berlin")
    assert list(iter_windows(utc(2024, 1, 15), utc(2024, 2, 2), MONTH, tz)) == [
        (utc(2023, 12, 31, 23), utc(2024, 1, 31, 23)),
        (utc(2024, 1, 31, 23), utc(2024, 2, 29, 23)),
    ]
    assert list(iter_windows(utc(2024, 1, 15), utc(2024, 1, 15), DAY, tz)) == []
    assert list(iter_windows(utc(2024, 1, 15), utc(2024, 1, 1), DAY, tz)) == []


def test_bucket_start():
    assert timedelta(minutes=1) == BUCKET
    assert bucket_start(utc(2024, 1, 1, 10, 7, 59, 999999)) == utc(2024, 1, 1, 10, 7)
    local = datetime(2024, 1, 1, 15, 37, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert bucket_start(local) == utc(2024, 1, 1, 10, 7)
    assert bucket_start(local).tzinfo is UTC


def test_naive_and_out_of_range_instants_are_refused():
    tz = ZoneInfo("UTC")
    with pytest.raises(ValueError, match="aware"):
        window_start(datetime(2024, 1, 1), DAY, tz)
    with pytest.raises(ValueError, match="aware"):
        bucket_start(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="supported years"):
        window_start(datetime.min.replace(tzinfo=UTC), DAY, ZoneInfo("America/New_York"))
    with pytest.raises(ValueError, match="supported years"):
        window_start(datetime.max.replace(tzinfo=UTC), MONTH, ZoneInfo("Asia/Tokyo"))


def test_parse_window_size():
    assert [parse_window_size(name) for name in ("MINUTE", "HOUR", "DAY", "MONTH")] == list(
        WindowSize
    )
    assert [parse_window_size(name) for name in ("PT1M", "PT1H", "P1D", "P1M")] == list(
        WindowSize
    )
    for bad in ("day", "WEEK", "", None, 1):
        with pytest.raises(ValueError, match="expected one of MINUTE, HOUR, DAY, MONTH"):
            parse_window_size(bad)


def test_parse_time_zone():
    assert parse_time_zone("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert parse_time_zone("UTC") == ZoneInfo("UTC")
    assert parse_time_zone("Etc/GMT+5") == ZoneInfo("Etc/GMT+5")
    for bad in ("Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime", "Europe",
                "Europe/", "europe/berlin", "right/UTC", "posixrules", "localtime", None, 5):
        with pytest.raises(ValueError, match="unknown time zone"):
            parse_time_zone(bad)


# --- properties -----------------------------------------------------------------------------------
#
# The oracles below share no code with the product: they read local times with zoneinfo and walk
# whole UTC minutes.

MODERN = utc(1972, 1, 8)  # from here on every zone's offsets and transitions are whole minutes


def offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    result = instant.astimezone(tz).utcoffset()
    assert result is not None
    return result


def transitions(tz: ZoneInfo, first: datetime, last: datetime, step=timedelta(days=7)):
    """The instants in [first, last) where the zone's UTC offset changes (probing every `step`,
    then bisecting to the second)."""
    found = []
    first = first.replace(microsecond=0)  # whole seconds, so that the bisection terminates
    probe, before = first, offset(first, tz)
    while probe < last:
        after = offset(probe + step, tz)
        if after != before:
            low, high = probe, probe + step
            while high - low > timedelta(seconds=1):
                middle = (low + (high - low) // 2).replace(microsecond=0)
                if offset(middle, tz) == before:
                    low = middle
                else:
                    high = middle
            found.append(high)
        probe, before = probe + step, after
    return found


def local_unit(instant: datetime, size: WindowSize, tz: ZoneInfo):
    """The local-calendar unit of an instant. Minutes and hours include the UTC offset."""
    local = instant.astimezone(tz)
    if size is MINUTE:
        return local.replace(second=0, microsecond=0, tzinfo=None), local.utcoffset()
    if size is HOUR:
        return local.replace(minute=0, second=0, microsecond=0, tzinfo=None), local.utcoffset()
    if size is DAY:
        return local.date()
    return local.year, local.month


@functools.cache
def backward_jumps(name: str) -> list[datetime]:
    """The transitions from 1972 to 2038 where the zone's clocks go back."""
    tz = ZoneInfo(name)
    return [moment for moment in transitions(tz, utc(1971, 12, 1), utc(2038, 2, 1))
            if offset(moment, tz) < offset(moment - US, tz)]


def settled_date(instant: datetime, tz: ZoneInfo) -> date:
    """The earliest local date the clock shows at or after an instant; days and months follow
    it (the clock can go back across midnight, as in St. John's until 2011). Non-decreasing in
    time, so a run of equal values is fixed by its two ends."""
    jumps = backward_jumps(tz.key)
    # Right after a backward jump the clock shows its lowest time; no jump goes back 2 days.
    following = jumps[bisect.bisect_right(jumps, instant):]
    return min([local_unit(instant, DAY, tz),
                *(local_unit(moment, DAY, tz) for moment in following
                  if moment <= instant + timedelta(days=2))])


def settled_month(instant: datetime, tz: ZoneInfo) -> tuple[int, int]:
    day = settled_date(instant, tz)
    return day.year, day.month


def assert_runs_of_the_settled_unit(instant: datetime, size: WindowSize, tz: ZoneInfo):
    unit = settled_date if size is DAY else settled_month
    start = window_start(instant, size, tz)
    end = window_end(start, size, tz)
    assert unit(start, tz) == unit(instant, tz) == unit(end - BUCKET, tz), (tz, size, instant)
    assert unit(start - BUCKET, tz) != unit(start, tz), (tz, size, instant)
    assert unit(end, tz) != unit(instant, tz), (tz, size, instant)


def assert_runs_of_the_local_unit(instant: datetime, size: WindowSize, tz: ZoneInfo):
    unit = local_unit(instant, size, tz)
    start = bucket_start(instant)
    while local_unit(start - BUCKET, size, tz) == unit:
        start -= BUCKET
    end = bucket_start(instant) + BUCKET
    while local_unit(end, size, tz) == unit:
        end += BUCKET
    assert window_start(instant, size, tz) == start, (tz, size, instant)
    assert window_end(start, size, tz) == end, (tz, size, instant)


def is_minute(instant: datetime) -> bool:
    return instant.tzinfo is UTC and instant.second == 0 and instant.microsecond == 0


zones = st.sampled_from(ALL_ZONES).map(ZoneInfo)
sizes = st.sampled_from(list(WindowSize))
any_instants = st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(2200, 1, 1),
                            timezones=st.just(UTC))
modern_instants = st.datetimes(min_value=MODERN.replace(tzinfo=None),
                               max_value=datetime(2037, 12, 31), timezones=st.just(UTC))


@st.composite
def zoned_instants(draw):
    """A zone and an instant, half of the time within two days of one of its transitions."""
    tz = draw(zones)
    if draw(st.booleans()):
        year = draw(st.integers(min_value=1973, max_value=2037))
        nearby = transitions(tz, utc(year, 1, 1), utc(year + 1, 1, 1))
        if nearby:
            moment = draw(st.sampled_from(nearby))
            return tz, moment + timedelta(microseconds=draw(
                st.integers(min_value=-2 * 86_400_000_000, max_value=2 * 86_400_000_000)))
    return tz, draw(modern_instants)


@settings(max_examples=300, deadline=None)
@given(any_instants, sizes, zones)
def test_windows_contain_their_instants_and_tile_time(instant, size, tz):
    start = window_start(instant, size, tz)
    end = window_end(start, size, tz)
    assert start <= instant < end
    # Boundaries are UTC minutes, so a per-minute bucket never straddles two windows.
    assert is_minute(start) and is_minute(end)
    assert window_start(bucket_start(instant), size, tz) == start
    assert window_start(end - BUCKET, size, tz) == start
    # No gaps, no overlaps: the next window starts where this one ends.
    assert window_start(start, size, tz) == start
    assert window_start(end, size, tz) == end
    assert window_start(start - US, size, tz) < start
    assert window_end(window_start(start - US, size, tz), size, tz) == start


@settings(max_examples=200, deadline=None)
@given(zoned_instants(), st.sampled_from([MINUTE, HOUR]))
def test_minutes_and_hours_are_the_maximal_runs_of_a_local_unit(zoned, size):
    tz, instant = zoned
    assert_runs_of_the_local_unit(instant, size, tz)


@settings(max_examples=200, deadline=None)
@given(zoned_instants(), st.sampled_from([DAY, MONTH]))
def test_days_and_months_are_the_maximal_runs_of_the_settled_local_date(zoned, size):
    tz, instant = zoned
    assert_runs_of_the_settled_unit(instant, size, tz)
    if size is MONTH:  # a month is made of whole days
        start = window_start(instant, MONTH, tz)
        end = window_end(start, MONTH, tz)
        assert window_start(start, DAY, tz) == start and window_end(end - US, DAY, tz) == end


# Zones whose clocks do something unusual: 30-minute and 2-hour shifts, negative DST, jumps at
# midnight or across it, skipped days, Ramadan suspensions, :45 offsets.
CURIOUS_ZONES = [
    "America/New_York", "Australia/Lord_Howe", "America/St_Johns", "America/Goose_Bay",
    "Pacific/Apia", "America/Santiago", "Asia/Beirut", "America/Havana", "Africa/Casablanca",
    "Pacific/Chatham", "Antarctica/Troll", "Europe/Dublin", "America/Sao_Paulo",
    "Pacific/Kiritimati", "Asia/Tehran",
]


@pytest.mark.parametrize("name", CURIOUS_ZONES)
def test_windows_around_every_transition_of_curious_zones(name):
    tz = ZoneInfo(name)
    for moment in transitions(tz, MODERN, utc(2038, 1, 1)):
        for instant in (moment - US, moment, moment + timedelta(minutes=30)):
            assert_runs_of_the_local_unit(instant, HOUR, tz)
            assert_runs_of_the_settled_unit(instant, DAY, tz)
            assert_runs_of_the_settled_unit(instant, MONTH, tz)


@settings(max_examples=100, deadline=None)
@given(any_instants, st.integers(min_value=0, max_value=60 * 24 * 70), sizes, zones)
def test_iter_windows_tiles_a_range(first, minutes, size, tz):
    last = first + timedelta(minutes=minutes)
    tiles = list(iter_windows(first, last, size, tz))
    if first >= last:
        assert tiles == []
        return
    assert tiles[0] == (window_start(first, size, tz),
                        window_end(window_start(first, size, tz), size, tz))
    assert tiles[0][0] <= first < tiles[0][1]
    assert tiles[-1][0] < last <= tiles[-1][1]
    for (_, end), (start, _) in itertools.pairwise(tiles):
        assert end == start
    assert all(start < end for start, end in tiles)


# --- the tz database invariant the rollups rely on ------------------------------------------------


@pytest.mark.parametrize("letter", sorted({name[0] for name in ALL_ZONES}))
def test_window_boundaries_are_never_moved_by_flooring_since_1972(letter):
    # Window boundaries are local unit starts (a local time minus a whole-minute offset) or
    # transitions. When offsets and transitions are whole minutes, so is every boundary, and
    # flooring to the minute (which makes the bucket invariant hold by construction) changes
    # nothing: every window is exactly the local calendar's.
    for name in (zone for zone in ALL_ZONES if zone.startswith(letter)):
        tz = ZoneInfo(name)
        assert offset(MODERN, tz) % timedelta(minutes=1) == timedelta(0), name
        for moment in transitions(tz, MODERN, utc(2038, 1, 1)):
            assert is_minute(moment), (name, moment)
            assert offset(moment, tz) % timedelta(minutes=1) == timedelta(0), name
            for size in (HOUR, DAY, MONTH):
                for instant in (moment - US, moment):
                    start, end = windows._run(instant, size, tz)  # before flooring
                    assert is_minute(start) and is_minute(end), (name, size, instant)
