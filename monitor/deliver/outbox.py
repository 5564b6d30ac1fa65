"""The outbox relay: send what is due, mark it sent only after the target accepted it.

Each row is leased (state ``sending``) before its attempt, so a crash mid-send leaves a row that
is retried, with the same idempotency key, once the lease runs out. A drain claims rows by the
hundred and sends them in turn; each row's lease is renewed just before its attempt, and a row
whose lease ran out meanwhile and that another process (a ``monitor check`` beside the daemon)
claimed since is left to that process, so it is not sent twice. A transient failure is
retried after an exponential backoff with full jitter (at least the target's ``Retry-After``);
a permanent one, or one past ``max_attempts``, leaves the row ``dead`` with its reason.

Targets are independent; the relay never sleeps:

- **Pacing.** A target sends at most one alert per ``min_interval`` seconds (the target class's
  ``min_interval``, 1 s for Slack, 0 for the others; ``[delivery] min_interval`` overrides it per
  target name). A row that is due before its target's next slot is given back, pending, due at
  that slot (same key), and the relay goes on with other targets' rows: a burst queues.
- **Pauses.** A transient ``DeliveryError`` (429 with Retry-After, 5xx, network) pauses its
  target until the retry time: all its pending rows wait, so after an outage they arrive in
  creation order. Other targets go on. (An unexpected exception, i.e. a bug with one alert,
  retries that row only; so does an e-mail refused or deferred by some recipients only,
  ``recipients_only``: the server works, and the others get the target's next alerts.)
- **Gone targets.** A ``DeliveryError(gone=True)`` (HTTP 410, an archived Slack channel, a
  revoked token) disables the target (``target_state``) and queues one operator alert saying
  so to every other enabled target: its rows stay pending, neither sent nor lost, until
  ``Store.enable_target(name)``. Changing the target's config does not re-enable
  it by itself.
- **Quiet hours** (``[targets.X] quiet_hours``, ``monitor.deliver.schedule``): a row below
  critical for a target in its quiet time is given back, due at the quiet time's end.
- **Digests** (``[targets.X] digest``): a digest target's row is given back until the first
  period boundary after it was queued; at the boundary all its due rows are collected and sent
  as one message (``monitor.deliver.digest``), then marked together: sent, retried (one pause
  for the target) or dead (one operator alert for the lot). ``max_age`` does not apply to them
  (they wait up to a period by design); ``max_attempts`` still does.
- **Dead rows** (a permanent error, ``max_attempts``, or undelivered ``max_age`` after it was
  queued) queue one ``kind="operator"`` alert to every other enabled target, keyed by the dead
  row's key (so each death is reported once). An operator alert that dies raises none.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor import metrics
from monitor.deliver.digest import build_digest
from monitor.errors import DeliveryError
from monitor.model import Alert

if TYPE_CHECKING:
    from monitor.config import DeliveryConfig
    from monitor.deliver import Target
    from monitor.store import DueAlert, Store

log = logging.getLogger("monitor.deliver")
LEASE = timedelta(minutes=5)
MAX_RETRY_AFTER = 24 * 3600.0  # a Retry-After further out than a day is taken as a day
PACE_HORIZON = 60.0  # seconds one call may wait for paced slots (others are sent meanwhile)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    errors: tuple[str, ...] = ()  # one line per failed attempt: "target=slack: reason"
    deferred: int = 0  # rows given back for their target's next paced slot or pause end
    disabled: tuple[str, ...] = ()  # configured targets that are disabled: "name: reason"

    @property
    def ok(self) -> bool:
        return not self.retrying and not self.dead and not self.disabled

    @property
    def wrote(self) -> bool:
        """Rows were claimed and their outcomes stored: the database took writes."""
        return bool(self.sent or self.retrying or self.dead or self.deferred)


def backoff(attempt: int, policy: DeliveryConfig, rng: random.Random,
            retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: full jitter over an exponential cap, and
    never less than the target's Retry-After (nor than one second)."""
    cap = min(policy.backoff_max, policy.backoff_base * 2 ** min(attempt, 30))
    return max(1.0, rng.uniform(0, cap), min(retry_after or 0.0, MAX_RETRY_AFTER))


def min_interval(name: str, target: object, policy: DeliveryConfig) -> float:
    """Seconds between two sends to ``name``: the config's override, else the target's own."""
    override = policy.min_interval.get(name)
    if override is not None:
        return float(override)
    return float(getattr(target, "min_interval", 0.0) or 0.0)


def operator_alerts(dead: Alert, reason: str, targets: Mapping[str, object],
                    disabled: Mapping[str, str], now: datetime) -> list[Alert]:
    """One operator alert about ``dead`` for every other enabled target; none about an
    operator alert (so they never loop). Keys derive from the dead alert's key."""
    if dead.kind == "operator":
        return []
    out = []
    for name in sorted(targets):
        if name == dead.target or name in disabled:
            continue
        key = "nm_" + hashlib.sha256(f"{dead.key}\n{name}\noperator".encode()).hexdigest()[:32]
        out.append(Alert(
            key=key, target=name, story_id=dead.story_id, severity="high",
            title=f"news-monitor: an alert to target {dead.target!r} could not be delivered",
            url=dead.url, feed=dead.feed, site=dead.site, published=dead.published,
            snippet=f"The {dead.kind} alert {dead.title!r} (key {dead.key}) to target "
                    f"{dead.target!r} is dead: {reason}",
            matches=(), created_at=now, kind="operator"))
    return out


