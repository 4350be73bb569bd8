"""Meters and queries over HTTP against a real server process, checked against an oracle."""

import csv
import io
import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from apps.customers.models import Customer, GatewayConsumer
from apps.metering.models import Event
from apps.metering.tests.oracle import expected_rows, parse_time

pytestmark = pytest.mark.django_db(transaction=True)

AGGREGATIONS = ["SUM", "COUNT", "UNIQUE_COUNT", "AVG", "MIN", "MAX", "LATEST"]
MODELS = ["gpt-4o", "claude", "llama"]
SUBJECTS = ["acme-web", "acme-batch", "globex-bot"]


def token_events(count=300, seed=7, start=datetime(2024, 11, 2, 20, tzinfo=UTC), hours=36):
    """Token events around the New York fall-back night, with late and out-of-order times."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        instant = start + timedelta(seconds=rng.randrange(hours * 3600),
                                    microseconds=rng.randrange(1_000_000))
        events.append({
            "specversion": "1.0", "id": f"tok-{n}", "source": "llm-gw", "type": "llm_tokens",
            "subject": rng.choice(SUBJECTS),
            "time": instant.isoformat().replace("+00:00", "Z"),
            "data": {"tokens": rng.choice([0, 1, 7, 250, 1200]) + rng.randrange(3) / 4,
                     "model": rng.choice(MODELS), "type": rng.choice(["input", "output"]),
                     "user": f"u{rng.randrange(12)}"},
        })
    return events


def create_meter(http, slug, aggregation, path="$.tokens", **extra):
    body = {"slug": slug, "aggregation": aggregation, "eventType": "llm_tokens",
            "groupBy": {"model": "$.model", "type": "$.type"}} | extra
    if aggregation == "UNIQUE_COUNT":
        body["valueProperty"] = "$.user"
    elif aggregation != "COUNT":
        body["valueProperty"] = path
    response = http.call("POST", "/api/v1/meters", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def ingest(http, events, batch=100):
    for offset in range(0, len(events), batch):
        body = json.dumps(events[offset:offset + batch])
        response = http.call("POST", "/api/v1/events", data=body,
                             headers={"Content-Type": "application/cloudevents-batch+json"})
        assert response.status_code == 204, response.text


def query(http, slug, **params):
    response = http.call("GET", f"/api/v1/meters/{slug}/query", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def as_rows(body, dimensions=(), by_subject=False):
    rows = {}
    for row in body["data"]:
        window = parse_time(row["windowStart"]) if body.get("windowSize") else None
        key = (window, row["subject"] if by_subject else None,
               tuple(row["groupBy"].get(d) for d in dimensions))
        rows[key] = row["value"]
    return rows


def assert_matches(actual: dict, expected: dict, aggregation):
    assert set(actual) == set(expected)
    for key, value in expected.items():
        if aggregation == "AVG":
            assert actual[key] == pytest.approx(float(value), rel=1e-12), key
        else:
            assert actual[key] == float(value), key


NY_START, NY_END = "2024-11-02T22:00:00Z", "2024-11-04T06:00:00Z"


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_every_aggregation_window_and_zone_matches_the_oracle(http, aggregation):
    events = token_events()
    meter = create_meter(http, f"tokens_{aggregation.lower()}", aggregation)
    ingest(http, events)
    path = "$.user" if aggregation == "UNIQUE_COUNT" else "$.tokens"
    start, end = parse_time(NY_START), parse_time(NY_END)
    cases = [
        dict(),
        dict(windowSize="HOUR", windowTimeZone="America/New_York"),
        dict(windowSize="DAY", windowTimeZone="America/New_York"),
        dict(windowSize="DAY", windowTimeZone="Asia/Kolkata", groupBy=["model"]),
        dict(windowSize="MINUTE", groupBy=["model", "type"], subject=["acme-web"]),
        dict(windowSize="MONTH", windowTimeZone="Europe/Berlin", groupBy=["type"],
             **{"filterGroupBy[model]": "claude"}),
        dict(windowSize="HOUR", windowTimeZone="Australia/Eucla", subject=SUBJECTS[:2]),
    ]
    for case in cases:
        params = {"from": NY_START, "to": NY_END} | case
        body = query(http, meter["slug"], **params)
        dimensions = case.get("groupBy", [])
        by_subject = "subject" in case
        filters = {"model": [case["filterGroupBy[model]"]]} if "filterGroupBy[model]" in case \
            else None
        chosen = [e for e in events if not by_subject or e["subject"] in case["subject"]]
        expected = expected_rows(chosen, aggregation=aggregation, path=path, start=start,
                                 end=end, window_size=case.get("windowSize"),
                                 tz=case.get("windowTimeZone", "UTC"), group_by=dimensions,
                                 filters=filters, by_subject=by_subject)
        assert_matches(as_rows(body, dimensions, by_subject), expected, aggregation)


def test_dst_fall_back_day_is_25_hours_and_its_doubled_hour_two_windows(http):
    meter = create_meter(http, "dst_count", "COUNT")
    times = ["2024-11-03T04:30:00Z", "2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z",
             "2024-11-04T04:59:00Z"]
    ingest(http, [{"specversion": "1.0", "id": f"d{n}", "source": "s", "type": "llm_tokens",
                   "subject": "acme-web", "time": t, "data": {"model": "m", "type": "input"}}
                  for n, t in enumerate(times)])
    days = query(http, meter["slug"], windowSize="DAY", windowTimeZone="America/New_York",
                 **{"from": "2024-11-03T04:00:00Z", "to": "2024-11-05T05:00:00Z"})["data"]
    assert [(d["windowStart"], d["windowEnd"], d["value"]) for d in days] == [
        ("2024-11-03T04:00:00Z", "2024-11-04T05:00:00Z", 4)]
    hours = query(http, meter["slug"], windowSize="HOUR", windowTimeZone="America/New_York",
                  **{"from": "2024-11-03T05:00:00Z", "to": "2024-11-03T07:00:00Z"})["data"]
    assert [(h["windowStart"], h["windowEnd"], h["value"]) for h in hours] == [
        ("2024-11-03T05:00:00Z", "2024-11-03T06:00:00Z", 1),
        ("2024-11-03T06:00:00Z", "2024-11-03T07:00:00Z", 1)]


def test_unaligned_from_and_to_are_exact_to_the_microsecond(http):
    meter = create_meter(http, "sliver_sum", "SUM")
    times = ["2024-05-01T10:00:10Z", "2024-05-01T10:00:30Z", "2024-05-01T10:05:00Z",
             "2024-05-01T10:09:59.999999Z", "2024-05-01T10:10:00Z"]
    ingest(http, [{"specversion": "1.0", "id": f"s{n}", "source": "s", "type": "llm_tokens",
                   "subject": "acme-web", "time": t,
                   "data": {"tokens": 10 ** n, "model": "m", "type": "input"}}
                  for n, t in enumerate(times)])
    body = query(http, meter["slug"], **{"from": "2024-05-01T10:00:20Z",
                                        "to": "2024-05-01T10:09:59.999999Z"})
    assert [row["value"] for row in body["data"]] == [10 + 100]
    assert body["data"][0]["windowStart"] == "2024-05-01T10:00:20Z"
    sliver = query(http, meter["slug"], **{"from": "2024-05-01T10:00:05Z",
                                          "to": "2024-05-01T10:00:15Z"})
    assert [row["value"] for row in sliver["data"]] == [1]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_a_meter_created_after_its_events_counts_them(http, aggregation):
    events = token_events(count=120, seed=3)
    before = create_meter(http, "before", aggregation)
    ingest(http, events[:60])
    ingest(http, events[60:])
    after = create_meter(http, "after", aggregation)
    for params in ({}, {"windowSize": "HOUR", "groupBy": ["model", "subject"]}):
        params = {"from": NY_START, "to": NY_END} | params
        assert query(http, "before", **params)["data"] == query(http, "after", **params)["data"]
    assert before["id"] != after["id"]


def test_replaying_10000_stored_events_from_4_clients_changes_nothing(http):
    events = token_events(count=10_000, seed=11, hours=24 * 10)
    create_meter(http, "replay_sum", "SUM")
    create_meter(http, "replay_unique", "UNIQUE_COUNT")
    create_meter(http, "replay_latest", "LATEST")
    ingest(http, events, batch=1000)
    params = {"from": "2024-11-01T00:00:00Z", "to": "2024-12-01T00:00:00Z",
              "windowSize": "DAY", "groupBy": ["model", "subject"]}
    before = {slug: query(http, slug, **params) for slug in
              ("replay_sum", "replay_unique", "replay_latest")}
    stored = Event.objects.count()
    assert stored == 10_000

    failures = []

    def replay(seed):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        try:
            ingest(http, shuffled, batch=1000)
        except AssertionError as exc:
            failures.append(exc)

    clients = [threading.Thread(target=replay, args=(n,)) for n in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert not failures
    assert Event.objects.count() == stored
    for slug, body in before.items():
        assert query(http, slug, **params) == body


def test_group_by_customer_and_customer_filter(http):
    acme = Customer.objects.create(key="acme", name="Acme")
    GatewayConsumer.objects.create(key="acme-web", customer=acme)
    GatewayConsumer.objects.create(key="acme-batch", customer=acme)
    meter = create_meter(http, "by_customer", "COUNT")
    events = token_events(count=90, seed=5)
    ingest(http, events)
    body = query(http, meter["slug"], filterCustomerId=["acme"],
                 **{"from": NY_START, "to": NY_END})
    start, end = parse_time(NY_START), parse_time(NY_END)
    in_range = [e for e in events if start <= parse_time(e["time"]) < end]
    assert [(r["customerId"], r["value"]) for r in body["data"]] == [
        (acme.pk, sum(e["subject"] != "globex-bot" for e in in_range))]
    grouped = query(http, meter["slug"], groupBy=["customer_id"],
                    **{"from": NY_START, "to": NY_END})
    assert {(r["customerId"], r["value"]) for r in grouped["data"]} == {
        (acme.pk, sum(e["subject"] != "globex-bot" for e in in_range)),
        (None, sum(e["subject"] == "globex-bot" for e in in_range))}
    unknown = http.call("GET", f"/api/v1/meters/{meter['slug']}/query",
                        params={"filterCustomerId": "nope"})
    assert unknown.status_code == 404


def test_csv_has_openmeters_columns(http):
    meter = create_meter(http, "csv_sum", "SUM")
    ingest(http, token_events(count=40, seed=2))
    response = http.call("GET", f"/api/v1/meters/{meter['slug']}/query",
                         params={"from": NY_START, "to": NY_END, "windowSize": "DAY",
                                 "subject": "acme-web", "groupBy": "model"},
                         headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == "attachment; filename=csv_sum.csv"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["window_start", "window_end", "subject", "subject_display_name",
                       "model", "value"]
    json_rows = query(http, meter["slug"], **{"from": NY_START, "to": NY_END,
                                             "windowSize": "DAY", "subject": "acme-web",
                                             "groupBy": "model"})["data"]
    assert len(rows) - 1 == len(json_rows)
    assert all(len(row[-1].split(".")[1]) == 6 for row in rows[1:])


def test_post_query_subjects_and_group_values(http):
    meter = create_meter(http, "post_sum", "SUM")
    events = token_events(count=50, seed=9)
    ingest(http, events)
    posted = http.call("POST", f"/api/v1/meters/{meter['slug']}/query",
                       json={"from": NY_START, "to": NY_END, "windowSize": "DAY",
                             "groupBy": ["model"], "filterGroupBy": {"type": "input"}})
    assert posted.status_code == 200, posted.text
    got = query(http, meter["slug"], **{"from": NY_START, "to": NY_END, "windowSize": "DAY",
                                       "groupBy": "model", "filterGroupBy[type]": "input"})
    assert posted.json() == got
    subjects = http.call("GET", f"/api/v1/meters/{meter['slug']}/subjects").json()
    assert subjects == sorted({e["subject"] for e in events})
    models = http.call("GET", f"/api/v1/meters/{meter['slug']}/group-by/model/values").json()
    assert models == sorted({e["data"]["model"] for e in events})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"windowSize": "WEEK"}, "windowSize"),
        ({"windowTimeZone": "Mars/Base"}, "windowTimeZone"),
        ({"groupBy": "colour"}, "groupBy"),
        ({"filterGroupBy[colour]": "red"}, "filterGroupBy[colour]"),
        ({"from": "2024-01-02T00:00:00Z", "to": "2024-01-01T00:00:00Z"}, "to"),
        ({"from": "tuesday"}, "from"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_field(http, params, field):
    meter = create_meter(http, "bad_params", "COUNT")
    response = http.call("GET", f"/api/v1/meters/{meter['slug']}/query", params=params)
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
