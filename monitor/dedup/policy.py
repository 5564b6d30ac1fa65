"""The alert policy of a story, as a pure function (Alertmanager's timing applied to stories).

- The first matching article of a story alerts after ``group_wait``, so reports arriving
  together join that one alert (in ``monitor check`` the whole pass is the wait).
- A later article is attached. If the story's alert to a target has not been attempted yet, that
  alert is refreshed to list it; otherwise an update goes out, at most one per
  ``update_interval``.
- A story whose severity rises alerts again at once (an escalation).
- Stale articles (older than ``max_age`` when first seen) and near-duplicates never alert; nor
  does an article that opens a story for an event day more than ``max_age`` (and a week)
  before it was written ("A month after the Tower 22 attack, questions remain…": old news told
  anew).
- A story that never alerted (it was opened by a stale article) alerts as new on its first
  fresh article.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from monitor.model import Severity, severity_rank

Decision = Literal["new", "update", "escalation", "duplicate", "stale"]


@dataclass(frozen=True)
class Plan:
    """What to do for one target: nothing, refresh the pending alert, or queue a new one."""

    action: Literal["none", "refresh", "queue"]
    kind: Literal["new", "update", "escalation"] = "new"
    not_before: datetime | None = None


def story_decision(*, opened: bool, stale: bool, duplicate: bool, severity: Severity,
                   alerted: Severity | None) -> Decision:
    """What an article is to its story (``alerted``: the severity last alerted, if any)."""
    if duplicate:
        return "duplicate"
    if stale:
        return "stale"
    if opened or alerted is None:
        return "new"
    if severity_rank(severity) < severity_rank(alerted):
        return "escalation"
    return "update"


def plan(decision: Decision, *, now: datetime, pending: bool,
         previous: Sequence[datetime], group_wait: timedelta,
         update_interval: timedelta, pending_new: bool = False) -> Plan:
    """The plan for one target. ``pending``: the story has an alert to it not yet attempted
    (``pending_new``: it is the story's first alert, still in its group wait);
    ``previous``: when its earlier alerts to it were (or will first be) sent."""
    if decision in ("duplicate", "stale"):
        return Plan("none")
    if pending and (decision != "escalation" or pending_new):
        return Plan("refresh")  # an escalation within the group wait raises the first alert
    if decision == "new":
        return Plan("queue", "new", now + group_wait)
    if decision == "escalation":
        return Plan("queue", "escalation", now)
    last = max(previous, default=None)
    start = now if last is None else max(now, last + update_interval)
    return Plan("queue", "update", start)


def is_stale(published: datetime | None, now: datetime, max_age: timedelta) -> bool:
    return published is not None and now - published > max_age


OLD_EVENT_FLOOR = timedelta(days=7)  # a named weekday resolves to the last seven days


def is_old_event(event_day: date | None, written: datetime, max_age: timedelta) -> bool:
    """The event day an article tells is more than ``max_age`` before it was written, and more
    than a week: a weekday ("on Friday") is read as the last such day, and a fresh report may
    name a coming one ("talks due on Friday"), so only a date or "a month after" counts."""
    return (event_day is not None
            and written.date() - event_day > max(max_age, OLD_EVENT_FLOOR))
