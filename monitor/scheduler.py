"""The daemon: APScheduler wiring, signals and systemd notification.

This is the only importer of apscheduler. Each feed is a job on its own interval, with jitter so
feeds do not poll in lock-step, ``max_instances=1`` so one feed never runs twice at once, and its
first run at the feed's stored next-poll time, so a restart does not re-poll everything. One more
job drains the outbox every few seconds. SIGTERM and SIGINT stop the scheduler after the work in
hand. SIGHUP reloads the rule files (:func:`reload_rules`): the handler only raises a flag, and
the daemon's main loop does the work, between its waits.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import match
from monitor.errors import RuleError
from monitor.model import Feed
from monitor.pipeline import Context, deliver_due, poll_feed

log = logging.getLogger("monitor.scheduler")
DELIVERY_EVERY = 5.0  # seconds between outbox drains
MAX_JITTER = 300  # seconds
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


def build_scheduler(ctx: Context, now: datetime | None = None) -> BackgroundScheduler:
    """A scheduler with one job per feed and one outbox job (not started)."""
    now = now or ctx.clock()
    workers = max(2, min(8, len(ctx.config.feeds) + 1))
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC",
    )
    ctx.store.sync_feeds(ctx.config.feeds)
    for feed in ctx.config.feeds:
        trigger = _trigger(ctx, feed, now)
        # An explicit first run: left to the trigger, a start a few ms in the past by the time
        # the scheduler starts would be pushed a whole interval later.
        scheduler.add_job(_safe, trigger, args=(f"poll:{feed.name}", poll_feed, ctx, feed),
                          id=f"poll:{feed.name}", name=f"poll {feed.name}",
                          next_run_time=trigger.start_date)
    scheduler.add_job(_safe, IntervalTrigger(seconds=DELIVERY_EVERY, timezone="UTC"),
                      args=("deliver", deliver_due, ctx), id="deliver", name="deliver outbox",
                      next_run_time=now)
    return scheduler


def _trigger(ctx: Context, feed: Feed, now: datetime) -> IntervalTrigger:
    """Every ``feed.interval`` seconds, jittered, starting at the stored next-poll time (or now
    for a feed never polled)."""
    state = ctx.store.feed_state(feed.name)
    start = state.next_poll_at if state.next_poll_at and state.next_poll_at > now else now
    start += timedelta(seconds=ctx.rng.uniform(0, min(MAX_JITTER, feed.interval / 10)))
    return IntervalTrigger(seconds=feed.interval, start_date=start, timezone="UTC",
                           jitter=int(min(MAX_JITTER, feed.interval / 10)))


def reload_rules(ctx: Context) -> bool:
    """Load the rule folder anew and swap it into ``ctx`` if it loads and every example it
    carries passes; otherwise keep the rules in use. One log line either way; True if swapped.

    The swap is one attribute assignment: a poll already running keeps the set it started with
    (``pipeline.poll_feed`` reads ``ctx.ruleset`` once)."""
    directory = ctx.config.rules
    try:
        ruleset = match.load_rules(directory)
        failures = match.check_examples(ruleset)
    except RuleError as e:
        log.warning("rules=reload-refused reason=%r", str(e))
        return False
    except Exception:
        log.exception("rules=reload-refused reason='unexpected error' dir=%s", directory)
        return False
    if failures:
        reason = f"{len(failures)} example(s) fail, first: {failures[0]}"
        log.warning("rules=reload-refused reason=%r", reason)
        return False
    ctx.ruleset = ruleset
    log.info("rules=reloaded rules=%d examples=%d", len(ruleset.rules), len(ruleset.examples))
    return True


class _Flags:
    """Set by signal handlers, read by the main loop: plain attributes, no locks (a handler
    that took a lock the interrupted main thread holds would deadlock)."""

    reload = False
    stop_signal: str | None = None


def run_daemon(ctx: Context, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then finish the jobs in hand and return.
    SIGHUP reloads the rules."""
    stop = stop or threading.Event()
    scheduler = build_scheduler(ctx)
    flags = _Flags()

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
    log.info("daemon=started feeds=%d targets=%d", len(ctx.config.feeds), len(ctx.targets))
    sd_notify("READY=1")
    try:
        while not stop.wait(WAKE_EVERY):
            if flags.reload:
                flags.reload = False  # before loading: a SIGHUP from now on loads again
                log.info("signal=SIGHUP reloading rules from %s", ctx.config.rules)
                usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
                sd_notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")
                reload_rules(ctx)
                sd_notify("READY=1")
    finally:
        if flags.stop_signal:
            log.info("signal=%s stopping after the work in hand", flags.stop_signal)
        sd_notify("STOPPING=1")
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("daemon=stopped")
