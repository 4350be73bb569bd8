"""Catalog validation shared by the admin (form errors) and the API (problem+json).

Each problem names the model field (for forms) and the OpenMeter wire path (for the API).
"""

import json
from dataclasses import dataclass

from apps.catalog.prices import (
    RateCardError,
    commitments_of,
    percentage_discount_of,
    usage_discount_of,
    usage_price_of,
)
from apps.core.durations import DurationError, parse_duration
from apps.core.money import currency_exponent

WIRE = {
    "key": "key", "name": "name", "type": "type", "feature": "featureKey",
    "billing_cadence": "billingCadence", "price_type": "price.type",
    "price_amount": "price.amount", "payment_term": "price.paymentTerm",
    "tiered_mode": "price.mode", "tiers": "price.tiers",
    "quantity_per_package": "price.quantityPerPackage",
    "minimum_amount": "price.minimumAmount", "maximum_amount": "price.maximumAmount",
    "discount_percentage": "discounts.percentage.percentage",
    "discount_usage_quantity": "discounts.usage.quantity",
    "entitlement_template": "entitlementTemplate", "tax_config": "taxConfig",
    "phase_key": "phase",
}
USAGE_PRICES = {"unit", "tiered", "package"}
METERED_TEMPLATE_FIELDS = {"type", "isSoftLimit", "issueAfterReset", "issueAfterResetPriority",
                           "preserveOverageAtReset", "usagePeriod"}


@dataclass(frozen=True)
class Problem:
    field: str  # model field
    wire: str  # path inside the rate card / plan as the API spells it
    message: str


def rate_card_problems(card, *, plan_cadence: str | None = None) -> list[Problem]:
    problems: list[Problem] = []

    def add(field: str, message: str, wire: str | None = None):
        problems.append(Problem(field, wire or WIRE.get(field, field), message))

    is_flat_fee = card.type == "flat_fee"
    if is_flat_fee and card.price_type not in ("", "flat"):
        add("price_type", "A flat-fee rate card takes a flat price (or none).")
    if is_flat_fee and card.discount_usage_quantity is not None:
        add("discount_usage_quantity", "Free units only apply to usage-based rate cards.")
    if not is_flat_fee and not card.billing_cadence:
        add("billing_cadence", "A usage-based rate card needs a billing cadence, e.g. P1M.")
    if card.price_type in USAGE_PRICES and card.feature_id is None:
        add("feature", "A usage price needs a feature to measure the quantity.")
    if card.price_type not in USAGE_PRICES:
        for field in ("minimum_amount", "maximum_amount"):
            if getattr(card, field) is not None:
                add(field, "Minimum and maximum amounts apply to unit, tiered and package "
                           "prices.")
    if card.feature_id and card.feature.is_archived:
        add("feature", f"Feature “{card.feature.key}” is archived.")
    if card.billing_cadence:
        try:
            cadence = parse_duration(card.billing_cadence)
        except DurationError as error:
            add("billing_cadence", str(error))
        else:
            if plan_cadence and not cadence.fits(parse_duration(plan_cadence)):
                add("billing_cadence", f"{card.billing_cadence} must divide, or be a multiple "
                                       f"of, the plan's cadence {plan_cadence}.")
    for build in (usage_price_of, commitments_of, percentage_discount_of, usage_discount_of):
        try:
            build(card)
        except RateCardError as error:
            wire = WIRE.get(error.field, error.field)
            if error.tier is not None:
                wire = f"{wire}.{error.tier}" + (f".{error.tier_field}"
                                                 if error.tier_field else "")
            add(error.field, str(error), wire)
    if card.entitlement_template is not None:
        for message in entitlement_template_errors(card.entitlement_template):
            add("entitlement_template", message)
        if card.feature_id is None:
            add("feature", "An entitlement template needs a feature.")
    if card.tax_config is not None:
        for message in tax_config_errors(card.tax_config):
            add("tax_config", message)
    return problems


