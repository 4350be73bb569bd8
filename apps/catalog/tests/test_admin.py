"""The product manager's catalog admin, through Django's test client on a real database."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import Addon, Feature, Plan, PlanAddon, RateCard, Status
from apps.metering import services as metering_services

pytestmark = pytest.mark.django_db

GRADUATED = [("1000", "0"), ("10000", "0.01"), ("", "0.005")]


# --- helpers: the POST bodies the admin pages send ------------------------------------------


def url(name: str, *args) -> str:
    return reverse(f"admin:catalog_{name}", args=args)


def phase_row(key="default", name="Pro", duration="", position=0, **extra) -> dict:
    return {"key": key, "name": name, "duration": duration, "position": position, **extra}


def card_row(key="api_calls", *, feature: Feature | None = None, tiers=(), **values) -> dict:
    row = {"phase_key": "default", "key": key, "name": "API calls", "type": "usage_based",
           "feature": feature.pk if feature else "", "billing_cadence": "P1M", "position": 0,
           "price_type": "", "price_amount": "", "payment_term": "in_advance",
           "tiered_mode": "graduated", "quantity_per_package": "", "minimum_amount": "",
           "maximum_amount": "", "discount_percentage": "", "discount_usage_quantity": "",
           "entitlement_template": "", "tax_config": "", "description": ""}
    row.update(values)
    row["tiers-up_to"] = [up_to for up_to, *_ in tiers]
    row["tiers-unit_price"] = [prices[0] for _, *prices in tiers]
    row["tiers-flat_price"] = [prices[1] if len(prices) > 1 else "" for _, *prices in tiers]
    return row


def stored_phase(phase) -> dict:
    return phase_row(phase.key, phase.name, phase.duration, phase.position, id=phase.pk)


def stored_card(card: RateCard, **changes) -> dict:
    tiers = [(t["upToAmount"] or "", t["unitPrice"] or "", t["flatPrice"] or "")
             for t in card.tiers]

    def text(value):
        return "" if value is None else str(value)

    row = card_row(card.key, feature=card.feature, tiers=tiers, id=card.pk,
                   phase_key=card.phase_key, name=card.name, type=card.type,
                   billing_cadence=card.billing_cadence, position=card.position,
                   price_type=card.price_type, price_amount=text(card.price_amount),
                   payment_term=card.payment_term, tiered_mode=card.tiered_mode,
                   entitlement_template=json.dumps(card.entitlement_template)
                   if card.entitlement_template is not None else "")
    row.update(changes)
    return row


def plan_post(plan: Plan | None = None, *, phases=(), cards=(), addons=(), **fields) -> dict:
    data = {"key": "pro", "name": "Pro", "description": "", "currency": "USD",
            "billing_cadence": "P1M", "pro_rating_enabled": "on", "minimum_spend": "",
            "metadata": "{}"}
    if plan is not None:
        data.update(key=plan.key, name=plan.name, currency=plan.currency,
                    billing_cadence=plan.billing_cadence)
    data.update(fields)
    for prefix, rows in (("phases", phases), ("rate_cards", cards),
                         ("allowed_addons", addons)):
        data[f"{prefix}-TOTAL_FORMS"] = len(rows)
        data[f"{prefix}-INITIAL_FORMS"] = sum(1 for row in rows if row.get("id"))
        for index, row in enumerate(rows):
            for name, value in row.items():
                data[f"{prefix}-{index}-{name}"] = value
            if plan is not None:
                data[f"{prefix}-{index}-plan"] = plan.pk
    return data


def change_post(plan: Plan, *, cards=None, phases=None, **fields) -> dict:
    """The plan's change form as stored, with `cards` / `phases` replacing its rows."""
    return plan_post(plan, phases=phases if phases is not None
                     else [stored_phase(p) for p in plan.phases.all()],
                     cards=cards if cards is not None
                     else [stored_card(c) for c in plan.rate_cards.all()], **fields)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def form_errors(response) -> dict:
    """Errors of the main form and of every inline form, by prefixed field name."""
    errors = {}
    context = response.context
    errors.update({f"plan.{k}": v for k, v in context["adminform"].form.errors.items()})
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        if formset.non_form_errors():
            errors[f"{formset.prefix}"] = list(formset.non_form_errors())
        for index, form in enumerate(formset.forms):
            for name, messages in form.errors.items():
                errors[f"{formset.prefix}.{index}.{name}"] = list(messages)
    return errors


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def product(client, staff_user):
    user = staff_user("Product")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def api_calls(db):
    meter = metering_services.meter_create(
        slug="api_requests", aggregation="COUNT", event_type="request",
        group_by={"route": "$.route"})
    return services.feature_create(key="api_calls", name="API calls", meter=meter)


