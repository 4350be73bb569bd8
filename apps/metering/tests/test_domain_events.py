"""CloudEvents validation, RFC 3339 times, canonical JSON and payload hashes (no database)."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from apps.metering.domain.events import (
    MAX_ATTRIBUTE_LENGTH,
    MAX_DATA_DEPTH,
    MAX_LENGTHS,
    TIME_FORMAT_REASON,
    CloudEvent,
    EventError,
    _write_canonical,
    canonical_json,
    event_payload_hash,
    number_text,
    parse_event,
    parse_rfc3339,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def valid(**changes) -> dict:
    attributes = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "gateway",
        "type": "api-calls",
        "subject": "customer-1",
        "time": "2024-06-01T11:00:00Z",
        "data": {"method": "GET", "duration_ms": 12},
    }
    attributes.update(changes)
    return {key: value for key, value in attributes.items() if value is not ...}


def parsed(obj, **kwargs) -> CloudEvent:
    result = parse_event(obj, index=0, now=NOW, **kwargs)
    assert isinstance(result, CloudEvent), result
    return result


def reasons(obj, **kwargs) -> dict[str, str]:
    result = parse_event(obj, index=7, now=NOW, **kwargs)
    assert isinstance(result, list), result
    assert all(error.index == 7 for error in result)
    return {error.field: error.reason for error in result}


# --- accepted events ---------------------------------------------------------------------------


def test_a_complete_event_is_parsed():
    result = parsed(valid(datacontenttype="application/json", dataschema="https://x/schema"))
    assert result == CloudEvent(
        specversion="1.0",
        id="evt-1",
        source="gateway",
        type="api-calls",
        subject="customer-1",
        time=datetime(2024, 6, 1, 11, 0, tzinfo=UTC),
        data={"method": "GET", "duration_ms": 12},
        datacontenttype="application/json",
        dataschema="https://x/schema",
        time_given=True,
    )
    assert result.time.tzinfo is UTC


def test_missing_or_null_time_is_the_receipt_time_and_marked_not_given():
    for result in (parsed(valid(time=...)), parsed(valid(time=None))):
        assert result.time == NOW
        assert result.time_given is False


def test_receipt_time_is_normalised_to_utc():
    now = datetime(2024, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    result = parse_event(valid(time=None), index=0, now=now)
    assert isinstance(result, CloudEvent)
    assert result.time == NOW and result.time.utcoffset() == timedelta(0)


@pytest.mark.parametrize("data", [None, ..., {}, {"nested": {"list": [1, "two", None, True]}}])
def test_data_may_be_an_object_null_or_missing(data):
    assert parsed(valid(data=data)).data == (None if data is ... else data)


def test_unknown_attributes_are_extensions_and_ignored():
    result = parsed(valid(traceparent="00-abc-def-01", myextension={"any": "thing"}, data_base64=5))
    assert result.id == "evt-1"


@pytest.mark.parametrize(
    "source",
    ["my-service", "//gw/1", "https://x/y", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
     "/relative/path?q=1#frag", "kong", "ü-service", "%zz"],
)
def test_source_is_a_lenient_uri_reference(source):
    assert parsed(valid(source=source)).source == source


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "Application/JSON"],
)
def test_datacontenttype_json_or_null(content_type):
    assert parsed(valid(datacontenttype=content_type)).datacontenttype == content_type


def test_decimal_and_float_numbers_in_data_are_accepted():
    data = {"a": Decimal("12.50"), "b": 0.5, "c": 10**300, "d": Decimal("-1e308")}
    assert parsed(valid(data=data)).data == data


def test_attributes_up_to_the_length_limit_are_accepted():
    long = "x" * MAX_ATTRIBUTE_LENGTH
    assert parsed(valid(id=long, subject=long)).id == long
    assert MAX_LENGTHS["id"] == MAX_LENGTHS["source"] == MAX_ATTRIBUTE_LENGTH == 256
    schema = "https://x/" + "s" * (MAX_LENGTHS["dataschema"] - 10)
    assert parsed(valid(dataschema=schema)).dataschema == schema
    assert reasons(valid(dataschema=schema + "s")) == {
        "dataschema": "must be at most 1024 characters"
    }
    content_type = "application/json; charset=utf-8; x=" + "y" * 29
    assert parsed(valid(datacontenttype=content_type)).datacontenttype == content_type
    assert reasons(valid(datacontenttype=content_type + "y")) == {
        "datacontenttype": "must be at most 64 characters"
    }


def test_data_nested_to_the_depth_limit_is_accepted():
    data: dict = {}
    node = data
    for _ in range(MAX_DATA_DEPTH - 1):  # data itself is the first level
        node["x"] = {}
        node = node["x"]
    assert parsed(valid(data=data)).data is data


# --- refused events ----------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [None, [], ["event"], "event", 5, Decimal("1.5"), True])
def test_an_event_must_be_an_object(obj):
    assert parse_event(obj, index=3, now=NOW) == [EventError(3, "event", "must be a JSON object")]
    assert str(EventError(3, "event", "must be a JSON object")) == "event must be a JSON object"


@pytest.mark.parametrize("name", ["specversion", "id", "source", "type", "subject"])
def test_required_attributes(name):
    assert reasons(valid(**{name: ...})) == {name: "is required"}
    assert reasons(valid(**{name: None})) == {name: "is required"}
    for wrong in ("", 5, True, ["x"], {"x": 1}):
        assert reasons(valid(**{name: wrong})) == {name: "must be a non-empty string"}


def test_all_errors_of_an_event_are_reported():
    result = reasons({
        "id": "",
        "source": "has space",
        "type": 5,
        "time": "2024-01-01T00:00:00",
        "data": [1],
        "datacontenttype": "text/plain",
        "dataschema": 1,
    })
    assert result == {
        "specversion": "is required",
        "id": "must be a non-empty string",
        "source": "must be a URI reference (no spaces or control characters)",
        "type": "must be a non-empty string",
        "subject": "is required",
        "time": TIME_FORMAT_REASON,
        "data": "must be a JSON object or null",
        "datacontenttype": 'must be "application/json" or null',
        "dataschema": "must be a string or null",
    }


@pytest.mark.parametrize("source", ["a b", "a\tb", "line\nbreak", "bell\x07", "del\x7f", "nel\x85",
                                    " leading", "nbsp\u00a0"])
def test_source_rejects_whitespace_and_control_characters(source):
    assert set(reasons(valid(source=source))) == {"source"}


@pytest.mark.parametrize("data", [[1], "text", 5, Decimal("1.5"), True, False])
def test_data_must_be_an_object_or_null(data):
    assert reasons(valid(data=data)) == {"data": "must be a JSON object or null"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"a": [{"b": float("nan")}]}, "must not contain NaN or Infinity (at $.a[0].b)"),
        ({"a": float("inf")}, "must not contain NaN or Infinity (at $.a)"),
        ({"a": Decimal("NaN")}, "must not contain NaN or Infinity (at $.a)"),
        ({"a": Decimal("-Infinity")}, "must not contain NaN or Infinity (at $.a)"),
        ({"odd key": {"x": "nul\x00"}},
         'must not contain NUL (\\u0000) characters (at $["odd key"].x)'),
        ({"k\x00": 1}, "must not contain NUL (\\u0000) characters in keys (at $)"),
        ({"a": "\ud800"}, "must not contain unpaired surrogates (at $.a)"),
        ({"a": Decimal("1e309")}, "must not contain numbers beyond the float64 range (at $.a)"),
        ({"a": 10**309}, "must not contain numbers beyond the float64 range (at $.a)"),
        ({"a": Decimal("1e-1001")},
         "must not contain numbers with more than 1000 decimals (at $.a)"),
        ({"a": (1, 2)}, "must contain only JSON values, not tuple (at $.a)"),
    ],
)
def test_data_that_postgres_or_json_cannot_hold_is_refused(data, reason):
    assert reasons(valid(data=data)) == {"data": reason}


def test_data_nested_beyond_the_limit_is_refused_without_recursion_errors():
    data: dict = {}
    node = data
    for _ in range(100_000):  # far deeper than Python's recursion limit
        node["x"] = {}
        node = node["x"]
    assert reasons(valid(data=data)) == {
        "data": f"must not be nested more than {MAX_DATA_DEPTH} levels deep (at $"
        + ".x" * MAX_DATA_DEPTH + ")"
    }


@pytest.mark.parametrize("name", ["id", "source", "type", "subject", "specversion"])
def test_attributes_must_be_storable_text(name):
    limit = MAX_LENGTHS[name]
    assert reasons(valid(**{name: "x" * (limit + 1)})) == {
        name: f"must be at most {limit} characters"
    }
    assert reasons(valid(**{name: "a\x00b"})) == {name: "must not contain NUL (\\u0000) characters"}
    assert reasons(valid(**{name: "a\udc00"})) == {name: "must not contain unpaired surrogates"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/cloudevents+json", "", 5])
def test_datacontenttype_other_than_json_is_refused(content_type):
    assert reasons(valid(datacontenttype=content_type)) == {
        "datacontenttype": 'must be "application/json" or null'
    }


def test_naive_receipt_time_is_a_programming_error():
    with pytest.raises(ValueError, match="aware"):
        parse_event(valid(), index=0, now=datetime(2024, 1, 1))


# --- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01t00:00:00z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T02:00:00+02:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2023-12-31T18:30:00-05:30", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00-00:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00.5Z", datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2024-01-01T00:00:00.123Z", datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)),
        ("2024-01-01T00:00:00.123456Z", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        # Beyond microseconds digits are truncated, never rounded up into the next second.
        ("2024-01-01T00:00:00.999999999Z", datetime(2024, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)),
        ("2024-01-01T00:00:00.1234567890123Z", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T23:59:59+23:59", datetime(2024, 2, 29, 0, 0, 59, tzinfo=UTC)),
    ],
)
def test_rfc3339_variants(text, expected):
    assert parse_rfc3339(text) == expected
    assert parse_rfc3339(text).tzinfo is UTC
    assert parsed(valid(time=text)).time == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00",  # naive
        "2024-01-01",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00Z",
        "2024-01-01T00:00:00+0200",
        "2024-01-01T00:00:00+02",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+02:60",
        "2024-01-01T00:00:00.Z",
        "2024-02-30T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2016-12-31T23:59:60Z",  # a leap second: Python cannot represent it
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before datetime.min once in UTC
        "２０２４-01-01T00:00:00Z",
        " 2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z ",
        "",
        "yesterday",
    ],
)
def test_invalid_times(text):
    with pytest.raises(ValueError):
        parse_rfc3339(text)
    assert reasons(valid(time=text)) == {"time": TIME_FORMAT_REASON}


@pytest.mark.parametrize("value", [1717243200, Decimal("1717243200.5"), True, ["2024"], {}])
def test_non_string_times_are_refused(value):
    assert reasons(valid(time=value)) == {"time": TIME_FORMAT_REASON}


def test_future_events():
    limit = NOW + timedelta(minutes=5)
    assert parsed(valid(time=limit.isoformat())).time == limit
    beyond = (limit + timedelta(microseconds=1)).isoformat()
    assert reasons(valid(time=beyond)) == {"time": "is more than 5 minutes in the future"}
    assert reasons(valid(time="2999-01-01T00:00:00Z")) == {
        "time": "is more than 5 minutes in the future"
    }


def test_future_limit_is_configurable_and_named_in_the_message():
    late = (NOW + timedelta(minutes=30)).isoformat()
    assert parsed(valid(time=late), max_future=timedelta(hours=1)).time_given
    assert reasons(valid(time=late), max_future=timedelta(minutes=1)) == {
        "time": "is more than 1 minute in the future"
    }
    assert reasons(valid(time=late), max_future=timedelta(seconds=90)) == {
        "time": "is more than 90 seconds in the future"
    }


def test_old_events_are_accepted_but_not_before_1970():
    assert parsed(valid(time="1970-01-01T00:00:00Z")).time == datetime(1970, 1, 1, tzinfo=UTC)
    assert reasons(valid(time="1969-12-31T23:59:59Z")) == {
        "time": "must not be before 1970-01-01T00:00:00Z"
    }


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
    st.text(alphabet="0123456789", max_size=6),
)
def test_rfc3339_round_trip(local, offset_minutes, extra_digits):
    zone = timezone(timedelta(minutes=offset_minutes))
    instant = local.replace(tzinfo=zone)
    text = instant.isoformat(timespec="microseconds")
    # Extra fractional digits (nanoseconds and beyond) must not change the instant.
    text = text[:26] + extra_digits + text[26:]
    assert parse_rfc3339(text) == instant


# --- payload hash ------------------------------------------------------------------------------


def hash_of(**changes) -> str:
    return event_payload_hash(parsed(valid(**changes)))


def test_payload_hash_is_stable_across_releases():
    # Stored events keep their hash: changing the canonical form would turn every retry of an
    # already stored event into a false conflict.
    canonical = (
        '{"data":{"a":"x","b":[1,2.5,null,true]},"subject":"customer-1",'
        '"time":"2024-06-01T11:00:00.000000Z","type":"api-calls"}'
    )
    digest = hash_of(data={"b": [1, Decimal("2.50"), None, True], "a": "x"})
    assert digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert digest == "c7858aa904ec7ebb7cc34ddce19e2341754a36aa60c989fc8028be7f3e29687b"


def test_payload_hash_covers_type_subject_time_and_data():
    base = hash_of()
    assert len(base) == 64 and int(base, 16) >= 0
    assert hash_of(type="other") != base
    assert hash_of(subject="customer-2") != base
    assert hash_of(time="2024-06-01T11:00:01Z") != base
    assert hash_of(data={"method": "GET", "duration_ms": 13}) != base
    assert hash_of(data={"method": "GET", "duration_ms": "12"}) != base
    assert hash_of(data=None) != base


def test_payload_hash_ignores_identity_and_representation():
    base = hash_of()
    assert hash_of(id="evt-2", source="elsewhere", specversion="1.1") == base
    assert hash_of(time="2024-06-01T13:00:00+02:00") == base
    assert hash_of(data={"duration_ms": Decimal("12.000"), "method": "GET"}) == base
    assert hash_of(data={"duration_ms": 12.0, "method": "GET"}) == base
    assert hash_of(data={"duration_ms": Decimal("1.2e1"), "method": "GET"}) == base


def test_payload_hash_of_an_event_without_time_does_not_depend_on_receipt():
    first = parse_event(valid(time=None), index=0, now=NOW)
    retry = parse_event(valid(time=None), index=0, now=NOW + timedelta(hours=3))
    assert isinstance(first, CloudEvent) and isinstance(retry, CloudEvent)
    assert event_payload_hash(first) == event_payload_hash(retry)
    # Sending the receipt time explicitly is a different payload.
    assert event_payload_hash(first) != hash_of(time=NOW.isoformat())


# --- canonical JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "0"), (-0.0, "0"), (Decimal("-0.00"), "0"), (5, "5"), (-5, "-5"),
        (Decimal("12.50"), "12.5"), (Decimal("1e3"), "1000"), (Decimal("1.0"), "1"),
        (0.1, "0.1"), (1e16, "10000000000000000"), (Decimal("1E-7"), "0.0000001"),
        (Decimal("1E+200"), "1E+200"), (Decimal("1E-200"), "1E-200"), (10**200, "1E+200"),
        (Decimal(10**99), "1" + "0" * 99), (10**99, "1" + "0" * 99), (-(10**100), "-1E+100"),
        (Decimal("123456789012345678901234567890.123456789"),
         "123456789012345678901234567890.123456789"),
    ],
)
def test_number_text(number, text):
    assert number_text(number) == text
    assert Decimal(json.loads(text, parse_float=Decimal, parse_int=Decimal)) == Decimal(
        repr(number) if isinstance(number, float) else number
    )


@given(st.integers() | st.integers(min_value=10**95, max_value=10**105), st.integers(0, 5))
def test_number_text_writes_equal_ints_and_decimals_alike(number, zeros):
    scaled = Decimal((0 if number >= 0 else 1, (*Decimal(abs(number)).as_tuple().digits,
                                                 *[0] * zeros), -zeros))
    assert scaled == number
    assert number_text(number) == number_text(Decimal(number)) == number_text(scaled)


@pytest.mark.parametrize("bad", [True, float("nan"), Decimal("Infinity"), "1"])
def test_number_text_refuses_non_numbers(bad):
    with pytest.raises((TypeError, ValueError)):
        number_text(bad)


def test_canonical_json_sorts_keys_and_is_compact():
    assert canonical_json({"b": 1, "a": [True, None, "é\n"]}) == '{"a":[true,null,"é\\n"],"b":1}'


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=4),
    max_leaves=20,
)


def same_json(a, b) -> bool:
    """JSON equality that, unlike ==, keeps true apart from 1 and compares numbers by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | Decimal) and isinstance(b, int | Decimal):
        return Decimal(a) == Decimal(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_json, a, b))
    return type(a) is type(b) and a == b


