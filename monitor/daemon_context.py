"""The :class:`~monitor.pipeline.Context` of a pass or of the daemon: built once at start
(:func:`build_context`, for ``monitor check`` and ``monitor run``), and rebuilt by the daemon on
SIGHUP (:func:`reload`) from the same pieces, so a reloaded daemon is the one a restart would
give.

A reload reads the config file anew (same path) and the rule folder it names. Nothing changes
unless everything loads: a config that does not (``ConfigError``), a rule set that does not load
or whose examples fail, a route naming a rule that no longer exists, or a config that moves the
database (the daemon holds that file's lock: that needs a restart) is refused, with its reason
on one log line, and the daemon goes on as it was. Otherwise the new config, rules and targets
(built by the code ``build_context`` uses; a new network client when ``[network]`` changed) are
swapped into the context: feeds added to or removed from the config take effect at the next
dispatch (every 2 s), a poll already under way finishes with what it started with. The
``[polling]`` concurrency limits go to the dispatcher (``monitor.dispatch``: the next polls
start under them, the polls running finish). The database is fixed for the life of the
process: moving it needs a restart. Secrets come from the environment the process was started
with (systemd reads ``EnvironmentFile=`` at start, not at reload).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from monitor import match
from monitor.config import Config, check_route_rules, load_config
from monitor.deliver import Target, build_target
from monitor.dispatch import Dispatcher
from monitor.errors import ConfigError, MonitorError, RuleError
from monitor.net import GuardedClient
from monitor.pipeline import Context
from monitor.store import Store

__all__ = ["STOP_TIMEOUT", "build_context", "build_targets", "checked_rules", "load_ruleset",
           "new_client", "reload", "reload_rules"]

log = logging.getLogger("monitor.daemon")
STOP_TIMEOUT = 30.0  # seconds the work in hand may take after SIGTERM (below TimeoutStopSec)


def load_ruleset(config: Config) -> match.RuleSet:
    """The rule folder of ``config``; RuleError, or ConfigError for a route naming an unknown
    rule."""
    ruleset = match.load_rules(config.rules)
    check_route_rules(config, {r.id for r in ruleset.rules})
    return ruleset


def new_client(config: Config) -> GuardedClient:
    return GuardedClient(config.network, per_host=config.polling.per_host)


def build_targets(config: Config, client: GuardedClient, stream: TextIO | None = None
                  ) -> dict[str, Target]:
    """Every target of ``config``, sending through ``client`` (console ones to ``stream``)."""
    out = stream or sys.stdout
    return {name: build_target(name, s, client, stream=out) for name, s in config.targets.items()}


def build_context(config: Config, store: Store, *, dry_run: bool = False,
                  stream: TextIO | None = None, clock: Callable[[], datetime] | None = None,
                  daemon: bool = False) -> Context:
    """The context of a pass. The daemon holds new stories for ``[stories] group_wait``; a
    check needs no wait (the whole pass is the wait: delivery comes after every feed)."""
    ruleset = load_ruleset(config)
    client = new_client(config)
    if dry_run:
        from monitor.cli_tools import DryRunTarget

        out = stream or sys.stdout
        targets: dict[str, Target] = {name: DryRunTarget(name, out) for name in config.targets}
    else:
        targets = build_targets(config, client, stream)
    ctx = Context(config=config, store=store, client=client, ruleset=ruleset, targets=targets,
                  group_wait=_group_wait(config, daemon))
    if clock is not None:
        ctx.clock = clock
    return ctx


def _group_wait(config: Config, daemon: bool) -> timedelta:
    return timedelta(seconds=config.stories.group_wait if daemon else 0)


def checked_rules(directory: Path) -> match.RuleSet | None:
    """The rule folder loaded with every example it carries passing; None (and one log line
    saying why) otherwise."""
    try:
        ruleset = match.load_rules(directory)
        failures = match.check_examples(ruleset)
    except RuleError as e:
        log.warning("rules=reload-refused reason=%r", str(e))
        return None
    except Exception:
        log.exception("rules=reload-refused reason='unexpected error' dir=%s", directory)
        return None
    if failures:
        reason = f"{len(failures)} example(s) fail, first: {failures[0]}"
        log.warning("rules=reload-refused reason=%r", reason)
        return None
    return ruleset


def _rules_swapped(ctx: Context, ruleset: match.RuleSet) -> None:
    ctx.ruleset = ruleset
    log.info("rules=reloaded rules=%d examples=%d", len(ruleset.rules), len(ruleset.examples))


def reload_rules(ctx: Context) -> bool:
    """Load the rule folder anew and swap it into ``ctx`` if it loads and every example it
    carries passes; otherwise keep the rules in use. One log line either way; True if swapped.

    The swap is one attribute assignment: a poll already running keeps the set it started with
    (``pipeline.poll_feed`` reads ``ctx.ruleset`` once)."""
    ruleset = checked_rules(ctx.config.rules)
    if ruleset is None:
        return False
    _rules_swapped(ctx, ruleset)
    return True


def reload(ctx: Context, retired: list[GuardedClient],
           dispatcher: Dispatcher | None = None) -> bool:
    """SIGHUP: the config file and its rule folder anew, swapped in together or not at all
    (see the module's docstring). A network client replaced is appended to ``retired``, for the
    daemon to close when it stops (a poll or a delivery may still be using it); the daemon's
    ``dispatcher`` takes the new ``[polling]`` limits. True if swapped."""
    old = ctx.config
    try:
        config = load_config(old.path)
        if config.database.resolve() != old.database.resolve():
            raise ConfigError(f"database changed from {old.database} to {config.database}: "
                              "that needs a restart", path=str(old.path), key="database")
    except ConfigError as e:
        log.warning("config=reload-refused reason=%r (the running config and rules stay)",
                    str(e))
        return False
    ruleset = checked_rules(config.rules)
    if ruleset is None:
        return False
    same_network = (config.network, config.polling.per_host) == (old.network,
                                                                  old.polling.per_host)
    client = ctx.client if same_network else new_client(config)
    try:
        check_route_rules(config, {r.id for r in ruleset.rules})
        targets = build_targets(config, client)
        ctx.store.sync_feeds(config.feeds)  # a new feed has its row: due at once
        removed = ctx.store.retire_feeds([f.name for f in config.feeds], ctx.clock())
    except MonitorError as e:
        if client is not ctx.client:
            client.close()
        log.warning("config=reload-refused reason=%r (the running config and rules stay)",
                    str(e))
        return False
    if client is not ctx.client:
        retired.append(ctx.client)
    limits = (config.polling.concurrency, config.polling.per_host)
    if dispatcher is not None and limits != (dispatcher.concurrency, dispatcher.per_host):
        dispatcher.set_limits(*limits)
        log.info("polling=resized concurrency=%d per_host=%d", *limits)
    ctx.config, ctx.client, ctx.targets = config, client, targets
    ctx.group_wait = _group_wait(config, daemon=True)
    _rules_swapped(ctx, ruleset)
    log.info("config=reloaded path=%s feeds=%d removed=%d targets=%d network=%s", config.path,
             len(config.feeds), len(removed), len(targets),
             "kept" if same_network else "rebuilt")
    return True
