"""The daemon: APScheduler wiring, signals and systemd notification.

This is the only importer of apscheduler. Each feed's next poll is a time stored in the
database (``monitor.sources.timing`` decides it after every poll: interval, feed hints, backoff,
jitter), so a restart neither re-polls everything nor forgets a backoff. One job looks every
:data:`DISPATCH_EVERY` seconds for the feeds that are due and hands them to a
:class:`~monitor.dispatch.Dispatcher` (global and per-host limits; a feed never polls twice at
once); another drains the outbox every few seconds. SIGTERM and SIGINT stop the scheduler
after the work in hand. SIGHUP reloads the rule files (:func:`reload_rules`): the handler only
raises a flag, and the daemon's main loop does the work, between its waits.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import match
from monitor.dispatch import Dispatcher
from monitor.errors import RuleError
from monitor.pipeline import Context, all_feeds, deliver_due, poll_feed

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


def dispatch_due(ctx: Context, dispatcher: Dispatcher) -> int:
    """Hand every feed whose stored next poll is due to ``dispatcher``; return how many were
    newly submitted. Feeds already polling, gone feeds and feeds no longer configured are
    left alone."""
    feeds = {feed.name: feed for feed in all_feeds(ctx)}
    submitted = 0
    for name, url in ctx.store.due_feeds(ctx.clock()):
        feed = feeds.get(name)
        if feed is not None and dispatcher.submit(feed, url) is not None:
            submitted += 1
    return submitted


def build_scheduler(ctx: Context, dispatcher: Dispatcher) -> BackgroundScheduler:
    """A scheduler (not started) with two jobs: one hands the feeds that are due to
    ``dispatcher`` every :data:`DISPATCH_EVERY` seconds, one drains the outbox."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone="UTC",
    )
    ctx.store.sync_feeds(ctx.config.feeds)
    now = ctx.clock()
    # Explicit first runs: left to the trigger, a start a few ms in the past by the time the
    # scheduler starts would be pushed a whole interval later.
    scheduler.add_job(_safe, IntervalTrigger(seconds=DISPATCH_EVERY, timezone="UTC"),
                      args=("dispatch", dispatch_due, ctx, dispatcher), id="dispatch",
                      name="dispatch due feeds", next_run_time=now)
    scheduler.add_job(_safe, IntervalTrigger(seconds=DELIVERY_EVERY, timezone="UTC"),
                      args=("deliver", deliver_due, ctx), id="deliver", name="deliver outbox",
                      next_run_time=now)
    return scheduler


def make_dispatcher(ctx: Context) -> Dispatcher:
    """Polls of ``ctx``'s feeds within ``[polling]`` concurrency and per-host limits."""
    polling = ctx.config.polling
    return Dispatcher(lambda feed: _safe(f"poll:{feed.name}", poll_feed, ctx, feed),
                      concurrency=polling.concurrency, per_host=polling.per_host)


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
    dispatcher = make_dispatcher(ctx)
    scheduler = build_scheduler(ctx, dispatcher)
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
    log.info("daemon=started feeds=%d targets=%d", len(all_feeds(ctx)), len(ctx.targets))
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
        dispatcher.close(wait=True)  # polls already running finish; queued ones are dropped
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("daemon=stopped")
