"""When a target may be sent to: quiet hours and digest periods, per target.

Config (any target type)::

    [targets.ops-mail]
    type = "email"
    timezone = "Europe/London"   # IANA name for the two settings below; default UTC
    quiet_hours = "22:00-07:00"  # non-critical alerts wait until the end of the quiet time
    digest = "1d"                # collect alerts and send one message per period …
    digest_at = "08:00"          # … at this local time (periods are anchored on it)

**Quiet hours** hold every alert below ``critical`` (operator notices included) while the
target's local time is inside the window; held rows stay in the outbox, pending, due at the
window's end, so they then arrive in the order they were queued. A window may cross midnight.

**Digests.** A digest target's alerts are not sent one by one. Each row waits for the first
period boundary after it was queued; at a boundary every row due for the target is sent as one
message (``monitor.deliver.digest``). Boundaries are ``digest_at`` local wall-clock time plus
whole periods, counted from Monday 3 January 2000, so a ``"1d"`` digest comes every day at
``digest_at`` (across DST changes) and a ``"7d"`` one every Monday. A digest whose alerts are all
below critical also waits out quiet hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.model import Alert

SCHEDULE_KEYS = frozenset({"timezone", "quiet_hours", "digest", "digest_at"})
MIN_DIGEST = 300  # seconds: a shorter period is not a digest
MAX_DIGEST = 7 * 86400
_EPOCH = datetime(2000, 1, 3)  # a Monday: the anchor of every period (local wall time)
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    """A schedule setting that cannot be used; ``key`` names the setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Schedule:
    """Quiet hours and digest period of one target (times in ``zone``)."""

    zone: tzinfo = UTC
    quiet: tuple[time, time] | None = None  # [start, end), may cross midnight
    digest: int | None = None  # seconds per digest period
    digest_at: time = time(8, 0)

    def quiet_end(self, now: datetime) -> datetime | None:
        """The end (UTC) of the quiet time ``now`` is in, or None outside quiet hours."""
        if self.quiet is None:
            return None
        start, end = self.quiet
        local = now.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        day = local.date()
        if start < end:
            inside = start <= clock < end
        else:  # crosses midnight
            inside = clock >= start or clock < end
            if clock >= start:
                day += timedelta(days=1)
        if not inside:
            return None
        return _utc(datetime.combine(day, end), self.zone)

    def hold_until(self, alert: Alert, now: datetime) -> datetime | None:
        """When a single ``alert`` may be sent, if not now: the end of quiet hours for an alert
        below critical."""
        if alert.severity == "critical":
            return None
        return self.quiet_end(now)

    def digest_slot(self, queued: datetime) -> datetime:
        """The first digest boundary (UTC) strictly after ``queued``."""
        assert self.digest is not None
        local = queued.astimezone(self.zone).replace(tzinfo=None)
        base = datetime.combine(_EPOCH.date(), self.digest_at)
        periods = (local - base) // timedelta(seconds=self.digest)
        return _utc(base + timedelta(seconds=self.digest) * (periods + 1), self.zone)


def _utc(wall: datetime, zone: tzinfo) -> datetime:
    """A local wall-clock time in ``zone`` as an aware UTC time (a time skipped by a DST change
    is read with the offset before the change, as ``zoneinfo`` does)."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _clock(key: str, value: str) -> time:
    m = _CLOCK.match(value.strip())
    if not m:
        raise ScheduleError(key, f"{value!r} is not a time of day such as '07:30'")
    return time(int(m.group(1)), int(m.group(2)))


def parse_zone(value: str) -> tzinfo:
    if value.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("timezone", f"{value!r} is not an IANA time zone such as "
                            "'Europe/London'") from None


def parse_quiet(value: str) -> tuple[time, time]:
    start, sep, end = value.partition("-")
    if not sep:
        raise ScheduleError("quiet_hours", f"{value!r} must look like '22:00-07:00'")
    window = _clock("quiet_hours", start), _clock("quiet_hours", end)
    if window[0] == window[1]:
        raise ScheduleError("quiet_hours", "start and end are the same time")
    return window


def build(timezone: str | None, quiet_hours: str | None, digest: int | None,
          digest_at: str | None) -> Schedule | None:
    """A target's schedule from its settings (``digest`` already in seconds); None when the
    target has neither quiet hours nor a digest. Raises ``ScheduleError`` naming the key."""
    if digest is not None and not MIN_DIGEST <= digest <= MAX_DIGEST:
        raise ScheduleError("digest", "must be a duration from 5m to 7d, such as '1h' or '1d'")
    if digest is None and digest_at is not None:
        raise ScheduleError("digest_at", "is only used with 'digest'")
    if quiet_hours is None and digest is None:
        if timezone is not None:
            parse_zone(timezone)
        return None
    return Schedule(
        zone=parse_zone(timezone) if timezone is not None else UTC,
        quiet=parse_quiet(quiet_hours) if quiet_hours is not None else None,
        digest=digest,
        digest_at=_clock("digest_at", digest_at) if digest_at is not None else time(8, 0),
    )