@pytest.fixture
def draft(product, api_calls):
    """A draft plan built through the admin: one phase, one graduated rate card."""
    response = product.post(url("plan_add"), plan_post(
        phases=[phase_row()],
        cards=[card_row(feature=api_calls, price_type="tiered", tiers=GRADUATED)]))
    assert response.status_code == 302, form_errors(response)
    return Plan.objects.get(key="pro")


# --- building a plan ------------------------------------------------------------------------


def test_product_manager_builds_a_plan_with_a_graduated_rate_card(product, api_calls):
    page = product.get(url("plan_add"))
    assert page.status_code == 200
    assert b'data-currency>USD<' in page.content  # money inputs name the currency

    response = product.post(url("plan_add"), plan_post(
        name="Pro", phases=[phase_row()],
        cards=[card_row(feature=api_calls, price_type="tiered", tiers=GRADUATED)]))
    assert response.status_code == 302, form_errors(response)

    plan = Plan.objects.get(key="pro")
    assert (plan.version, plan.status) == (1, Status.DRAFT)
    assert [(p.key, p.duration) for p in plan.phases.all()] == [("default", "")]
    card = plan.rate_cards.get()
    assert (card.phase_key, card.feature, card.price_type) == ("default", api_calls, "tiered")
    assert card.tiers == [
        {"upToAmount": "1000", "unitPrice": "0", "flatPrice": None},
        {"upToAmount": "10000", "unitPrice": "0.01", "flatPrice": None},
        {"upToAmount": None, "unitPrice": "0.005", "flatPrice": None},
    ]

    # The change page reads like a price sheet and edits the same rows.
    page = product.get(url("plan_change", plan.pk))
    sheet = page.content.decode()
    assert "Graduated tiers: 0 – 1,000: 0 USD per unit; 1,000 – 10,000: 0.01 USD per unit; " \
           "above 10,000: 0.005 USD per unit" in sheet
    response = product.post(url("plan_change", plan.pk), change_post(
        plan, phases=[stored_phase(plan.phases.get()) | {"position": 1},
                      phase_row("trial", "Trial", "P14D", position=0)],
        cards=[stored_card(card, discount_usage_quantity="500")]))
    assert response.status_code == 302, form_errors(response)
    card.refresh_from_db()
    assert card.discount_usage_quantity == Decimal(500)
    assert [p.key for p in plan.phases.all()] == ["trial", "default"]


def test_money_inputs_show_the_plans_currency(product, api_calls):
    response = product.post(url("plan_add"), plan_post(
        key="pro_eur", currency="eur", phases=[phase_row()],
        cards=[card_row("base", type="flat_fee", price_type="flat", price_amount="39")]))
    assert response.status_code == 302, form_errors(response)
    plan = Plan.objects.get(key="pro_eur")
    assert plan.currency == "EUR"
    page = product.get(url("plan_change", plan.pk)).content.decode()
    assert "data-currency>EUR<" in page and "data-currency>USD<" not in page
    assert "39 EUR flat, in advance" in page


