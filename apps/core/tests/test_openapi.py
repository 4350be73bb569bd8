import pytest


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/customers", "/api/v1/customers/{id_or_key}", "/api/v1/events",
                 "/api/v1/meters", "/api/v1/meters/{id_or_slug}/query",
                 "/api/v3/openmeter/events"):
        assert path in paths, path
    assert schema.json()["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
