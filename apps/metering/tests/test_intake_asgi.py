"""The ASGI fast path for intake (the production server) answers exactly like the Django stack.

The application is called in-process with ASGI messages, so that host and HTTPS settings can
be changed; tests over HTTP against the real server are in test_intake_http.py.
"""

import asyncio
import json

import pytest
from django.test import override_settings

from apps.metering.api.views import coalescer
from apps.metering.models import Event
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)  # the group commit writes from its thread


@pytest.fixture(autouse=True)
def _writer_stopped_after_each_test():
    yield
    coalescer.stop()  # its connection must not outlive the test database

EVENT = {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "subject": "x"}


def call(path, body, *, key, host="testserver", scheme="http", chunks=None, headers=()):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    chunks = chunks or [data]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": scheme, "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": (host, 80),
        "headers": [(b"host", host.encode()), (b"authorization", f"Bearer {key}".encode()),
                    *headers],
    }
    if not any(name == b"content-type" for name, _ in headers):
        scope["headers"].append((b"content-type", b"application/cloudevents+json"))
    if not any(name == b"content-length" for name, _ in headers) and len(chunks) == 1:
        scope["headers"].append((b"content-length", str(len(data)).encode()))
    incoming = [{"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
                for n, chunk in enumerate(chunks)]
    received, sent = [], []

    async def receive():
        received.append(True)
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start, body_message = sent
    return (start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]},
            body_message["body"], len(received))


def test_intake_through_the_fast_path(api_key):
    status, headers, body, _ = call("/api/v1/events", EVENT, key=api_key.raw)
    assert status == 204 and body == b"" and "content-length" not in headers
    status, _, _, _ = call("/api/v3/openmeter/events", EVENT | {"id": "2"}, key=api_key.raw)
    assert status == 202
    status, _, _, _ = call("/api/v1/events", [EVENT | {"id": str(n)} for n in range(3, 103)],
                           key=api_key.raw, headers=[(b"content-type", b"application/json")])
    assert status == 204
    assert Event.objects.count() == 102


def test_a_large_batch_is_stored_outside_the_loop_with_the_same_answers(api_key):
    batch = [EVENT | {"id": f"big-{n}", "data": {"pad": "x" * 100}} for n in range(1000)]
    status, _, _, _ = call("/api/v1/events", batch, key=api_key.raw,
                           headers=[(b"content-type", b"application/cloudevents-batch+json")])
    assert status == 204 and Event.objects.count() == 1000
    batch[500]["time"] = "yesterday"
    status, _, body, _ = call("/api/v1/events", batch, key=api_key.raw,
                              headers=[(b"content-type", b"application/cloudevents-batch+json")])
    assert status == 400 and json.loads(body)["errors"][0]["index"] == 500


def test_fast_path_refuses_like_the_stack(api_key):
    status, headers, body, _ = call("/api/v1/events", EVENT, key="ml_wrong")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    status, _, body, _ = call("/api/v1/events", EVENT | {"id": ""}, key=api_key.raw)
    assert status == 400 and json.loads(body)["errors"][0]["field"] == "id"
    with override_settings(ALLOWED_HOSTS=["billing.example.com"]):
        status, _, _, _ = call("/api/v1/events", EVENT, key=api_key.raw, host="evil.example")
        assert status == 400
    assert Event.objects.count() == 0


@override_settings(METERLINE_INGEST_MAX_BODY_BYTES=1000)
def test_bodies_over_the_limit_are_413_and_not_read_to_the_end(api_key):
    big = json.dumps([EVENT | {"id": str(n)} for n in range(40)]).encode()
    status, _, body, reads = call("/api/v1/events", big, key=api_key.raw)
    assert status == 413 and json.loads(body)["code"] == "payload_too_large"
    assert reads == 0  # the declared length was enough
    # Chunked (no Content-Length): reading stops once the limit is passed.
    pieces = [big[i:i + 100] for i in range(0, len(big), 100)]
    status, _, body, reads = call("/api/v1/events", big, key=api_key.raw, chunks=pieces)
    assert status == 413 and reads == 11 < len(pieces)
    assert Event.objects.count() == 0


@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_as_security_middleware_would(api_key):
    status, headers, _, _ = call("/api/v1/events", EVENT, key=api_key.raw)
    assert status == 301 and headers["location"] == "https://testserver/api/v1/events"
    status, _, _, _ = call("/api/v1/events", EVENT, key=api_key.raw, scheme="https")
    assert status == 204
    assert Event.objects.count() == 1


def test_lifespan_is_answered():
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(application({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
