import pytest
from django.core.management import call_command

from apps.metering import services
from apps.metering.models import Meter, MeterRollup

pytestmark = pytest.mark.django_db

URL = "/api/v1/meters"
TOKENS = {"slug": "llm_tokens", "name": "LLM tokens", "aggregation": "SUM",
          "eventType": "llm_tokens", "valueProperty": "$.tokens",
          "groupBy": {"model": "$.model", "type": "$.type"}}


def test_create_list_get_update_delete(api):
    created = api.post(URL, TOKENS, format="json")
    assert created.status_code == 201, created.content
    meter = created.json()
    assert len(meter["id"]) == 26
    assert {k: meter[k] for k in TOKENS} == TOKENS
    assert meter["eventFrom"] is None and meter["deletedAt"] is None
    assert api.get(URL).json() == [meter]  # a bare array, as OpenMeter
    assert api.get(f"{URL}/llm_tokens").json() == meter
    assert api.get(f"{URL}/{meter['id']}").json() == meter

    updated = api.put(f"{URL}/llm_tokens", {"name": "Tokens", "description": "All tokens",
                                           "groupBy": {"model": "$.model"}}, format="json")
    assert updated.status_code == 200, updated.content
    assert updated.json()["groupBy"] == {"model": "$.model"}
    assert updated.json()["name"] == "Tokens"

    assert api.delete(f"{URL}/llm_tokens").status_code == 204
    assert api.get(f"{URL}/llm_tokens").status_code == 404
    assert api.get(URL).json() == []
    assert len(api.get(URL, {"includeDeleted": "true"}).json()) == 1
    assert api.post(URL, TOKENS, format="json").status_code == 201  # slug free again


def test_name_defaults_to_slug_and_count_needs_no_value(api):
    body = {"slug": "api_requests", "aggregation": "COUNT", "eventType": "api_call"}
    meter = api.post(URL, body, format="json").json()
    assert meter["name"] == "api_requests" and meter["valueProperty"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "a__b"}, "slug"),
        ({"aggregation": "MEDIAN"}, "aggregation"),
        ({"valueProperty": "tokens["}, "valueProperty"),
        ({"valueProperty": None}, "valueProperty"),
        ({"groupBy": {"model": "$..[?"}}, "groupBy.model"),
        ({"groupBy": {"subject": "$.x"}}, "groupBy"),
        ({"eventType": ""}, "eventType"),
    ],
)
def test_invalid_meters_are_400_naming_the_field(api, change, field):
    response = api.post(URL, TOKENS | change, format="json")
    assert response.status_code == 400, response.content
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert not Meter.objects.exists()


def test_duplicate_slug_is_409(api):
    api.post(URL, TOKENS, format="json")
    assert api.post(URL, TOKENS, format="json").status_code == 409


@pytest.mark.parametrize("field", ["aggregation", "eventType", "valueProperty", "slug"])
def test_only_name_description_metadata_and_group_by_may_change(api, field):
    api.post(URL, TOKENS, format="json")
    change = {"aggregation": "MAX", "eventType": "other", "valueProperty": "$.other",
              "slug": "renamed"}[field]
    response = api.put(f"{URL}/llm_tokens", {field: change}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert Meter.objects.get().aggregation == "SUM"


def test_rebuild_command_gives_identical_rollups(db):
    meter = services.meter_create(slug="t", aggregation="SUM", event_type="llm_tokens",
                                  value_property="$.tokens", group_by={"model": "$.model"})
    services.ingest_events([
        {"specversion": "1.0", "id": str(n), "source": "s", "type": "llm_tokens",
         "subject": f"s{n % 3}", "time": f"2024-05-01T10:{n % 60:02d}:00Z",
         "data": {"tokens": n * 1.5, "model": f"m{n % 2}"}}
        for n in range(100)
    ])
    columns = ["subject", "group_key", "bucket_start", "count", "sum", "min", "max",
               "latest_value", "latest_time", "latest_seq"]
    before = sorted(MeterRollup.objects.filter(meter=meter).values_list(*columns))
    call_command("rebuild_rollups", "t")
    assert sorted(MeterRollup.objects.filter(meter=meter).values_list(*columns)) == before
    assert len(before) > 0


def tokens_meter_with_events():
    meter = services.meter_create(slug="t", aggregation="SUM", event_type="llm_tokens",
                                  value_property="$.tokens", group_by={"model": "$.model"})
    services.ingest_events([
        {"specversion": "1.0", "id": str(n), "source": "s", "type": "llm_tokens",
         "subject": "acme", "time": f"2024-05-01T10:{n:02d}:00Z",
         "data": {"tokens": n, "model": f"m{n % 2}", "region": f"r{n % 3}"}}
        for n in range(12)
    ])
    return meter


def test_regrouping_a_meter_rebuilds_its_rollups(api):
    meter = tokens_meter_with_events()
    response = api.put("/api/v1/meters/t", {"groupBy": {"region": "$.region"}}, format="json")
    assert response.status_code == 200
    keys = set(MeterRollup.objects.filter(meter=meter).values_list("group_key", flat=True))
    assert keys == {'{"region":"r0"}', '{"region":"r1"}', '{"region":"r2"}'}
    assert sum(MeterRollup.objects.filter(meter=meter).values_list("sum", flat=True)) == 66


def test_admin_rebuild_action_needs_a_post_and_gives_identical_rollups(admin_client):
    from django.urls import reverse

    meter = tokens_meter_with_events()
    columns = ["subject", "group_key", "bucket_start", "count", "sum", "latest_seq"]
    before = sorted(MeterRollup.objects.values_list(*columns))
    MeterRollup.objects.update(sum=0)  # damage them; only a rebuild can repair this
    url = reverse("admin:metering_meter_rebuild_detail", args=[meter.pk])
    assert admin_client.get(url).status_code == 200
    assert sorted(MeterRollup.objects.values_list(*columns)) != before
    assert admin_client.post(url).status_code == 302
    assert sorted(MeterRollup.objects.values_list(*columns)) == before