def rate_card_errors(card) -> dict[str, list[str]]:
    plan_cadence = card.plan.billing_cadence if card.plan_id else None
    errors: dict[str, list[str]] = {}
    for problem in rate_card_problems(card, plan_cadence=plan_cadence):
        errors.setdefault(problem.field, []).append(problem.message)
    return errors


def phase_problems(phases) -> list[tuple[int, str, str]]:
    """(phase index, wire field, message) for the phase list of a plan version."""
    problems = []
    if not phases:
        problems.append((0, "phases", "A plan needs at least one phase."))
    seen = set()
    for index, phase in enumerate(phases):
        if phase.key in seen:
            problems.append((index, "key", f"Phase key “{phase.key}” is used twice."))
        seen.add(phase.key)
        last = index == len(phases) - 1
        if not phase.duration and not last:
            problems.append((index, "duration", "Only the last phase may be open-ended; give "
                                                "this phase a duration such as P14D."))
        if phase.duration:
            try:
                parse_duration(phase.duration)
            except DurationError as error:
                problems.append((index, "duration", str(error)))
    return problems


def currency_problem(currency: str) -> str | None:
    try:
        currency_exponent(currency)
    except ValueError as error:
        return str(error)
    return None


def feature_filter_errors(meter, filters) -> list[str]:
    if not isinstance(filters, dict):
        return ["Filters must be an object of group-by dimension → value."]
    if filters and meter is None:
        return ["Filters need a meter."]
    errors = []
    for dimension, value in filters.items():
        if dimension not in (meter.group_by or {}):
            known = ", ".join(sorted(meter.group_by or {})) or "none"
            errors.append(f"Meter “{meter.slug}” has no group-by “{dimension}” "
                          f"(it has: {known}).")
        if not isinstance(value, str) or not value:
            errors.append(f"The filter on “{dimension}” must be a non-empty string.")
    return errors


def entitlement_template_errors(template) -> list[str]:
    if not isinstance(template, dict):
        return ["The entitlement template must be an object with a type."]
    kind = template.get("type")
    if kind == "boolean":
        extra = set(template) - {"type"}
        return [f"A boolean entitlement takes no {', '.join(sorted(extra))}."] if extra else []
    if kind == "static":
        config = template.get("config")
        try:
            parsed = json.loads(config) if isinstance(config, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return ["A static entitlement needs config: a JSON string holding an object."]
        return []
    if kind != "metered":
        return ["The entitlement template type must be metered, boolean or static."]
    errors = []
    if extra := set(template) - METERED_TEMPLATE_FIELDS:
        errors.append(f"Unknown field(s) {', '.join(sorted(extra))} in a metered template.")
    for field in ("isSoftLimit", "preserveOverageAtReset"):
        if field in template and not isinstance(template[field], bool):
            errors.append(f"{field} must be true or false.")
    amount = template.get("issueAfterReset")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float)
                               or amount < 0):
        errors.append("issueAfterReset must be a number ≥ 0.")
    priority = template.get("issueAfterResetPriority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not 1 <= priority <= 255):
        errors.append("issueAfterResetPriority must be an integer from 1 to 255.")
    period = template.get("usagePeriod")
    if period is not None:
        try:
            parse_duration(period if isinstance(period, str) else "")
        except DurationError as error:
            errors.append(f"usagePeriod: {error}")
    return errors


def tax_config_errors(config) -> list[str]:
    import re

    if not isinstance(config, dict):
        return ["The tax config must be an object."]
    errors = []
    if extra := set(config) - {"behavior", "stripe", "customInvoicing", "taxCodeId"}:
        errors.append(f"Unknown field(s) {', '.join(sorted(extra))} in the tax config.")
    if config.get("behavior") not in (None, "inclusive", "exclusive"):
        errors.append("behavior must be inclusive or exclusive.")
    stripe = config.get("stripe")
    if stripe is not None and not (isinstance(stripe, dict) and isinstance(stripe.get("code"),
                                                                          str)
                                   and re.fullmatch(r"txcd_\d{8}", stripe["code"])):
        errors.append("stripe.code must look like txcd_10000000.")
    return errors
