"""Mergeable bucket states: exact aggregation, merge laws, rollups equal recomputation."""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, Inexact
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.metering.domain.aggregation import (
    AVG_PRECISION,
    EMPTY,
    Aggregation,
    BucketState,
    finalize,
    fold,
    merge,
    merge_all,
    state_of,
)
from apps.metering.domain.windows import WindowSize, bucket_start, window_start

T0 = datetime(2024, 3, 10, 5, 0, tzinfo=UTC)  # New York's spring-forward day begins
D = Decimal


def states(*values, start=T0):
    return [state_of(value, time=start + timedelta(minutes=i), seq=i)
            for i, value in enumerate(values)]


def aggregate(aggregation, *values):
    return finalize(aggregation, merge_all(states(*values)))


# --- examples ----------------------------------------------------------------------------------


def test_aggregation_values_are_openmeter_names():
    assert [a.value for a in Aggregation] == [
        "SUM", "COUNT", "UNIQUE_COUNT", "AVG", "MIN", "MAX", "LATEST"
    ]
    assert Aggregation("UNIQUE_COUNT") is Aggregation.UNIQUE_COUNT
    assert Aggregation.SUM == "SUM"


def test_each_aggregation_on_a_small_example():
    values = [D("1.5"), D(-2), D("10.25"), D("1.5")]
    assert aggregate("SUM", *values) == D("11.25")
    assert aggregate("AVG", *values) == D("2.8125")
    assert aggregate("MIN", *values) == D(-2)
    assert aggregate("MAX", *values) == D("10.25")
    assert aggregate("LATEST", *values) == D("1.5")
    assert aggregate(Aggregation.COUNT, None, None, None) == 3
    assert aggregate(Aggregation.UNIQUE_COUNT, "a", "b", "a", "") == 3


def test_empty_state():
    assert BucketState() == EMPTY
    assert finalize("SUM", EMPTY) == 0
    assert finalize("COUNT", EMPTY) == 0
    assert finalize("UNIQUE_COUNT", EMPTY) == 0
    for aggregation in ("AVG", "MIN", "MAX", "LATEST"):
        assert finalize(aggregation, EMPTY) is None
    assert merge_all([]) == EMPTY
    assert fold([]) == {}


def test_sums_are_exact():
    assert aggregate("SUM", D("0.1"), D("0.2")) == D("0.3")
    big = D("99999999999999999999999999999.999999999999999999999999999999")
    tiny = D("0.000000000000000000000000000001")
    assert aggregate("SUM", big, tiny) == D(10**29)
    assert aggregate("SUM", big, tiny, big.copy_negate()) == tiny  # unary minus would round


def test_a_sum_that_cannot_be_exact_raises_instead_of_rounding():
    with pytest.raises(Inexact):
        aggregate("SUM", D("1e200"), D("1e-200"))


def test_average_is_divided_once_and_exactly():
    assert aggregate("AVG", D(1), D(2)) == D("1.5")
    assert aggregate("AVG", D("0.1"), D("0.2"), D("0.3")) == D("0.2")
    # An average of per-bucket averages would give (1 + 3) / 2 = 2, not 7/3.
    left = merge_all(states(D(1)))
    right = merge_all(states(D(3), D(3), start=T0 + timedelta(hours=1)))
    third = finalize("AVG", merge(left, right))
    assert str(third).startswith("2.33333")
    assert len(third.as_tuple().digits) == AVG_PRECISION
    assert abs(Fraction(third) - Fraction(7, 3)) < Fraction(1, 10**99)


def test_latest_is_decided_by_time_then_storage_sequence():
    late_but_older = state_of(D(1), time=T0, seq=10)
    newer = state_of(D(2), time=T0 + timedelta(seconds=1), seq=3)
    assert finalize("LATEST", merge(late_but_older, newer)) == 2
    assert finalize("LATEST", merge(newer, late_but_older)) == 2
    first = state_of(D(5), time=T0, seq=1)
    second = state_of(D(6), time=T0, seq=2)  # same time: the later ingest wins
    assert finalize("LATEST", merge(first, second)) == 6
    assert finalize("LATEST", merge(second, first)) == 6
    merged = merge(second, first)
    assert (merged.latest_time, merged.latest_seq) == (T0, 2)


def test_state_of_a_single_event():
    assert state_of(None, time=T0, seq=1) == BucketState(count=1)
    assert state_of("u", time=T0, seq=1) == BucketState(count=1, uniques=frozenset({"u"}))
    assert state_of(D("2.5"), time=T0, seq=9) == BucketState(
        count=1, sum=D("2.5"), min=D("2.5"), max=D("2.5"), latest_value=D("2.5"),
        latest_time=T0, latest_seq=9,
    )
    assert state_of(3, time=T0, seq=1).sum == 3


@pytest.mark.parametrize("value", [True, 1.5, D("NaN"), D("Infinity"), [1]])
def test_state_of_refuses_non_values(value):
    with pytest.raises(TypeError):
        state_of(value, time=T0, seq=1)


def test_state_of_refuses_naive_times():
    with pytest.raises(ValueError, match="aware"):
        state_of(D(1), time=datetime(2024, 1, 1), seq=1)


def test_fold_merges_per_key():
    items = [("a", s) for s in states(D(1), D(2))] + [("b", s) for s in states(D(5))]
    folded = fold(items)
    assert finalize("SUM", folded["a"]) == 3 and finalize("SUM", folded["b"]) == 5


# --- merge laws ---------------------------------------------------------------------------------

values = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False,
                     allow_infinity=False)
