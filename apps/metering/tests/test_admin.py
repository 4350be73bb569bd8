import json

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.customers.models import Customer, GatewayConsumer
from apps.metering import services
from apps.metering.models import Event, Meter

pytestmark = pytest.mark.django_db


def test_presets_need_a_post_and_are_idempotent(admin_client):
    url = reverse("admin:metering_meter_preset_llm_tokens")
    assert admin_client.get(url).status_code == 200
    assert not Meter.objects.exists()  # a link alone changes nothing
    assert admin_client.post(url).status_code == 302
    assert admin_client.post(url).status_code == 302
    assert sorted(Meter.objects.values_list("slug", flat=True)) == [
        "llm_cached_tokens", "llm_input_tokens", "llm_output_tokens"]
    admin_client.post(reverse("admin:metering_meter_preset_api_requests"))
    assert Meter.objects.get(slug="api_requests").aggregation == "COUNT"


def test_product_may_add_presets_support_may_not(client, staff_user):
    client.force_login(staff_user("Support"))
    assert client.post(reverse("admin:metering_meter_preset_llm_tokens")).status_code == 403
    client.force_login(staff_user("Product"))
    assert client.post(reverse("admin:metering_meter_preset_llm_tokens")).status_code == 302
    assert Meter.objects.count() == 3


def test_try_a_meter_on_a_sample_event(admin_client):
    meter = services.meter_create(slug="tokens", aggregation="SUM", event_type="llm",
                                  value_property="$.usage.tokens",
                                  group_by={"model": "$.model"})
    url = reverse("admin:metering_meter_try_sample_event", args=[meter.pk])
    sample = {"specversion": "1.0", "id": "1", "source": "s", "type": "llm", "subject": "x",
              "data": {"usage": {"tokens": 1234.5}, "model": "gpt-4o"}}
    page = admin_client.post(url, {"event": json.dumps(sample)}).content.decode()
    assert "Counts <strong>1234.5</strong>" in page and "model=gpt-4o" in page
    broken = sample | {"data": {"model": "gpt-4o"}}
    page = admin_client.post(url, {"event": json.dumps(broken)}).content.decode()
    assert "missing value property" in page
    assert not Event.objects.exists()  # trying stores nothing


def test_meter_admin_creates_through_the_service_and_validates_paths(admin_client):
    add = reverse("admin:metering_meter_add")
    form = {"slug": "calls", "name": "Calls", "event_type": "request", "aggregation": "SUM",
            "value_property": "$..[", "group_by": "{}", "metadata": "{}", "description": ""}
    response = admin_client.post(add, form)
    assert response.status_code == 200 and "Invalid JSONPath" in response.content.decode()
    response = admin_client.post(add, form | {"value_property": "$.n"})
    assert response.status_code == 302
    assert Meter.objects.get(slug="calls").value_property == "$.n"


def test_event_browser_status_filter(admin_client):
    acme = Customer.objects.create(key="acme", name="Acme")
    GatewayConsumer.objects.create(key="acme-web", customer=acme)
    services.meter_create(slug="calls", aggregation="COUNT", event_type="request")
    now = timezone.now().isoformat()
    services.ingest_events([
        {"specversion": "1.0", "id": "ok", "source": "s", "type": "request",
         "subject": "acme-web", "time": now},
        {"specversion": "1.0", "id": "unmetered", "source": "s", "type": "ping",
         "subject": "acme-web", "time": now},
        {"specversion": "1.0", "id": "stranger", "source": "s", "type": "request",
         "subject": "who", "time": now},
    ])
    url = reverse("admin:metering_event_changelist")
    for status, expected in [("ok", "ok"), ("unmetered", "unmetered"),
                             ("unattributed", "stranger")]:
        page = admin_client.get(url, {"status": status})
        assert page.status_code == 200
        shown = [row.event_id for row in page.context["cl"].result_list]
        assert shown == [expected], status
