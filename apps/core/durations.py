"""ISO 8601 durations as used for billing cadences and phase lengths (P1M, P14D, P1Y, PT1H).

Pure Python. Calendar parts (years, months) and fixed parts (weeks, days, time) are kept apart:
a month is not a number of days, so P1M and P30D are different cadences.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


class DurationError(ValueError):
    pass


@dataclass(frozen=True)
class Duration:
    months: int = 0  # years are stored as 12 months
    seconds: int = 0  # weeks, days and the time part

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and self.seconds == 0

    def add_to(self, instant: datetime, times: int = 1) -> datetime:
        """`instant` plus this duration `times` times; months keep the day of month when they
        can (Jan 31 + P1M = Feb 28/29), counted from `instant` so periods never drift."""
        return instant + relativedelta(months=self.months * times) + timedelta(
            seconds=self.seconds * times)

    def fits(self, other: "Duration") -> bool:
        """True when one duration is a whole multiple of the other (rate card vs plan cadence)."""
        if self.is_zero or other.is_zero:
            return False
        if self.months and other.months and not self.seconds and not other.seconds:
            small, large = sorted((self.months, other.months))
            return large % small == 0
        if self.seconds and other.seconds and not self.months and not other.months:
            small, large = sorted((self.seconds, other.seconds))
            return large % small == 0
        return False


def parse_duration(text: str) -> Duration:
    """Parse an ISO 8601 duration such as P1M, P3M, P1Y, P14D, P2W or PT1H."""
    match = _DURATION.fullmatch(text or "")
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise DurationError(f"“{text}” is not an ISO 8601 duration such as P1M, P1Y or P14D.")
    parts = {name: int(value) for name, value in match.groupdict().items() if value}
    duration = Duration(
        months=parts.get("years", 0) * 12 + parts.get("months", 0),
        seconds=((parts.get("weeks", 0) * 7 + parts.get("days", 0)) * 86400
                 + parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60
                 + parts.get("seconds", 0)),
    )
    if duration.is_zero:
        raise DurationError(f"“{text}” is zero; a duration must be longer than that.")
    return duration
