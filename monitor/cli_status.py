"""``monitor status``: the monitor at a glance (feeds, last poll, outbox, last alert sent), from
the database alone; a companion of ``cli.py`` (imported at its bottom) that adds the command to
``cli``.

It reads through :func:`monitor.health.read_picture` on a read-only connection, in one read
transaction: nothing is created, migrated or locked, so it is safe while the daemon runs (and
it needs no daemon). Feed errors are cleaned of control characters for the terminal.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from monitor.cli import (
    EXIT_FAILED,
    EXIT_OK,
    broken_pipe_exits,
    cli,
    config_option,
    errors_to_exit_codes,
)
from monitor.config import load_config
from monitor.deliver.base import clean_line, truncate
from monitor.errors import StoreError
from monitor.health import Picture, read_picture, readonly

WIDTH = 100


def read_status(database: Path) -> Picture:
    """The picture of the database at ``database`` (which must exist); ``StoreError`` when it
    cannot be read or is not news-monitor's."""
    if not database.is_file():
        raise StoreError(f"no database at {database} (`monitor check` or `monitor run` "
                         "creates it)")
    try:
        with readonly(database) as conn:
            return read_picture(conn, last_sent=True)
    except sqlite3.Error as e:
        raise StoreError(f"cannot read {database}: {e} (is it news-monitor's database, "
                         "migrated by a `monitor check` or `monitor run` of this version?)"
                         ) from e


def needs_attention(p: Picture) -> bool:
    """A feed failing or gone, a dead alert or a disabled target."""
    return bool(p.feeds.get("failing") or p.feeds.get("gone") or p.state_total("dead")
                or p.disabled_targets)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    shown = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if seconds < 0:
        return shown
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{shown} ({seconds // size} {unit} ago)"
    return f"{shown} ({seconds} s ago)"


def status_json(p: Picture, now: datetime) -> str:
    """One JSON object: counts, the troubled feeds, the outbox by target, ISO 8601 UTC times."""
    by_target: dict[str, dict[str, int]] = {}
    for (target, state), n in sorted(p.outbox.items()):
        by_target.setdefault(target, {})[state] = n
    oldest = p.oldest_undelivered
    out: dict[str, Any] = {
        "feeds": {"ok": p.feeds.get("active", 0), "failing": p.feeds.get("failing", 0),
                  "gone": p.feeds.get("gone", 0),
                  "problems": [{"name": f.name, "status": f.status,
                                "consecutive_failures": f.consecutive_failures,
                                "last_error": f.last_error,
                                "last_success": _iso(f.last_success_at)} for f in p.problems]},
        "last_poll": _iso(p.last_poll),
        "outbox": {"pending": p.state_total("pending"), "sending": p.state_total("sending"),
                   "dead": p.state_total("dead"), "oldest_waiting": _iso(oldest),
                   "oldest_waiting_seconds": (None if oldest is None else
                                              max(0, int((now - oldest).total_seconds()))),
                   "by_target": by_target},
        "disabled_targets": dict(p.disabled_targets),
        "last_sent": None if p.last_sent is None else {
            "time": _iso(p.last_sent.sent_at), "target": p.last_sent.target,
            "title": p.last_sent.title},
        "stories": p.stories,
        "attention": needs_attention(p),
    }
    return json.dumps(out, indent=2, ensure_ascii=False)


def _fit(text: str) -> str:
    return truncate(text, WIDTH)


def status_text(p: Picture, now: datetime) -> str:
    """The picture for a terminal: one line per topic, then the troubled feeds and targets."""
    feeds = p.feeds
    total = sum(feeds.values())
    lines = [f"feeds:     {feeds.get('active', 0)} ok, {feeds.get('failing', 0)} failing, "
             f"{feeds.get('gone', 0)} gone ({total} in all)"]
    for f in p.problems:
        state = f.status if f.status != "active" else "active, last poll failed"
        since = f"last success {_ago(f.last_success_at, now)}" if f.last_success_at \
            else "never succeeded"
        lines.append(_fit(f"  {clean_line(f.name)}: {state}, {f.consecutive_failures} "
                          f"failure(s) in a row, {since}"))
        if f.last_error:
            lines.append(_fit(f"    error: {clean_line(f.last_error)}"))
    lines.append(f"last poll: {_ago(p.last_poll, now)}")
    pending, sending, dead = (p.state_total(s) for s in ("pending", "sending", "dead"))
    lines.append(f"outbox:    {pending} pending, {sending} sending, {dead} dead")
    if p.oldest_undelivered is not None:
        lines.append(f"  oldest waiting: queued {_ago(p.oldest_undelivered, now)}")
    for (target, state), n in sorted(p.outbox.items()):
        lines.append(_fit(f"  {clean_line(target)}: {n} {state}"))
    for name, reason in sorted(p.disabled_targets.items()):
        lines.append(_fit(f"  target {clean_line(name)} is disabled: {clean_line(reason)} "
                          f"(`monitor alerts enable {clean_line(name)}`)"))
    sent = p.last_sent
    lines.append("last sent: never" if sent is None else _fit(
        f"last sent: {_ago(sent.sent_at, now)} to {clean_line(sent.target)}: "
        f"{clean_line(sent.title)!r}"))
    lines.append(f"stories:   {p.stories}")
    return "\n".join(lines)


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object: counts, the troubled feeds, the outbox by target, ISO 8601 "
                   "UTC times.")
def status_command(config_path: Path, as_json: bool) -> None:
    """Show the monitor at a glance, from its database (read only: safe while the daemon
    runs): feeds ok, failing and gone, with each troubled feed's last error; the last poll;
    the outbox (pending, sending, dead, the oldest waiting, disabled targets); the last alert
    sent. Exit 0 when nothing needs attention, 1 when a feed is failing or gone, an alert is
    dead or a target disabled (or the database is missing), 2 for a config error."""
    with errors_to_exit_codes():
        picture = read_status(load_config(config_path).database)
    now = datetime.now(UTC)
    with broken_pipe_exits():
        click.echo(status_json(picture, now) if as_json else status_text(picture, now))
    sys.exit(EXIT_FAILED if needs_attention(picture) else EXIT_OK)


cli.add_command(status_command)
