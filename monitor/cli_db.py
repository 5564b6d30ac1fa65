"""The database commands: ``monitor db backup|prune`` and ``monitor search``; a companion of
``cli.py`` that adds them to ``cli`` when imported (``cli.py`` imports it last).

``db backup`` is ``monitor.cli_backup``'s (``monitor backup`` stays as its alias); ``db prune``
runs ``monitor.maintenance.maintain`` by hand; ``search`` queries the full-text index of the
stored articles (``monitor.store.search``). Every one opens an existing database only (a
corrupt or foreign file is refused by ``Store.open``), and prints feed text cleaned of control
characters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from monitor.cli import broken_pipe_exits, cli, config_option, errors_to_exit_codes
from monitor.cli_backup import run_backup
from monitor.config import RetentionConfig, load_config, parse_duration
from monitor.deliver.base import clean_line
from monitor.maintenance import VACUUM_FREE, MaintenanceReport, maintain
from monitor.store.search import SearchHit


@cli.group("db")
def db() -> None:
    """The database of --config FILE: `db backup PATH` copies it safely while the daemon
    runs; `db prune` applies [retention] now (the daemon does it hourly)."""


@db.command("backup")
@click.argument("path", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path))
@config_option
def db_backup(path: Path, config_path: Path) -> None:
    """Copy the database of --config FILE to PATH, consistently even while the daemon writes
    (VACUUM INTO: a snapshot of the last commit), check the copy (PRAGMA integrity_check) and
    print "ok" and its size. PATH must not exist: an existing file is never overwritten.
    Copying the .db file by hand while the monitor runs, or deleting its -wal file, is
    unsupported. Exit 1 if PATH exists or the backup fails, 2 for a config error."""
    run_backup(path, config_path)


@db.command("prune")
@config_option
@click.option("-n", "--dry-run", is_flag=True,
              help="Count what would be removed and whether a VACUUM is due; change nothing.")
def db_prune(config_path: Path, dry_run: bool) -> None:
    """Apply [retention] now, as the daemon does every hour: empty the article texts older
    than article_text, delete the fingerprints older than fingerprints and the sent or dead
    alerts older than alerts (pending ones never), VACUUM if vacuum_every has passed since the
    last one and there are free pages to give back, and truncate the WAL. Entries (guid,
    canonical URL: what was seen) are never removed. Prints what it removed (or would).
    Exit 1 if the database is missing or unusable, 2 for a config error."""
    from monitor.cli_stories import open_database

    with errors_to_exit_codes():
        config = load_config(config_path)
        with closing(open_database(config.database)) as store:
            report = maintain(store, config.retention, datetime.now(UTC), dry_run=dry_run)
        click.echo(prune_text(report, config.retention))


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def prune_text(report: MaintenanceReport, retention: RetentionConfig) -> str:
    """What ``db prune`` prints: one line per kind of row, then the file."""
    p, c, dry = report.pruned, report.cutoffs, report.dry_run
    fp_bands = "" if dry else f", with {p.bands} LSH band rows"
    lines = [
        f"article texts: {p.texts} {'to empty' if dry else 'emptied'} (extracted before "
        f"{_day(c.texts)} UTC: article_text = {_span(retention.article_text)})",
        f"fingerprints: {p.fingerprints} {'to delete' if dry else 'deleted'}{fp_bands} "
        f"(entries first seen before {_day(c.fingerprints)} UTC: fingerprints = "
        f"{_span(retention.fingerprints)})",
        f"alerts: {p.alerts} sent or dead {'to delete' if dry else 'deleted'}, with "
        f"{p.recipients} recipient rows (created before {_day(c.alerts)} UTC: alerts = "
        f"{_span(retention.alerts)}); pending alerts are never removed",
        "entries: all kept (guid and canonical URL: what was seen is never forgotten)",
    ]
    last = f"last {_day(report.last_vacuum)} UTC" if report.last_vacuum else "never run"
    free = f"{report.free:.0%} of the file free"
    vacuum = {
        "done": f"done ({last} before; {free}): {_mb(report.size_before)} → "
                f"{_mb(report.size_after)}",
        "due": f"due: would run if at least {VACUUM_FREE:.0%} of the file is free after pruning"
               f" ({last}; {free} now)",
        "not-due": f"not due ({last}; vacuum_every = {_span(retention.vacuum_every)})",
        "little-free": f"due but skipped: {free}, nothing worth giving back ({last})",
    }[report.vacuum]
    lines.append(f"vacuum: {vacuum}")
    if report.checkpoint is not None:
        busy = report.checkpoint[0]
        lines.append("checkpoint: " + ("a reader kept the WAL from being truncated; the next "
                                       "pass tries again" if busy else "WAL truncated"))
    lines.append(f"{'dry run: nothing changed; ' if dry else ''}database and WAL: "
                 f"{_mb(report.size_after)}")
    return "\n".join(lines)


# --- monitor search ------------------------------------------------------------------------------


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """``--since``: a duration back from ``now`` (``7d``, ``12h``) or an ISO 8601 date or time
    (a date is 00:00 UTC; a time without an offset is UTC)."""
    if value is None:
        return None
    seconds = parse_duration(value.strip())
    if seconds is not None and not value.strip().isdigit():
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a duration ('7d', '12h') nor an ISO "
                                 "8601 date ('2024-08-01')", param_hint="--since") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hits_json(hits: Sequence[SearchHit]) -> str:
    return json.dumps([{
        "entry_id": h.entry_id, "time": h.time.isoformat() if h.time else None,
        "feed": h.feed, "outlet": h.outlet, "title": h.title, "url": h.url,
        "story_id": h.story_id, "snippet": h.snippet, "text_pruned": h.text_pruned,
    } for h in hits], ensure_ascii=False, indent=2)


def hits_text(hits: Sequence[SearchHit], limit: int) -> str:
    if not hits:
        return "no article matches"
    blocks = []
    for h in hits:
        when = _day(h.time) if h.time else "-"
        outlet = clean_line(h.outlet)
        source = outlet if outlet == h.feed else f"{outlet} ({clean_line(h.feed)})"
        story = f"  story {h.story_id}" if h.story_id else ""
        pruned = "  [text pruned: title match only]" if h.text_pruned else ""
        blocks.append(f"{when}  {source}{story}{pruned}\n  {clean_line(h.title)}\n"
                      f"  {clean_line(h.url) or '-'}\n  {clean_line(h.snippet)}")
    more = f"\n\n{len(hits)} shown; more may match (--limit)" if len(hits) == limit else ""
    return "\n\n".join(blocks) + more


@cli.command("search")
@click.argument("query", nargs=-1, required=True, metavar="QUERY...")
@click.option("--since", metavar="DURATION|DATE",
              help="Only articles from this far back ('7d', '12h') or from this date or time "
                   "on (ISO 8601: '2024-08-01', UTC unless it says otherwise).")
@click.option("--limit", default=20, show_default=True, metavar="N",
              type=click.IntRange(min=1), help="How many articles to show.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON array: {entry_id, time, feed, outlet, title, url, story_id, "
                   "snippet, text_pruned}.")
@config_option
def search(query: tuple[str, ...], since: str | None, limit: int, as_json: bool,
           config_path: Path) -> None:
    """Search the titles and texts of the stored articles, newest first (published, else first
    seen): time, outlet (feed), story id, title, URL, and a snippet with each hit in «…».

    Each QUERY is one phrase, its words in that order and next to each other; give several
    and an article must hold every one:

    \b
        monitor search "Ain al-Asad" rocket --since 30d

    Case, accents, punctuation ("al-Asad" is "al Asad") and Arabic spelling variants
    (harakat, tatweel, أ/إ/آ/ا, ى/ي, ة/ه) are ignored. QUERY is plain text, never search
    syntax: quotes, *, NEAR(, ^ and column: filters are taken as the words in them. Texts
    pruned by [retention] are found by their titles only. Exit 1 if the database is missing
    or unusable, 2 for a config error or a QUERY without a word."""
    from monitor.cli_stories import open_database
    from monitor.store.search import match_query

    if match_query(query) is None:
        raise click.UsageError("QUERY holds no word to search for (letters or digits)")
    with errors_to_exit_codes():
        config = load_config(config_path)
        start = parse_since(since, datetime.now(UTC))
        with closing(open_database(config.database)) as store:
            hits = store.search(query, since=start, limit=limit)
        with broken_pipe_exits():
            click.echo(hits_json(hits) if as_json else hits_text(hits, limit))
