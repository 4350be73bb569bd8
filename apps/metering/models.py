from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.core.fields import ExactDecimalField
from apps.core.history import history_user
from apps.core.ids import new_ulid
from apps.metering.domain.aggregation import Aggregation

SLUG_PATTERN = r"^[a-z0-9]+(?:_[a-z0-9]+)*$"


class Meter(models.Model):
    """How events of one type become numbers (OpenMeter's meter)."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid, editable=False)
    slug = models.CharField(
        max_length=64,
        validators=[RegexValidator(SLUG_PATTERN, "Use lower-case letters, digits and single "
                                                 "underscores, e.g. llm_tokens.")],
    )
    name = models.CharField(max_length=256, blank=True)
    description = models.TextField(blank=True)
    event_type = models.CharField(max_length=256, help_text="Events whose type equals this.")
    aggregation = models.CharField(
        max_length=16, choices=[(a.value, a.value) for a in Aggregation]
    )
    value_property = models.CharField(
        max_length=512, blank=True,
        help_text="JSONPath into the event's data, e.g. $.tokens (not used by COUNT).",
    )
    group_by = models.JSONField(
        default=dict, blank=True,
        help_text='Dimensions: name → JSONPath, e.g. {"model": "$.model"}.',
    )
    event_from = models.DateTimeField(
        null=True, blank=True, help_text="Ignore events before this instant."
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(deleted_at__isnull=True), name="meter_slug_live_unique"
            )
        ]

    def __str__(self):
        return self.name or self.slug

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Event(models.Model):
    """One stored CloudEvent. Append-only; (source, event_id) identifies it."""

    id = models.BigAutoField(primary_key=True)  # also the ingest order (LATEST tie-break)
    source = models.CharField(max_length=512)
    event_id = models.CharField("event ID", max_length=512)
    type = models.CharField(max_length=256)
    subject = models.CharField(max_length=256)
    time = models.DateTimeField()
    data = models.JSONField(null=True, blank=True)
    specversion = models.CharField(max_length=16, default="1.0")
    datacontenttype = models.CharField(max_length=64, blank=True)
    dataschema = models.CharField(max_length=1024, blank=True)
    payload_hash = models.CharField(max_length=64)
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="event_source_id_unique")
        ]
        indexes = [
            models.Index(fields=["type", "time"], name="event_type_time"),
            models.Index(fields=["subject", "time"], name="event_subject_time"),
            models.Index(fields=["time"], name="event_time"),
        ]

    def __str__(self):
        return f"{self.type} {self.source}/{self.event_id}"


class EventConflict(models.Model):
    """A repeat of a stored (source, id) with a different payload; the first one stands."""

    source = models.CharField(max_length=512)
    event_id = models.CharField("event ID", max_length=512)
    stored_event = models.ForeignKey(Event, null=True, on_delete=models.SET_NULL,
                                     related_name="conflicts")
    received_payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.source}/{self.event_id}"


class RollupKey(models.Model):
    """What a rollup row is about: one meter, subject, group and UTC minute."""

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, db_index=False)
    subject = models.CharField(max_length=256)
    group_key = models.TextField()
    group_values = models.JSONField(default=dict)
    bucket_start = models.DateTimeField()

    class Meta:
        abstract = True


class MeterRollup(RollupKey):
    """Pre-aggregated state of one meter for one subject, group and UTC minute."""

    count = models.BigIntegerField(default=0)
    sum = ExactDecimalField(default=0)
    min = ExactDecimalField(null=True)
    max = ExactDecimalField(null=True)
    latest_value = ExactDecimalField(null=True)
    latest_time = models.DateTimeField(null=True)
    latest_seq = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "subject", "group_key", "bucket_start"],
                                    name="rollup_identity")
        ]
        indexes = [models.Index(fields=["meter", "bucket_start"], name="rollup_meter_bucket")]

    def __str__(self):
        return f"{self.meter_id} {self.subject} {self.bucket_start:%Y-%m-%d %H:%M}"


class MeterUniqueValue(RollupKey):
    """The distinct values an UNIQUE_COUNT meter saw per subject, group and minute."""

    value = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "subject", "group_key", "bucket_start", "value"],
                name="unique_value_identity",
            )
        ]
        indexes = [models.Index(fields=["meter", "bucket_start"], name="unique_meter_bucket")]

    def __str__(self):
        return f"{self.meter_id} {self.subject} {self.value}"
