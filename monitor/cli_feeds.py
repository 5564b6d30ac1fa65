"""The click commands of feeds: ``monitor feeds list|add|remove|retry|import|export``; a
companion of ``cli.py`` that adds its group to ``cli`` when imported (``cli.py`` imports it last).

The feeds of the config file and those added here live side by side in the database
(``monitor.store.feeds``): the config stays the authority on its own feeds (``remove`` refuses
them), and a name belongs to one origin only. ``add`` fetches the feed once through the guarded
client and stores nothing unless it is a feed; ``import`` adds an OPML list without fetching.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from monitor.cli import broken_pipe_exits, cli, config_option, errors_to_exit_codes
from monitor.config import _NAME as NAME_RULE  # the config's rule for feed names
from monitor.config import (
    DEFAULT_INTERVAL,
    MAX_DURATION,
    MIN_INTERVAL,
    Config,
    load_config,
    parse_duration,
)
from monitor.deliver.base import clean_line, truncate
from monitor.errors import FetchError, MonitorError
from monitor.model import FULL_TEXT, Feed, FullText, PollResult
from monitor.net import GuardedClient, redact_url
from monitor.sources.opml import OpmlFeed, read_opml, write_opml
from monitor.store import Store
from monitor.store.codec import dt_out
from monitor.store.feeds import FeedRow

MAX_OPML_BYTES = 10 * 1024 * 1024
URL_ROOM, ERROR_ROOM = 60, 40  # columns of the table given to the URL and to the last error


@dataclass
class Known:
    """The feeds a new one must not repeat: names taken, and URL → who has it."""

    names: set[str] = field(default_factory=set)
    urls: dict[str, str] = field(default_factory=dict)
    reserved: set[str] = field(default_factory=set)  # also removed feeds': never made up anew


def _now() -> datetime:
    return datetime.now(UTC)


def _store(config: Config, *, create: bool) -> Store | None:
    """The database of the config; None when it does not exist and ``create`` is false (a
    listing or a dry run creates nothing)."""
    return Store.open(config.database) if create or config.database.is_file() else None


def listed(config: Config, store: Store | None) -> list[FeedRow]:
    """The feeds of the config (in its order, with their stored state once polled), then those
    added at the command line (by name). A config feed whose name a command-line feed holds is
    listed twice: the clash that `check` refuses."""
    stored = {r.name: r for r in store.feed_rows()} if store else {}
    rows = []
    for f in config.feeds:
        row = stored.get(f.name)
        base = row if row is not None and row.origin == "config" else FeedRow(
            name=f.name, url=f.url, origin="config")
        rows.append(replace(base, url=f.url, tags=f.tags, interval=f.interval,
                            full_text=f.full_text))
    return rows + [r for r in stored.values() if r.origin == "cli"]


def load_rows(config_path: Path) -> tuple[Config, list[FeedRow]]:
    """The config at ``config_path`` and its feeds as ``listed`` gives them."""
    config = load_config(config_path)
    store = _store(config, create=False)
    try:
        return config, listed(config, store)
    finally:
        if store is not None:
            store.close()


def known(config: Config, store: Store | None) -> Known:
    found = Known(reserved=store.feed_names() if store else set())
    for r in listed(config, store):
        origin = "in the config" if r.origin == "config" else "added at the command line"
        found.names.add(r.name)
        found.urls.setdefault(r.url, f"feed {r.name!r} ({origin})")
    return found


def slug(text: str | None) -> str:
    """A feed name from a title or host: ASCII letters, digits, '.', '_', '-' (at most 56, to
    leave room for a ``-2``); "" when nothing usable is left."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9._-]+", "-", ascii_text.lower())
    return re.sub(r"-{2,}", "-", name).strip("-._")[:56].rstrip("-._")


def unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        suffix = f"-{n}"
        name, n = base[:64 - len(suffix)] + suffix, n + 1
    return name


def _host(url: str) -> str:
    return urlsplit(url).hostname or "feed"


