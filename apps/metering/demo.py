"""Thirty days of believable gateway traffic for the demo customers. Idempotent."""

import math
import random
from datetime import timedelta

from django.utils import timezone

from apps.core.times import rfc3339
from apps.customers.models import GatewayConsumer
from apps.metering import presets, services
from apps.metering.models import Event

SOURCE = "demo-gateway"
ROUTES = [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("POST", "/v1/embeddings"),
          ("GET", "/v1/usage")]
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4"),
          ("meta", "llama-3.3-70b")]
HEAVY = {"acme", "hooli", "massive-labs"}
UNATTRIBUTED = ["trial-7f3a", "trial-91bc", "unknown-partner"]


def _daily_profile(hour: int) -> float:
    """Office-hours peak around 15:00 UTC, quiet nights."""
    return 0.25 + math.exp(-((hour - 15) ** 2) / 18)


def demo_events(now, days: int = 30, seed: int = 2026) -> list[dict]:
    rng = random.Random(seed)
    subjects = list(GatewayConsumer.objects.filter(customer__isnull=False)
                    .values_list("key", "customer__key").order_by("key"))
    subjects += [(key, None) for key in UNATTRIBUTED]
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    events = []
    for subject, customer_key in subjects:
        weight = 6 if customer_key in HEAVY else (0.3 if customer_key is None else 1)
        for hour in range(days * 24):
            instant = start + timedelta(hours=hour)
            if instant >= now:
                break
            expected = weight * _daily_profile(instant.hour) * 0.8
            for n in range(int(expected) + (rng.random() < expected % 1)):
                at = instant + timedelta(seconds=rng.randrange(3600))
                if at >= now:
                    continue
                stamp = rfc3339(at)
                method, route = rng.choice(ROUTES)
                status = rng.choices([200, 201, 400, 429, 500], [85, 5, 5, 4, 1])[0]
                events.append({
                    "specversion": "1.0", "id": f"req-{subject}-{hour}-{n}", "source": SOURCE,
                    "type": "request", "subject": subject, "time": stamp,
                    "data": {"method": method, "route": route, "status_code": status,
                             "duration_ms": rng.randrange(20, 900)}})
                if route == "/v1/chat/completions" and status < 300:
                    provider, model = rng.choice(MODELS)
                    prompt = rng.randrange(200, 4000)
                    events.append({
                        "specversion": "1.0", "id": f"llm-{subject}-{hour}-{n}",
                        "source": SOURCE, "type": "llm_usage", "subject": subject, "time": stamp,
                        "data": {"provider": provider, "model": model, "input_tokens": prompt,
                                 "output_tokens": rng.randrange(50, 1500),
                                 "cached_tokens": rng.choice([0, 0, prompt // 2])}})
    return events


def seed_metering(now=None) -> int:
    """Install the preset meters and the demo traffic; returns the number of new events."""
    for name in presets.PRESETS:
        presets.install_preset(name)
    if Event.objects.filter(source=SOURCE).exists():
        return 0
    events = demo_events(now or timezone.now())
    stored = 0
    for offset in range(0, len(events), 1000):
        stored += services.ingest_events(events[offset:offset + 1000]).stored
    return stored
