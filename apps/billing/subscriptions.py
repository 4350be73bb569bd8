"""Subscription lifecycle: subscribe, cancel, change plan, migrate version, add-ons, prices."""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.billing import engine
from apps.billing.domain.periods import period_at
from apps.billing.models import Subscription, SubscriptionAddon, SubscriptionOverride
from apps.catalog.models import Addon, Plan, Status
from apps.core.durations import parse_duration
from apps.core.errors import Conflict, InvalidInput
from apps.customers.models import Customer

IMMEDIATE = "immediate"
NEXT_BILLING_CYCLE = "next_billing_cycle"


def current_period_end(subscription: Subscription, at: datetime) -> datetime:
    """The end of the billing period (piece) running at `at`."""
    piece = engine.running_piece(subscription, at)
    if piece is None:
        raise Conflict(f"{subscription} is not running at {at:%Y-%m-%d %H:%M}.")
    return piece.period.end


def resolve_timing(timing, *, now: datetime, subscription: Subscription | None = None,
                   field: str = "timing") -> datetime:
    if timing in (None, IMMEDIATE):
        return now
    if timing == NEXT_BILLING_CYCLE:
        if subscription is None:
            return now
        return current_period_end(subscription, now)
    if isinstance(timing, datetime):
        return timing
    raise InvalidInput("timing must be immediate, next_billing_cycle or an RFC 3339 time.",
                       field=field)


@transaction.atomic
def subscription_create(*, customer: Customer, plan: Plan, timing=IMMEDIATE,
                        billing_anchor: datetime | None = None, starting_phase: str = "",
                        name: str = "", description: str = "", metadata: dict | None = None,
                        now: datetime | None = None, previous: Subscription | None = None
                        ) -> Subscription:
    now = now or timezone.now()
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.deleted_at is not None:
        raise InvalidInput("The customer is deleted.", field="customerId")
    if plan.effective_from is None or plan.deleted_at is not None:
        raise InvalidInput(f"{plan} is not published; publish it first.", field="plan")
    if plan.status_at(now) == Status.ARCHIVED:
        raise InvalidInput(f"{plan} is archived; subscribe to its active version.",
                           field="plan")
    if plan.currency != customer.currency:
        raise InvalidInput(f"{customer} is billed in {customer.currency}, {plan} is priced in "
                           f"{plan.currency}.", field="plan")
    phases = [phase.key for phase in plan.phases.all()]
    if starting_phase and starting_phase not in phases:
        raise InvalidInput(f"{plan} has no phase “{starting_phase}”.", field="startingPhase")
    running = Subscription.objects.filter(customer=customer).overlapping(now, None) \
        .exclude(pk=previous.pk if previous else None).order_by("active_from").last()
    start = resolve_timing(timing, now=now, subscription=running)
    if Subscription.objects.filter(customer=customer).overlapping(start, None).exclude(
            pk=previous.pk if previous else None).exists():
        raise Conflict(f"{customer} already has a subscription then; change or cancel it.",
                       field="customerId")
    if billing_anchor is not None:
        cadence = parse_duration(plan.billing_cadence)
        # Normalised to the nearest recurrence at or before the start, as OpenMeter does.
        billing_anchor = period_at(billing_anchor, cadence, start,
                                   engine.ZoneInfo(customer.time_zone)).start
    return Subscription.objects.create(
        customer=customer, plan=plan, name=name or plan.name, description=description,
        starting_phase=starting_phase, active_from=start, billing_anchor=billing_anchor,
        metadata=metadata or {}, previous=previous)


@transaction.atomic
def subscription_cancel(subscription: Subscription, *, timing=IMMEDIATE,
                        now: datetime | None = None) -> Subscription:
    now = now or timezone.now()
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.active_to is not None and subscription.active_to <= now:
        raise Conflict(f"{subscription} has ended already.")
    if hasattr(subscription, "next") and subscription.next is not None:
        raise Conflict("A later subscription is already scheduled to follow this one.")
    end = resolve_timing(timing, now=now, subscription=subscription)
    if end < now:
        raise InvalidInput("A subscription cannot be cancelled in the past.", field="timing")
    subscription.active_to = max(end, subscription.active_from)
    subscription.save(update_fields=["active_to", "updated_at"])
    for bought in subscription.addons.filter(active_to__isnull=True):
        bought.active_to = subscription.active_to
        bought.save(update_fields=["active_to"])
    return subscription