def _interval(value: str | None) -> int:
    if value is None:
        return DEFAULT_INTERVAL
    seconds = parse_duration(value.strip())
    if seconds is None or not MIN_INTERVAL <= seconds <= MAX_DURATION:
        raise click.BadParameter(f"{value!r}: a duration such as 15m or 1h, at least "
                                 f"{MIN_INTERVAL} seconds and at most ten years",
                                 param_hint="--interval")
    return seconds


def _tags(values: Sequence[str]) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(" ".join(v.split()) for v in values))
    if "" in tags:
        raise click.BadParameter("a tag must not be empty", param_hint="--tag")
    return tags


def _every(seconds: int | None) -> str:
    if not seconds:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def fetch(url: str, config: Config) -> PollResult:
    """Fetch ``url`` once through the guarded client and parse it; ``MonitorError`` with one
    clear line when it cannot be had or is not a feed."""
    from monitor.sources import ACCEPT, parse

    shown = redact_url(url)
    with GuardedClient(config.network) as client:
        try:
            response = client.get(url, headers={"Accept": ACCEPT})
        except FetchError as e:
            raise MonitorError(f"cannot fetch {shown}: {e}; nothing added") from e
    if not 200 <= response.status < 300:
        raise MonitorError(f"{shown} answered HTTP {response.status}; nothing added")
    result = parse("new-feed", response)
    if result.status != "ok":
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        reason = ("it is an HTML page" if kind in ("text/html", "application/xhtml+xml")
                  else (result.error or "").removeprefix("not a feed: "))
        raise MonitorError(f"{shown} is not an RSS, Atom or JSON feed ({reason}); nothing "
                           "added")
    return result


def _check_name(name: str | None) -> str | None:
    if name is not None and not NAME_RULE.match(name):
        raise click.BadParameter(f"{name!r} must be 1-64 letters, digits, '.', '_' or '-', "
                                 "starting with a letter or digit", param_hint="--name")
    return name


@click.group()
def feeds() -> None:
    """The feeds polled: those of the config file and those added here."""


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON array with every field (ISO 8601 times, redacted URLs).")
@config_option
def feeds_list(as_json: bool, config_path: Path) -> None:
    """List the feeds, those of the config first: name, origin (config or cli), status, last
    success, next poll, entries seen, URL (redacted) and the last error."""
    with errors_to_exit_codes():
        _, rows = load_rows(config_path)
    names = [r.name for r in rows]
    for name in sorted({n for n in names if names.count(n) > 1}):
        click.echo(f"warning: feed {name!r} is both in the config and added at the command "
                   f"line; `monitor check` refuses this until one goes (`monitor feeds remove "
                   f"{name}`, or rename the one in the config)", err=True)
    with broken_pipe_exits():
        click.echo(feeds_json(rows) if as_json else feeds_table(rows))


def feeds_json(rows: Sequence[FeedRow]) -> str:
    return json.dumps([{
        "name": r.name, "title": r.title, "url": redact_url(r.url), "origin": r.origin,
        "tags": list(r.tags), "interval": r.interval, "status": r.status,
        "status_since": dt_out(r.status_since), "last_status": r.last_status,
        "last_success_at": dt_out(r.last_success_at), "last_error": r.last_error,
        "last_polled_at": dt_out(r.last_polled_at), "next_poll_at": dt_out(r.next_poll_at),
        "consecutive_failures": r.consecutive_failures, "entries": r.entries,
        "added_at": dt_out(r.added_at), "full_text": r.full_text,
    } for r in rows], ensure_ascii=False, indent=2)


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def feeds_table(rows: Sequence[FeedRow]) -> str:
    if not rows:
        return "no feeds: add one to the config, or with `monitor feeds add URL`"
    head = ("NAME", "ORIGIN", "STATUS", "LAST SUCCESS (UTC)", "NEXT POLL (UTC)", "ENTRIES",
            "URL", "LAST ERROR")
    cells = [(r.name, r.origin, r.status if r.last_polled_at else "new",
              _time(r.last_success_at), _time(r.next_poll_at), str(r.entries),
              truncate(redact_url(r.url), URL_ROOM),
              truncate(clean_line(r.last_error), ERROR_ROOM) if r.last_status == "error"
              else "-") for r in rows]
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if i == 5 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                     for row in [head, *cells])


