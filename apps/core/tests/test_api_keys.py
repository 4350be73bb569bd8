import hashlib
import subprocess
import sys

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.core import services
from apps.core.models import ApiKey

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def assert_401(response):
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


def test_no_key_is_401(anonymous_api):
    assert_401(anonymous_api.get(URL))
    assert_401(anonymous_api.post(URL, {"key": "x", "name": "X"}, format="json"))


def test_wrong_or_malformed_key_is_401(api_key):
    assert_401(client_with("Bearer ml_nothere_abcdef").get(URL))
    assert_401(client_with(f"Bearer {api_key.raw}x").get(URL))
    assert_401(client_with("Bearer two words").get(URL))
    assert_401(client_with(f"Basic {api_key.raw}").get(URL))


def test_revoked_key_is_401(api, api_key):
    assert api.get(URL).status_code == 200
    services.api_key_revoke(api_key=api_key)
    assert_401(api.get(URL))


def test_key_is_stored_hashed_and_use_is_recorded(api, api_key):
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert api_key.raw.startswith(stored.prefix + "_")
    assert stored.key_hash == hashlib.sha256(api_key.raw.encode()).hexdigest()
    assert api_key.raw not in {str(v) for v in ApiKey.objects.values().first().values()}
    assert stored.last_used_at is None
    api.get(URL)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


@pytest.mark.django_db(transaction=True)
def test_create_api_key_command_prints_a_working_key(test_db_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "--name", "kong"],
        capture_output=True, text=True, env=test_db_env, check=True, cwd=settings.BASE_DIR,
    )
    raw_key = result.stdout.strip()
    assert "cannot be shown again" in result.stderr
    assert raw_key.startswith(ApiKey.objects.get(name="kong").prefix + "_")
    assert client_with(f"Bearer {raw_key}").get(URL).status_code == 200



def test_admin_creates_a_key_shown_once_and_revokes_it(admin_client):
    from django.urls import reverse

    response = admin_client.post(reverse("admin:core_apikey_add"), {"name": "kong-eu"},
                                 follow=True)
    assert response.status_code == 200
    api_key = ApiKey.objects.get(name="kong-eu")
    shown = response.content.decode()
    start = shown.index(api_key.prefix + "_")
    raw_key = shown[start:].split()[0]
    assert api_key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert client_with(f"Bearer {raw_key}").get(URL).status_code == 200
    page = admin_client.get(reverse("admin:core_apikey_change", args=[api_key.pk]))
    assert raw_key not in page.content.decode()  # never shown again

    admin_client.post(reverse("admin:core_apikey_changelist"),
                      {"action": "revoke_selected", "_selected_action": [api_key.pk]})
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert_401(client_with(f"Bearer {raw_key}").get(URL))
