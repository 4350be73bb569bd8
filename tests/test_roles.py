"""Staff groups: Product edits catalog and meters, Finance edits billing, Support reads."""

import pytest
from django.urls import reverse

from apps.customers.models import Customer

pytestmark = pytest.mark.django_db


def change_form(customer):
    return {
        "name": "Renamed", "key": customer.key, "currency": customer.currency,
        "time_zone": customer.time_zone, "metadata": "{}", "description": "",
        "consumers-TOTAL_FORMS": "0", "consumers-INITIAL_FORMS": "0",
        "subsidiaries-TOTAL_FORMS": "0", "subsidiaries-INITIAL_FORMS": "0",
    }


@pytest.mark.parametrize("role", ["Support", "Product"])
def test_read_only_roles_cannot_change_a_customer(client, staff_user, demo_world, role):
    client.force_login(staff_user(role))
    customer = Customer.objects.get(key="acme")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    page = client.get(url)
    assert page.status_code == 200  # they may look
    assert b'name="_save"' not in page.content
    assert client.post(url, change_form(customer)).status_code == 403
    assert client.get(reverse("admin:customers_customer_add")).status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Acme Corporation"


def test_finance_can_change_a_customer(client, staff_user, demo_world):
    client.force_login(staff_user("Finance"))
    customer = Customer.objects.get(key="acme")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    response = client.post(url, change_form(customer))
    assert response.status_code == 302, response.content.decode()[-3000:]
    customer.refresh_from_db()
    assert customer.name == "Renamed"
    change = customer.history.first()
    assert change.history_user.username == "finance-user"  # audit trail names who


@pytest.mark.parametrize("role", ["Product", "Finance", "Support"])
def test_no_role_sees_api_keys(client, staff_user, role):
    client.force_login(staff_user(role))
    assert client.get(reverse("admin:core_apikey_changelist")).status_code == 403


@pytest.mark.django_db
def test_read_only_roles_cannot_revert_through_the_history_page(client, staff_user,
                                                               demo_world):
    from apps.customers.models import Customer

    customer = Customer.objects.get(key="acme")
    customer.name = "Acme renamed"
    customer.save()
    old = customer.history.order_by("history_date").first()
    client.force_login(staff_user("Support"))
    url = f"/admin/customers/customer/{customer.pk}/history/{old.history_id}/"
    response = client.post(url, {"name": "Hijacked"})
    assert response.status_code == 403
    assert Customer.objects.get(pk=customer.pk).name == "Acme renamed"
