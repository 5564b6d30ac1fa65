"""The database over time: retention, WAL checkpoint and VACUUM.

:func:`maintain` is the one entry point: the daemon runs it every :data:`MAINTAIN_EVERY`
(first :data:`FIRST_DELAY` after it starts, so a restart is not slowed by it), and
`monitor db prune` runs it by hand. One pass:

1. prunes what ``[retention]`` lets go (``monitor.store.retention``: article texts,
   fingerprints, sent and dead alerts; entries are kept forever), and the fingerprints of
   entries no rule matched (older databases hold them), in short batches;
2. VACUUMs when the last VACUUM is older than ``vacuum_every`` and at least
   :data:`VACUUM_FREE` of the file is free pages (else the next pass looks again). SQLite
   reuses free pages for new rows, so a database whose pruning keeps pace with its growth
   seldom needs one: it is for after a large prune (retention switched on over a long
   history, or shortened). VACUUM holds the write lock while it rewrites the file (under
   a second per 100 MB on an SSD): the daemon's writes wait up to the busy timeout (5 s); a
   poll that gives up is retried, and an alert whose "sent" mark could not be written is
   sent again with the same idempotency key;
3. checkpoints the WAL with ``TRUNCATE`` (the -wal file back to zero bytes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.store.retention import PAUSE, Pruned

if TYPE_CHECKING:
    from monitor.config import RetentionConfig
    from monitor.pipeline import Context
    from monitor.store import Store

log = logging.getLogger("monitor.maintenance")
MAINTAIN_EVERY = 3600.0  # seconds between two passes of the daemon
FIRST_DELAY = timedelta(minutes=10)
VACUUM_FREE = 0.2  # share of free pages that makes a due VACUUM worth it


@dataclass(frozen=True)
class Cutoffs:
    """What is older than these goes."""

    texts: datetime
    fingerprints: datetime
    alerts: datetime

    @classmethod
    def at(cls, now: datetime, config: RetentionConfig) -> Cutoffs:
        return cls(texts=now - timedelta(seconds=config.article_text),
                   fingerprints=now - timedelta(seconds=config.fingerprints),
                   alerts=now - timedelta(seconds=config.alerts))


@dataclass(frozen=True)
class MaintenanceReport:
    """What a pass did (``dry_run``: what it would do). ``vacuum``: ``done``, ``due`` (a dry
    run's), ``not-due`` or ``little-free``. ``checkpoint``: (busy, frames, checkpointed), None
    in a dry run."""

    cutoffs: Cutoffs
    pruned: Pruned = field(default_factory=Pruned)
    vacuum: str = "not-due"
    last_vacuum: datetime | None = None
    free: float = 0.0  # share of free pages before the VACUUM
    size_before: int = 0  # bytes of the database file (and its WAL)
    size_after: int = 0
    checkpoint: tuple[int, int, int] | None = None
    dry_run: bool = False

    def fields(self) -> str:
        """One log line's ``key=value`` pairs."""
        p = self.pruned
        busy = "-" if self.checkpoint is None else ("busy" if self.checkpoint[0] else "ok")
        return (f"texts={p.texts} fingerprints={p.fingerprints} bands={p.bands}"
                f" alerts={p.alerts} recipients={p.recipients} vacuum={self.vacuum}"
                f" free={self.free:.0%} checkpoint={busy} bytes={self.size_after}")


def first_maintenance(now: datetime) -> datetime:
    """When the daemon's first pass runs."""
    return now + FIRST_DELAY


def maintain(store: Store, config: RetentionConfig, now: datetime, *,
             dry_run: bool = False, pause: float = PAUSE) -> MaintenanceReport:
    """One pass over ``store`` at ``now`` (see the module docstring); ``dry_run`` counts what
    would go and changes nothing. ``pause``: seconds between two batches of a prune."""
    cutoffs = Cutoffs.at(now, config)
    size_before = _size(store)
    last = store.last_vacuum()
    free = store.free_fraction()
    due = last is None or now - last >= timedelta(seconds=config.vacuum_every)
    if dry_run:
        pruned = store.count_prunable(cutoffs.texts, cutoffs.fingerprints, cutoffs.alerts)
        return MaintenanceReport(cutoffs=cutoffs, pruned=pruned, vacuum="due" if due else
                                 "not-due", last_vacuum=last, free=free,
                                 size_before=size_before, size_after=size_before, dry_run=True)
    texts = store.prune_texts(cutoffs.texts, now, pause=pause)
    fingerprints, bands = store.prune_fingerprints(cutoffs.fingerprints, pause=pause)
    unmatched, unmatched_bands = store.prune_unmatched_fingerprints(pause=pause)
    fingerprints, bands = fingerprints + unmatched, bands + unmatched_bands
    alerts, recipients = store.prune_alerts(cutoffs.alerts, pause=pause)
    pruned = Pruned(texts=texts, fingerprints=fingerprints, bands=bands, alerts=alerts,
                    recipients=recipients)
    free = store.free_fraction()  # what the pruning freed counts
    vacuum = "not-due"
    if due and free < VACUUM_FREE:
        vacuum = "little-free"
    elif due:
        store.vacuum(now)
        vacuum = "done"
    checkpoint = store.checkpoint()
    return MaintenanceReport(cutoffs=cutoffs, pruned=pruned, vacuum=vacuum, last_vacuum=last,
                             free=free, size_before=size_before, size_after=_size(store),
                             checkpoint=checkpoint)


def run_maintenance(ctx: Context) -> MaintenanceReport:
    """The daemon's job: one pass at the context's clock, and one log line."""
    report = maintain(ctx.store, ctx.config.retention, ctx.clock())
    log.info("maintenance=done %s", report.fields())
    return report


def _size(store: Store) -> int:
    wal = store.path.with_name(store.path.name + "-wal")
    return sum(p.stat().st_size for p in (store.path, wal) if p.exists())
