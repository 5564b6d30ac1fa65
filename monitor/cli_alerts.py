"""The logic behind the outbox commands of the CLI: ``monitor alerts list`` (the outbox rows),
``monitor alerts retry`` (a dead row back to pending) and ``monitor send-test`` (one labelled
test alert to a configured target).

No click here: the commands (``cli_alerts_commands.py``) parse the options, print and set the
exit code. Titles and errors printed for a terminal pass ``clean_line``; JSON escapes them.
Nothing from a target's settings is ever shown (URLs and passwords are secrets), and of an
alert's payload only the title and severity. For targets with recipients (e-mail), each row's
recorded recipients and their outcomes are listed too (``monitor.store.recipients``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from contextlib import closing
from datetime import UTC, datetime

from monitor.config import Config
from monitor.deliver import build_target
from monitor.deliver.base import clean_line, truncate
from monitor.errors import ConfigError, DeliveryError, MonitorError
from monitor.model import Alert
from monitor.net import GuardedClient
from monitor.store import Store
from monitor.store.alerts import AlertRow
from monitor.store.recipients import RecipientOutcome

Recipients = Mapping[int, Sequence[RecipientOutcome]]  # alert id → its recorded recipients

WIDTH = 120  # columns of the alert table
ERROR_ROOM = 30  # at most this many of them for the last error


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _when(r: AlertRow) -> str:
    """The time that matters for the row: when sent, else when next attempted."""
    if r.state == "sent":
        return _time(r.sent_at)
    return "-" if r.state == "dead" else _time(r.next_attempt_at)


def recipients_of(store: Store, rows: Sequence[AlertRow]) -> dict[int, list[RecipientOutcome]]:
    """The recorded recipients of each row (an empty list for most targets)."""
    return {r.id: store.recipients(r.id) for r in rows}


def _accepted(outcomes: Sequence[RecipientOutcome]) -> str:
    """``2/3 accepted``, or "" when no recipient was recorded."""
    if not outcomes:
        return ""
    return f"{sum(o.outcome == 'accepted' for o in outcomes)}/{len(outcomes)} accepted"


def alerts_json(rows: Sequence[AlertRow], recipients: Recipients | None = None) -> str:
    """One JSON array, newest first: full titles and errors, ISO 8601 UTC times, and each
    row's recorded recipients (``{"address", "outcome", "detail"}``; empty for targets without
    recipients)."""
    found = recipients or {}
    return json.dumps([{
        "id": r.id, "key": r.key, "state": r.state, "target": r.target, "kind": r.kind,
        "severity": r.severity, "attempts": r.attempts, "story_id": r.story_id,
        "title": r.title, "created_at": _iso(r.created_at),
        "next_attempt_at": _iso(r.next_attempt_at) if r.state in ("pending", "sending")
        else None, "sent_at": _iso(r.sent_at), "last_error": r.last_error,
        "recipients": [{"address": o.recipient, "outcome": o.outcome, "detail": o.detail}
                       for o in found.get(r.id, ())],
    } for r in rows], ensure_ascii=False, indent=2)


def alerts_table(rows: Sequence[AlertRow], recipients: Recipients | None = None) -> str:
    """An aligned table, newest first: id, state, target, kind, attempts, next attempt (or sent
    at), story, title and last error, both cut to fit :data:`WIDTH` columns; the last error
    starts with ``2/3 accepted`` for a row with recorded recipients."""
    if not rows:
        return "no alerts"
    found = recipients or {}
    head = ("ID", "STATE", "TARGET", "KIND", "TRIES", "NEXT/SENT (UTC)", "STORY", "TITLE",
            "LAST ERROR")
    cells = [(str(r.id), r.state, clean_line(r.target), r.kind, str(r.attempts), _when(r),
              str(r.story_id), clean_line(r.title) or "-",
              "; ".join(x for x in (_accepted(found.get(r.id, ())), clean_line(r.last_error))
                        if x) or "-")
             for r in rows]
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(len(head) - 2)]
    errors = min(ERROR_ROOM, max(len(row[-1]) for row in [head, *cells]))
    room = max(16, WIDTH - sum(widths) - 2 * len(widths) - errors - 2)
    numeric = {0, 4, 6}
    lines = []
    for row in [head, *cells]:
        fixed = [c.rjust(w) if i in numeric else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        title = truncate(row[-2], room).ljust(room)
        lines.append("  ".join([*fixed, title, truncate(row[-1], errors)]).rstrip())
    return "\n".join(lines)


def _requeued(r: AlertRow) -> str:
    return (f"requeued alert {r.id} (target {clean_line(r.target)}, story {r.story_id}, "
            f"{r.attempts} attempts so far): {clean_line(r.title)}")


def retry(store: Store, alert_id: int | None, now: datetime) -> list[str]:
    """Requeue alert ``alert_id`` (dead or pending), or every dead one when None: pending, due
    ``now``, same key and attempts. Returns one line per row requeued. Raises
    ``MonitorError`` for an unknown id or a row already sent or being sent."""
    if alert_id is None:
        rows = store.requeue_dead(now)
        lines = [_requeued(r) for r in rows]
        return [*lines, f"requeued {len(rows)} dead alerts; the next check or the daemon "
                        "sends them"]
    before = store.requeue_alert(alert_id, now)
    if before is None:
        raise MonitorError(f"no alert {alert_id} in {store.path}")
    if before.state not in ("pending", "dead"):
        raise MonitorError(f"alert {alert_id} is {before.state}, not dead or pending: "
                           "not requeued")
    return [_requeued(before), "the next check or the daemon sends it"]


def labelled_test_alert(target: str, now: datetime) -> Alert:
    """A clearly labelled operator alert with a fresh key."""
    return Alert(
        key=f"test-{uuid.uuid4().hex}", target=target, story_id=0, severity="low",
        title="news-monitor test alert", url=None, feed="news-monitor", site=None,
        published=now, created_at=now, kind="operator", matches=(),
        snippet="A test alert sent by `monitor send-test`: this target is configured and "
                "reachable. Nothing happened; no action is needed.")


def send_test(config: Config, name: str, now: datetime) -> str:
    """Send a test alert to target ``name``; return the line to print (for e-mail, with each
    recipient that refused it: ``b@x refused: 550 …``). Raises ``ConfigError``
    for an unknown target, ``DeliveryError`` (its message names the target, never its URL)
    when the target refused it."""
    settings = config.targets.get(name)
    if settings is None:
        known = ", ".join(sorted(config.targets)) or "none"
        raise ConfigError(f"{config.path}: no target {name!r} (targets: {known})")
    with closing(GuardedClient(config.network)) as client:
        target = build_target(name, settings, client)
        receipt = target.send(labelled_test_alert(name, now)) or {}
    refused = [f"{clean_line(a)} {clean_line(o)}" for a, o in receipt.items() if o != "accepted"]
    return f"send-test: target {name!r}: sent" + "".join(f"; {r}" for r in refused)


def failure_line(e: DeliveryError) -> str:
    return f"failed: {e} ({'transient' if e.transient else 'permanent'})"
