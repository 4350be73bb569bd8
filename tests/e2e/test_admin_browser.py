"""A person in a real browser: log in, read the dashboard, find a customer group."""

import pytest
from playwright.sync_api import expect

from apps.core import services as core_services

pytestmark = pytest.mark.browser


@pytest.fixture
def back_office(transactional_db, django_user_model, demo_world):
    core_services.heartbeat_record(name="celery", hostname="worker@browser-test")
    django_user_model.objects.create_superuser("finance", "f@example.com", "s3cret-pass")


def test_login_dashboard_and_customer_hierarchy(back_office, live_server, page):
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "finance")
    page.fill("input[name=password]", "s3cret-pass")
    page.click("button[type=submit]")

    dashboard = page.get_by_test_id("dashboard")
    expect(dashboard).to_contain_text("Customers")
    expect(dashboard).to_contain_text("13")
    expect(page.get_by_test_id("heartbeat")).to_contain_text("Worker and beat are running")

    page.goto(f"{live_server.url}/admin/customers/customer/")
    page.fill("input[name=q]", "Massive")
    page.keyboard.press("Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)

    page.get_by_role("link", name="Massive Dynamic Group", exact=True).first.click()
    expect(page.locator("body")).to_contain_text("Massive Dynamic Labs")
    expect(page.locator("body")).to_contain_text("Massive Dynamic Retail")
    expect(page.locator("input[value='massive-group-portal']")).to_have_count(1)


def test_wrong_password_is_refused(back_office, live_server, page):
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "finance")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("Please enter the correct username")
    assert "/admin/login/" in page.url