def gone_alerts(name: str, reason: str, targets: Mapping[str, object],
                disabled: Mapping[str, str], now: datetime) -> list[Alert]:
    """One operator alert to every other enabled target saying that target ``name`` was
    disabled as gone, and how to enable it again."""
    out = []
    for other in sorted(targets):
        if other == name or other in disabled:
            continue
        key = "nm_" + hashlib.sha256(
            f"target-gone\n{name}\n{now.isoformat()}\n{other}".encode()).hexdigest()[:32]
        out.append(Alert(
            key=key, target=other, story_id=0, severity="high",
            title=f"news-monitor: target {name!r} is disabled", url=None, feed="news-monitor",
            site=None, published=None, matches=(), created_at=now, kind="operator",
            snippet=f"Target {name!r} answered that it is gone: {reason}. Its alerts stay "
                    f"queued, neither sent nor lost, until `monitor alerts enable {name}`."))
    return out


def _ceil(moment: datetime) -> datetime:
    """Up to the next whole second (the store keeps seconds; never due early)."""
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


class _Drain:
    """One ``deliver`` call: its counters and the per-target state it keeps between rows."""

    def __init__(self, store: Store, targets: Mapping[str, Target], policy: DeliveryConfig,
                 clock: Callable[[], datetime], rng: random.Random) -> None:
        self.store, self.targets, self.policy, self.clock, self.rng = (
            store, targets, policy, clock, rng)
        self.sent = self.retrying = self.dead = self.deferred = 0
        self.errors: list[str] = []
        self.disabled = store.disabled_targets()
        self.blocked: dict[str, datetime] = {}  # target paused in this drain → until when
        self.next_free: dict[str, datetime] = {}  # paced target → its next slot
        self.digests: dict[str, list[DueAlert]] = {}  # digest target → rows collected

    def operators(self, alert: Alert, reason: str) -> list[Alert]:
        return operator_alerts(alert, reason, self.targets, self.disabled, self.clock())

    def hold(self, due: DueAlert, until: datetime) -> None:
        self.store.release(due.id, until)
        self.deferred += 1

    def attempt(self, target: Target | None, name: str, alert: Alert,
                rows: Sequence[DueAlert]) -> bool:
        """Send ``alert`` (a row's own, or a digest of ``rows``) and record the outcome on every
        row; True when the target accepted it."""
        try:
            if target is None:
                raise DeliveryError(f"target {name!r} is no longer configured", transient=False)
            receipt = target.send(alert)
        except Exception as e:
            self.failed(target, name, alert, rows, e)
            return False
        now = self.clock()
        for due in rows:
            self.store.mark_sent(due.id, now)
            metrics.delivered(name, due.alert.created_at, now)
            if receipt:
                self.store.record_recipients(due.id, receipt, now)
        self.sent += len(rows)
        log.info("alert=%s target=%s state=sent%s", alert.key, name,
                 f" rows={len(rows)}" if alert.kind == "digest" else "")
        return True

    def failed(self, target: Target | None, name: str, alert: Alert,
               rows: Sequence[DueAlert], e: Exception) -> None:
        unexpected = not isinstance(e, DeliveryError)
        if not isinstance(e, DeliveryError):
            log.exception("alert=%s target=%s error=unexpected", alert.key, name)
            e = DeliveryError(f"unexpected {type(e).__name__}: {e}", transient=True)
        store = self.store
        if e.recipients:
            for due in rows:
                store.record_recipients(due.id, e.recipients, self.clock())
        if e.gone and target is not None:
            reason = str(e)
            now = self.clock()
            store.disable_target(name, reason, now,
                                 gone_alerts(name, reason, self.targets, self.disabled, now))
            self.disabled[name] = reason
            for due in rows:
                store.release(due.id, self.clock(), error=reason)
            self.errors.append(f"target={name}: disabled: {reason}")
            log.error("target=%s state=disabled pending=%d error=%r: its alerts wait until "
                      "the target is re-enabled", name, store.pending_count(name), reason)
            return
        attempts = max(due.attempts for due in rows) + 1
        give_up = not e.transient or attempts >= self.policy.max_attempts
        retry_at = None if give_up else self.clock() + timedelta(
            seconds=backoff(attempts - 1, self.policy, self.rng, e.retry_after))
        for i, due in enumerate(rows):  # a digest raises one operator alert, not one per row
            store.mark_failed(due.id, str(e), retry_at,
                              self.operators(due.alert, str(e)) if give_up and i == 0 else ())
        if retry_at is not None and not unexpected and not e.recipients_only:
            store.pause_target(name, retry_at)
            self.blocked[name] = retry_at
        self.errors.append(f"target={name}: {e}")
        metrics.delivery_failed(name, "dead" if give_up else "retrying")
        if give_up:
            self.dead += len(rows)
        else:
            self.retrying += len(rows)
        log.warning("alert=%s target=%s state=%s attempts=%d error=%r", alert.key, name,
                    "dead" if give_up else "retrying", attempts, str(e))

    def ours(self, due: DueAlert) -> bool:
        """Renew the row's lease just before its attempt; False (and it is left alone) when
        its lease ran out while the rows claimed before it were sent and another process
        claimed it since: that process sends it, not this one too."""
        if self.store.renew_lease(due, self.clock() + LEASE):
            return True
        log.info("alert=%s target=%s state=taken reason='its lease ran out before its turn in "
                 "this drain; another process claimed it'", due.alert.key, due.alert.target)
        return False

    def row(self, due: DueAlert, start: datetime) -> str | None:
        """Attempt, hold or collect one claimed row; return its target's name when the row was
        held back only for pacing."""
        alert = due.alert
        name = alert.target
        if name in self.disabled:  # disabled earlier in this drain
            self.store.release(due.id, start)
            return None
        if name in self.blocked:
            self.hold(due, self.blocked[name])
            return None
        target = self.targets.get(name)
        when = self.policy.schedules.get(name) if target is not None else None
        if when is not None and when.digest is not None:
            slot = when.digest_slot(alert.created_at)
            if start < slot:
                self.hold(due, slot)
            else:
                self.digests.setdefault(name, []).append(due)
            return None
        if when is not None and (until := when.hold_until(alert, start)) is not None:
            self.hold(due, _ceil(until))
            return None
        interval = min_interval(name, target, self.policy) if target is not None else 0.0
        if interval > 0:
            if name not in self.next_free:
                last = self.store.last_sent(name)
                self.next_free[name] = last + timedelta(seconds=interval) if last else start
            if self.clock() < self.next_free[name]:
                self.hold(due, _ceil(self.next_free[name]))
                return name
        if not self.ours(due):
            return None
        if self.attempt(target, name, alert, (due,)) and interval > 0:
            self.next_free[name] = self.clock() + timedelta(seconds=interval)
        return None

    def send_digests(self) -> None:
        """One message per digest target for the rows collected (after quiet hours, unless one
        of them is critical)."""
        for name, rows in sorted(self.digests.items()):
            rows.sort(key=lambda d: (d.alert.created_at, d.id))
            when = self.policy.schedules[name]
            quiet = when.quiet_end(self.clock())
            if quiet is not None and all(d.alert.severity != "critical" for d in rows):
                for due in rows:
                    self.hold(due, _ceil(quiet))
                continue
            rows = [due for due in rows if self.ours(due)]
            if not rows:
                continue
            alert = build_digest(name, [d.alert for d in rows], self.clock())
            self.attempt(self.targets.get(name), name, alert, rows)
        self.digests.clear()

    def report(self) -> DeliveryReport:
        gone = tuple(f"{n}: {r}" for n, r in sorted(self.disabled.items()) if n in self.targets)
        return DeliveryReport(sent=self.sent, retrying=self.retrying, dead=self.dead,
                              errors=tuple(self.errors), deferred=self.deferred, disabled=gone)


