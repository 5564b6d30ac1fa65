"""The click commands of the outbox: ``monitor alerts list``, ``monitor alerts retry`` and
``monitor send-test``; a companion of ``cli.py`` kept apart to keep that file short. It adds
its commands to ``cli`` when imported (``cli.py`` imports it last, so either import order
works). Their logic is in ``cli_alerts.py``; printing and exit codes are here."""

from __future__ import annotations

import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import click

from monitor.cli import (
    EXIT_FAILED,
    EXIT_OK,
    broken_pipe_exits,
    cli,
    config_option,
    errors_to_exit_codes,
    verbosity,
)
from monitor.cli_tools import setup_logging
from monitor.config import load_config
from monitor.deliver.base import clean_line
from monitor.errors import DeliveryError
from monitor.store.alerts import ALERT_STATES


@click.group()
def alerts() -> None:
    """The outbox: list the alerts and their delivery state, requeue dead ones."""


@alerts.command("list")
@config_option
@click.option("--status", type=click.Choice(ALERT_STATES), metavar="STATE",
              help="Only alerts in this state: pending, sending, sent or dead.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON array: full titles and errors, ISO 8601 times, and the outcome "
                   "for each e-mail recipient.")
@click.option("--limit", default=50, show_default=True, metavar="N",
              type=click.IntRange(min=1), help="How many alerts to list.")
def alerts_list(config_path: Path, status: str | None, as_json: bool, limit: int) -> None:
    """List the outbox, newest first: id, state, target, kind, attempts, next attempt (or when
    sent), story id, title and last error (for e-mail, how many recipients accepted; --json
    lists each recipient's outcome). Exit 1 if the database is missing or not news-monitor's,
    2 for a config error."""
    from monitor.cli_alerts import alerts_json, alerts_table, recipients_of
    from monitor.cli_stories import open_database

    with errors_to_exit_codes(), closing(open_database(load_config(config_path).database)) as s:
        rows = s.list_alerts(status, limit)
        found = recipients_of(s, rows)
        with broken_pipe_exits():
            click.echo(alerts_json(rows, found) if as_json else alerts_table(rows, found))


@alerts.command("retry")
@click.argument("alert_id", metavar="[ID]", required=False, type=click.IntRange(min=1))
@click.option("--dead", is_flag=True, help="Requeue every dead alert instead of one ID.")
@config_option
def alerts_retry(alert_id: int | None, dead: bool, config_path: Path) -> None:
    """Requeue alert ID (dead or pending), or with --dead every dead one: pending, due now,
    its attempts and key kept (receivers dedupe on the key). Sends nothing: the next check or
    the daemon does. Exit 1 for an unknown ID or one already sent, 2 for a config error."""
    from monitor.cli_alerts import retry
    from monitor.cli_stories import open_database

    if (alert_id is None) == (not dead):
        raise click.UsageError("give either an alert ID or --dead")
    with errors_to_exit_codes(), closing(open_database(load_config(config_path).database)) as s:
        for line in retry(s, alert_id, datetime.now(UTC)):
            click.echo(line)


@alerts.command("enable")
@click.argument("target", metavar="[TARGET]", required=False)
@config_option
def alerts_enable(target: str | None, config_path: Path) -> None:
    """Re-enable TARGET, disabled after it answered "gone" (HTTP 410, an archived Slack
    channel, a revoked hook): its queued alerts go out on the next check or drain. Without
    TARGET, list the disabled targets and why. Exit 1 if TARGET was not disabled."""
    from monitor.cli_stories import open_database

    with errors_to_exit_codes(), closing(open_database(load_config(config_path).database)) as s:
        disabled = s.disabled_targets()
        if target is None:
            for name, reason in disabled.items():
                click.echo(f"disabled: {name}: {clean_line(reason)}")
            if not disabled:
                click.echo("no target is disabled")
            return
        if not s.enable_target(target):
            click.echo(f"error: target {target!r} is not disabled", err=True)
            sys.exit(EXIT_FAILED)
        click.echo(f"enabled: {target} ({s.pending_count(target)} alerts waiting)")


@click.command("send-test")
@click.argument("target", metavar="TARGET")
@config_option
@verbosity
def send_test(target: str, config_path: Path, verbose: int, quiet: bool) -> None:
    """Send a clearly labelled test alert (kind operator, severity low, title "news-monitor
    test alert", a fresh key) to the configured TARGET now, bypassing the outbox, and print
    "sent" or why the target refused it (transient or permanent). Exit 0 when sent, 1 when
    refused, 2 for a config error or an unknown target name."""
    from monitor import cli_alerts

    setup_logging(verbose, quiet)
    with errors_to_exit_codes():
        config = load_config(config_path)
        try:
            click.echo(cli_alerts.send_test(config, target, datetime.now(UTC)))
        except DeliveryError as e:
            click.echo(cli_alerts.failure_line(e), err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(EXIT_OK)


cli.add_command(alerts)
cli.add_command(send_test)
