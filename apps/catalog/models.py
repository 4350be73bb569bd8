"""The product catalog: features, versioned plans and add-ons, and their rate cards.

Rate cards store their price in columns (and tiers as a list of decimal strings) so that the
admin can edit them as a form; `apps.catalog.prices` turns them into the pricing engine's
definitions, which is also where they are validated.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.core.durations import DurationError, parse_duration
from apps.core.fields import ExactDecimalField
from apps.core.history import history_user
from apps.core.ids import new_ulid
from apps.core.validators import validate_currency_code
from apps.metering.models import SLUG_PATTERN, Meter

KEY_HELP = "Lower-case letters, digits and single underscores, e.g. api_calls."
validate_key = RegexValidator(SLUG_PATTERN, "Use lower-case letters, digits and single "
                                            "underscores, e.g. api_calls.")


def validate_duration(value: str) -> None:
    try:
        parse_duration(value)
    except DurationError as error:
        raise ValidationError(str(error), code="invalid_duration") from error


class Feature(models.Model):
    """A sellable slice of a meter: the meter plus exact filters on its group-by values."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid, editable=False)
    key = models.CharField(max_length=64, validators=[validate_key], help_text=KEY_HELP)
    name = models.CharField(max_length=256)
    meter = models.ForeignKey(Meter, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="features")
    meter_group_by_filters = models.JSONField(
        "meter group-by filters", default=dict, blank=True,
        help_text='Only usage with these group-by values, e.g. {"status": "200"}.',
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(archived_at__isnull=True),
                                    name="feature_key_live_unique"),
        ]

    def __str__(self):
        return self.name or self.key

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def clean(self):
        from apps.catalog.rules import feature_filter_errors

        if errors := feature_filter_errors(self.meter, self.meter_group_by_filters):
            raise ValidationError({"meter_group_by_filters": errors})


class Status(models.TextChoices):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    ARCHIVED = "archived"


class VersionedQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def with_status(self, status: str, at=None):
        at = at or timezone.now()
        return self.filter({
            Status.DRAFT: Q(effective_from__isnull=True),
            Status.SCHEDULED: Q(effective_from__gt=at),
            Status.ACTIVE: Q(effective_from__lte=at)
            & (Q(effective_to__isnull=True) | Q(effective_to__gt=at)),
            Status.ARCHIVED: Q(effective_to__lte=at),
        }[status])


class Versioned(models.Model):
    """A plan or add-on version. Status follows from the effective dates, as in OpenMeter."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid, editable=False)
    key = models.CharField(max_length=64, validators=[validate_key], help_text=KEY_HELP)
    version = models.PositiveIntegerField(default=1, editable=False)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3, default="USD",
                                validators=[validate_currency_code])
    metadata = models.JSONField(default=dict, blank=True)
    effective_from = models.DateTimeField(null=True, blank=True, editable=False)
    effective_to = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = VersionedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="%(class)s_key_version"),
            models.UniqueConstraint(
                fields=["key"], condition=Q(effective_from__isnull=True, deleted_at__isnull=True),
                name="%(class)s_one_draft_per_key",
            ),
        ]

    def __str__(self):
        return f"{self.name} (v{self.version})"

    def save(self, *args, **kwargs):
        # A published version never changes; only its lifecycle dates may move.
        lifecycle = {"effective_from", "effective_to", "deleted_at", "updated_at"}
        update_fields = kwargs.get("update_fields")
        if (not getattr(self, "_stored_editable", True)
                and (update_fields is None or not set(update_fields) <= lifecycle)):
            raise ValidationError(f"{self} is {self.status} and can no longer be changed.")
        super().save(*args, **kwargs)

    def status_at(self, at) -> Status:
        if self.effective_from is None:
            return Status.DRAFT
        if self.effective_from > at:
            return Status.SCHEDULED
        if self.effective_to is not None and self.effective_to <= at:
            return Status.ARCHIVED
        return Status.ACTIVE

    @property
    def status(self) -> Status:
        return self.status_at(timezone.now())

    @property
    def is_editable(self) -> bool:
        return self.deleted_at is None and self.status in (Status.DRAFT, Status.SCHEDULED)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_editable = instance.is_editable
        return instance


class Plan(Versioned):
    billing_cadence = models.CharField(
        max_length=32, default="P1M", validators=[validate_duration],
        help_text="ISO 8601 duration: P1M monthly, P3M quarterly, P1Y yearly.",
    )
    pro_rating_enabled = models.BooleanField(
        "prorate", default=True, help_text="Prorate flat fees for partial periods.")
    minimum_spend = ExactDecimalField(
        null=True, blank=True,
        help_text="Plan-level minimum per billing period; a true-up line makes up the rest.",
    )

    history = HistoricalRecords(get_user=history_user)

    class Meta(Versioned.Meta):
        pass


class Addon(Versioned):
    class Instances(models.TextChoices):
        SINGLE = "single"
        MULTIPLE = "multiple"

    instances = models.CharField("instance type", max_length=8, choices=Instances.choices,
                                     default=Instances.SINGLE)

    history = HistoricalRecords(get_user=history_user)

    class Meta(Versioned.Meta):
        verbose_name = "add-on"


class EditableWithParent(models.Model):
    """Rows that belong to a plan or add-on version change only while it is editable."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self._check_owner_editable()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._check_owner_editable()
        return super().delete(*args, **kwargs)

    def owner(self) -> Versioned:
        raise NotImplementedError

    def _check_owner_editable(self):
        owner = self.owner()
        if owner is not None and owner.pk and not type(owner).objects.get(pk=owner.pk).is_editable:
            raise ValidationError(f"{owner} is {owner.status} and can no longer be changed.")