@pytest.mark.parametrize(("tiers", "message"), [
    ([("10000", "0"), ("1000", "0.01"), ("", "0.005")],
     "Tier 2: tier bounds must ascend: tier 2 ends at 1000, which is not above tier 1's 10000."),
    ([("", "0"), ("1000", "0.01"), ("", "0.005")],
     "Tier 1: only the last tier may be open-ended; tier 1 has no upper bound."),
    ([("1000", "0"), ("5000", "0.01")],
     "Tier 2: the last tier must be open-ended (no upper bound)."),
    ([("1000", "0"), ("", "ten cents")], "Tier 2: unit price must be a decimal number."),
])
def test_invalid_tiers_name_the_tier_and_change_nothing(product, draft, tiers, message):
    card = draft.rate_cards.get()
    before = card.tiers
    response = product.post(url("plan_change", draft.pk),
                            change_post(draft, cards=[stored_card(card, **{
                                key: value for key, value in card_row(tiers=tiers).items()
                                if key.startswith("tiers-")})]))
    assert response.status_code == 200
    assert form_errors(response) == {"rate_cards.0.tiers": [message]}
    assert b"ml-tier-error" in response.content  # the row is marked too
    card.refresh_from_db()
    assert card.tiers == before

    # On the add page nothing is created either.
    response = product.post(url("plan_add"), plan_post(
        key="other", phases=[phase_row()],
        cards=[card_row(feature=card.feature, price_type="tiered", tiers=tiers)]))
    assert response.status_code == 200
    assert form_errors(response) == {"rate_cards.0.tiers": [message]}
    assert not Plan.objects.filter(key="other").exists()


def test_rate_card_errors_appear_on_their_fields(product, draft):
    card = draft.rate_cards.get()
    response = product.post(url("plan_change", draft.pk), change_post(draft, cards=[
        stored_card(card, feature="", minimum_amount="-5"),
        card_row("base", type="flat_fee", price_type="unit", price_amount="9",
                 billing_cadence="P1W"),
    ]))
    assert response.status_code == 200
    errors = form_errors(response)
    assert errors["rate_cards.0.feature"] == [
        "A usage price needs a feature to measure the quantity."]
    assert "minimum_amount" in "".join(errors)
    assert errors["rate_cards.1.price_type"] == [
        "A flat-fee rate card takes a flat price (or none)."]
    assert errors["rate_cards.1.billing_cadence"] == [
        "P1W must divide, or be a multiple of, the plan's cadence P1M."]
    assert draft.rate_cards.count() == 1


def test_phase_keys_and_phase_rules_are_checked_against_the_submitted_phases(product, draft):
    card = draft.rate_cards.get()
    # The rate card names a phase that this submission renames.
    response = product.post(url("plan_change", draft.pk), change_post(
        draft, phases=[stored_phase(draft.phases.get()) | {"key": "standard"}],
        cards=[stored_card(card)]))
    assert response.status_code == 200
    assert form_errors(response) == {"rate_cards.0.phase_key": [
        "This plan has no phase “default”; its phases are “standard”."]}

    # Renaming both together is fine.
    response = product.post(url("plan_change", draft.pk), change_post(
        draft, phases=[stored_phase(draft.phases.get()) | {"key": "standard"}],
        cards=[stored_card(card, phase_key="standard")]))
    assert response.status_code == 302, form_errors(response)
    assert draft.rate_cards.get().phase_key == "standard"

    # Only the last phase may be open-ended: a formset error naming the phase.
    response = product.post(url("plan_change", draft.pk), change_post(
        draft, phases=[stored_phase(draft.phases.get()) | {"position": 1},
                       phase_row("trial", "Trial", "", position=0)]))
    assert response.status_code == 200
    assert form_errors(response) == {"phases": [
        "Phase “trial”: Only the last phase may be open-ended; give this phase a duration "
        "such as P14D."]}
    assert draft.phases.count() == 1


def test_a_second_draft_of_a_key_is_refused(product, draft):
    response = product.post(url("plan_add"), plan_post(phases=[phase_row()]))
    assert response.status_code == 200
    assert form_errors(response) == {"plan.key": [
        "“pro” already has a draft (version 1); edit that one instead."]}


# --- published versions ---------------------------------------------------------------------


