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
    return os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings.test",
                         "DATABASE_URL": _database_url()}


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return (f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}"
            f"/{db['NAME']}")


@pytest.fixture(scope="session")
def api_server(django_db_setup, tmp_path_factory):
    """The production server (gunicorn, ASGI) on the test database, for tests that need HTTP.

    Tests using it must use ``transactional_db`` so that what they write is committed.
    """
    import socket
    import subprocess
    import sys
    import time

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "METERLINE_VAR_DIR": str(tmp_path_factory.mktemp("server-var")),
        "DATABASE_POOL": "true",  # as production runs
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = tmp_path_factory.mktemp("server-log") / "gunicorn.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/healthz", timeout=2).raise_for_status()
            break
        except requests.RequestException:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"test server did not start:\n{log.read_text()}") from None
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)
