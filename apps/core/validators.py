import re
import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError

CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_currency_code(value: str) -> None:
    # OpenMeter allows custom three-letter codes (credits, tokens), so no ISO list check here.
    if not CURRENCY_CODE.fullmatch(value or ""):
        raise ValidationError("Enter a three-letter upper-case currency code such as USD.",
                              code="invalid_currency")


def validate_country_code(value: str) -> None:
    if value and not COUNTRY_CODE.fullmatch(value):
        raise ValidationError("Enter a two-letter ISO 3166-1 country code such as US.",
                              code="invalid_country")


def validate_time_zone(value: str) -> None:
    if value not in known_time_zones():
        raise ValidationError(f"“{value}” is not an IANA time zone such as Europe/Berlin.",
                              code="invalid_time_zone")
