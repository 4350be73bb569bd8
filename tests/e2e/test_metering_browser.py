"""A product manager in a real browser: add preset meters, read a meter's usage chart."""

import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.metering import services as metering_services

pytestmark = pytest.mark.browser


@pytest.fixture
def product_manager(transactional_db, django_user_model):
    return django_user_model.objects.create_superuser("pm", "pm@example.com", "s3cret-pass")


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "pm")
    page.fill("input[name=password]", "s3cret-pass")
    page.click("button[type=submit]")


def test_presets_chart_and_sample_event(product_manager, live_server, page):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/metering/meter/")
    page.get_by_role("link", name="Add LLM token meters").click()
    page.get_by_test_id("confirm").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)

    metering_services.ingest_events([
        {"specversion": "1.0", "id": f"e{n}", "source": "gw", "type": "llm_usage",
         "subject": "acme-web", "time": timezone.now().isoformat(),
         "data": {"provider": "openai", "model": "gpt-4o", "input_tokens": 100 + n,
                  "output_tokens": 7, "cached_tokens": 0}}
        for n in range(3)
    ])
    page.get_by_role("link", name="llm_input_tokens").click()
    chart = page.get_by_test_id("usage-chart").locator("canvas")
    expect(chart).to_be_visible()
    data = json.loads(chart.get_attribute("data-value"))
    assert data["datasets"][0]["data"][-1] == 100 + 101 + 102  # today's bar

    page.get_by_role("link", name="Try on a sample event").click()
    page.fill("textarea[name=event]", json.dumps(
        {"specversion": "1.0", "id": "x", "source": "s", "type": "llm_usage",
         "subject": "acme-web", "data": {"provider": "anthropic", "model": "claude",
                                         "input_tokens": 42}}))
    page.get_by_role("button", name="Try it").click()
    expect(page.get_by_test_id("try-result")).to_contain_text("Counts 42")
    expect(page.get_by_test_id("try-result")).to_contain_text("model=claude")