class PlanPhase(EditableWithParent):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="phases")
    position = models.PositiveSmallIntegerField(default=0)
    key = models.CharField(max_length=64, validators=[validate_key], help_text=KEY_HELP)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    duration = models.CharField(
        max_length=32, blank=True, validators=[validate_duration],
        help_text="ISO 8601, e.g. P14D for a trial; empty for the last, open-ended phase.",
    )
    metadata = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["plan", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["plan", "key"], name="phase_key_per_plan")]

    def __str__(self):
        return self.name or self.key

    def owner(self):
        return self.plan


class RateCard(EditableWithParent):
    class Type(models.TextChoices):
        FLAT_FEE = "flat_fee", "flat fee"
        USAGE_BASED = "usage_based", "usage based"

    class PriceType(models.TextChoices):
        NONE = "", "no price (free)"
        FLAT = "flat"
        UNIT = "unit"
        TIERED = "tiered"
        PACKAGE = "package"

    class PaymentTerm(models.TextChoices):
        IN_ADVANCE = "in_advance", "in advance"
        IN_ARREARS = "in_arrears", "in arrears"

    class TieredMode(models.TextChoices):
        GRADUATED = "graduated"
        VOLUME = "volume"

    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="rate_cards")
    phase_key = models.CharField("phase", max_length=64, blank=True,
                                 help_text="Key of the plan phase this rate card belongs to.")
    addon = models.ForeignKey(Addon, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="rate_cards")
    position = models.PositiveSmallIntegerField(default=0)
    key = models.CharField(max_length=64, validators=[validate_key], help_text=KEY_HELP)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.USAGE_BASED)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    feature = models.ForeignKey(Feature, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="rate_cards")
    billing_cadence = models.CharField(
        max_length=32, blank=True, validators=[validate_duration],
        help_text="ISO 8601, e.g. P1M. Empty on a flat fee means a one-time fee.",
    )
    price_type = models.CharField(max_length=8, choices=PriceType.choices, blank=True)
    price_amount = ExactDecimalField(
        "amount", null=True, blank=True,
        help_text="Flat amount, unit price or price per package, in the plan's currency.",
    )
    payment_term = models.CharField(max_length=16, choices=PaymentTerm.choices,
                                    default=PaymentTerm.IN_ADVANCE,
                                    help_text="For flat prices.")
    tiered_mode = models.CharField(max_length=16, choices=TieredMode.choices,
                                   default=TieredMode.GRADUATED)
    tiers = models.JSONField(
        default=list, blank=True,
        help_text="Rows of upToAmount (empty = open-ended), unitPrice and flatPrice.",
    )
    quantity_per_package = ExactDecimalField(null=True, blank=True)
    minimum_amount = ExactDecimalField(
        null=True, blank=True, help_text="Commitment: charge at least this per period.")
    maximum_amount = ExactDecimalField(
        null=True, blank=True, help_text="Cap: never charge more than this per period.")
    discount_percentage = ExactDecimalField(
        "percentage discount", null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)], help_text="50 means 50 %.")
    discount_usage_quantity = ExactDecimalField(
        "free units", null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Usage discount: units free each period before the price applies.")
    entitlement_template = models.JSONField(
        null=True, blank=True,
        help_text='e.g. {"type": "metered", "issueAfterReset": 1000, "isSoftLimit": false}, '
                  '{"type": "boolean"} or {"type": "static", "config": "{\\"seats\\": 5}"}.',
    )
    tax_config = models.JSONField(
        null=True, blank=True, help_text='e.g. {"behavior": "exclusive", '
                                         '"stripe": {"code": "txcd_10000000"}}.')

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(plan__isnull=False, addon__isnull=True)
                | Q(plan__isnull=True, addon__isnull=False),
                name="rate_card_belongs_to_plan_or_addon",
            ),
            models.UniqueConstraint(fields=["plan", "phase_key", "key"],
                                    condition=Q(plan__isnull=False),
                                    name="rate_card_key_per_plan_phase"),
            models.UniqueConstraint(fields=["addon", "key"], condition=Q(addon__isnull=False),
                                    name="rate_card_key_per_addon"),
        ]

    def __str__(self):
        return self.name or self.key

    def owner(self):
        return self.plan if self.plan_id else self.addon

    def clean(self):
        from apps.catalog.rules import rate_card_errors

        if errors := rate_card_errors(self):
            raise ValidationError(errors)


class PlanAddon(EditableWithParent):
    """An add-on a plan allows, from one of its phases on, up to a quantity."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="allowed_addons")
    addon = models.ForeignKey(Addon, on_delete=models.PROTECT, related_name="plans")
    from_plan_phase = models.CharField(max_length=64, help_text="Key of the first phase.")
    max_quantity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: no limit (multiple-instance add-ons only).")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = "allowed add-on"
        constraints = [models.UniqueConstraint(fields=["plan", "addon"],
                                               name="plan_addon_unique")]

    def __str__(self):
        return f"{self.addon} on {self.plan}"

    def owner(self):
        return self.plan