@transaction.atomic
def subscription_change(subscription: Subscription, *, plan: Plan, timing=IMMEDIATE,
                        now: datetime | None = None) -> tuple[Subscription, Subscription]:
    """Upgrade, downgrade or switch plan: the current subscription ends at the change time
    and the new one starts there on the same billing anchor, so flat fees are prorated and
    usage is split at that instant."""
    now = now or timezone.now()
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    at = resolve_timing(timing, now=now, subscription=subscription)
    if subscription.active_to is not None and subscription.active_to <= at:
        raise Conflict(f"{subscription} ends before the change would happen.")
    piece = engine.running_piece(subscription, at)
    anchor = subscription.billing_anchor or (piece.full.start if piece
                                             else subscription.active_from)
    subscription_cancel(subscription, timing=at, now=now)
    created = subscription_create(customer=subscription.customer, plan=plan, timing=at,
                                  billing_anchor=anchor, now=now, previous=subscription)
    return Subscription.objects.get(pk=subscription.pk), created


def subscription_migrate(subscription: Subscription, *, target_version: int | None = None,
                         timing=IMMEDIATE, now: datetime | None = None
                         ) -> tuple[Subscription, Subscription]:
    """Move to another (by default the latest active) version of the same plan."""
    versions = Plan.objects.live().filter(key=subscription.plan.key)
    target = (versions.filter(version=target_version).first() if target_version
              else versions.with_status(Status.ACTIVE).first())
    if target is None or target.effective_from is None:
        raise InvalidInput("No published version to migrate to.", field="targetVersion")
    if target.pk == subscription.plan_id:
        raise Conflict(f"The subscription is on {target} already.")
    return subscription_change(subscription, plan=target, timing=timing, now=now)


@transaction.atomic
def subscription_addon_set(subscription: Subscription, *, addon: Addon, quantity: int,
                           now: datetime | None = None) -> SubscriptionAddon | None:
    """Buy an add-on, change its quantity (from now on) or remove it with quantity 0."""
    now = now or timezone.now()
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    allowed = subscription.plan.allowed_addons.filter(addon__key=addon.key).first()
    if allowed is None:
        raise InvalidInput(f"{subscription.plan} does not offer the add-on “{addon.key}”.",
                           field="addon")
    if quantity < 0:
        raise InvalidInput("quantity cannot be negative.", field="quantity")
    if addon.instances == Addon.Instances.SINGLE and quantity > 1:
        raise InvalidInput("This add-on can be bought once.", field="quantity")
    if allowed.max_quantity is not None and quantity > allowed.max_quantity:
        raise InvalidInput(f"At most {allowed.max_quantity} of this add-on.", field="quantity")
    for bought in subscription.addons.filter(addon__key=addon.key, active_to__isnull=True):
        bought.active_to = now
        bought.save(update_fields=["active_to"])
    if quantity == 0:
        return None
    return SubscriptionAddon.objects.create(subscription=subscription, addon=allowed.addon,
                                            quantity=quantity, active_from=now,
                                            active_to=subscription.active_to)


def subscription_override_set(subscription: Subscription, *, rate_card_key: str,
                              price_amount: Decimal | None = None, tiers=None,
                              discount_percentage: Decimal | None = None,
                              note: str = "") -> SubscriptionOverride:
    if not subscription.plan.rate_cards.filter(key=rate_card_key).exists():
        raise InvalidInput(f"{subscription.plan} has no rate card “{rate_card_key}”.",
                           field="rateCardKey")
    override, _ = SubscriptionOverride.objects.update_or_create(
        subscription=subscription, rate_card_key=rate_card_key,
        defaults={"price_amount": price_amount, "tiers": tiers,
                  "discount_percentage": discount_percentage, "note": note})
    return override
