"""One-click meters (MET-6) for the event shapes gateways commonly send.

API requests — one event per request:
    {"type": "request", "subject": "<consumer>",
     "data": {"method": "GET", "route": "/flights", "status_code": 200, "duration_ms": 12}}
LLM usage — one event per model call:
    {"type": "llm_usage", "subject": "<consumer>",
     "data": {"provider": "openai", "model": "gpt-4o", "input_tokens": 812,
              "output_tokens": 233, "cached_tokens": 128}}
"""

API_REQUESTS = [
    {"slug": "api_requests", "name": "API requests", "event_type": "request",
     "aggregation": "COUNT", "value_property": "",
     "group_by": {"method": "$.method", "route": "$.route", "status_code": "$.status_code"},
     "description": "Every API request, by route, method and status."},
]

LLM_TOKENS = [
    {"slug": f"llm_{kind}_tokens", "name": f"LLM {kind} tokens", "event_type": "llm_usage",
     "aggregation": "SUM", "value_property": f"$.{kind}_tokens",
     "group_by": {"provider": "$.provider", "model": "$.model"},
     "description": f"{kind.capitalize()} tokens per provider and model."}
    for kind in ("input", "output", "cached")
]

PRESETS = {"api_requests": API_REQUESTS, "llm_tokens": LLM_TOKENS}


def install_preset(name: str) -> list:
    """Create the preset's meters that do not exist yet; returns the created ones."""
    from apps.metering import services
    from apps.metering.models import Meter

    created = []
    for spec in PRESETS[name]:
        if not Meter.objects.filter(slug=spec["slug"], deleted_at__isnull=True).exists():
            created.append(services.meter_create(**spec))
    return created


def describe(name: str) -> str:
    spec = PRESETS[name][0]
    return (f"Counts events of type “{spec['event_type']}”, grouped by "
            f"{', '.join(spec['group_by'])}. Meters that exist already are left alone.")
