import pytest

from apps.billing import services as billing
from apps.billing.tests.conftest import at, customer, use, world  # noqa: F401  (a fixture)
from apps.billing.tests.test_scenarios import basic_plan, subscribe
from tests.fakes.stripe_server import stripe_server_fixture

stripe_server = pytest.fixture(stripe_server_fixture, name="stripe_server")


@pytest.fixture
def stripe_settings(settings, stripe_server):
    """Meterline's Stripe settings pointed at the local fake, with quick retries."""
    settings.STRIPE_SECRET_KEY = stripe_server.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_server.webhook_secret
    settings.STRIPE_API_BASE = stripe_server.url
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    settings.STRIPE_RETRY_BASE_SECONDS = 0.01
    settings.STRIPE_MAX_ATTEMPTS = 10
    return settings


def issued_invoices(count: int, *, currency="USD", fee="10", unit="0.01"):
    """`count` customers on a plan, each with one issued invoice of two lines."""
    plan = basic_plan(f"plan_{currency.lower()}", currency=currency, fee=fee, unit=unit)
    for index in range(count):
        who = customer(f"c{currency.lower()}{index}", currency=currency)
        who.primary_email = f"billing{index}@example.com"
        who.address_country, who.address_city = "US", "Springfield"
        who.save()
        subscribe(who, plan, "2026-03-01T00:00:00Z")
        use(who.key, "calls", 123 * (index + 1), "2026-03-05T00:00:00Z")
    result = billing.run_billing(at("2026-04-01T00:00:00Z"))
    from apps.billing.models import Invoice

    return list(Invoice.objects.filter(pk__in=result.issued, cycle_at=at(
        "2026-04-01T00:00:00Z")).order_by("customer__key"))
