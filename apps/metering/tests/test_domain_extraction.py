"""JSONPath extraction of meter values and group-by dimensions (no database)."""

import json
from decimal import Decimal

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from apps.metering.domain.aggregation import Aggregation
from apps.metering.domain.extraction import (
    MAX_DECIMAL_PLACES,
    MAX_INTEGER_DIGITS,
    ExtractionError,
    compile_path,
    extract_group,
    extract_number,
    extract_unique,
    extract_value,
    group_key,
)

P = compile_path
REQUEST = {"duration_ms": 100, "method": "GET", "path": "/api/v1"}


def number(value):
    return extract_number({"v": value}, P("$.v"))


def number_error(value) -> str:
    with pytest.raises(ExtractionError) as caught:
        number(value)
    return str(caught.value)


# --- compiling -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("duration_ms", 'invalid JSONPath "duration_ms": must start with "$"'),
        ("", 'invalid JSONPath "": must start with "$"'),
        ("@.a", 'invalid JSONPath "@.a": must start with "$"'),
        (" $.a", 'invalid JSONPath " $.a": must start with "$"'),
        ("$x", "invalid JSONPath \"$x\": unexpected token 'x'"),
        ("$[", 'invalid JSONPath "$[": unexpected end of query'),
        ("$.a | $.b", "invalid JSONPath \"$.a | $.b\": unexpected token '|'"),  # not RFC 9535
        ("$.a.length()", "invalid JSONPath \"$.a.length()\": unexpected token '('"),
    ],
)
def test_invalid_paths_raise_value_error_with_the_path(path, message):
    with pytest.raises(ValueError) as caught:
        compile_path(path)
    assert str(caught.value) == message


@pytest.mark.parametrize("path", [None, 5, b"$.a"])
def test_paths_must_be_strings(path):
    with pytest.raises(ValueError, match="must start with"):
        compile_path(path)


def test_compiled_path_keeps_its_text():
    assert str(P("$.tokens.input")) == "$.tokens.input"
    assert P("$.tokens.input").text == "$.tokens.input"


# --- numbers, with OpenMeter's messages ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100, Decimal(100)),
        (Decimal("12.50"), Decimal("12.50")),
        (0.1, Decimal("0.1")),
        (-7, Decimal(-7)),
        ("100", Decimal(100)),
        ("12.5", Decimal("12.5")),
        ("1e3", Decimal(1000)),
        ("-2.5E-3", Decimal("-0.0025")),
        ("+5", Decimal(5)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("-0", Decimal(0)),
        (Decimal("-0.000"), Decimal(0)),
        (Decimal("9" * MAX_INTEGER_DIGITS + "." + "9" * MAX_DECIMAL_PLACES),
         Decimal("9" * MAX_INTEGER_DIGITS + "." + "9" * MAX_DECIMAL_PLACES)),
        ("1." + "0" * 100, Decimal(1)),  # trailing zeros are not decimal places
        (Decimal("2.5" + "0" * 100), Decimal("2.5")),
    ],
)
def test_numbers(value, expected):
    result = number(value)
    assert result == expected and isinstance(result, Decimal)
    assert not result.is_signed() or result < 0  # no negative zero
    # Within NUMERIC(60, 30), so that sums of such values stay exact.
    assert len(result.as_tuple().digits) <= MAX_INTEGER_DIGITS + MAX_DECIMAL_PLACES
    assert result.as_tuple().exponent >= -MAX_DECIMAL_PLACES


def test_openmeter_error_messages():
    def error(data, path="$.duration_ms"):
        with pytest.raises(ExtractionError) as caught:
            extract_number(data, P(path))
        return str(caught.value)

    assert error({"method": "GET"}) == 'missing value property: "$.duration_ms"'
    assert error({"duration_ms": None}) == "value cannot be null"
    assert error(None) == "null and missing value property"
    assert error({"duration_ms": "NaN"}) == "value cannot be NaN"
    assert error({"duration_ms": "Inf"}) == "value cannot be infinity"
    assert error({"duration_ms": "+Inf"}) == "value cannot be infinity"
    assert error({"duration_ms": "-Inf"}) == "value cannot be infinity"
    assert error({"duration_ms": "not a number"}) == (
        "value cannot be parsed as number: not a number"
    )
    assert issubclass(ExtractionError, ValueError)


