"""Event intake over HTTP against a real server process: formats, limits, idempotency."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from apps.customers.models import GatewayConsumer
from apps.metering.models import Event, EventConflict

pytestmark = pytest.mark.django_db(transaction=True)

CE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def event(n, **overrides):
    body = {"specversion": "1.0", "id": f"evt-{n}", "source": "gw-1", "type": "api_call",
            "subject": "acme-web", "time": "2024-05-01T10:00:00Z",
            "data": {"route": "/flights", "status": 200, "ms": 12.5}}
    return body | overrides


def post(http, body, content_type=BATCH, path="/api/v1/events"):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return http.call("POST", path, data=data, headers={"Content-Type": content_type})


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_every_content_type_is_accepted_and_stored(http):
    assert post(http, event(1), CE).status_code == 204
    assert post(http, [event(2), event(3)], BATCH).status_code == 204
    assert post(http, event(4), "application/json").status_code == 204
    assert post(http, [event(5)], "application/json; charset=utf-8").status_code == 204
    assert post(http, [event(6)], "application/cloudevents-batch+json; charset=utf-8"
                ).status_code == 204
    kong = post(http, [event(7)], BATCH, path="/api/v3/openmeter/events")
    assert kong.status_code == 202 and kong.text == ""
    assert sorted(Event.objects.values_list("event_id", flat=True)) == [
        f"evt-{n}" for n in range(1, 8)]
    stored = Event.objects.get(event_id="evt-1")
    assert stored.data == {"route": "/flights", "status": 200, "ms": 12.5}
    assert stored.time == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert stored.ingested_at is not None


def test_missing_time_defaults_to_receipt_time(http):
    body = event(1)
    del body["time"]
    before = datetime.now(UTC)
    assert post(http, body, CE).status_code == 204
    stored = Event.objects.get()
    assert before - timedelta(seconds=1) <= stored.time <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("body", "index", "field"),
    [
        ([{k: v for k, v in event(1).items() if k != "id"}], 0, "id"),
        ([event(1), event(2, subject="")], 1, "subject"),
        ([event(1, type=None)], 0, "type"),
        ([event(1, specversion="")], 0, "specversion"),
        ([event(1, source="")], 0, "source"),
        ([event(1), event(2, data=[1, 2])], 1, "data"),
        ([event(1, time="yesterday")], 0, "time"),
        ([event(1, time="2024-05-01T10:00:00")], 0, "time"),
        ([event(1, time=(datetime.now(UTC) + timedelta(minutes=10)).isoformat())], 0, "time"),
        ([event(1), "not an object"], 1, None),
    ],
)
def test_a_batch_with_any_bad_event_is_refused_whole(http, body, index, field):
    problem = assert_problem(post(http, body), 400)
    assert any(e["index"] == index and (field is None or e["field"] == field)
               for e in problem["errors"]), problem
    assert Event.objects.count() == 0
    assert not GatewayConsumer.objects.exists()


def test_every_bad_event_is_listed(http):
    problem = assert_problem(post(http, [event(1, id=""), event(2), event(3, subject=5)]), 400)
    assert {(e["index"], e["field"]) for e in problem["errors"]} == {(0, "id"), (2, "subject")}


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", BATCH, 400),
        (json.dumps([event(1)]), "text/plain", 400),
        (json.dumps(event(1)), BATCH, 400),  # a batch must be an array
        (json.dumps([event(1)]), CE, 400),  # a single event must be an object
        (b"[]", BATCH, 400),
        (b"[" * 5000 + b"]" * 5000, BATCH, 400),
        (json.dumps([event(1, data={"a": json.loads("[" * 200 + "]" * 200)})]), BATCH, 400),
        (json.dumps([event(1, data={"pad": "x" * (1024 * 1024)})]), BATCH, 413),
        (json.dumps([event(n) for n in range(5001)]), BATCH, 413),
    ],
    ids=["malformed", "content-type", "object-as-batch", "array-as-single", "empty",
         "nesting", "deep-data", "body-size", "batch-size"],
)
def test_bad_bodies_change_nothing(http, body, content_type, status):
    assert_problem(post(http, body, content_type), status)
    assert Event.objects.count() == 0


def test_api_key_is_required(http):
    del http.headers["Authorization"]
    assert_problem(post(http, [event(1)]), 401)
    http.headers["Authorization"] = "Bearer ml_wrong_key"
    assert_problem(post(http, [event(1)]), 401)
    assert Event.objects.count() == 0


def test_duplicates_are_stored_once_and_answered_like_the_first(http):
    assert post(http, [event(1), event(1), event(2)]).status_code == 204
    assert post(http, [event(1), event(2)]).status_code == 204
    assert post(http, event(2), CE, path="/api/v3/openmeter/events").status_code == 202
    assert Event.objects.count() == 2
    assert not EventConflict.objects.exists()


def test_same_id_with_a_different_payload_is_a_recorded_conflict(http):
    assert post(http, [event(1, data={"ms": 1})]).status_code == 204
    assert post(http, [event(1, data={"ms": 2})]).status_code == 204
    assert post(http, [event(2, data={"ms": 1}), event(2, data={"ms": 3})]).status_code == 204
    assert Event.objects.count() == 2
    assert Event.objects.get(event_id="evt-1").data == {"ms": 1}  # the first one stands
    conflicts = EventConflict.objects.order_by("event_id")
    assert [(c.event_id, c.received_payload["data"]) for c in conflicts] == [
        ("evt-1", {"ms": 2}), ("evt-2", {"ms": 3})]
    assert conflicts[0].stored_event.event_id == "evt-1"


def test_concurrent_copies_of_one_event_are_stored_once(http):
    results = []

    def send():
        results.append(post(http, [event(1), event(2), event(3)]).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [204] * 8
    assert Event.objects.count() == 3


def test_unknown_subjects_are_auto_registered_as_unattributed(http):
    assert post(http, [event(1, subject="stranger-1"), event(2, subject="stranger-1")]
                ).status_code == 204
    consumer = GatewayConsumer.objects.get(key="stranger-1")
    assert consumer.auto_registered and consumer.customer is None


def test_event_list_shows_validation_problems(http):
    post(http, [event(1, subject="nobody-owns-me", time=datetime.now(UTC).isoformat())])
    listed = http.call("GET", "/api/v1/events").json()
    assert len(listed) == 1
    item = listed[0]
    assert item["event"]["id"] == "evt-1" and item["event"]["data"]["ms"] == 12.5
    assert item["validationError"] == "no meter found for event type: api_call"
    assert item["ingestedAt"] and item["storedAt"]
    assert http.call("GET", "/api/v1/events", params={"subject": "other"}).json() == []
    assert http.call("GET", "/api/v1/events", params={"limit": 101}).status_code == 400
