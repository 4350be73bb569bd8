from django.urls import get_resolver

from apps.metering.domain.windows import parse_time_zone


def warm_up() -> None:
    """Pay while the worker boots, not in its first requests (~65 ms together, which the first
    requests of every new worker would otherwise wait for): importing every URLconf and view,
    and listing the tz database's zone names."""
    get_resolver().url_patterns  # noqa: B018  (resolving the attribute imports them)
    parse_time_zone("UTC")