@given(json_values)
def test_canonical_json_is_json_that_reads_back_exactly(value):
    text = canonical_json(value)
    assert same_json(json.loads(text, parse_float=Decimal), value)


@given(json_values, json_values)
def test_canonical_json_identifies_exactly_the_equal_values(a, b):
    assert (canonical_json(a) == canonical_json(b)) == same_json(a, b)


plain_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _written_in_python(value) -> str:
    parts: list[str] = []
    _write_canonical(value, parts)
    return "".join(parts)


@given(plain_json_values)
def test_canonical_json_from_orjson_is_the_same_text(value):
    # Hashes of stored events depend on this text, whichever writer produced it.
    assert canonical_json(value) == _written_in_python(value)


def test_canonical_json_from_orjson_escapes_every_character_alike():
    every = "".join(chr(c) for c in range(0x800)) + "\u2028\u2029\ufeff\U0001f600\ud800"
    deep: list = []
    for _ in range(300):  # deeper than orjson writes
        deep = [deep, 1]
    for value in (every, {every: [every, 2**64 - 1, 2**64, -(2**63)]}, deep):
        assert canonical_json(value) == _written_in_python(value)


storable_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5
)
storable_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**300), max_value=10**300)
    | st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**300),
                  max_value=10**300).filter(lambda d: d.as_tuple().exponent >= -1000)
    | storable_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(storable_text, inner, max_size=4),
    max_leaves=20,
)


