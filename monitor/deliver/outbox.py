"""The outbox relay: send what is due, mark it sent only after the target accepted it.

Each row is leased (state ``sending``) before its attempt, so a crash mid-send leaves a row that
is retried, with the same idempotency key, once the lease runs out. A transient failure is
retried after an exponential backoff with full jitter (at least the target's ``Retry-After``);
a permanent one, or one past ``max_attempts``, leaves the row ``dead`` with its reason.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.errors import DeliveryError

if TYPE_CHECKING:
    from monitor.config import DeliveryConfig
    from monitor.deliver import Target
    from monitor.store import Store

log = logging.getLogger("monitor.deliver")
LEASE = timedelta(minutes=5)
MAX_RETRY_AFTER = 24 * 3600.0  # a Retry-After further out than a day is taken as a day


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    errors: tuple[str, ...] = ()  # one line per failed attempt: "target=slack: reason"

    @property
    def ok(self) -> bool:
        return not self.retrying and not self.dead


def backoff(attempt: int, policy: DeliveryConfig, rng: random.Random,
            retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: full jitter over an exponential cap, and
    never less than the target's Retry-After (nor than one second)."""
    cap = min(policy.backoff_max, policy.backoff_base * 2 ** min(attempt, 30))
    return max(1.0, rng.uniform(0, cap), min(retry_after or 0.0, MAX_RETRY_AFTER))


def deliver(store: Store, targets: Mapping[str, Target], policy: DeliveryConfig, *,
            clock: Callable[[], datetime], rng: random.Random) -> DeliveryReport:
    """Attempt every alert due now; return what happened."""
    start = clock()
    sent = retrying = dead = 0
    errors: list[str] = []
    while batch := store.claim_due(start, clock() + LEASE):
        for due in batch:
            alert = due.alert
            target = targets.get(alert.target)
            try:
                if target is None:
                    raise DeliveryError(f"target {alert.target!r} is no longer configured",
                                        transient=False)
                target.send(alert)
            except Exception as e:
                if not isinstance(e, DeliveryError):
                    log.exception("alert=%s target=%s error=unexpected", alert.key, alert.target)
                    e = DeliveryError(f"unexpected {type(e).__name__}: {e}", transient=True)
                attempts = due.attempts + 1
                give_up = not e.transient or attempts >= policy.max_attempts
                retry_at = None if give_up else clock() + timedelta(
                    seconds=backoff(due.attempts, policy, rng, e.retry_after))
                store.mark_failed(due.id, str(e), retry_at)
                errors.append(f"target={alert.target}: {e}")
                if give_up:
                    dead += 1
                else:
                    retrying += 1
                log.warning("alert=%s target=%s state=%s attempts=%d error=%r", alert.key,
                            alert.target, "dead" if give_up else "retrying", attempts, str(e))
                continue
            store.mark_sent(due.id, clock())
            sent += 1
            log.info("alert=%s target=%s state=sent", alert.key, alert.target)
    return DeliveryReport(sent=sent, retrying=retrying, dead=dead, errors=tuple(errors))
