from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    """A credential for the HTTP API. Only a SHA-256 digest of the key is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=16, unique=True, help_text="Public start of the key, to recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Heartbeat(models.Model):
    """Last run of the periodic heartbeat task: proof that beat schedules and a worker runs."""

    name = models.CharField(max_length=50, unique=True)
    last_run_at = models.DateTimeField()
    worker_hostname = models.CharField(max_length=255, blank=True)
    runs = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def is_fresh(self, now=None) -> bool:
        now = now or timezone.now()
        allowed = 3 * settings.HEARTBEAT_INTERVAL_SECONDS
        return (now - self.last_run_at).total_seconds() <= allowed