@feeds.command("add")
@click.argument("url")
@click.option("--name", metavar="NAME",
              help="The feed's name (default: made from its title, else its host).")
@click.option("--interval", metavar="DURATION",
              help=f"How often to poll it, e.g. 15m, 1h (default {_every(DEFAULT_INTERVAL)}).")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="A tag for routes and silences (repeatable).")
@click.option("--full-text", type=click.Choice(FULL_TEXT), default="always", show_default=True,
              help="Read every new entry's page, or only those whose title and summary could "
                   "match a rule.")
@config_option
def feeds_add(url: str, name: str | None, interval: str | None, tags: tuple[str, ...],
              full_text: FullText, config_path: Path) -> None:
    """Fetch URL once through the guarded client; if it is an RSS, Atom or JSON feed, print its
    title and entry count and add it (the next check, and the daemon, poll it). Exit 1, with
    nothing stored, when it cannot be fetched or is not a feed, or when its name or URL is
    already a feed; 2 for a bad option or config."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{redact_url(url)!r} is not an http(s) URL", param_hint="URL")
    seconds, tag_list, chosen = _interval(interval), _tags(tags), _check_name(name)
    with errors_to_exit_codes():
        config = load_config(config_path)
        store = _store(config, create=False)
        try:
            have = known(config, store)
            if url in have.urls:
                raise MonitorError(f"{redact_url(url)} is already {have.urls[url]}")
            if chosen and chosen in have.names:
                raise MonitorError(f"a feed named {chosen!r} already exists; choose another "
                                   "--name")
            result = fetch(url, config)
            store = store or Store.open(config.database)
            store.retire_feeds([f.name for f in config.feeds], _now())
            feed_name = chosen or unique(slug(result.title) or slug(_host(url)) or "feed",
                                         have.names | have.reserved)
            store.add_feed(Feed(name=feed_name, url=url, interval=seconds, tags=tag_list,
                                full_text=full_text), title=result.title, now=_now())
        finally:
            if store is not None:
                store.close()
    click.echo(f"added feed {feed_name}: {clean_line(result.title) or '(untitled)'!r}, "
               f"{len(result.entries)} entries, every {_every(seconds)}"
               + (f", tags {', '.join(tag_list)}" if tag_list else "")
               + (f", full_text {full_text}" if full_text != "always" else ""))


@feeds.command("remove")
@click.argument("name", metavar="NAME")
@config_option
def feeds_remove(name: str, config_path: Path) -> None:
    """Stop polling feed NAME, added at the command line; its entries and stories stay. A feed
    of the config file is removed by editing the file. Exit 1 for an unknown NAME."""
    with errors_to_exit_codes():
        config = load_config(config_path)
        store = _store(config, create=False)
        try:
            rows = {r.name: r for r in store.feed_rows()} if store else {}
            if name in rows and rows[name].origin == "config":
                raise MonitorError(f"feed {name!r} comes from the config file {config.path}: "
                                   "remove its [[feeds]] entry there instead")
            removed = store.remove_feed(name, _now()) if store else False
        finally:
            if store is not None:
                store.close()
        if not removed:
            if name in {f.name for f in config.feeds}:
                raise MonitorError(f"feed {name!r} comes from the config file {config.path}: "
                                   "remove its [[feeds]] entry there instead")
            raise MonitorError(f"no feed named {name!r} was added at the command line")
    click.echo(f"removed feed {name} (its {rows[name].entries} entries stay)")


@feeds.command("retry")
@click.argument("name", metavar="NAME")
@config_option
def feeds_retry(name: str, config_path: Path) -> None:
    """Poll feed NAME at the next chance (the daemon's next look, or the next `check --due`),
    also when it is failing or gone (HTTP 410). Exit 1 for an unknown NAME."""
    with errors_to_exit_codes():
        config = load_config(config_path)
        store = _store(config, create=False)
        try:
            before = store.retry_feed(name, _now()) if store else None
        finally:
            if store is not None:
                store.close()
        if before is None:
            raise MonitorError(f"no feed named {name!r} has been polled yet")
    click.echo(f"feed {name} ({before}) is due now")


def import_name(feed: OpmlFeed) -> str:
    """The name an imported feed asks for: the outline text when it is a valid name (an
    export writes the name there), else a slug of its text or title, else of its host."""
    if feed.name and NAME_RULE.match(feed.name):
        return feed.name
    return slug(feed.name) or slug(feed.title) or slug(_host(feed.url)) or "feed"


@feeds.command("import")
@click.argument("file", metavar="FILE.opml",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-n", "--dry-run", is_flag=True,
              help="Print what would be added and skipped; store nothing.")
@config_option
def feeds_import(file: Path, dry_run: bool, config_path: Path) -> None:
    """Add every feed of an OPML file (1.0 or 2.0) whose URL is not already a feed, with the
    tags of its categories, without fetching them: the next check polls them. Prints each feed
    added and each one skipped, and why. Exit 1 if the file is not a safe, well-formed OPML
    file (entity declarations are refused), 2 for a config error."""
    with errors_to_exit_codes():
        config = load_config(config_path)
        if file.stat().st_size > MAX_OPML_BYTES:
            raise MonitorError(f"{file}: larger than {MAX_OPML_BYTES // 2**20} MiB; not read")
        doc = read_opml(file.read_bytes(), str(file))
        store = _store(config, create=not dry_run)
        try:
            have = known(config, store)
            if store is not None and not dry_run:
                store.retire_feeds([f.name for f in config.feeds], _now())
            lines = [f"skipped {line}" for line in doc.skipped]
            added = 0
            for feed in doc.feeds:
                if feed.url in have.urls:
                    lines.append(f"skipped {redact_url(feed.url)}: already {have.urls[feed.url]}")
                    continue
                asked = import_name(feed)
                name = unique(asked, have.names | (have.reserved - {asked}))
                have.names.add(name)
                have.urls[feed.url] = f"feed {name!r} (earlier in {file})"
                if store is not None and not dry_run:
                    store.add_feed(Feed(name=name, url=feed.url, interval=DEFAULT_INTERVAL,
                                        tags=feed.tags), title=feed.title, now=_now())
                added += 1
                tags = f" (tags: {clean_line(', '.join(feed.tags))})" if feed.tags else ""
                lines.append(f"{'would add' if dry_run else 'added'} {name}: "
                             f"{redact_url(feed.url)}{tags}")
        finally:
            if store is not None:
                store.close()
    for line in lines:
        click.echo(clean_line(line))
    skipped = len(doc.skipped) + len(doc.feeds) - added
    click.echo(f"import{' (dry run, nothing stored)' if dry_run else ''}: added={added} "
               f"skipped={skipped}; not fetched: the next check, and the daemon, poll them")


@feeds.command("export")
@click.option("-o", "--output", metavar="FILE",
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the OPML to FILE instead of stdout.")
@config_option
def feeds_export(output: Path | None, config_path: Path) -> None:
    """Write every feed, of the config and added at the command line, as OPML 2.0: one
    category outline per tag (a feed with several tags under each), untagged feeds at the top
    level. URLs are written in full (an OPML list is for subscribing)."""
    with errors_to_exit_codes():
        config, rows = load_rows(config_path)
        doc = write_opml([OpmlFeed(url=r.url, title=r.title, tags=r.tags, name=r.name)
                          for r in rows], f"news-monitor feeds ({config.path.name})", _now())
        if output is None:
            with broken_pipe_exits():
                sys.stdout.buffer.write(doc)
                sys.stdout.buffer.flush()
            return
        try:
            output.write_bytes(doc)
        except OSError as e:
            raise MonitorError(f"cannot write {output}: {e.strerror or e}") from e
    click.echo(f"exported {len(rows)} feeds to {output}")


cli.add_command(feeds)