def reordered(value):
    """The same JSON value with every object's keys inserted in reverse and numbers rescaled."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    if isinstance(value, Decimal) and value.is_finite():
        sign, digits, exponent = value.as_tuple()
        return Decimal((sign, (*digits, 0, 0, 0), exponent - 3))  # same value, more zeros
    return value


@given(st.dictionaries(storable_text, storable_values, max_size=5))
def test_payload_hash_depends_on_content_not_on_key_order(data):
    original = parsed(valid(data=data))
    assert event_payload_hash(original) == event_payload_hash(parsed(valid(data=reordered(data))))


# --- never a crash --------------------------------------------------------------------------------


attribute_values = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from(["2024-06-01T11:00:00Z", "2024-06-01T11:00:00", "application/json"])
    | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(),
                                                           max_size=2)
)
attribute_names = st.sampled_from(
    ["specversion", "id", "source", "type", "subject", "time", "data", "datacontenttype",
     "dataschema", "extension"]
)
# Valid events with a few attributes replaced or removed, so both outcomes are common.
event_like = st.builds(
    lambda changes, removed: {
        key: value for key, value in {**valid(), **changes}.items() if key not in removed
    },
    st.dictionaries(attribute_names, attribute_values | json_values, max_size=3),
    st.sets(attribute_names, max_size=2),
)


@given(event_like | json_values, st.integers(min_value=0, max_value=10_000))
def test_any_json_input_gives_an_event_or_errors_never_an_exception(obj, index):
    result = parse_event(obj, index=index, now=NOW)
    event(type(result).__name__)
    if isinstance(result, CloudEvent):
        assert isinstance(obj, dict)
        assert result.time.tzinfo is UTC
        event_payload_hash(result)
    else:
        assert result and all(isinstance(error, EventError) for error in result)
        assert all(error.index == index and error.reason for error in result)
        assert len({error.field for error in result}) == len(result)