@pytest.mark.parametrize("value", ["nan", "-NaN", "Infinity", "-infinity", "inf"])
def test_special_float_words(value):
    assert number_error(value) in ("value cannot be NaN", "value cannot be infinity")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true"),
        (False, "false"),
        ({"a": 1}, '{"a":1}'),
        ([1, 2], "[1,2]"),
        ("", ""),
        (" 12", " 12"),
        ("12 ", "12 "),
        ("1,5", "1,5"),
        ("0x10", "0x10"),
        ("1_000", "1_000"),
        ("١٢", "١٢"),  # Arabic-Indic digits: Decimal would accept them, JSON would not
        ("x" * 200, "x" * 63 + "…"),
    ],
)
def test_non_numbers(value, shown):
    assert number_error(value) == f"value cannot be parsed as number: {shown}"


def test_numbers_out_of_exact_range_are_refused():
    assert number_error(Decimal(10**MAX_INTEGER_DIGITS)) == (
        f"value is out of range: at most {MAX_INTEGER_DIGITS} digits before the decimal point"
    )
    assert number_error("1e400") == number_error(Decimal(10**MAX_INTEGER_DIGITS))
    assert number(Decimal(10**MAX_INTEGER_DIGITS - 1)) == 10**MAX_INTEGER_DIGITS - 1
    assert number_error(Decimal("1e-31")) == (
        f"value has more than {MAX_DECIMAL_PLACES} digits after the decimal point"
    )
    assert number_error("1e99999999999999999999") == "value is out of range"


@given(
    st.decimals(
        min_value=Decimal(-(10**MAX_INTEGER_DIGITS) + 1),  # ints: exact, unlike Decimal powers
        max_value=Decimal(10**MAX_INTEGER_DIGITS - 1),
        places=MAX_DECIMAL_PLACES,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_numbers_within_range_are_read_exactly_from_numbers_and_strings(value):
    assert number(value) == value
    assert number(str(value)) == value
    assert number(format(value, "E")) == value  # scientific notation, e.g. "1.25E+2"


# --- unique values and groups --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("trace-1", "trace-1"),
        ("", ""),
        (" padded ", " padded "),
        (5, "5"),
        (Decimal("5.0"), "5"),
        (Decimal("12.50"), "12.5"),
        (True, "true"),
        ({"b": 1, "a": [None]}, '{"a":[null],"b":1}'),
    ],
)
def test_unique_values_are_text(value, text):
    assert extract_unique({"v": value}, P("$.v")) == text


def test_unique_value_errors():
    with pytest.raises(ExtractionError, match=r'missing value property: "\$\.trace_id"'):
        extract_unique({}, P("$.trace_id"))
    with pytest.raises(ExtractionError, match="value cannot be null"):
        extract_unique({"trace_id": None}, P("$.trace_id"))
    with pytest.raises(ExtractionError, match="null and missing value property"):
        extract_unique(None, P("$.trace_id"))


def test_group_values():
    paths = {
        "method": P("$.method"),
        "status": P("$.status"),
        "cached": P("$.cached"),
        "region": P("$.region"),
        "model": P("$.model"),
        "tags": P("$.tags"),
        "first_tag": P("$.tags[0]"),
        "missing": P("$.nowhere.at.all"),
    }
    data = {"method": "GET", "status": 200, "cached": False, "region": None,
            "model": {"name": "gpt"}, "tags": ["a", "b"]}
    assert extract_group(data, paths) == {
        "method": "GET",
        "status": "200",
        "cached": "false",
        "region": None,
        "model": '{"name":"gpt"}',
        "tags": '["a","b"]',
        "first_tag": "a",
        "missing": None,
    }
    assert extract_group(None, paths) == dict.fromkeys(paths)
    assert extract_group(data, {}) == {}


def test_group_key_is_canonical():
    assert group_key({"b": "2", "a": None}) == '{"a":null,"b":"2"}'
    assert group_key({"a": None, "b": "2"}) == group_key({"b": "2", "a": None})
    assert group_key({"a": None}) != group_key({"a": "null"})
    assert group_key({}) == "{}"


@given(
    st.dictionaries(st.text(max_size=3), st.none() | st.text(max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=3), st.none() | st.text(max_size=3), max_size=4),
)
def test_group_key_identifies_exactly_the_equal_groupings(a, b):
    assert (group_key(a) == group_key(b)) == (a == b)
    assert json.loads(group_key(a)) == a


def test_extract_value_per_aggregation():
    data = {"tokens": "12", "user": 7}
    assert extract_value(Aggregation.COUNT, data, None) is None
    assert extract_value("COUNT", None, P("$.ignored")) is None
    assert extract_value(Aggregation.UNIQUE_COUNT, data, P("$.user")) == "7"
    for aggregation in ("SUM", "AVG", "MIN", "MAX", "LATEST"):
        assert extract_value(aggregation, data, P("$.tokens")) == Decimal(12)
    with pytest.raises(ExtractionError):
        extract_value(Aggregation.SUM, data, None)


