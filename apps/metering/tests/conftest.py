import pytest
import requests

from apps.core import services as core_services


@pytest.fixture
def http(transactional_db, api_server):
    """An HTTP session against the real server process, authenticated with a fresh key."""
    _, raw_key = core_services.api_key_create(name="metering-tests")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {raw_key}"
    session.base = api_server

    def call(method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return session.request(method, f"{api_server}{path}", **kwargs)

    session.call = call
    return session
