"""Meter aggregations as mergeable per-bucket states, exact with Decimal.

A `BucketState` summarises any set of events (one minute's, one window's, a whole period's) so
that merging the states of two disjoint sets gives the state of their union. `merge` is
associative and commutative with `BucketState()` as identity, so rollups can be maintained
incrementally, in any order, and late events simply merge into their bucket. Each aggregation is
then read off a state by `finalize`:

- SUM, COUNT: the running sum and count add up.
- AVG: kept as (sum, count), divided only at the end; an average of averages would be wrong.
- MIN, MAX: the extremes.
- LATEST: the value together with its (time, storage sequence) key; the greatest key wins, so
  a late event with an older time does not displace a newer one, and equal times are decided by
  ingest order.
- UNIQUE_COUNT: the set of distinct values itself (a count of distinct values per bucket would
  not add up across buckets).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from enum import StrEnum

# Sums are exact: any result needing more digits raises Inexact instead of being rounded. With
# values bounded as extraction bounds them (30 + 30 digits), 100 digits hold sums of 10^40 of them.
SUM_PRECISION = 100
AVG_PRECISION = 100

_EXACT = Context(prec=SUM_PRECISION, traps=[Inexact, InvalidOperation, Overflow])
_AVERAGE = Context(prec=AVG_PRECISION, traps=[InvalidOperation, Overflow])


class Aggregation(StrEnum):
    SUM = "SUM"
    COUNT = "COUNT"
    UNIQUE_COUNT = "UNIQUE_COUNT"
    AVG = "AVG"
    MIN = "MIN"
    MAX = "MAX"
    LATEST = "LATEST"


@dataclass(frozen=True, slots=True)
class BucketState:
    count: int = 0
    sum: Decimal = Decimal(0)
    min: Decimal | None = None
    max: Decimal | None = None
    latest_value: Decimal | None = None
    latest_time: datetime | None = None
    latest_seq: int | None = None
    uniques: frozenset[str] = frozenset()


EMPTY = BucketState()


def state_of(value: Decimal | str | None, *, time: datetime, seq: int) -> BucketState:
    """The state of a single event.

    `value` is a Decimal for numeric aggregations, the distinct value (a str) for UNIQUE_COUNT
    and None for COUNT. `seq` is the event's storage sequence number; with `time` it orders
    events for LATEST.
    """
    if value is None:
        return BucketState(count=1)
    if isinstance(value, str):
        return BucketState(count=1, uniques=frozenset((value,)))
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"a meter value must be a finite Decimal, a str or None, not {value!r}")
    if time.tzinfo is None:
        raise ValueError("time must be an aware datetime")
    return BucketState(
        count=1,
        sum=value,
        min=value,
        max=value,
        latest_value=value,
        latest_time=time,
        latest_seq=seq,
    )


def merge(a: BucketState, b: BucketState) -> BucketState:
    """The state of the union of two disjoint sets of events."""
    latest = b if _latest_key(b) > _latest_key(a) else a
    return BucketState(
        count=a.count + b.count,
        sum=_EXACT.add(a.sum, b.sum),
        min=_extreme(min, a.min, b.min),
        max=_extreme(max, a.max, b.max),
        latest_value=latest.latest_value,
        latest_time=latest.latest_time,
        latest_seq=latest.latest_seq,
        uniques=a.uniques | b.uniques if a.uniques and b.uniques else a.uniques or b.uniques,
    )


def finalize(aggregation: Aggregation | str, state: BucketState) -> Decimal | None:
    """The meter value of a state. An empty state is 0 for SUM, COUNT and UNIQUE_COUNT and
    None (no value) for AVG, MIN, MAX and LATEST."""
    match Aggregation(aggregation):
        case Aggregation.SUM:
            return state.sum
        case Aggregation.COUNT:
            return Decimal(state.count)
        case Aggregation.UNIQUE_COUNT:
            return Decimal(len(state.uniques))
        case Aggregation.AVG:
            if state.count == 0:
                return None
            # Exact whenever the quotient has at most AVG_PRECISION digits (1/4 is 0.25);
            # otherwise correctly rounded to that many (1/3 is 0.333…3).
            return _AVERAGE.divide(state.sum, Decimal(state.count))
        case Aggregation.MIN:
            return state.min
        case Aggregation.MAX:
            return state.max
        case Aggregation.LATEST:
            return state.latest_value


def fold[K](items: Iterable[tuple[K, BucketState]]) -> dict[K, BucketState]:
    """Merge states that share a key."""
    folded: dict[K, BucketState] = {}
    for key, state in items:
        previous = folded.get(key)
        folded[key] = state if previous is None else merge(previous, state)
    return folded


def merge_all(states: Iterable[BucketState]) -> BucketState:
    """Merge any number of states (the identity for none)."""
    total = EMPTY
    for state in states:
        total = merge(total, state)
    return total


# --- helpers ---------------------------------------------------------------------------------


def _latest_key(state: BucketState) -> tuple:
    # States without a latest value sort first. The value itself is the last tie-breaker so
    # that merge stays commutative even for two states claiming the same (time, seq).
    if state.latest_time is None:
        return (0,)
    return (1, state.latest_time, state.latest_seq or 0, state.latest_value)


def _extreme(pick, a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)
