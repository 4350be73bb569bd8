"""State changes owned by the core app: API keys and the heartbeat."""

import hashlib
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.models import ApiKey, Heartbeat

API_KEY_PREFIX = "ml_"


def hash_api_key(raw_key: str) -> str:
    # A key carries 256 random bits, so a fast digest is enough; a slow KDF would only
    # add latency to every ingest request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create a key and return it with its raw value, which is never retrievable again."""
    prefix = API_KEY_PREFIX + secrets.token_hex(4)
    raw_key = f"{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=hash_api_key(raw_key), created_by=created_by
    )
    return api_key, raw_key


# Recently authenticated keys, so the ingest hot path skips a query per request. A revoked
# key stops working in this process at once, and everywhere within API_KEY_CACHE_SECONDS.
_recent_keys: dict[str, tuple[ApiKey, float]] = {}


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    _recent_keys.clear()
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_recently_authenticated(raw_key: str) -> ApiKey | None:
    """The key if this process authenticated it recently; None means ask the database."""
    return _recently_authenticated(hash_api_key(raw_key))


def _recently_authenticated(digest: str) -> ApiKey | None:
    cached = _recent_keys.get(digest)
    return cached[0] if cached and cached[1] > time.monotonic() else None


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``; records its use at most once per minute."""
    digest = hash_api_key(raw_key)
    if cached := _recently_authenticated(digest):
        return cached
    api_key = ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True).first()
    if api_key is None:
        _recent_keys.pop(digest, None)
        return None
    if len(_recent_keys) > 10_000:
        _recent_keys.clear()
    _recent_keys[digest] = (api_key, time.monotonic() + settings.API_KEY_CACHE_SECONDS)
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or api_key.last_used_at < stale_before:
        # Conditional update: concurrent requests do not all write the same row.
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale_before)
        ).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def heartbeat_record(*, name: str, hostname: str) -> Heartbeat:
    now = timezone.now()
    with transaction.atomic():
        updated = Heartbeat.objects.filter(name=name).update(
            last_run_at=now, worker_hostname=hostname, runs=F("runs") + 1
        )
        if not updated:
            Heartbeat.objects.get_or_create(
                name=name,
                defaults={"last_run_at": now, "worker_hostname": hostname, "runs": 1},
            )
    return Heartbeat.objects.get(name=name)
