"""Usage events: CloudEvents 1.0 validation as OpenMeter's ingest applies it, in pure Python.

We validate ourselves rather than through the cloudevents SDK because the SDK silently invents
an `id` and a `time` for events that lack them, and a metering API must refuse the first and
record the second as "not given".

Input is whatever the JSON parser produced. Non-integer numbers arrive as `Decimal`; `float`
is tolerated (another parser may produce it) but never needed.

Beyond OpenMeter's own rules, a few limits keep every accepted event storable in PostgreSQL, so
that bad input is always a 400 and never a failed insert: no NUL characters or unpaired
surrogates in text, attributes no longer than `MAX_LENGTHS` (256 characters for id, source,
type and subject: a unique index on (source, id) cannot hold longer keys), `data` nested at most
`MAX_DATA_DEPTH` levels, numbers in `data` within float64's range (OpenMeter's Go parser refuses
larger ones) with at most `MAX_DATA_DECIMAL_PLACES` digits after the point, and times not
before 1970.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from json.encoder import encode_basestring  # the C string encoder behind json.dumps
from typing import Any

import orjson

# CloudEvents context attributes that OpenMeter requires, in the order errors are reported.
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "subject")

# Longest accepted value per attribute. 256 for the identifying attributes keeps a unique
# B-tree index on (source, id) within PostgreSQL's ~2.7 kB entry limit even for 4-byte
# characters; the others leave room for any sensible value.
MAX_ATTRIBUTE_LENGTH = 256
MAX_LENGTHS = {
    "specversion": 16,
    "id": MAX_ATTRIBUTE_LENGTH,
    "source": MAX_ATTRIBUTE_LENGTH,
    "type": MAX_ATTRIBUTE_LENGTH,
    "subject": MAX_ATTRIBUTE_LENGTH,
    "datacontenttype": 64,
    "dataschema": 1024,
}
MAX_DATA_DEPTH = 64
# float64's largest finite value is about 1.8e308; OpenMeter (Go) refuses anything larger.
MAX_DATA_NUMBER_ADJUSTED_EXPONENT = 308
_DATA_INT_LIMIT = 10 ** (MAX_DATA_NUMBER_ADJUSTED_EXPONENT + 1)
MAX_DATA_DECIMAL_PLACES = 1000
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_MAX_FUTURE = timedelta(minutes=5)

# Numbers are written in plain notation up to 100 integer digits, in scientific beyond.
_PLAIN_DIGITS = 100
_PLAIN_INTEGER_LIMIT = 10**_PLAIN_DIGITS

TIME_FORMAT_REASON = "must be an RFC 3339 timestamp with a time zone"

# RFC 3339 `date-time`; "T" and "Z" may be lower case (section 5.6). Offsets are mandatory.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
# A URI reference may not contain whitespace or control characters; everything else is accepted
# ("my-service", "//gw/1", "https://x/y"), as CloudEvents producers are loose about `source`.
_NOT_IN_URI = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class CloudEvent:
    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: datetime  # aware, UTC
    data: dict | None
    datacontenttype: str | None = None
    dataschema: str | None = None
    # False when the producer sent no time and `time` is the receipt time.
    time_given: bool = True


@dataclass(frozen=True)
class EventError:
    index: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field} {self.reason}"


def parse_event(
    obj: object,
    *,
    index: int,
    now: datetime,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> CloudEvent | list[EventError]:
    """Validate one decoded JSON value as a usage event; every problem is reported, not the first.

    `index` is the event's position in its batch (copied into errors); `now` is the receipt
    time, used when the event has no `time` and for the future check.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)
    if not isinstance(obj, dict):
        return [EventError(index, "event", "must be a JSON object")]

    errors: list[EventError] = []

    def fail(field: str, reason: str) -> None:
        errors.append(EventError(index, field, reason))

    attributes: dict[str, str] = {}
    for name in REQUIRED_ATTRIBUTES:
        value = obj.get(name)
        if value is None:
            fail(name, "is required")
        elif not isinstance(value, str) or not value:
            fail(name, "must be a non-empty string")
        elif problem := _attribute_problem(name, value):
            fail(name, problem)
        elif name == "source" and _NOT_IN_URI.search(value):
            fail(name, "must be a URI reference (no spaces or control characters)")
        else:
            attributes[name] = value

    time, time_given = now, False
    raw_time = obj.get("time")
    if raw_time is not None:
        time_given = True
        try:
            time = parse_rfc3339(raw_time)
        except ValueError:
            fail("time", TIME_FORMAT_REASON)
        else:
            if time < EARLIEST_TIME:
                fail("time", "must not be before 1970-01-01T00:00:00Z")
            elif time - now > max_future:
                fail("time", f"is more than {_describe(max_future)} in the future")

    data = obj.get("data")
    if data is not None:
        if not isinstance(data, dict):
            fail("data", "must be a JSON object or null")
        elif problem := data_problem(data):
            fail("data", problem)

    content_type = obj.get("datacontenttype")
    if content_type is not None:
        if not _is_json_media_type(content_type):
            fail("datacontenttype", 'must be "application/json" or null')
        elif problem := _attribute_problem("datacontenttype", content_type):
            fail("datacontenttype", problem)

    schema = obj.get("dataschema")
    if schema is not None:
        if not isinstance(schema, str):
            fail("dataschema", "must be a string or null")
        elif problem := _attribute_problem("dataschema", schema):
            fail("dataschema", problem)

    if errors:
        return errors
    return CloudEvent(
        specversion=attributes["specversion"],
        id=attributes["id"],
        source=attributes["source"],
        type=attributes["type"],
        subject=attributes["subject"],
        time=time,
        data=data,
        datacontenttype=content_type,
        dataschema=schema,
        time_given=time_given,
    )


