from datetime import UTC, datetime


def rfc3339(instant: datetime | None) -> str | None:
    """An aware datetime as OpenMeter writes it: UTC with a Z."""
    if instant is None:
        return None
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