# --- JSONPath features -----------------------------------------------------------------------


DOCUMENT = {
    "usage": {"tokens": {"input": 10, "output": 20}},
    "items": [{"kind": "a", "n": 1}, {"kind": "b", "n": 2}, {"kind": "b", "n": 3}],
    "odd.key": 4,
    "with space": 5,
    "0": 6,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.usage.tokens.output", Decimal(20)),
        ("$['usage']['tokens']['input']", Decimal(10)),
        ('$["odd.key"]', Decimal(4)),
        ("$['with space']", Decimal(5)),
        ("$['0']", Decimal(6)),
        ("$.items[1].n", Decimal(2)),
        ("$.items[-1].n", Decimal(3)),
        ("$.items[*].n", Decimal(1)),  # several nodes: the first, as ClickHouse's JSON_VALUE
        ("$.items[?@.kind == 'b'].n", Decimal(2)),
        ("$..n", Decimal(1)),
        ("$..output", Decimal(20)),
    ],
)
def test_jsonpath_features(path, expected):
    assert extract_number(DOCUMENT, P(path)) == expected


@pytest.mark.parametrize("path", ["$.items[3].n", "$.items[-4].n", "$[0]", "$.usage[0]",
                                  "$.items.kind", "$.items[?@.kind == 'z'].n", "$..nothing"])
def test_jsonpath_selecting_nothing_is_missing(path):
    with pytest.raises(ExtractionError, match="missing value property"):
        extract_number(DOCUMENT, P(path))


def test_plain_paths_take_the_fast_path_and_others_the_library():
    assert P("$.a.b[0]['c d'][-2]").steps == ("a", "b", 0, "c d", -2)
    assert P("$").steps == ()
    for path in ("$.a[*]", "$..a", "$.a[0:2]", "$.a[?@.x]", "$.a['b','c']"):
        assert P(path).steps is None, path


json_leaves = st.none() | st.booleans() | st.integers(-3, 3) | st.text("ab", max_size=2)
keys = st.sampled_from(["a", "b", "c d", "0", "é", "'", '"', "\\"])
documents = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=15,
)


def render(step: str | int) -> str:
    if isinstance(step, int):
        return f"[{step}]"
    if step.isidentifier():
        return f".{step}"
    return f"[{json.dumps(step)}]"


@st.composite
def documents_and_steps(draw):
    """A document and a path of names and indexes, mostly leading into the document (with
    negative indexes too) and sometimes off it."""
    document = draw(documents)
    steps: list[str | int] = []
    node = document
    for _ in range(draw(st.integers(0, 4))):
        if isinstance(node, dict) and node and draw(st.integers(0, 3)):
            step = draw(st.sampled_from(sorted(node)))
            node = node[step]
        elif isinstance(node, list) and node and draw(st.integers(0, 3)):
            step = draw(st.integers(-len(node), len(node) - 1))
            node = node[step]
        else:
            step = draw(keys | st.integers(-3, 3))
            node = None
        steps.append(step)
    return document, steps


@given(documents_and_steps())
def test_fast_path_agrees_with_the_jsonpath_library(document_and_steps):
    document, steps = document_and_steps
    text = "$" + "".join(render(step) for step in steps)
    path = compile_path(text)
    assert path.steps == tuple(steps)  # else this test would compare the library with itself
    nodes = path.query.findall(document)
    event("found" if nodes else "missing")
    if nodes:
        assert path.first(document) is nodes[0]
    else:
        with pytest.raises(ExtractionError, match="missing value property"):
            extract_unique(document, path)


@given(st.integers(-(10**MAX_INTEGER_DIGITS) - 5, 10**MAX_INTEGER_DIGITS + 5)
       | st.sampled_from([0, -(10**MAX_INTEGER_DIGITS), 10**MAX_INTEGER_DIGITS,
                          10**MAX_INTEGER_DIGITS - 1, -(10**MAX_INTEGER_DIGITS) + 1]))
def test_integers_take_a_short_cut_to_the_same_result(value):
    # Integers skip the general checks; what they give (or refuse) must not change.
    as_decimal = Decimal(value)
    if abs(value) >= 10**MAX_INTEGER_DIGITS:
        assert number_error(value) == number_error(as_decimal)
    else:
        result = number(value)
        assert result == number(as_decimal) and str(result) == str(number(as_decimal))
