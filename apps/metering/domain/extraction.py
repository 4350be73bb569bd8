"""Reading a meter's value and group-by dimensions out of an event's `data` with JSONPath.

Paths are RFC 9535 JSONPath (python-jsonpath in strict mode), compiled once per meter. A path
that selects several nodes (`$.items[*].n`) yields its first node in document order, as
ClickHouse's JSON_VALUE does for OpenMeter. Plain paths of names and indexes (`$.a.b[0]`, the
usual case) are walked directly, without the library, because extraction runs on every ingested
event; a property test keeps the two in agreement.

Error messages are OpenMeter's (`meter.ParseEvent`), except that numbers are parsed as exact
decimals, so a bad one "cannot be parsed as number" rather than "as float64".
"""

import re
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import jsonpath
from jsonpath.segments import JSONPathChildSegment
from jsonpath.selectors import IndexSelector, NameSelector

from apps.metering.domain.aggregation import Aggregation
from apps.metering.domain.events import canonical_json

# A metered value must fit NUMERIC(60, 30): at most 30 digits before and 30 after the point.
# The bound keeps every sum of up to 10^40 values exact within aggregation's 100-digit context.
MAX_INTEGER_DIGITS = 30
MAX_DECIMAL_PLACES = 30
_SMALLEST_PLACE = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS  # integers below it in size are valid values as they are

_ENV = jsonpath.JSONPathEnvironment(strict=True)
# A JSON number, also with a "+" sign or a bare leading or trailing point ("+5", ".5", "5.").
_NUMERIC_STRING = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MISSING = object()
_SHOWN_VALUE_LENGTH = 64


class ExtractionError(ValueError):
    """An event whose data does not give a meter a usable value; the message is user-facing."""


@dataclass(frozen=True, eq=False)
class CompiledPath:
    """A JSONPath compiled once; `text` is the path as the meter defines it."""

    text: str
    query: Any
    # The path as plain steps (member names and array indexes) when it is that simple.
    steps: tuple[str | int, ...] | None

    def __str__(self) -> str:
        return self.text

    def first(self, data: object) -> object:
        """The first node the path selects in `data`, or `_MISSING`."""
        if self.steps is None:
            nodes = self.query.findall(data)
            return nodes[0] if nodes else _MISSING
        node = data
        for step in self.steps:
            if isinstance(step, str):
                if not isinstance(node, dict) or step not in node:
                    return _MISSING
                node = node[step]
            else:
                if not isinstance(node, list) or not -len(node) <= step < len(node):
                    return _MISSING
                node = node[step]
        return node


def compile_path(path: str) -> CompiledPath:
    """Compile a meter's JSONPath; raises ValueError with a message fit for an API error."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError(f'invalid JSONPath {_quoted(path)}: must start with "$"')
    try:
        query = _ENV.compile(path)
    except jsonpath.JSONPathError as exc:
        # args[0] is the short reason; str(exc) draws a multi-line caret diagram.
        reason = exc.args[0] if exc.args else "syntax error"
        raise ValueError(f"invalid JSONPath {_quoted(path)}: {reason}") from exc
    return CompiledPath(text=path, query=query, steps=_plain_steps(query))


def extract_number(data: dict | None, path: CompiledPath) -> Decimal:
    """The meter value for SUM, AVG, MIN, MAX and LATEST: a JSON number or a numeric string."""
    raw = _value(data, path)
    if isinstance(raw, bool):
        raise ExtractionError(f"value cannot be parsed as number: {_show(raw)}")
    if isinstance(raw, int):
        if -_INTEGER_LIMIT < raw < _INTEGER_LIMIT:
            return Decimal(raw)  # what _checked would return, without its costly checks
        number = Decimal(raw)
    elif isinstance(raw, float):
        number = Decimal(repr(raw))  # repr is the shortest text that reads back as the float
    elif isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, str):
        number = _parse_numeric_string(raw)
    else:
        raise ExtractionError(f"value cannot be parsed as number: {_show(raw)}")
    return _checked(number)


def extract_unique(data: dict | None, path: CompiledPath) -> str:
    """The meter value for UNIQUE_COUNT: strings as they are, anything else as JSON text."""
    return value_text(_value(data, path))


def extract_group(data: dict | None, paths: dict[str, CompiledPath]) -> dict[str, str | None]:
    """Each group-by dimension's value as text; None when missing or null (OpenMeter: "")."""
    values: dict[str, str | None] = {}
    for name, path in paths.items():
        raw = path.first(data) if data is not None else _MISSING
        values[name] = None if raw is _MISSING or raw is None else value_text(raw)
    return values


