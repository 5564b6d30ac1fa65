"""The click commands of silences: ``monitor silence add|list|expire``; a companion of
``cli.py`` that adds its group to ``cli`` when imported (``cli.py`` imports it last). The
matching is in ``monitor.store.silences``."""

from __future__ import annotations

import json
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from monitor.cli import EXIT_FAILED, broken_pipe_exits, cli, config_option, errors_to_exit_codes
from monitor.config import MAX_DURATION, load_config, parse_duration
from monitor.deliver.base import clean_line
from monitor.store.codec import dt_out
from monitor.store.silences import Silence


def _matchers(s: Silence) -> str:
    parts = ([f"rule={r}" for r in s.rules] + [f"target={t}" for t in s.targets]
             + [f"tag={t}" for t in s.tags])
    return " ".join(parts)


def _as_dict(s: Silence, now: datetime) -> dict[str, object]:
    return {"id": s.id, "rules": list(s.rules), "targets": list(s.targets), "tags": list(s.tags),
            "reason": s.reason, "created_at": dt_out(s.created_at), "ends_at": dt_out(s.ends_at),
            "expired_at": dt_out(s.expired_at), "active": s.active(now), "held": s.held}


@click.group()
def silence() -> None:
    """Silences: hold the alerts of some rules, targets or tags for a while."""


@silence.command("add")
@click.option("--rule", "rules", multiple=True, metavar="ID",
              help="Hold alerts matching this rule id (repeatable).")
@click.option("--target", "targets", multiple=True, metavar="NAME",
              help="Hold only alerts to this target (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="Hold alerts with this rule or feed tag (repeatable).")
@click.option("--for", "duration", required=True, metavar="DURATION",
              help="How long it lasts, e.g. 30m, 2h, 1d.")
@click.option("--reason", required=True, metavar="TEXT", help="Why (shown by list).")
@config_option
def silence_add(rules: tuple[str, ...], targets: tuple[str, ...], tags: tuple[str, ...],
                duration: str, reason: str, config_path: Path) -> None:
    """Hold, from now for DURATION, the alerts whose target is one of --target (if given) and
    whose matches include one of --rule (if given) and one of --tag (if given). A critical
    alert is held only if --rule names its rule. Held alerts are not queued but recorded.
    Prints the silence id and its end. Exit 2 for a bad duration, no matcher or a config
    error."""
    from monitor.store import Store

    seconds = parse_duration(duration)
    if seconds is None or not 0 < seconds <= MAX_DURATION:
        raise click.BadParameter(f"{duration!r} is not a duration such as 30m, 2h or 1d",
                                 param_hint="--for")
    if not (rules or targets or tags):
        raise click.UsageError("give at least one of --rule, --target, --tag")
    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    now = datetime.now(UTC)
    with errors_to_exit_codes(), closing(Store.open(load_config(config_path).database)) as s:
        made = s.add_silence(rules=rules, targets=targets, tags=tags, reason=reason, now=now,
                             ends_at=now + timedelta(seconds=seconds))
        click.echo(f"silence {made.id} until {dt_out(made.ends_at)}")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the silences that have ended.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, ISO 8601 times.")
@config_option
def silence_list(show_all: bool, as_json: bool, config_path: Path) -> None:
    """List the active silences (with --all, every one), newest first: id, end, how many
    alerts each held, matchers and reason."""
    from monitor.cli_stories import open_database

    now = datetime.now(UTC)
    with errors_to_exit_codes(), closing(open_database(load_config(config_path).database)) as s:
        rows = s.list_silences(now, include_ended=show_all)
        with broken_pipe_exits():
            if as_json:
                click.echo(json.dumps([_as_dict(r, now) for r in rows], indent=2))
            elif not rows:
                click.echo("no silences")
            for r in [] if as_json else rows:
                state = "active" if r.active(now) else "ended"
                click.echo(f"{r.id}\t{state} until {dt_out(r.ends_at)}\theld {r.held}\t"
                           f"{_matchers(r)}\t{clean_line(r.reason)}")


@silence.command("expire")
@click.argument("silence_id", metavar="ID", type=click.IntRange(min=1))
@config_option
def silence_expire(silence_id: int, config_path: Path) -> None:
    """End silence ID now. Exit 1 for an unknown ID."""
    from monitor.cli_stories import open_database

    now = datetime.now(UTC)
    with errors_to_exit_codes(), closing(open_database(load_config(config_path).database)) as s:
        before = s.expire_silence(silence_id, now)
        if before is None:
            click.echo(f"error: no silence {silence_id}", err=True)
            sys.exit(EXIT_FAILED)
        if before.ends_at <= now:
            click.echo(f"silence {silence_id} had already ended at {dt_out(before.ends_at)}")
        else:
            click.echo(f"silence {silence_id} expired ({before.held} alerts held)")


cli.add_command(silence)
