"""The WSGI fast path for intake answers exactly like the Django stack behind it."""

import io
import json

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import override_settings

from apps.metering.models import Event
from config.wsgi import application

pytestmark = pytest.mark.django_db

EVENT = {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "subject": "x"}


def call(path, body, *, key, host="testserver", method="POST"):
    data = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": host, "SERVER_PORT": "80",
        "HTTP_HOST": host, "wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "application/cloudevents+json", "wsgi.url_scheme": "http",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
    }
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    # As Django's test client does: the test's database connection must survive the request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        body = b"".join(response)
        response.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


def test_intake_through_the_fast_path(api_key):
    status, _, body = call("/api/v1/events", EVENT, key=api_key.raw)
    assert status == "204 No Content" and body == b""
    status, _, _ = call("/api/v3/openmeter/events", EVENT | {"id": "2"}, key=api_key.raw)
    assert status == "202 Accepted"
    assert Event.objects.count() == 2


def test_fast_path_refuses_like_the_stack(api_key):
    status, headers, body = call("/api/v1/events", EVENT, key="ml_wrong")
    assert status.startswith("401") and headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["Content-Type"] == "application/problem+json"
    status, _, body = call("/api/v1/events", EVENT | {"id": ""}, key=api_key.raw)
    assert status.startswith("400") and json.loads(body)["errors"][0]["field"] == "id"
    with override_settings(ALLOWED_HOSTS=["billing.example.com"]):
        status, _, _ = call("/api/v1/events", EVENT, key=api_key.raw, host="evil.example")
        assert status.startswith("400")
    assert Event.objects.count() == 0


def test_other_requests_go_through_django(api_key):
    status, _, body = call("/api/v1/events", None, key=api_key.raw, method="GET")
    assert status == "200 OK" and json.loads(body) == []