def test_a_published_plan_is_read_only(product, draft):
    services.version_publish(draft)
    page = product.get(url("plan_change", draft.pk))
    content = page.content.decode()
    assert page.status_code == 200
    assert "Published versions never change — create a new version." in content
    assert 'name="_save"' not in content
    assert 'name="name"' not in content and "rate_cards-0-tiers-up_to" not in content
    assert 'class="add-row' not in content  # no rows can be added
    assert "-DELETE" not in content  # or deleted
    assert "Tier 3: above 10,000: 0.005 USD per unit" in content

    card = draft.rate_cards.get()
    response = product.post(url("plan_change", draft.pk), change_post(
        draft, name="Changed", cards=[stored_card(card, price_type="unit", price_amount="1")]))
    assert response.status_code == 403
    draft.refresh_from_db()
    card.refresh_from_db()
    assert (draft.name, card.price_type) == ("Pro", "tiered")


def test_lifecycle_actions_and_their_refusals(product, draft):
    # Publish: the draft becomes active.
    assert product.get(url("plan_publish", draft.pk)).status_code == 200  # asks first
    response = product.post(url("plan_publish", draft.pk))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Status.ACTIVE

    response = product.post(url("plan_publish", draft.pk), follow=True)
    assert "Only a draft or scheduled version can be published; Pro (v1) is active." \
        in messages_of(response)

    # New version: a draft v2 opens; a second one is refused.
    response = product.post(url("plan_new_version", draft.pk))
    v2 = Plan.objects.get(key="pro", version=2)
    assert response.status_code == 302 and response.url == url("plan_change", v2.pk)
    assert v2.status == Status.DRAFT and v2.rate_cards.get().tiers == \
        draft.rate_cards.get().tiers
    response = product.post(url("plan_new_version", draft.pk), follow=True)
    assert "pro already has a draft version." in messages_of(response)

    # Archive: only the active version.
    response = product.post(url("plan_archive", v2.pk), follow=True)
    assert "Only the active version can be archived; Pro (v2) is draft." \
        in messages_of(response)
    response = product.post(url("plan_archive", draft.pk))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Status.ARCHIVED
    assert "Open the draft, version 2" in product.get(url("plan_change", draft.pk)) \
        .content.decode()

    # Duplicate asks for a key and a name; a taken key is a form error.
    page = product.get(url("plan_duplicate", v2.pk))
    assert page.status_code == 200 and b'name="key"' in page.content
    response = product.post(url("plan_duplicate", v2.pk), {"key": "pro", "name": "Again"})
    assert response.status_code == 200
    assert response.context["form"].errors == {"key": ["The key “pro” is already taken."]}
    response = product.post(url("plan_duplicate", v2.pk), {"key": "team", "name": "Team"})
    team = Plan.objects.get(key="team")
    assert response.url == url("plan_change", team.pk)
    assert (team.version, team.name, team.status) == (1, "Team", Status.DRAFT)
    assert team.rate_cards.count() == 1

    # Deleting a draft keeps it, marked deleted (services.version_delete).
    assert product.post(url("plan_delete", team.pk), {"post": "yes"}).status_code == 302
    team.refresh_from_db()
    assert team.deleted_at is not None


def test_addon_admin_and_allowed_addons(product, draft, api_calls):
    data = {"key": "seats", "name": "Seats", "description": "", "currency": "USD",
            "instances": "single", "metadata": "{}",
            "rate_cards-TOTAL_FORMS": 1, "rate_cards-INITIAL_FORMS": 0}
    row = card_row("seat", type="flat_fee", price_type="flat", price_amount="10")
    del row["phase_key"]
    data.update({f"rate_cards-0-{name}": value for name, value in row.items()})
    response = product.post(url("addon_add"), data)
    assert response.status_code == 302, response.context and \
        response.context["adminform"].form.errors
    addon = Addon.objects.get(key="seats")
    assert addon.rate_cards.get().price_amount == Decimal(10)
    assert product.post(url("addon_publish", addon.pk)).status_code == 302

    euros = services.addon_create(data=services.AddonData(key="euro_seats", name="Euro seats",
                                                          currency="EUR"))
    response = product.post(url("plan_change", draft.pk), change_post(draft) | {
        "allowed_addons-TOTAL_FORMS": 2, "allowed_addons-INITIAL_FORMS": 0,
        "allowed_addons-0-addon": addon.pk, "allowed_addons-0-from_plan_phase": "default",
        "allowed_addons-0-max_quantity": "3",
        "allowed_addons-1-addon": euros.pk, "allowed_addons-1-from_plan_phase": "nope",
        "allowed_addons-1-max_quantity": "",
    })
    assert form_errors(response) == {
        "allowed_addons.0.max_quantity": ["A single-instance add-on can only be bought once."],
        "allowed_addons.1.addon": ["Euro seats (v1) is priced in EUR, the plan in USD."],
        "allowed_addons.1.from_plan_phase": [
            "This plan has no phase “nope”; its phases are “default”."],
    }
    response = product.post(url("plan_change", draft.pk), change_post(draft) | {
        "allowed_addons-TOTAL_FORMS": 1, "allowed_addons-INITIAL_FORMS": 0,
        "allowed_addons-0-addon": addon.pk, "allowed_addons-0-from_plan_phase": "default",
        "allowed_addons-0-max_quantity": "1"})
    assert response.status_code == 302, form_errors(response)
    assert PlanAddon.objects.get(plan=draft).addon == addon


