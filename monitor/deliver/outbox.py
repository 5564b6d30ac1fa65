"""The outbox relay: send what is due, mark it sent only after the target accepted it.

Each row is leased (state ``sending``) before its attempt, so a crash mid-send leaves a row that
is retried, with the same idempotency key, once the lease runs out. A transient failure is
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
  retries that row only.)
- **Gone targets.** A ``DeliveryError(gone=True)`` (HTTP 410, an archived Slack channel, a
  revoked token) disables the target (``target_state``): its rows stay pending, neither sent
  nor lost, until ``Store.enable_target(name)``. Changing the target's config does not re-enable
  it by itself.
- **Dead rows** (a permanent error, ``max_attempts``, or undelivered ``max_age`` after it was
  queued) queue one ``kind="operator"`` alert to every other enabled target, keyed by the dead
  row's key (so each death is reported once). An operator alert that dies raises none.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.errors import DeliveryError
from monitor.model import Alert

if TYPE_CHECKING:
    from monitor.config import DeliveryConfig
    from monitor.deliver import Target
    from monitor.store import Store

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


def _ceil(moment: datetime) -> datetime:
    """Up to the next whole second (the store keeps seconds; never due early)."""
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def deliver(store: Store, targets: Mapping[str, Target], policy: DeliveryConfig, *,
            clock: Callable[[], datetime], rng: random.Random,
            sleep: Callable[[float], None] | None = time.sleep,
            horizon: float = PACE_HORIZON) -> DeliveryReport:
    """Attempt every alert due now, pacing and pausing each target on its own; return what
    happened.

    When rows were held back only for pacing and the earliest slot is within ``horizon``
    seconds of the start, the relay ``sleep``s until that slot and takes everything due then
    (every target's), so one call sends a burst; ``sleep=None`` leaves them to the next call.
    """
    first = start = clock()
    sent = retrying = dead = deferred = 0
    errors: list[str] = []
    disabled = store.disabled_targets()

    def operators(alert: Alert, reason: str) -> list[Alert]:
        return operator_alerts(alert, reason, targets, disabled, clock())

    too_old = f"not delivered within max_age ({policy.max_age:g} s)"
    for alert in store.expire_pending(start - timedelta(seconds=policy.max_age), too_old,
                                      lambda a: operators(a, too_old)):
        dead += 1
        errors.append(f"target={alert.target}: {too_old}")
        log.warning("alert=%s target=%s state=dead error=%r", alert.key, alert.target, too_old)

    next_free: dict[str, datetime] = {}  # paced target → its next slot
    blocked: dict[str, datetime] = {}  # target paused in this drain → until when
    held: set[str] = set()  # targets with rows held back for pacing since the last claim
    while True:
        batch = store.claim_due(start, clock() + LEASE)
        if not batch:
            waiting = [at for name, at in next_free.items()
                       if name in held and name not in blocked and name not in disabled]
            held.clear()
            if sleep is None or not waiting or \
                    _ceil(min(waiting)) > first + timedelta(seconds=horizon):
                break
            wake = _ceil(min(waiting))
            sleep(max(0.0, (wake - clock()).total_seconds()))
            start = max(clock(), wake)
            blocked = {n: at for n, at in blocked.items() if at > start}
            continue
        for due in batch:
            alert = due.alert
            name = alert.target
            if name in disabled:  # disabled earlier in this batch
                store.release(due.id, start)
                continue
            if name in blocked:
                store.release(due.id, blocked[name])
                deferred += 1
                continue
            target = targets.get(name)
            interval = min_interval(name, target, policy) if target is not None else 0.0
            if interval > 0:
                if name not in next_free:
                    last = store.last_sent(name)
                    next_free[name] = last + timedelta(seconds=interval) if last else start
                if clock() < next_free[name]:
                    store.release(due.id, _ceil(next_free[name]))
                    held.add(name)
                    deferred += 1
                    continue
            try:
                if target is None:
                    raise DeliveryError(f"target {name!r} is no longer configured",
                                        transient=False)
                target.send(alert)
            except Exception as e:
                unexpected = not isinstance(e, DeliveryError)
                if not isinstance(e, DeliveryError):
                    log.exception("alert=%s target=%s error=unexpected", alert.key, name)
                    e = DeliveryError(f"unexpected {type(e).__name__}: {e}", transient=True)
                if e.gone and target is not None:
                    reason = str(e)
                    store.disable_target(name, reason, clock())
                    disabled[name] = reason
                    store.release(due.id, start, error=reason)
                    errors.append(f"target={name}: disabled: {reason}")
                    log.error("target=%s state=disabled pending=%d error=%r: its alerts wait "
                              "until the target is re-enabled", name, store.pending_count(name),
                              reason)
                    continue
                attempts = due.attempts + 1
                give_up = not e.transient or attempts >= policy.max_attempts
                retry_at = None if give_up else clock() + timedelta(
                    seconds=backoff(due.attempts, policy, rng, e.retry_after))
                store.mark_failed(due.id, str(e), retry_at,
                                  operators(alert, str(e)) if give_up else ())
                if retry_at is not None and not unexpected:
                    store.pause_target(name, retry_at)
                    blocked[name] = retry_at
                errors.append(f"target={name}: {e}")
                if give_up:
                    dead += 1
                else:
                    retrying += 1
                log.warning("alert=%s target=%s state=%s attempts=%d error=%r", alert.key,
                            name, "dead" if give_up else "retrying", attempts, str(e))
                continue
            now = clock()
            store.mark_sent(due.id, now)
            if interval > 0:
                next_free[name] = now + timedelta(seconds=interval)
            sent += 1
            log.info("alert=%s target=%s state=sent", alert.key, name)
    gone = tuple(f"{n}: {r}" for n, r in sorted(disabled.items()) if n in targets)
    return DeliveryReport(sent=sent, retrying=retrying, dead=dead, errors=tuple(errors),
                          deferred=deferred, disabled=gone)
