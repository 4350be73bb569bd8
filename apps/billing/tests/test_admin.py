"""Finance's invoice admin through the Django test client, on invoices the billing run made."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.billing.models import Invoice, SubscriptionOverride
from apps.billing.tests.builders import at, finance_world

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:billing_invoice_changelist"


@pytest.fixture
def world(db):
    return finance_world()


@pytest.fixture
def finance(client, staff_user):
    client.force_login(staff_user("Finance"))
    return client


@pytest.fixture
def support(client, staff_user):
    client.force_login(staff_user("Support"))
    return client


@pytest.fixture
def clock(time_machine):
    """Finance at work on 3 February 2026, two days after the run."""
    time_machine.move_to(at("2026-02-03T09:00:00Z"), tick=False)
    return time_machine


def url(name: str, invoice: Invoice) -> str:
    return reverse(f"admin:billing_invoice_{name}", args=[invoice.pk])


def listed(response) -> list[str]:
    return [str(invoice) for invoice in response.context["cl"].result_list]


def totals(response) -> dict:
    return {row["currency"]: (row["count"], row["total"])
            for row in response.context["currency_totals"]}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- the list ---------------------------------------------------------------------------------


def test_finance_sees_the_list_with_totals_per_currency(finance, world):
    response = finance.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert sorted(listed(response)) == sorted(
        ["INV-2026-000001", "INV-2026-000002", str(world.draft),
         str(world.contoso.invoices.exclude(pk=world.draft.pk).get())])
    assert totals(response) == {"USD": (2, Decimal("266.50")),  # 49.00 + 217.50
                                "EUR": (2, Decimal("430.78"))}  # 107.10 + 323.68
    page = response.content.decode()
    assert "$266.50" in page and "€430.78" in page
    assert "awaiting approval" in page  # the drafts' status badge


@pytest.mark.parametrize(("query", "expected", "currencies"), [
    ({"status__exact": "issued"}, ["INV-2026-000001", "INV-2026-000002"], {"USD"}),
    ({"currency__exact": "EUR"}, ["draft", "draft"], {"EUR"}),
    ({"total_from": "100", "total_to": "250"}, ["INV-2026-000002", "draft"], {"USD", "EUR"}),
    ({"q": "Contoso"}, ["draft", "draft"], {"EUR"}),
    ({"q": "INV-2026-000002"}, ["INV-2026-000002"], {"USD"}),
    ({"period_start__year": "2026", "period_start__month": "1"},
     ["INV-2026-000001", "INV-2026-000002", "draft", "draft"], {"USD", "EUR"}),
    ({"period_start__year": "2026", "period_start__month": "2"}, [], set()),
    ({"status__exact": "draft", "requires_approval__exact": "1"}, ["draft", "draft"], {"EUR"}),
])
def test_filters_narrow_the_list_and_its_totals(finance, world, query, expected, currencies):
    response = finance.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    names = sorted("draft" if name.startswith("Draft") else name for name in listed(response))
    assert names == sorted(expected)
    assert set(totals(response)) == currencies


def test_customer_filter(finance, world):
    response = finance.get(reverse(CHANGELIST), {"customer__id__exact": world.northwind.pk})
    assert sorted(listed(response)) == ["INV-2026-000001", "INV-2026-000002"]
    # The customer page links to both lists with this parameter.
    subscriptions = finance.get(reverse("admin:billing_subscription_changelist"),
                                {"customer__id__exact": world.contoso.pk})
    assert [s.customer for s in subscriptions.context["cl"].result_list] == [world.contoso]


# --- the invoice page -------------------------------------------------------------------------


def test_issued_invoice_page_is_read_only_and_a_post_changes_nothing(finance, world):
    invoice = world.issued
    page = finance.get(url("change", invoice))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content
    assert "Tier 3: 15,000 × $0.005 = $75.00" in content  # lines with tier detail
    assert url("pdf", invoice) in content  # the PDF preview
    for action in ("void", "credit_note", "mark_paid"):
        assert url(action, invoice) in content
    assert url("approve", invoice) not in content  # not for an issued invoice

    response = finance.post(url("change", invoice), {"total": "1.00", "status": "void"})
    assert response.status_code == 403
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total) == ("issued", Decimal("217.50"))


def test_pdf_preview_and_download(finance, world):
    invoice = world.issued
    preview = finance.get(url("pdf", invoice))
    assert preview.status_code == 200
    assert preview["Content-Type"] == "application/pdf"
    assert preview.content.startswith(b"%PDF")
    assert preview["X-Frame-Options"] == "SAMEORIGIN"  # shown in the page's <iframe>
    assert preview["Content-Disposition"].startswith("inline")
    download = finance.get(url("pdf", invoice), {"download": "1"})
    assert download["Content-Disposition"] == 'attachment; filename="INV-2026-000002.pdf"'
    invoice.refresh_from_db()
    assert invoice.pdf is not None  # an issued invoice's PDF is kept: what was sent


# --- actions ----------------------------------------------------------------------------------


def test_approve_a_draft_waiting_for_approval(finance, world, clock):
    draft = world.draft
    page = finance.get(url("change", draft))
    assert url("approve", draft) in page.content.decode()
    assert url("void", draft) not in page.content.decode()

    confirm = finance.get(url("approve", draft))
    assert confirm.status_code == 200  # a GET only asks
    draft.refresh_from_db()
    assert draft.status == "draft"

    response = finance.post(url("approve", draft), follow=True)
    draft.refresh_from_db()
    assert (draft.status, draft.number) == ("issued", "RE-2026-000001")  # the EUR profile
    assert draft.issued_at == at("2026-02-03T09:00:00Z")
    assert "Invoice RE-2026-000001 issued for Contoso Group." in messages_of(response)


def test_a_service_refusal_is_shown_as_a_message(finance, world):
    issued = world.issued
    response = finance.post(url("approve", issued), follow=True)
    assert "Invoice INV-2026-000002 is issued; only drafts can be issued." in messages_of(
        response)
    issued.refresh_from_db()
    assert issued.status == "issued"


def test_void_needs_a_reason(finance, world, clock):
    invoice = world.issued
    response = finance.post(url("void", invoice), {"reason": "   "})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == "issued"

    response = finance.post(url("void", invoice), {"reason": "Billed to the wrong entity"},
                            follow=True)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason) == ("void", "Billed to the wrong entity")
    assert invoice.voided_at == at("2026-02-03T09:00:00Z")
    assert "Invoice INV-2026-000002 voided." in messages_of(response)
    assert "void" in response.content.decode()


def test_credit_note_for_the_whole_invoice(finance, world, clock):
    invoice = world.issued
    response = finance.post(url("credit_note", invoice), {"reason": "Disputed usage"})
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert response.status_code == 302
    assert response["Location"] == url("change", note)
    assert (note.number, note.status, note.corrects) == ("CN-2026-000001", "issued", invoice)
    assert note.total == Decimal("-217.50")
    assert sorted((line.name, line.amount) for line in note.lines.all()) == [
        ("API calls", Decimal("-148.50")), ("LLM tokens", Decimal("-20.00")),
        ("Platform fee", Decimal("-49.00"))]
    page = finance.get(url("change", invoice)).content.decode()
    assert "CN-2026-000001" in page  # listed under the invoice's credit notes


def test_mark_paid_and_uncollectible(finance, world, clock):
    invoice = world.issued
    finance.post(url("mark_uncollectible", invoice))
    invoice.refresh_from_db()
    assert invoice.status == "uncollectible"
    finance.post(url("mark_paid", invoice))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at) == ("paid", at("2026-02-03T09:00:00Z"))


def test_rerender_pdf_stores_a_fresh_one(finance, world):
    invoice = world.issued
    assert invoice.pdf is None
    response = finance.post(url("rerender_pdf", invoice), follow=True)
    invoice.refresh_from_db()
    assert bytes(invoice.pdf).startswith(b"%PDF") and invoice.pdf_rendered_at is not None
    assert "PDF of INV-2026-000002 rendered again." in messages_of(response)


def test_refresh_draft_picks_up_late_usage(finance, world):
    from apps.billing.tests.builders import _use

    draft = world.draft
    _use("contoso", "invoiced_calls", 1_000, "2026-01-25T10:00:00Z")  # 1,000 more at $0.01
    finance.post(url("refresh", draft))
    draft.refresh_from_db()
    # +10.00 less the 10 % discount = +9.00 net, +19 % tax
    assert draft.total == Decimal("323.68") + Decimal("10.71")


def test_support_can_look_but_not_void(support, world):
    invoice = world.issued
    page = support.get(url("change", invoice))
    assert page.status_code == 200
    assert url("void", invoice) not in page.content.decode()
    assert support.get(url("void", invoice)).status_code == 403
    assert support.post(url("void", invoice), {"reason": "x"}).status_code == 403
    assert support.post(url("approve", world.draft)).status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == "issued"
    assert support.get(url("pdf", invoice)).status_code == 200  # reading is fine


def test_history_cannot_revert_an_invoice(support, world):
    invoice = world.issued
    version = invoice.history.first()
    response = support.post(reverse("admin:billing_invoice_simple_history",
                                    args=[invoice.pk, version.history_id]),
                            {"status": "draft"})
    assert response.status_code == 403


# --- CSV --------------------------------------------------------------------------------------


def export(client, action: str, invoices) -> list[dict]:
    response = client.post(reverse(CHANGELIST), {
        "action": action, "_selected_action": [invoice.pk for invoice in invoices]})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_csv_export_of_selected_invoices(finance, world):
    january, february = world.northwind.invoices.order_by("number")
    rows = export(finance, "export_invoices_csv", [january, february])
    assert [(r["number"], r["customer_name"], r["currency"], r["status"], r["subtotal"],
             r["discount_total"], r["adjustment_total"], r["tax_amount"], r["total"])
            for r in rows] == [
        ("INV-2026-000001", "Northwind Traders", "USD", "issued", "49.00", "0.00", "0.00",
         "0.00", "49.00"),
        ("INV-2026-000002", "Northwind Traders", "USD", "issued", "229.00", "16.50", "5.00",
         "0.00", "217.50")]
    assert rows[1]["issued_at"] == "2026-02-01T00:00:00+00:00"


def test_csv_export_of_lines(finance, world):
    rows = export(finance, "export_lines_csv", [world.issued, world.draft])
    issued = [r for r in rows if r["invoice_number"] == "INV-2026-000002"]
    assert [(r["name"], r["quantity"], r["subtotal"], r["discount"], r["adjustment"],
             r["amount"]) for r in issued] == [
        ("API calls", "25000", "165.00", "16.50", "0.00", "148.50"),
        ("LLM tokens", "2300000", "15.00", "0.00", "5.00", "20.00"),
        ("Platform fee", "1", "49.00", "0.00", "0.00", "49.00")]
    draft = [r for r in rows if r["invoice_id"] == world.draft.pk]
    assert {r["customer_name"] for r in draft} == {"Contoso Group", "Contoso Labs"}
    assert '"tier": 3' in issued[0]["tiers"]


# --- dashboard and the other billing pages ----------------------------------------------------


def test_dashboard_tile(finance, world, time_machine):
    time_machine.move_to(at("2026-02-15T12:00:00Z"), tick=False)
    response = finance.get(reverse("admin:index"))
    tile = response.context["billing"]
    assert tile["awaiting"] == 2
    assert tile["awaiting_url"].endswith("?status__exact=draft&requires_approval__exact=1")
    assert tile["month_label"] == "February 2026"
    # INV-2026-000001 was issued in January; the drafts are not issued yet.
    assert [(r["currency"], r["count"], r["text"]) for r in tile["invoiced"]] == [
        ("USD", 1, "$217.50")]
    assert 'data-testid="billing-tile"' in response.content.decode()

    finance.post(url("approve", world.draft))
    tile = finance.get(reverse("admin:index")).context["billing"]
    assert tile["awaiting"] == 1
    assert [(r["currency"], r["text"]) for r in tile["invoiced"]] == [
        ("EUR", "€323.68"), ("USD", "$217.50")]


def test_finance_sets_a_negotiated_price(finance, world):
    subscription = world.northwind.subscriptions.get()
    change = reverse("admin:billing_subscription_change", args=[subscription.pk])
    assert finance.get(change).status_code == 200
    form = {"addons-TOTAL_FORMS": "0", "addons-INITIAL_FORMS": "0",
            "overrides-TOTAL_FORMS": "1", "overrides-INITIAL_FORMS": "0",
            "overrides-0-rate_card_key": "nonexistent", "overrides-0-price_amount": "39"}
    refused = finance.post(change, form)
    assert refused.status_code == 200  # the form again, with the error
    assert not SubscriptionOverride.objects.exists()

    form["overrides-0-rate_card_key"] = "base_fee"
    form["overrides-0-note"] = "Contract 2026-17"
    response = finance.post(change, form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    override = SubscriptionOverride.objects.get()
    assert (override.rate_card_key, override.price_amount) == ("base_fee", Decimal(39))
    subscription.refresh_from_db()
    assert subscription.plan.key == "scale_usd"  # the subscription itself stays as it was
