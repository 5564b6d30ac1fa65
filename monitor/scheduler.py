"""The daemon: APScheduler wiring, signals and systemd notification.

This is the only importer of apscheduler. Each feed's next poll is a time stored in the
database (``monitor.sources.timing`` decides it after every poll: interval, feed hints, backoff,
jitter), so a restart neither re-polls everything nor forgets a backoff. One job looks every
:data:`DISPATCH_EVERY` seconds for the feeds that are due and hands them to a
:class:`~monitor.dispatch.Dispatcher` (global and per-host limits; a feed never polls twice at
once); another drains the outbox every few seconds. While the database takes no writes (a full
disk, a read-only directory), neither starts (``monitor.write_pause``). The signal handlers only
raise flags; the daemon's main loop (:func:`run_daemon`) does the work, between its waits:

- SIGHUP reloads the config file and its rule folder, swapped in together or not at all
  (``monitor.daemon_context.reload``);
- every few seconds it checks itself (``monitor.watchdog``: the dispatch and deliver jobs beat
  recently, the database answers) and only then pings systemd's watchdog;
- SIGTERM and SIGINT stop it: no new poll or job run from that moment (polls queued are
  dropped, a drain waiting for paced slots ends), and the polls and the send already under way
  get ``stop_timeout`` seconds to finish. What is still running then is abandoned: the caller
  exits at once, as after a crash, and the outbox makes it good (a row being sent is retried
  after its lease, under the same key).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.daemon_context import STOP_TIMEOUT, reload, reload_rules
from monitor.deliver.outbox import deliver
from monitor.dispatch import Dispatcher
from monitor.errors import StoreError
from monitor.health import Listener, move_listener, start_listener
from monitor.maintenance import MAINTAIN_EVERY, first_maintenance, run_maintenance
from monitor.model import Feed
from monitor.net import GuardedClient
from monitor.pipeline import Context, all_feeds, poll_feed
from monitor.watchdog import Watchdog, watchdog_interval

__all__ = ["STOP_TIMEOUT", "build_scheduler", "deliver_job", "dispatch_due", "make_dispatcher",
           "poll_job", "reload_rules", "run_daemon", "sd_notify"]

log = logging.getLogger("monitor.scheduler")
DELIVERY_EVERY = 5.0  # seconds between outbox drains
DISPATCH_EVERY = 2.0  # seconds between looks for feeds that are due
WAKE_EVERY = 0.5  # seconds between the main loop's looks at the stop event and reload flag


def sd_notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd if it is listening; False otherwise."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as e:
        log.warning("sd_notify failed: %s", e)
        return False
    return True


def _safe(name: str, fn: object, *args: object) -> None:
    """Run a job; log an unexpected exception with its traceback and keep the daemon alive."""
    try:
        fn(*args)  # type: ignore[operator]
    except Exception:
        log.exception("job=%s error=unexpected", name)


def _job(ctx: Context, name: str, fn: object, *args: object) -> None:
    """A scheduler job: run like :func:`_safe`, then beat ``name`` (finished, well or not)."""
    try:
        _safe(name, fn, *args)
    finally:
        ctx.heartbeat.beat(name)


class _Stopping(Exception):
    """The daemon is stopping: a drain waiting for paced slots ends there."""


def deliver_job(ctx: Context, stopping: threading.Event) -> None:
    """The daemon's outbox drain: ``pipeline.deliver_due``, with a clock that beats
    ``deliver`` at each step of the drain (so a long one is alive, a hung send is not), and a
    wait for paced slots that ends when the daemon stops. That wait comes when every row
    claimed was sent, failed or given back: none is left leased."""

    def clock() -> datetime:
        ctx.heartbeat.beat("deliver")
        return ctx.clock()

    def sleep(seconds: float) -> None:
        if stopping.wait(seconds):
            raise _Stopping

    if ctx.writes.paused(ctx.clock()):
        return
    try:
        report = deliver(ctx.store, ctx.targets, ctx.config.delivery, clock=clock, rng=ctx.rng,
                         sleep=sleep)
    except _Stopping:
        log.info("job=deliver stopping: paced alerts wait for the next start")
    except StoreError as e:
        ctx.writes.failed(e, ctx.clock())
    else:
        if report.wrote:  # like a poll that stored: the database takes writes again
            ctx.writes.stored()


def poll_job(ctx: Context, feed: Feed) -> None:
    """The daemon's poll of one feed (``pipeline.poll_feed``): a database that takes no writes
    pauses the polls (``ctx.writes``) and is logged in one line, with no traceback."""
    try:
        poll_feed(ctx, feed)
    except StoreError as e:
        log.error("feed=%s status=store-error error=%r", feed.name, str(e))
        ctx.writes.failed(e, ctx.clock())
    else:
        ctx.writes.stored()


def dispatch_due(ctx: Context, dispatcher: Dispatcher) -> int:
    """Hand every feed whose stored next poll is due to ``dispatcher``; return how many were
    newly submitted. Feeds already polling, gone feeds and feeds no longer configured are
    left alone; none is handed on while the database takes no writes (``ctx.writes``)."""
    if ctx.writes.paused(ctx.clock()):
        return 0
    feeds = {feed.name: feed for feed in all_feeds(ctx)}
    submitted = 0
    for name, url in ctx.store.due_feeds(ctx.clock()):
        feed = feeds.get(name)
        if feed is not None and dispatcher.submit(feed, url) is not None:
            submitted += 1
    return submitted


def build_scheduler(ctx: Context, dispatcher: Dispatcher,
                    stopping: threading.Event | None = None) -> BackgroundScheduler:
    """A scheduler (not started) with its jobs: one hands the feeds that are due to
    ``dispatcher`` every :data:`DISPATCH_EVERY` seconds, one drains the outbox (its waits for
    paced slots end when ``stopping`` is set), one maintains the database."""
    stopping = stopping or threading.Event()
    scheduler = BackgroundScheduler(
        # A thread per job and a spare: a long drain or maintenance pass never holds back
        # dispatch, whose beats the watchdog checks.
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone="UTC",
    )
    ctx.store.sync_feeds(ctx.config.feeds)
    now = ctx.clock()
    # Explicit first runs: left to the trigger, a start a few ms in the past by the time the
    # scheduler starts would be pushed a whole interval later.
    scheduler.add_job(_job, IntervalTrigger(seconds=DISPATCH_EVERY, timezone="UTC"),
                      args=(ctx, "dispatch", dispatch_due, ctx, dispatcher), id="dispatch",
                      name="dispatch due feeds", next_run_time=now)
    scheduler.add_job(_job, IntervalTrigger(seconds=DELIVERY_EVERY, timezone="UTC"),
                      args=(ctx, "deliver", deliver_job, ctx, stopping), id="deliver",
                      name="deliver outbox", next_run_time=now)
    scheduler.add_job(_safe, IntervalTrigger(seconds=MAINTAIN_EVERY, timezone="UTC"),
                      args=("maintain", run_maintenance, ctx), id="maintain",
                      name="retention, checkpoint, vacuum", next_run_time=first_maintenance(now))
    return scheduler


def make_dispatcher(ctx: Context) -> Dispatcher:
    """Polls of ``ctx``'s feeds within ``[polling]`` concurrency and per-host limits."""
    polling = ctx.config.polling
    return Dispatcher(lambda feed: _safe(f"poll:{feed.name}", poll_job, ctx, feed),
                      concurrency=polling.concurrency, per_host=polling.per_host)