# --- diff, simulation, history --------------------------------------------------------------


def test_diff_of_two_versions_highlights_what_changed(product, draft):
    services.version_publish(draft)
    v2 = services.version_next(draft)
    card = v2.rate_cards.get()
    response = product.post(url("plan_change", v2.pk), change_post(v2, cards=[stored_card(
        card, **{k: v for k, v in card_row(tiers=[("1000", "0"), ("", "0.004")]).items()
                 if k.startswith("tiers-")})]))
    assert response.status_code == 302, form_errors(response)

    assert "Compare with v1" in product.get(url("plan_change", v2.pk)).content.decode()
    page = product.get(url("plan_compare", v2.pk), {"with": draft.pk})
    sections = {s.title: s for s in page.context["sections"]}
    price = sections["Rate card “api_calls” in phase “default”"].rows[-1]
    assert (price.label, price.changed) == ("Price", True)
    assert price.left == ("Graduated tiers: 0 – 1,000: 0 USD per unit; 1,000 – 10,000: "
                          "0.01 USD per unit; above 10,000: 0.005 USD per unit")
    assert price.right == "Graduated tiers: 0 – 1,000: 0 USD per unit; above 1,000: " \
                          "0.004 USD per unit"
    assert not sections["Phases"].changed
    assert page.content.decode().count('class="ml-changed"') == 2 * sum(
        row.changed for section in sections.values() for row in section.rows)


def test_simulation_page_prices_a_draft_next_to_the_active_version(product, draft):
    page = product.get(url("plan_simulate", draft.pk))
    assert page.status_code == 200 and b"usage__api_calls" in page.content

    response = product.get(url("plan_simulate", draft.pk), {
        "phase": "default", "usage__api_calls": "25000"})
    result = response.context["result"]
    assert result["total"] == "165.00"
    assert [(t["tier"], t["quantity"], t["amount"]) for t in result["lines"][0]["tiers"]] == [
        (1, "1000", "0.00"), (2, "9000", "90.00"), (3, "15000", "75.00")]
    assert result["comparison"] is None
    assert 'data-testid="total">165.00 USD' in response.content.decode()

    # With v1 active, a draft v2 (volume tiers) is priced next to it by default.
    services.version_publish(draft)
    v2 = services.version_next(draft)
    RateCard.objects.filter(plan=v2).update(tiered_mode="volume")
    page = product.get(url("plan_simulate", v2.pk))
    assert page.context["form"]["compare"].value() == draft.pk
    response = product.get(url("plan_simulate", v2.pk), {
        "phase": "default", "usage__api_calls": "25000",
        "compare": draft.pk})
    result = response.context["result"]
    assert (result["total"], result["comparison"]["total"]) == ("125.00", "165.00")
    assert result["difference"] == "-40.00"

    # Errors from the simulation services are form errors.
    response = product.get(url("plan_simulate", draft.pk), {
        "phase": "default", "usage__api_calls": "-1"})
    assert response.context["form"].errors == {
        "usage__api_calls": ["Ensure this value is greater than or equal to 0."]}