def group_key(values: dict[str, str | None]) -> str:
    """A stable identity for a combination of group-by values: canonical JSON, sorted keys."""
    return canonical_json(values)


def extract_value(
    aggregation: Aggregation | str, data: dict | None, path: CompiledPath | None
) -> Decimal | str | None:
    """What `aggregation.state_of` takes for one event: None for COUNT (no value is read), a
    string for UNIQUE_COUNT, a Decimal otherwise. Raises ExtractionError."""
    aggregation = Aggregation(aggregation)
    if aggregation is Aggregation.COUNT:
        return None
    if path is None:
        raise ExtractionError("non count meter value property is missing")
    if aggregation is Aggregation.UNIQUE_COUNT:
        return extract_unique(data, path)
    return extract_number(data, path)


def value_text(value: object) -> str:
    """A JSON value as text: a string as it is, numbers and booleans as JSON (5 → "5", 1.50 →
    "1.5"), objects and arrays as canonical JSON."""
    if isinstance(value, str):
        return value
    return canonical_json(value)


# --- helpers ---------------------------------------------------------------------------------


def _value(data: dict | None, path: CompiledPath) -> object:
    if data is None:
        raise ExtractionError("null and missing value property")
    raw = path.first(data)
    if raw is _MISSING:
        raise ExtractionError(f'missing value property: "{path.text}"')
    if raw is None:
        raise ExtractionError("value cannot be null")
    return raw


def _parse_numeric_string(text: str) -> Decimal:
    # The words Go's strconv.ParseFloat accepts for the special values, so that these get
    # OpenMeter's specific messages; everything else must look like a JSON number (optionally
    # with a "+" or a bare leading/trailing point).
    word = text.lstrip("+-").lower()
    if word == "nan":
        raise ExtractionError("value cannot be NaN")
    if word in ("inf", "infinity"):
        raise ExtractionError("value cannot be infinity")
    if not _NUMERIC_STRING.fullmatch(text):
        raise ExtractionError(f"value cannot be parsed as number: {_show(text)}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # an exponent beyond what Decimal can hold
        raise ExtractionError("value is out of range") from exc


def _checked(number: Decimal) -> Decimal:
    if number.is_nan():
        raise ExtractionError("value cannot be NaN")
    if number.is_infinite():
        raise ExtractionError("value cannot be infinity")
    if number.is_zero():
        return Decimal(0)  # not "-0" or "0E-7": a zero is a zero
    if number.adjusted() >= MAX_INTEGER_DIGITS:
        raise ExtractionError(
            f"value is out of range: at most {MAX_INTEGER_DIGITS} digits before the decimal point"
        )
    # Trailing zeros do not count as decimal places: 1.50000…0 is 1.5 whatever its length. A
    # context as wide as the number makes normalize() and quantize() exact.
    wide = Context(prec=len(number.as_tuple().digits))
    places = -_exponent(wide.normalize(number))
    if places > MAX_DECIMAL_PLACES:
        raise ExtractionError(
            f"value has more than {MAX_DECIMAL_PLACES} digits after the decimal point"
        )
    if -_exponent(number) > MAX_DECIMAL_PLACES:
        # Drop the surplus zeros, which would otherwise cost digits in every sum.
        number = wide.quantize(number, _SMALLEST_PLACE)
    return number


def _exponent(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers only
    return exponent


def _plain_steps(query: Any) -> tuple[str | int, ...] | None:
    if not isinstance(query, jsonpath.JSONPath):
        return None
    steps: list[str | int] = []
    for segment in query.segments:
        if type(segment) is not JSONPathChildSegment or len(segment.selectors) != 1:
            return None
        selector = segment.selectors[0]
        if type(selector) is NameSelector:
            steps.append(selector.name)
        elif type(selector) is IndexSelector:
            steps.append(selector.index)
        else:
            return None
    return tuple(steps)


def _show(value: object) -> str:
    """A value for an error message: strings as they are (as OpenMeter), others as JSON,
    shortened."""
    try:
        text = value if isinstance(value, str) else canonical_json(value)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        text = text[: _SHOWN_VALUE_LENGTH - 1] + "…"
    return text


def _quoted(path: object) -> str:
    return _show(canonical_json(path)) if isinstance(path, str) else _show(path)
