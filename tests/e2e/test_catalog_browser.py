"""A product manager in a real browser: build a plan, simulate its price, publish it."""

import pytest
from playwright.sync_api import expect

from apps.catalog import services as catalog_services
from apps.catalog.models import Plan, Status
from apps.metering import services as metering_services

pytestmark = pytest.mark.browser


@pytest.fixture
def product_manager(transactional_db, staff_user):
    user = staff_user("Product")  # a Product-group staff user, not a superuser
    user.set_password("s3cret-pass")
    user.save()
    meter = metering_services.meter_create(slug="api_requests", aggregation="COUNT",
                                           event_type="request", group_by={"route": "$.route"})
    catalog_services.feature_create(key="api_calls", name="API calls", meter=meter)
    return user


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "s3cret-pass")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("dashboard")).to_be_visible()


def test_build_simulate_and_publish_a_graduated_plan(product_manager, live_server, page):
    log_in(page, live_server, product_manager.username)
    page.goto(f"{live_server.url}/admin/catalog/plan/add/")
    page.fill("input[name=key]", "pro")
    page.fill("input[name=name]", "Pro")
    page.fill("input[name=billing_cadence]", "P1M")
    page.fill("input[name=phases-0-key]", "default")
    page.fill("input[name=phases-0-name]", "Pro")

    page.locator("#rate_cards-group .add-row").click()
    card = page.locator("#rate_cards-group .form-group").filter(
        has=page.locator("input[name=rate_cards-0-key]"))
    card.locator("input[name=rate_cards-0-phase_key]").fill("default")
    card.locator("input[name=rate_cards-0-key]").fill("api_calls")
    card.locator("input[name=rate_cards-0-name]").fill("API calls")
    card.locator("select[name=rate_cards-0-feature]").select_option(label="API calls")
    card.locator("input[name=rate_cards-0-billing_cadence]").fill("P1M")
    card.locator("select[name=rate_cards-0-price_type]").select_option("tiered")
    expect(card.locator("[data-currency]").first).to_have_text("USD")

    # The tier table starts with one row; "Add tier" adds the next two.
    tiers = page.locator("#id_rate_cards-0-tiers")
    rows = tiers.locator("[data-tier-row]")
    expect(rows).to_have_count(1)
    for index, (up_to, unit_price) in enumerate([("1000", "0"), ("10000", "0.01"),
                                                 ("", "0.005")]):
        if index:
            tiers.get_by_role("button", name="Add tier").click()
        row = rows.nth(index)
        row.get_by_label(f"Tier {index + 1}: up to").fill(up_to)
        row.get_by_label(f"Tier {index + 1}: unit price").fill(unit_price)
    expect(rows).to_have_count(3)
    expect(rows.nth(2).locator("[data-tier-from]")).to_have_text("10000")  # no gaps

    page.get_by_role("button", name="Save and continue editing").click()
    sheet = page.get_by_test_id("price-sheet")
    expect(sheet).to_contain_text("Graduated tiers: 0 – 1,000: 0 USD per unit; "
                                  "1,000 – 10,000: 0.01 USD per unit; "
                                  "above 10,000: 0.005 USD per unit")

    page.get_by_role("link", name="Simulate prices").click()
    page.get_by_label("API calls (api_calls)").fill("25000")
    page.get_by_test_id("simulate").click()
    expect(page.get_by_test_id("simulation-this").get_by_test_id("total")) \
        .to_have_text("165.00 USD")

    page.get_by_role("link", name="Back to Pro (v1)").click()
    page.get_by_role("link", name="Publish").click()
    page.get_by_test_id("confirm").click()
    expect(page.locator("body")).to_contain_text("Published Pro (v1); it is active now.")
    expect(page.get_by_test_id("read-only-banner")).to_be_visible()

    page.goto(f"{live_server.url}/admin/catalog/plan/")
    expect(page.locator("#result_list tbody tr").filter(has_text="pro")).to_contain_text(
        "active", ignore_case=True)
    assert Plan.objects.get(key="pro").status == Status.ACTIVE
