"""Finance in a real browser: review a draft that waits for approval, approve it, download
its PDF, then void it with a reason — checking the status the page shows after each step."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from apps.billing.models import Invoice
from apps.billing.tests.builders import finance_world

pytestmark = pytest.mark.browser


@pytest.fixture
def world(transactional_db, django_user_model):
    user = django_user_model.objects.create_user("finance", "f@example.com", "s3cret-pass",
                                                 is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))  # a Finance role, not a superuser
    return finance_world()


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/")  # to the login page, then back to the dashboard
    page.fill("input[name=username]", "finance")
    page.fill("input[name=password]", "s3cret-pass")
    page.click("button[type=submit]")


def test_review_approve_download_and_void(world, live_server, page, tmp_path):
    draft = world.draft
    log_in(page, live_server)

    # The dashboard counts the drafts waiting for approval and links to them.
    tile = page.get_by_test_id("billing-tile")
    expect(tile.get_by_test_id("awaiting-approval")).to_contain_text("2")
    tile.get_by_test_id("awaiting-approval").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("currency-totals")).to_contain_text("€430.78")

    # Review: the consolidated draft, its lines with tier detail, its PDF preview.
    page.get_by_role("link", name=str(draft), exact=True).click()
    status = page.locator(".invoice-status")
    expect(status).to_contain_text("awaiting approval")
    expect(page.locator("body")).to_contain_text("Contoso Labs")
    expect(page.locator("body")).to_contain_text("Tier 3: 2,000 × €0.005 = €10.00")
    expect(page.get_by_test_id("pdf-preview").locator("iframe")).to_have_count(1)

    # Approve: a confirmation page, then the invoice is issued with the next number.
    page.get_by_role("link", name="Approve & issue").click()
    expect(page.locator("body")).to_contain_text("Approve and issue this invoice?")
    page.get_by_test_id("confirm").click()
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.ISSUED and draft.number.startswith("RE-")
    expect(page.locator("body")).to_contain_text(f"Invoice {draft.number} issued")
    expect(status).to_contain_text("issued")
    expect(page.get_by_role("link", name="Approve & issue")).to_have_count(0)

    # Download the PDF as sent.
    with page.expect_download() as download:
        page.get_by_test_id("pdf-download").click()
    assert download.value.suggested_filename == f"{draft.number}.pdf"
    saved = tmp_path / "invoice.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")

    # Void: the reason is required.
    page.get_by_role("link", name="Void").click()
    page.get_by_test_id("confirm").click()
    expect(page.locator("body")).to_contain_text("This field is required.")
    page.fill("textarea[name=reason]", "Approved by mistake: the contract was terminated")
    page.get_by_test_id("confirm").click()
    expect(page.locator("body")).to_contain_text(f"Invoice {draft.number} voided.")
    expect(status).to_contain_text("void")
    expect(page.locator("body")).to_contain_text(
        "Approved by mistake: the contract was terminated")
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.VOID
