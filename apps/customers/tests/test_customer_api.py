import pytest

from apps.customers.models import Customer, GatewayConsumer

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"


def acme(**overrides):
    body = {
        "key": "acme",
        "name": "Acme Corporation",
        "currency": "USD",
        "primaryEmail": "billing@acme.example",
        "billingAddress": {"country": "US", "city": "New York", "line1": "1 Main St",
                           "postalCode": "10001"},
        "usageAttribution": {"subjectKeys": ["acme-web", "acme-batch"]},
        "metadata": {"segment": "enterprise"},
    }
    return body | overrides


def assert_problem(response, status, field=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("urn:meterline:problem:")
    if field:
        assert field in [error["field"] for error in body["errors"]], body
    return body


def test_create_then_read_by_id_and_by_key(api):
    created = api.post(URL, acme(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert len(body["id"]) == 26  # a ULID, as OpenMeter
    assert body["key"] == "acme"
    assert body["currency"] == "USD"
    assert body["primaryEmail"] == "billing@acme.example"
    assert body["billingAddress"] == {"country": "US", "city": "New York", "line1": "1 Main St",
                                      "postalCode": "10001"}
    assert body["usageAttribution"] == {"subjectKeys": ["acme-batch", "acme-web"]}
    assert body["metadata"] == {"segment": "enterprise"}
    assert body["deletedAt"] is None

    assert api.get(f"{URL}/{body['id']}").json() == body
    assert api.get(f"{URL}/acme").json() == body
    assert set(GatewayConsumer.objects.filter(customer_id=body["id"]).values_list(
        "key", flat=True)) == {"acme-web", "acme-batch"}


def test_replace_sets_every_field_and_releases_dropped_subjects(api):
    customer_id = api.post(URL, acme(), format="json").json()["id"]
    replaced = api.put(
        f"{URL}/{customer_id}",
        {"key": "acme", "name": "Acme Corp.", "currency": "EUR",
         "usageAttribution": {"subjectKeys": ["acme-web", "acme-new"]}},
        format="json",
    )
    assert replaced.status_code == 200, replaced.content
    body = replaced.json()
    assert body["name"] == "Acme Corp."
    assert body["currency"] == "EUR"
    assert body["primaryEmail"] is None  # full replace clears what was left out
    assert body["billingAddress"] is None
    assert body["metadata"] == {}
    assert body["usageAttribution"]["subjectKeys"] == ["acme-new", "acme-web"]
    released = GatewayConsumer.objects.get(key="acme-batch")
    assert released.customer is None  # kept for its usage history, now unattributed


def test_delete_is_soft_and_frees_key_and_subjects(api):
    customer_id = api.post(URL, acme(), format="json").json()["id"]
    assert api.delete(f"{URL}/acme").status_code == 204
    assert_problem(api.get(f"{URL}/{customer_id}"), 404)
    assert Customer.objects.get(pk=customer_id).deleted_at is not None
    listed = api.get(URL, {"includeDeleted": "true"}).json()
    assert [c["id"] for c in listed["items"]] == [customer_id]
    assert listed["items"][0]["deletedAt"] is not None
    # The key and the subjects can be reused by a new customer.
    assert api.post(URL, acme(name="Acme Reborn"), format="json").status_code == 201


def test_list_paging_envelope_and_order(api):
    for index in range(7):
        response = api.post(URL, {"key": f"c{index}", "name": f"Customer {index}"},
                            format="json")
        assert response.status_code == 201
    first = api.get(URL, {"page": 1, "pageSize": 3}).json()
    assert first["totalCount"] == 7 and first["page"] == 1 and first["pageSize"] == 3
    assert [c["key"] for c in first["items"]] == ["c0", "c1", "c2"]
    last = api.get(URL, {"page": 3, "pageSize": 3}).json()
    assert [c["key"] for c in last["items"]] == ["c6"]
    beyond = api.get(URL, {"page": 4, "pageSize": 3}).json()
    assert beyond["items"] == [] and beyond["totalCount"] == 7
    descending = api.get(URL, {"order": "DESC", "orderBy": "name", "pageSize": 2}).json()
    assert [c["key"] for c in descending["items"]] == ["c6", "c5"]
    assert_problem(api.get(URL, {"pageSize": 1001}), 400, field="pageSize")


def test_list_filters(api):
    api.post(URL, acme(), format="json")
    api.post(URL, {"key": "globex", "name": "Globex", "primaryEmail": "ap@globex.example"},
             format="json")
    assert [c["key"] for c in api.get(URL, {"subject": "acme-web"}).json()["items"]] == ["acme"]
    assert [c["key"] for c in api.get(URL, {"name": "glob"}).json()["items"]] == ["globex"]
    assert [c["key"] for c in api.get(URL, {"key": "acme"}).json()["items"]] == ["acme"]
    by_email = api.get(URL, {"primaryEmail": "AP@globex.example"}).json()["items"]
    assert [c["key"] for c in by_email] == ["globex"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "x"}, "name"),
        ({"name": "No key"}, "key"),
        ({"key": "x", "name": "X", "currency": "usd"}, "currency"),
        ({"key": "x", "name": "X", "primaryEmail": "not-an-email"}, "primaryEmail"),
        ({"key": "x", "name": "X", "billingAddress": {"country": "USA"}}, "billingAddress.country"),
        ({"key": "x", "name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"key": "x", "name": "X", "metadata": {"n": {"nested": 1}}}, "metadata.n"),
        ({"key": "x", "name": "X", "usageAttribution": {"subjectKeys": ["a", "a"]}},
         "usageAttribution.subjectKeys"),
        ({"key": "x", "name": "X", "billToParent": True}, "billToParent"),
        ({"key": "x", "name": "X", "parentCustomerId": "nope"}, "parentCustomerId"),
    ],
)
def test_validation_errors_name_the_field_and_change_nothing(api, body, field):
    assert_problem(api.post(URL, body, format="json"), 400, field=field)
    assert Customer.objects.count() == 0
    assert GatewayConsumer.objects.count() == 0


def test_malformed_json_is_400_problem(api):
    response = api.generic("POST", URL, "{not json", content_type="application/json")
    assert_problem(response, 400)


def test_subject_key_owned_by_another_customer_is_refused(api):
    api.post(URL, acme(), format="json")
    response = api.post(
        URL, {"key": "globex", "name": "Globex", "usageAttribution": {"subjectKeys":
              ["globex-web", "acme-web"]}}, format="json")
    body = assert_problem(response, 409, field="usageAttribution.subjectKeys")
    assert "acme-web" in body["detail"]
    assert not Customer.objects.filter(key="globex").exists()
    assert not GatewayConsumer.objects.filter(key="globex-web").exists()
    assert GatewayConsumer.objects.get(key="acme-web").customer.key == "acme"


def test_customer_key_that_is_another_customers_subject_is_refused(api):
    api.post(URL, acme(), format="json")
    assert_problem(api.post(URL, {"key": "acme-web", "name": "Sneaky"}, format="json"), 409,
                   field="key")
    assert_problem(api.post(URL, {"key": "acme", "name": "Twin"}, format="json"), 409,
                   field="key")


def test_unattributed_subject_can_be_claimed(api):
    GatewayConsumer.objects.create(key="trial-1", auto_registered=True)
    response = api.post(URL, acme(usageAttribution={"subjectKeys": ["trial-1"]}), format="json")
    assert response.status_code == 201
    assert GatewayConsumer.objects.get(key="trial-1").customer.key == "acme"


def test_subsidiary_billed_to_parent(api):
    parent = api.post(URL, {"key": "group", "name": "Group", "currency": "EUR"},
                      format="json").json()
    child = api.post(URL, {"key": "labs", "name": "Labs", "currency": "EUR",
                           "parentCustomerId": "group", "billToParent": True}, format="json")
    assert child.status_code == 201, child.content
    assert child.json()["parentCustomerId"] == parent["id"]
    assert child.json()["billToParent"] is True
    mismatch = api.post(URL, {"key": "retail", "name": "Retail", "currency": "USD",
                              "parentCustomerId": "group", "billToParent": True}, format="json")
    assert_problem(mismatch, 400, field="billToParent")
    grandchild = api.post(URL, {"key": "g", "name": "G", "currency": "EUR",
                                "parentCustomerId": "labs"}, format="json")
    assert_problem(grandchild, 400, field="parentCustomerId")
    assert_problem(api.delete(f"{URL}/group"), 409)


def test_unknown_customer_is_404_problem(api):
    assert_problem(api.get(f"{URL}/missing"), 404)
    assert_problem(api.put(f"{URL}/missing", {"key": "m", "name": "M"}, format="json"), 404)