class _Flags:
    """Set by signal handlers, read by the main loop: plain attributes, no locks (a handler
    that took a lock the interrupted main thread holds would deadlock)."""

    reload = False
    stop_signal: str | None = None


def run_daemon(ctx: Context, stop: threading.Event | None = None, *,
               stop_timeout: float = STOP_TIMEOUT) -> bool:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then stop (see the module's docstring).
    True when the work in hand finished within ``stop_timeout`` seconds; False when some was
    abandoned, still running in other threads: the caller should then exit at once."""
    stop = stop or threading.Event()
    stopping = threading.Event()
    dispatcher = make_dispatcher(ctx)
    scheduler = build_scheduler(ctx, dispatcher, stopping)
    watchdog = Watchdog(ctx.heartbeat, ctx.config.database, interval=watchdog_interval(),
                        notify=sd_notify)
    retired: list[GuardedClient] = []  # network clients replaced by a reload
    flags = _Flags()
    listener = start_listener(ctx)  # [health] listen: /healthz and /metrics; None when off

    def on_signal(signum: int, frame: FrameType | None) -> None:
        flags.stop_signal = signal.Signals(signum).name  # logged by the main loop, not here
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        flags.reload = True

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    scheduler.start()
    log.info("daemon=started feeds=%d targets=%d", len(all_feeds(ctx)), len(ctx.targets))
    sd_notify("READY=1")
    if watchdog.interval is not None:
        log.info("watchdog=on timeout=%gs check_every=%gs", watchdog.interval, watchdog.every)
    finished = False
    try:
        while not stop.wait(watchdog.wake(WAKE_EVERY)):
            if flags.reload:
                flags.reload = False  # before loading: a SIGHUP from now on loads again
                listener = _reload(ctx, retired, dispatcher, listener)
            watchdog.tick()
    finally:
        if flags.stop_signal:
            log.info("signal=%s stopping: no new work; the work in hand gets %gs",
                     flags.stop_signal, stop_timeout)
        sd_notify("STOPPING=1")
        finished = _stop(scheduler, dispatcher, stopping, stop_timeout)
        if listener is not None:
            listener.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if finished:
            for client in retired:
                client.close()
            log.info("daemon=stopped")
        else:
            log.warning("daemon=stopped abandoned=yes polls=%d reason='work in hand still "
                        "running after %gs': a send cut off is retried after its lease, under "
                        "the same key", dispatcher.active(), stop_timeout)
    return finished


def _reload(ctx: Context, retired: list[GuardedClient], dispatcher: Dispatcher,
            listener: Listener | None) -> Listener | None:
    """SIGHUP: ``reload``, and the health listener moved if ``[health] listen`` changed;
    returns the listener."""
    log.info("signal=SIGHUP reloading config=%s rules=%s", ctx.config.path, ctx.config.rules)
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    sd_notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")
    before = ctx.config.health
    try:
        reload(ctx, retired, dispatcher)
        listener = move_listener(ctx, listener, before)
    except Exception:  # a bug in the reload must not stop the daemon: the old state stays
        log.exception("config=reload-refused reason='unexpected error'")
    sd_notify("READY=1")
    return listener


def _stop(scheduler: BackgroundScheduler, dispatcher: Dispatcher, stopping: threading.Event,
          within: float) -> bool:
    """Start no new job run or poll; give those running ``within`` seconds; True if they all
    ended."""
    stopping.set()  # a drain waiting for paced slots ends now
    scheduler.pause()
    dispatcher.close(wait=False)  # queued polls are dropped, running ones go on

    def wait_all() -> None:
        scheduler.shutdown(wait=True)
        dispatcher.close(wait=True)

    waiter = threading.Thread(target=wait_all, name="monitor-stop", daemon=True)
    waiter.start()
    waiter.join(within)
    return not waiter.is_alive()
