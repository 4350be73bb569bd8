"""Fixtures shared by every test package."""

import os

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.core import services as core_services


@pytest.fixture
def api_key(db):
    api_key, raw_key = core_services.api_key_create(name="tests")
    api_key.raw = raw_key
    return api_key


@pytest.fixture
def api(api_key):
    """An API client authenticated the way OpenMeter's SDKs do: a Bearer key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw}")
    return client


@pytest.fixture
def anonymous_api():
    return APIClient()


@pytest.fixture
def demo_world(db):
    from apps.customers.demo import seed_customers

    return seed_customers()


@pytest.fixture
def staff_user(db, django_user_model):
    """A factory for staff users in one of the Product / Finance / Support groups."""
    from django.contrib.auth.models import Group

    def make(role: str):
        user = django_user_model.objects.create_user(
            username=f"{role.lower()}-user", password="pw", is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def test_db_env(transactional_db) -> dict[str, str]:
    """Environment for a subprocess (server, worker, command) that uses the test database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = (f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}"
               f"/{db['NAME']}")
    return os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": url}
