"""Every admin page a superuser can reach answers 200, on real data."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from apps.catalog import services as catalog_services
from apps.core import services as core_services
from apps.metering import services as metering_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_of_everything(demo_world, admin_user):
    core_services.api_key_create(name="gateway", created_by=admin_user)
    core_services.heartbeat_record(name="celery", hostname="worker@test")
    interval = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="heartbeat", task="apps.core.tasks.heartbeat",
                                interval=interval)
    CrontabSchedule.objects.create(minute="0", hour="*")
    SolarSchedule.objects.create(event="sunrise", latitude=52.5, longitude=13.4)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    meter = metering_services.meter_create(slug="tokens", aggregation="SUM", event_type="llm",
                                           value_property="$.tokens",
                                           group_by={"model": "$.model"})
    tokens = catalog_services.feature_create(key="tokens", name="Tokens", meter=meter)
    catalog_services.addon_create(data=catalog_services.AddonData(key="seats", name="Seats"))
    plan = catalog_services.plan_create(data=catalog_services.PlanData(
        key="pro", name="Pro", phases=[catalog_services.PhaseData(
            key="default", name="Pro", rate_cards=[catalog_services.RateCardData({
                "key": "tokens", "name": "Tokens", "feature": tokens, "billing_cadence": "P1M",
                "price_type": "unit", "price_amount": Decimal("0.001")})])]))
    catalog_services.version_next(catalog_services.version_publish(plan))  # v1 active, v2 draft
    event = {"specversion": "1.0", "id": "e1", "source": "gw", "type": "llm",
             "subject": "acme-web", "time": timezone.now().isoformat(),
             "data": {"tokens": 5, "model": "m"}}
    metering_services.ingest_events([event])
    metering_services.ingest_events([event | {"data": {"tokens": 6, "model": "m"}}])

    # --- billing (finance admin): profiles, customer settings, subscriptions, cycles, issued
    # invoices with lines, drafts awaiting approval and a credit note (the newest invoice,
    # so the one whose change page is opened) — see apps/billing/tests/builders.py.
    from apps.billing import services as billing_services
    from apps.billing.tests.builders import finance_world

    billing = finance_world()
    billing_services.credit_note_create(billing.issued, reason="Disputed usage")
    # --- end of billing

    # --- Stripe sync records (no Stripe needed to show them)
    from apps.stripe_sync.models import StripeCustomer, StripeInvoice, StripeWebhookEvent

    StripeCustomer.objects.create(customer=billing.issued.customer, stripe_id="cus_test123")
    StripeInvoice.objects.create(invoice=billing.issued, stripe_id="in_test123",
                                 state="failed", last_error="APIError (HTTP 500)")
    StripeWebhookEvent.objects.create(id="evt_test123", type="invoice.paid",
                                      created=timezone.now(), object_id="in_test123",
                                      payload={"id": "evt_test123"}, state="processed")


def admin_url(model, page, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def test_dashboard(admin_client, one_of_everything):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Worker and beat are running" in content
    assert "Massive Dynamic Group" in content  # newest customers table


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_changelist_add_and_change_pages(admin_client, admin_user, one_of_everything, model):
    model_admin = admin.site._registry[model]
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    searched = admin_client.get(admin_url(model, "changelist"), {"q": "a"})
    assert searched.status_code == 200
    obj = model._default_manager.first()
    assert obj is not None, f"add a {model.__name__} to the one_of_everything fixture"
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200
    request = RequestFactory().get("/")
    request.user = admin_user
    if model_admin.has_add_permission(request):
        assert admin_client.get(admin_url(model, "add")).status_code == 200
    history = admin_client.get(admin_url(model, "history", obj.pk))
    assert history.status_code == 200



def test_seed_demo_is_idempotent(db):
    from django.core.management import call_command

    from apps.customers.models import Customer, GatewayConsumer
    from apps.metering.models import Event, Meter, MeterRollup

    def counts():
        return [m.objects.count() for m in (Customer, GatewayConsumer, Meter, Event, MeterRollup)]

    call_command("seed_demo")
    first = counts()
    assert first[0] == 13 and first[3] > 10_000
    call_command("seed_demo")
    assert counts() == first


def test_customer_page_links_to_its_invoices_subscriptions_and_stripe(admin_client,
                                                                      demo_world):
    from apps.customers.models import Customer

    customer = Customer.objects.get(key="acme")
    html = admin_client.get(admin_url(Customer, "change", customer.pk)).content.decode()
    assert "Stripe: not linked" in html
    for page in ("invoice", "subscription"):
        listed = admin_client.get(f"/admin/billing/{page}/?customer__id__exact={customer.pk}")
        assert listed.status_code == 200 and "?e=1" not in listed.get("Location", "")
