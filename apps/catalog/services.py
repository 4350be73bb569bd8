"""Catalog state changes: features, plan and add-on versions, their rate cards.

Versioning follows OpenMeter: one draft per key, a new version is the highest + 1, only drafts
(and scheduled versions) change, publishing archives the active version, archiving is only for
the active version, and only versions that are not active can be deleted.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.catalog.models import (
    Addon,
    Feature,
    Plan,
    PlanAddon,
    PlanPhase,
    RateCard,
    Status,
    Versioned,
)
from apps.catalog.rules import (
    currency_problem,
    feature_filter_errors,
    phase_problems,
    rate_card_problems,
)
from apps.core.durations import DurationError, parse_duration
from apps.core.errors import Conflict, InvalidInput

RATE_CARD_FIELDS = [
    "key", "type", "name", "description", "metadata", "feature", "billing_cadence",
    "price_type", "price_amount", "payment_term", "tiered_mode", "tiers",
    "quantity_per_package", "minimum_amount", "maximum_amount", "discount_percentage",
    "discount_usage_quantity", "entitlement_template", "tax_config",
]


# --- features ------------------------------------------------------------------------------


def feature_create(*, key: str, name: str, meter=None, filters: dict | None = None,
                   metadata: dict | None = None) -> Feature:
    filters = filters or {}
    if errors := feature_filter_errors(meter, filters):
        raise InvalidInput(errors[0], field="meterGroupByFilters")
    if Feature.objects.filter(key=key, archived_at__isnull=True).exists():
        raise Conflict(f"A feature with key “{key}” already exists.", field="key")
    try:
        with transaction.atomic():
            return Feature.objects.create(key=key, name=name, meter=meter,
                                          meter_group_by_filters=filters,
                                          metadata=metadata or {})
    except IntegrityError as error:
        raise Conflict(f"A feature with key “{key}” already exists.", field="key") from error


def feature_archive(*, feature: Feature) -> Feature:
    """Archived features keep pricing the versions that use them, but new ones cannot."""
    if feature.archived_at is None:
        feature.archived_at = timezone.now()
        feature.save(update_fields=["archived_at", "updated_at"])
    return feature


# --- version content -----------------------------------------------------------------------


@dataclass
class RateCardData:
    values: dict  # model field -> value, for RATE_CARD_FIELDS


@dataclass
class PhaseData:
    key: str
    name: str
    description: str = ""
    duration: str = ""
    metadata: dict = field(default_factory=dict)
    rate_cards: list[RateCardData] = field(default_factory=list)


@dataclass
class PlanData:
    key: str
    name: str
    currency: str = "USD"
    billing_cadence: str = "P1M"
    description: str = ""
    metadata: dict = field(default_factory=dict)
    pro_rating_enabled: bool = True
    minimum_spend: Decimal | None = None
    phases: list[PhaseData] = field(default_factory=list)


@dataclass
class AddonData:
    key: str
    name: str
    currency: str = "USD"
    instances: str = "single"
    description: str = ""
    metadata: dict = field(default_factory=dict)
    rate_cards: list[RateCardData] = field(default_factory=list)


def plan_create(*, data: PlanData) -> Plan:
    return _create_version(Plan, data)


def addon_create(*, data: AddonData) -> Addon:
    return _create_version(Addon, data)


def plan_replace(*, plan: Plan, data: PlanData) -> Plan:
    return _replace_version(plan, data)


def addon_replace(*, addon: Addon, data: AddonData) -> Addon:
    return _replace_version(addon, data)


@transaction.atomic
def _create_version(model: type[Versioned], data) -> Versioned:
    _lock_key(model, data.key)
    if model.objects.live().filter(key=data.key).with_status(Status.DRAFT).exists():
        raise Conflict(f"{data.key} already has a draft version; edit that one instead.",
                       field="key")
    version = (model.objects.filter(key=data.key).aggregate(v=Max("version"))["v"] or 0) + 1
    instance = model(key=data.key, version=version)
    _write_version(instance, data)
    return instance


@transaction.atomic
def _replace_version(instance: Versioned, data) -> Versioned:
    instance = type(instance).objects.select_for_update().get(pk=instance.pk)
    _require_editable(instance)
    if data.key != instance.key:
        raise InvalidInput("The key of a version cannot change.", field="key")
    _write_version(instance, data)
    return instance


def _write_version(instance: Versioned, data) -> None:
    """Validate everything first, then write the version and replace its content."""
    scalars = {name: value for name, value in vars(data).items()
               if name not in ("phases", "rate_cards", "key")}
    for name, value in scalars.items():
        setattr(instance, name, value)
    if message := currency_problem(instance.currency):
        raise InvalidInput(message, field="currency")
    if isinstance(instance, Plan):
        _check_cadence(instance.billing_cadence, "billingCadence")
        phases = [PlanPhase(plan=instance, position=i, key=p.key, name=p.name,
                            description=p.description, duration=p.duration,
                            metadata=p.metadata) for i, p in enumerate(data.phases)]
        for index, wire, message in phase_problems(phases):
            raise InvalidInput(message, field=f"phases.{index}.{wire}"
                               if wire != "phases" else "phases")
        cards = [(f"phases.{i}.rateCards.{j}", _rate_card(card, plan=instance,
                                                              phase_key=phase.key, position=j))
                 for i, phase in enumerate(data.phases) for j, card in enumerate(phase.rate_cards)]
    else:
        phases = []
        cards = [(f"rateCards.{j}", _rate_card(card, addon=instance, position=j))
                 for j, card in enumerate(data.rate_cards)]
    _check_rate_cards(instance, cards)
    instance.save()
    if isinstance(instance, Plan):
        instance.phases.all().delete()
    instance.rate_cards.all().delete()
    for phase in phases:
        phase.save()
    for _, card in cards:
        card.save()


def _rate_card(data: RateCardData, *, position: int, plan=None, addon=None,
               phase_key="") -> RateCard:
    values = {name: data.values.get(name) for name in RATE_CARD_FIELDS if name in data.values}
    card = RateCard(plan=plan, addon=addon, phase_key=phase_key, position=position, **values)
    for name in ("description", "billing_cadence", "price_type"):
        if getattr(card, name) is None:
            setattr(card, name, "")
    for name, default in (("metadata", {}), ("tiers", [])):
        if getattr(card, name) is None:
            setattr(card, name, default)
    return card


def _check_rate_cards(instance: Versioned, cards: list[tuple[str, RateCard]]) -> None:
    cadence = instance.billing_cadence if isinstance(instance, Plan) else None
    seen = set()
    for path, card in cards:
        scope = (card.phase_key, card.key)
        if scope in seen:
            raise InvalidInput(f"Rate card key “{card.key}” is used twice in this phase.",
                               field=f"{path}.key")
        seen.add(scope)
        for problem in rate_card_problems(card, plan_cadence=cadence):
            raise InvalidInput(problem.message, field=f"{path}.{problem.wire}")


def _check_cadence(value: str, wire: str) -> None:
    try:
        parse_duration(value)
    except DurationError as error:
        raise InvalidInput(str(error), field=wire) from error


def _lock_key(model: type[Versioned], key: str) -> None:
    # Serialises version changes per key: "one draft per key" and "max + 1" are read-then-write.
    list(model.objects.select_for_update().filter(key=key).values_list("pk", flat=True))


def _require_editable(instance: Versioned) -> None:
    if instance.deleted_at is not None:
        raise Conflict(f"{instance} is deleted.")
    if not instance.is_editable:
        raise Conflict(f"{instance} is {instance.status}; published versions never change. "
                       f"Create a new version with “next” instead.")


# --- lifecycle -----------------------------------------------------------------------------


@transaction.atomic
def version_next(instance: Versioned) -> Versioned:
    """A new draft copied from `instance` (or the key's latest version)."""
    model = type(instance)
    _lock_key(model, instance.key)
    if model.objects.live().filter(key=instance.key).with_status(Status.DRAFT).exists():
        raise Conflict(f"{instance.key} already has a draft version.")
    version = model.objects.filter(key=instance.key).aggregate(v=Max("version"))["v"] + 1
    return _copy(instance, key=instance.key, version=version)


@transaction.atomic
def version_duplicate(instance: Versioned, *, key: str, name: str) -> Versioned:
    """A new plan (version 1 of another key) with the same content."""
    model = type(instance)
    _lock_key(model, key)
    if model.objects.filter(key=key).exists():
        raise Conflict(f"The key “{key}” is already taken.", field="key")
    return _copy(instance, key=key, version=1, name=name)


def _copy(instance: Versioned, *, key: str, version: int, name: str | None = None) -> Versioned:
    model = type(instance)
    copy = model.objects.get(pk=instance.pk)
    phases = list(copy.phases.all()) if isinstance(copy, Plan) else []
    cards = list(copy.rate_cards.all())
    allowed = list(copy.allowed_addons.all()) if isinstance(copy, Plan) else []
    copy.pk = model._meta.pk.default()
    copy._state.adding = True
    copy._stored_editable = True
    copy.key, copy.version, copy.name = key, version, name or copy.name
    copy.effective_from = copy.effective_to = copy.deleted_at = None
    copy.created_at = timezone.now()
    copy.save()
    for row in (*phases, *cards, *allowed):
        row.pk = None
        row._state.adding = True
        if isinstance(row, RateCard) and row.addon_id:
            row.addon = copy
        else:
            row.plan = copy
        row.save()
    return copy


@transaction.atomic
def version_publish(instance: Versioned, *, effective_from: datetime | None = None,
                    effective_to: datetime | None = None) -> Versioned:
    model = type(instance)
    _lock_key(model, instance.key)
    instance = model.objects.get(pk=instance.pk)
    now = timezone.now()
    if instance.deleted_at is not None or instance.status not in (Status.DRAFT,
                                                                  Status.SCHEDULED):
        raise Conflict(f"Only a draft or scheduled version can be published; {instance} is "
                       f"{instance.status if instance.deleted_at is None else 'deleted'}.")
    start = effective_from or now
    if start < now - timezone.timedelta(minutes=1):
        raise InvalidInput("effectiveFrom cannot be in the past.", field="effectiveFrom")
    if effective_to is not None and effective_to <= start:
        raise InvalidInput("effectiveTo must be after effectiveFrom.", field="effectiveTo")
    _check_publishable(instance)
    for previous in model.objects.live().filter(key=instance.key).exclude(pk=instance.pk):
        if previous.status_at(start) in (Status.ACTIVE, Status.SCHEDULED) or \
                previous.status in (Status.ACTIVE, Status.SCHEDULED):
            # The version it replaces ends where the new one begins.
            previous.effective_to = start
            if previous.effective_from and previous.effective_from >= start:
                previous.effective_from = start
            previous.save(update_fields=["effective_from", "effective_to", "updated_at"])
    instance.effective_from, instance.effective_to = start, effective_to
    instance.save(update_fields=["effective_from", "effective_to", "updated_at"])
    return instance


def _check_publishable(instance: Versioned) -> None:
    if isinstance(instance, Plan):
        phases = list(instance.phases.all())
        for index, wire, message in phase_problems(phases):
            raise InvalidInput(message, field=f"phases.{index}.{wire}")
        cards = instance.rate_cards.select_related("feature")
        if not cards.exists():
            raise InvalidInput("A plan needs at least one rate card before it is published.",
                               field="phases")
        cadence = instance.billing_cadence
    else:
        cards = instance.rate_cards.select_related("feature")
        cadence = None
    for card in cards:
        for problem in rate_card_problems(card, plan_cadence=cadence):
            raise InvalidInput(f"Rate card “{card.key}”: {problem.message}",
                               field=f"rateCards.{card.key}.{problem.wire}")


@transaction.atomic
def version_archive(instance: Versioned, *, at: datetime | None = None) -> Versioned:
    instance = type(instance).objects.select_for_update().get(pk=instance.pk)
    if instance.deleted_at is not None or instance.status != Status.ACTIVE:
        raise Conflict(f"Only the active version can be archived; {instance} is "
                       f"{instance.status}.")
    at = at or timezone.now()
    if at < instance.effective_from:
        raise InvalidInput("effectiveTo cannot precede the version's effectiveFrom.",
                           field="effectiveTo")
    instance.effective_to = at
    instance.save(update_fields=["effective_to", "updated_at"])
    return instance


@transaction.atomic
def version_delete(instance: Versioned) -> None:
    instance = type(instance).objects.select_for_update().get(pk=instance.pk)
    if instance.deleted_at is not None:
        return
    if instance.status == Status.ACTIVE:
        raise Conflict(f"{instance} is active; archive it before deleting it.")
    if isinstance(instance, Addon) and instance.plans.filter(plan__deleted_at__isnull=True) \
            .exclude(plan__effective_to__lte=timezone.now()).exists():
        raise Conflict(f"{instance} is allowed on a plan; remove it there first.")
    instance.deleted_at = timezone.now()
    instance.save(update_fields=["deleted_at", "updated_at"])


# --- plan add-ons --------------------------------------------------------------------------


@transaction.atomic
def plan_addon_set(*, plan: Plan, addon: Addon, from_plan_phase: str,
                   max_quantity: int | None, metadata: dict | None = None) -> PlanAddon:
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    _require_editable(plan)
    if addon.deleted_at is not None or addon.status == Status.ARCHIVED:
        raise InvalidInput(f"{addon} is {addon.status}; allow an active add-on version.",
                           field="addonId")
    if addon.currency != plan.currency:
        raise InvalidInput(f"{addon} is priced in {addon.currency}, the plan in "
                           f"{plan.currency}.", field="addonId")
    if not plan.phases.filter(key=from_plan_phase).exists():
        raise InvalidInput(f"The plan has no phase “{from_plan_phase}”.",
                           field="fromPlanPhase")
    if addon.instances == Addon.Instances.SINGLE and max_quantity not in (None, 1):
        raise InvalidInput("A single-instance add-on can only be bought once.",
                           field="maxQuantity")
    if max_quantity is not None and max_quantity < 1:
        raise InvalidInput("maxQuantity must be at least 1.", field="maxQuantity")
    link, _ = PlanAddon.objects.update_or_create(
        plan=plan, addon=addon,
        defaults={"from_plan_phase": from_plan_phase, "max_quantity": max_quantity,
                  "metadata": metadata or {}},
    )
    return link


@transaction.atomic
def plan_addon_remove(*, link: PlanAddon) -> None:
    _require_editable(Plan.objects.select_for_update().get(pk=link.plan_id))
    link.delete()