def test_simulation_from_a_customers_metered_usage(product, draft, demo_world):
    from apps.customers.models import Customer

    customer = Customer.objects.get(key="acme")
    subject = customer.consumers.first().key
    now = timezone.now()
    metering_services.ingest_events([
        {"specversion": "1.0", "id": f"r{n}", "source": "gw", "type": "request",
         "subject": subject, "time": (now - timedelta(minutes=5)).isoformat(),
         "data": {"route": "/v1"}} for n in range(3)])
    base = {"phase": "default", "customer": customer.pk}
    response = product.get(url("plan_simulate", draft.pk), base | {
        "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")})
    result = response.context["result"]
    assert result["customerKey"] == "acme"
    assert result["lines"][0]["quantity"] == "3" and result["total"] == "0.00"

    response = product.get(url("plan_simulate", draft.pk), base | {
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")})
    assert response.context["result"] is None
    assert response.context["form"].errors == {"end": ["“to” must be after “from”."]}


def test_history_shows_who_changed_a_rate_card(product, draft):
    card = draft.rate_cards.get()
    response = product.post(url("plan_change", draft.pk), change_post(
        draft, cards=[stored_card(card, discount_percentage="20")]))
    assert response.status_code == 302, form_errors(response)

    page = product.get(url("plan_history", draft.pk))
    entries = page.context["page_obj"].object_list
    change = next(e for e in entries if e.action == "changed")
    assert change.subject == "Rate card “api_calls” (phase “default”)"
    assert change.user.username == "product-user"
    assert change.changes == [("Percentage discount", "—", "20")]
    content = page.content.decode()
    assert "product-user" in content and "Percentage discount:" in content
    assert {e.subject for e in entries} >= {"Plan v1", "Phase “default”"}


# --- roles ----------------------------------------------------------------------------------


def test_support_can_look_but_not_change_plans(client, staff_user, draft):
    client.force_login(staff_user("Support"))
    page = client.get(url("plan_change", draft.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert b"Publish" not in page.content  # lifecycle actions are not offered
    assert client.post(url("plan_change", draft.pk), change_post(draft, name="X")) \
        .status_code == 403
    assert client.get(url("plan_add")).status_code == 403
    for action in ("publish", "new_version", "archive", "duplicate"):
        assert client.post(url(f"plan_{action}", draft.pk)).status_code == 403
    assert client.get(url("plan_simulate", draft.pk)).status_code == 200
    draft.refresh_from_db()
    assert (draft.name, draft.status) == ("Pro", Status.DRAFT)


# --- features -------------------------------------------------------------------------------


def test_features_are_validated_archived_and_never_deleted(product, api_calls):
    meter = api_calls.meter
    response = product.post(url("feature_add"), {
        "key": "flights", "name": "Flights", "meter": meter.pk,
        "meter_group_by_filters": '{"path": "/flights"}', "metadata": "{}"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"meter_group_by_filters": [
        "Meter “api_requests” has no group-by “path” (it has: route)."]}

    response = product.post(url("feature_add"), {
        "key": "flights", "name": "Flights", "meter": meter.pk,
        "meter_group_by_filters": '{"route": "/flights"}', "metadata": "{}"})
    assert response.status_code == 302
    flights = Feature.objects.get(key="flights")
    assert flights.meter_group_by_filters == {"route": "/flights"}
    assert flights.history.first().history_user.username == "product-user"

    # Once a published price uses a feature, what it measures is fixed.
    plan = services.plan_create(data=services.PlanData(key="p", name="P", phases=[
        services.PhaseData(key="default", name="P", rate_cards=[services.RateCardData({
            "key": "flights", "name": "Flights", "feature": flights, "billing_cadence": "P1M",
            "price_type": "unit", "price_amount": Decimal(1)})])]))
    assert b'name="meter_group_by_filters"' in product.get(
        url("feature_change", flights.pk)).content
    services.version_publish(plan)
    page = product.get(url("feature_change", flights.pk)).content
    assert b'name="meter_group_by_filters"' not in page and b'name="name"' in page

    assert product.get(url("feature_delete", flights.pk)).status_code == 403
    assert product.post(url("feature_archive_detail", flights.pk)).status_code == 302
    flights.refresh_from_db()
    assert flights.is_archived
    assert product.get(url("feature_history", flights.pk)).status_code == 200