def parse_rfc3339(text: object) -> datetime:
    """An RFC 3339 date-time with a mandatory offset, as an aware UTC datetime.

    Fractional seconds may have any number of digits; digits beyond microseconds are truncated.
    Leap seconds (":60") are refused: Python cannot represent them. Raises ValueError.
    """
    if not isinstance(text, str):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp with a time zone: {text!r}")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    microsecond = int((fraction or "")[:6].ljust(6, "0"))
    offset = timedelta()
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(f"invalid UTC offset in {text!r}")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                         microsecond)
        # Naive arithmetic: converting near year 1 or 9999 must not depend on tzinfo support.
        return (local - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid date or time in {text!r}") from exc


def event_payload_hash(event: CloudEvent) -> str:
    """A stable hex digest of what an event says: type, subject, time and data.

    Two events with the same (source, id) but different digests are a conflict. The receipt
    time is not hashed (an event sent without `time` hashes the same on every retry), and numbers
    are hashed by value, so `1`, `1.0` and `1e0` are the same payload; `"1"` is not.
    """
    time = _hash_time(event.time) if event.time_given else None
    payload = {"type": event.type, "subject": event.subject, "time": time, "data": event.data}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys and numbers written by value (see `number_text`).

    Equal JSON values give equal text; used for hashing and for grouping by object values.
    """
    if _is_plain(value):
        # Without non-integers, orjson's compact sorted output is the same text (same string
        # escapes, integers in full) and is written in C; what it cannot write (integers
        # beyond 64 bits, nesting beyond 255) falls through to the writer below.
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:
            pass
    parts: list[str] = []
    _write_canonical(value, parts)
    return "".join(parts)


def _is_plain(value: Any) -> bool:
    """Whether `value` holds only objects, arrays, strings, integers, booleans and nulls: no
    float or Decimal, which `number_text` writes by value (1.50 as 1.5) and orjson would not,
    and nothing that is not JSON at all."""
    if isinstance(value, str | int) or value is None:
        return True
    if isinstance(value, dict):
        return all(_is_plain(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    return False


def number_text(value: int | Decimal | float) -> str:
    """The canonical JSON text of a finite number: exact, without trailing zeros.

    Integral values up to 100 digits are written in full (`1e3` → `1000`, `1.0` → `1`); other
    values in plain notation when it is short (`12.50` → `12.5`) and scientific otherwise.
    """
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, int):
        if -_PLAIN_INTEGER_LIMIT < value < _PLAIN_INTEGER_LIMIT:
            return str(value)
        value = Decimal(value)  # written like an equal Decimal
    elif isinstance(value, float):
        value = Decimal(repr(value))
    if not isinstance(value, Decimal):
        raise TypeError(f"not a number: {value!r}")
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    if value.is_zero():
        return "0"
    # A context as wide as the number itself makes normalize() exact.
    value = Context(prec=len(value.as_tuple().digits)).normalize(value)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent >= -100 and value.adjusted() < _PLAIN_DIGITS:
        return format(value, "f")
    return str(value)


def data_problem(data: object) -> str | None:
    """Why `data` (a decoded JSON value) cannot be stored as is, or None when it can."""
    found = _problem_within(data, 0)
    if found is None:
        return None
    reason, reversed_path = found
    return f"{reason} (at {_render_path(reversed_path[::-1])})"


# --- helpers ---------------------------------------------------------------------------------


def _attribute_problem(name: str, value: str) -> str | None:
    if len(value) > MAX_LENGTHS[name]:
        return f"must be at most {MAX_LENGTHS[name]} characters"
    return _text_problem(value)


def _text_problem(text: str) -> str | None:
    # PostgreSQL text and jsonb cannot hold U+0000, and lone surrogates are not encodable.
    if "\x00" in text:
        return "must not contain NUL (\\u0000) characters"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates"
    return None


def _number_problem(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if abs(value) >= _DATA_INT_LIMIT:
            return "must not contain numbers beyond the float64 range"
        return None
    if isinstance(value, float):
        value = Decimal(value)
        if not value.is_finite():
            return "must not contain NaN or Infinity"
        return None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "must not contain NaN or Infinity"
        if value.is_zero():
            return None
        if value.adjusted() > MAX_DATA_NUMBER_ADJUSTED_EXPONENT:
            return "must not contain numbers beyond the float64 range"
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if exponent < -MAX_DATA_DECIMAL_PLACES:
            return f"must not contain numbers with more than {MAX_DATA_DECIMAL_PLACES} decimals"
        return None
    return f"must contain only JSON values, not {type(value).__name__}"


def _problem_within(value: object, depth: int) -> tuple[str, list[str | int]] | None:
    """(reason, path from the value up) for the first unstorable part of `value`, or None.

    Recursion is bounded: nothing deeper than MAX_DATA_DEPTH levels is descended into.
    """
    if isinstance(value, str):
        problem = _text_problem(value)
        return None if problem is None else (problem, [])
    if isinstance(value, dict | list):
        if depth >= MAX_DATA_DEPTH:
            return f"must not be nested more than {MAX_DATA_DEPTH} levels deep", []
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                if not isinstance(key, str):
                    return "must have only string keys", []
                if (problem := _text_problem(key)) is not None:
                    return f"{problem} in keys", []
            found = _problem_within(item, depth + 1)
            if found is not None:
                found[1].append(key)
                return found
        return None
    problem = _number_problem(value)
    return None if problem is None else (problem, [])


def _render_path(path: tuple[str | int, ...]) -> str:
    """A JSONPath locating a value in `data`, for error messages."""
    parts = ["$"]
    for key in path:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{json.dumps(key, ensure_ascii=False)}]")
    return "".join(parts)


def _write_canonical(value: Any, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(encode_basestring(value))
    elif isinstance(value, int | float | Decimal):
        parts.append(number_text(value))
    elif isinstance(value, dict):
        parts.append("{")
        for position, key in enumerate(sorted(value)):
            if position:
                parts.append(",")
            parts.append(encode_basestring(key))
            parts.append(":")
            _write_canonical(value[key], parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for position, item in enumerate(value):
            if position:
                parts.append(",")
            _write_canonical(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def _hash_time(instant: datetime) -> str:
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _is_json_media_type(value: object) -> bool:
    # Parameters (e.g. "; charset=utf-8") are tolerated, as for the request's Content-Type.
    if not isinstance(value, str):
        return False
    return value.split(";", 1)[0].strip().lower() == "application/json"


def _describe(duration: timedelta) -> str:
    """'5 minutes', '1 hour', '90 seconds': the future limit as the error message states it."""
    if duration > timedelta() and duration % timedelta(seconds=1) == timedelta():
        seconds = duration // timedelta(seconds=1)
        for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
            if seconds % size == 0:
                count = seconds // size
                return f"{count} {unit}" + ("" if count == 1 else "s")
    return f"{duration.total_seconds()} seconds"