times = st.integers(min_value=0, max_value=5).map(lambda m: T0 + timedelta(minutes=m))
single_states = st.builds(
    lambda value, time, seq: state_of(value, time=time, seq=seq),
    values | st.sampled_from(["u1", "u2", "u3"]) | st.none(),
    times,
    st.integers(min_value=0, max_value=20),
)
bucket_states = st.lists(single_states, max_size=5).map(merge_all)


@given(bucket_states, bucket_states, bucket_states)
def test_merge_is_associative(a, b, c):
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@given(bucket_states, bucket_states)
def test_merge_is_commutative(a, b):
    assert merge(a, b) == merge(b, a)


@given(bucket_states)
def test_empty_state_is_the_identity(a):
    assert merge(a, EMPTY) == a == merge(EMPTY, a)


# --- rollups equal recomputation -----------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    seq: int
    subject: str
    time: datetime
    value: Decimal
    unique: str


def value_for(aggregation: Aggregation, event: Event):
    if aggregation is Aggregation.COUNT:
        return None
    if aggregation is Aggregation.UNIQUE_COUNT:
        return event.unique
    return event.value


def recompute(aggregation: Aggregation, events: list[Event]) -> Fraction | None:
    """The aggregate straight from the events, in exact rational arithmetic."""
    numbers = [Fraction(event.value) for event in events]
    match aggregation:
        case Aggregation.SUM:
            return sum(numbers, Fraction(0))
        case Aggregation.COUNT:
            return Fraction(len(events))
        case Aggregation.UNIQUE_COUNT:
            return Fraction(len({event.unique for event in events}))
        case Aggregation.AVG:
            return sum(numbers, Fraction(0)) / len(numbers) if numbers else None
        case Aggregation.MIN:
            return min(numbers, default=None)
        case Aggregation.MAX:
            return max(numbers, default=None)
        case Aggregation.LATEST:
            latest = max(events, key=lambda event: (event.time, event.seq), default=None)
            return None if latest is None else Fraction(latest.value)


def assert_same(aggregation: Aggregation, result: Decimal | None, expected: Fraction | None):
    if expected is None:
        assert result is None
        return
    assert result is not None
    if aggregation is Aggregation.AVG and not terminates(expected):
        # Not a finite decimal: correctly rounded to AVG_PRECISION significant digits.
        assert abs(Fraction(result) - expected) <= abs(expected) / 10 ** (AVG_PRECISION - 1)
    else:
        assert Fraction(result) == expected


def terminates(number: Fraction) -> bool:
    denominator = number.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


@st.composite
def event_histories(draw):
    count = draw(st.integers(min_value=0, max_value=40))
    events = []
    for seq in range(count):
        # Few distinct times, so that ties (same time, different seq) are common; times spread
        # over two days so that events arrive late and out of order relative to each other.
        minute = draw(st.integers(min_value=0, max_value=48 * 60 - 1) | st.sampled_from([0, 61]))
        second = draw(st.sampled_from([0, 0, 30, 59]))
        events.append(Event(
            seq=seq,
            subject=draw(st.sampled_from(["acme", "globex"])),
            time=T0 + timedelta(minutes=minute, seconds=second),
            value=draw(values),
            unique=draw(st.sampled_from(["u1", "u2", "u3", "u4"])),
        ))
    return events


@st.composite
def ingest_batches(draw, events):
    """The events in some arrival order, cut into batches."""
    order = draw(st.permutations(events))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=5)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=150, deadline=None)
@given(
    st.data(),
    event_histories(),
    st.sampled_from([None, *WindowSize]),
    st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Eucla"]),
)
def test_rollups_equal_recomputation(data, events, size, zone):
    tz = ZoneInfo(zone)
    batches = data.draw(ingest_batches(events))
    for aggregation in Aggregation:
        # Ingest: each batch is folded into per-minute deltas, merged into the rollup table.
        rollups: dict[tuple[str, datetime], BucketState] = {}
        for batch in batches:
            deltas = fold(
                ((event.subject, bucket_start(event.time)),
                 state_of(value_for(aggregation, event), time=event.time, seq=event.seq))
                for event in batch
            )
            for key, delta in deltas.items():
                existing = rollups.get(key, EMPTY)
                # Which side is the stored row must not matter.
                rollups[key] = merge(existing, delta) if key[1].minute % 2 else merge(delta,
                                                                                       existing)

        # Query: buckets merged into windows, then finalized.
        def window_of(instant):
            return None if size is None else window_start(instant, size, tz)

        queried = fold(((subject, window_of(bucket)), state)
                       for (subject, bucket), state in rollups.items())

        # Reference: the raw events, grouped by the window of their own time.
        groups: dict[tuple[str, datetime | None], list[Event]] = {}
        for event in events:
            groups.setdefault((event.subject, window_of(event.time)), []).append(event)

        assert queried.keys() == groups.keys()
        for key, members in groups.items():
            assert_same(aggregation, finalize(aggregation, queried[key]),
                        recompute(aggregation, members))


@given(st.lists(values, min_size=1, max_size=20))
def test_average_is_exact_for_decimal_inputs(numbers):
    result = aggregate("AVG", *numbers)
    exact = sum(map(Fraction, numbers), Fraction(0)) / len(numbers)
    assert_same(Aggregation.AVG, result, exact)
    if terminates(exact):
        assert Fraction(result) == exact


@given(values, st.integers(min_value=1, max_value=50))
def test_average_of_equal_values_is_that_value(value, count):
    assert aggregate("AVG", *[value] * count) == value