def deliver(store: Store, targets: Mapping[str, Target], policy: DeliveryConfig, *,
            clock: Callable[[], datetime], rng: random.Random,
            sleep: Callable[[float], None] | None = time.sleep,
            horizon: float = PACE_HORIZON) -> DeliveryReport:
    """Attempt every alert due now, pacing and pausing each target on its own, and send the
    digests that are due; return what happened.

    When rows were held back only for pacing and the earliest slot is within ``horizon``
    seconds of the start, the relay ``sleep``s until that slot and takes everything due then
    (every target's), so one call sends a burst; ``sleep=None`` leaves them to the next call.
    """
    drain = _Drain(store, targets, policy, clock, rng)
    first = start = clock()
    too_old = f"not delivered within max_age ({policy.max_age:g} s)"
    digest_targets = frozenset(n for n, s in policy.schedules.items() if s.digest is not None)
    for alert in store.expire_pending(start - timedelta(seconds=policy.max_age), too_old,
                                      lambda a: drain.operators(a, too_old),
                                      skip=digest_targets):
        drain.dead += 1
        drain.errors.append(f"target={alert.target}: {too_old}")
        log.warning("alert=%s target=%s state=dead error=%r", alert.key, alert.target, too_old)

    held: set[str] = set()  # targets with rows held back for pacing since the last claim
    while True:
        batch = store.claim_due(start, clock() + LEASE)
        if not batch:
            drain.send_digests()
            waiting = [at for name, at in drain.next_free.items()
                       if name in held and name not in drain.blocked
                       and name not in drain.disabled]
            held.clear()
            if sleep is None or not waiting or \
                    _ceil(min(waiting)) > first + timedelta(seconds=horizon):
                break
            wake = _ceil(min(waiting))
            sleep(max(0.0, (wake - clock()).total_seconds()))
            start = max(clock(), wake)
            drain.blocked = {n: at for n, at in drain.blocked.items() if at > start}
            continue
        for due in batch:
            if (paced := drain.row(due, start)) is not None:
                held.add(paced)
    return drain.report()
