"""The command line: the only place that prints or sets exit codes.

Exit codes: 0 all went well; 1 a feed or a target failed (or the database could not be used);
2 usage, config or rule error.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import click

from monitor import __version__, match
from monitor.cli_tools import LOG_FORMATS, set_log_format, setup_logging, tool_setup
from monitor.config import Config, load_config
from monitor.daemon_context import STOP_TIMEOUT, build_context
from monitor.errors import ConfigError, MonitorError, RuleError
from monitor.pipeline import RunReport, run_once
from monitor.sources.xmlguard import check_expat
from monitor.store import Store

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
CONFIG_HELP = ("The TOML config file (feeds, targets, routes, rules folder, database). "
               "Default: $MONITOR_CONFIG.")


@contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    """Turn a MonitorError into one clear line on stderr and its exit code."""
    try:
        yield
    except (ConfigError, RuleError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_CONFIG)
    except MonitorError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)


@contextmanager
def broken_pipe_exits() -> Iterator[None]:
    """The reader of stdout went away (`| head`): stop quietly, exit 1."""
    try:
        yield
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAILED)


def verbosity(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text",
                     show_default=True, envvar="MONITOR_LOG_FORMAT", expose_value=False,
                     is_eager=True, callback=lambda _ctx, _param, value: set_log_format(value),
                     help="Log lines as text, or as one JSON object each (time, level, "
                          "logger, message and the message's key=value pairs). Default: "
                          "$MONITOR_LOG_FORMAT, else text.")(f)
    f = click.option("-v", "--verbose", count=True,
                     help="More log output on stderr (-vv also logs HTTP library detail).")(f)
    return click.option("-q", "--quiet", is_flag=True,
                        help="Log only warnings and errors on stderr.")(f)


def config_option(f: click.decorators.FC, *, required: bool = True) -> click.decorators.FC:
    return click.option("-c", "--config", "config_path", envvar="MONITOR_CONFIG",
                        required=required, metavar="FILE",
                        type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP)(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="news-monitor")
def cli() -> None:
    """news-monitor: watch news feeds, match watchlist rules, alert once per story.

    \b
    monitor check -c monitor.toml        one pass over every feed, then delivery
    monitor check -c monitor.toml -n     the same, printing what would be sent
    monitor run -c monitor.toml          the daemon: each feed on its own schedule
    monitor demo                         the whole job on the bundled sample news site
    monitor rules test [DIR]             run the examples carried by the rule files
    monitor match < articles.jsonl       match JSON lines offline (backtesting)
    monitor explain PAGE.html|URL        why each rule matches a page, or not
    monitor stories -c monitor.toml      the recent stories; `stories show ID`: one of them
    monitor replay articles.jsonl        backtest the story decisions on saved articles
    monitor alerts list -c monitor.toml  the outbox; `alerts retry ID|--dead`: requeue
    monitor send-test NAME -c FILE       send a test alert to one target
    """


def check_once(config: Config, *, dry_run: bool, due_only: bool = False,
               clock: Callable[[], datetime] | None = None) -> RunReport:
    """One pass. A dry run works on a throw-away copy of the database, so it changes nothing."""
    store = Store.open(config.database) if not dry_run or config.database.exists() else None
    with tempfile.TemporaryDirectory(prefix="monitor-dry-run-") as tmp:
        if dry_run:
            copy = Path(tmp) / "dry-run.db"
            if store is not None:
                store.snapshot(copy)
                store.close()
            store = Store.open(copy)
        assert store is not None
        ctx = build_context(config, store, dry_run=dry_run, clock=clock)
        try:
            return run_once(ctx, due_only=due_only)
        finally:
            ctx.client.close()
            store.close()


def report_exit(report: RunReport, prefix: str = "check") -> int:
    """Print the summary and the failures; return the exit code."""
    for f in report.feeds:
        for note in f.notes:
            click.echo(note)
    click.echo(f"{prefix}: {report.summary()}")
    for f in report.failed_feeds:
        click.echo(f"failed: feed {f.feed}: {f.error}", err=True)
    for line in report.delivery.errors:
        click.echo(f"failed: {line}", err=True)
    return EXIT_OK if report.ok else EXIT_FAILED


@cli.command()
@config_option
@click.option("-n", "--dry-run", is_flag=True,
              help="Poll, extract and match for real, print the alerts that would be sent, send "
                   "nothing and leave the database as it was.")
@click.option("--due", "due_only", is_flag=True,
              help="Poll only the feeds whose next poll (interval, backoff, the feed's own "
                   "hints) has come: for a timer that runs check often.")
@verbosity
def check(config_path: Path, dry_run: bool, due_only: bool, verbose: int, quiet: bool) -> None:
    """Poll every feed once (gone feeds excepted), then deliver the alerts due.

    Exit 0 when all went well, 1 when a feed or a target failed (the alert stays queued and is
    retried by the next check or by the daemon), 2 for a config or rule error.
    """
    setup_logging(verbose, quiet)
    with errors_to_exit_codes():
        config = load_config(config_path)
        check_expat()
        report = check_once(config, dry_run=dry_run, due_only=due_only)
        sys.exit(report_exit(report, "check (dry run)" if dry_run else "check"))


@cli.command()
@config_option
@click.option("--stop-timeout", type=click.FloatRange(min=0), default=STOP_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="On SIGTERM, how long the polls and the delivery under way may take before "
                   "they are abandoned (retried on the next start); keep it below systemd's "
                   "TimeoutStopSec.")
@verbosity
def run(config_path: Path, stop_timeout: float, verbose: int, quiet: bool) -> None:
    """Run the daemon: each feed polled when its next poll comes, the outbox drained
    continuously. One daemon per database: exit 1 at once if another holds its lock.

    SIGTERM or SIGINT: no new work; what is under way gets --stop-timeout. SIGHUP reloads the
    config file and its rule folder, swapped in together only if both load and all the
    examples pass. Under systemd (Type=notify) it reports READY=1 once the database is
    migrated and the rules loaded, and pings the watchdog after checking itself.
    """
    from monitor.daemon_lock import DaemonLock
    from monitor.scheduler import run_daemon

    setup_logging(verbose, quiet)
    with errors_to_exit_codes():
        config = load_config(config_path)
        check_expat()
        # The lock first: a second daemon must not even migrate the database.
        with DaemonLock(config.database), closing(Store.open(config.database)) as store:
            ctx = build_context(config, store, daemon=True)
            try:
                if not run_daemon(ctx, stop_timeout=stop_timeout):
                    exit_now(EXIT_OK)  # work still running in other threads: abandoned
            finally:
                ctx.client.close()


def exit_now(code: int) -> None:
    """Exit without waiting for other threads (``sys.exit`` would join the pollers'): the
    database is left as a crash leaves it, which it is made to survive."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


DEMO_NOW = "2024-08-07T21:00:00+00:00"


@cli.command()
@click.option("--rules", "rules_dir", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Rule folder to use instead of the shipped rules/.")
@click.option("--now", "now_text", metavar="TIME", default=DEMO_NOW, show_default=True,
              help="The clock of the demo, ISO 8601: articles older than [stories] max_age "
                   "at that time are stale (stored and matched, not alerted).")
@verbosity
def demo(rules_dir: Path | None, now_text: str, verbose: int, quiet: bool) -> None:
    """Serve the bundled sample news site on 127.0.0.1, run one check against it with the
    shipped rules and the console target, print the alerts and a summary, stop the server.

    The clock is pinned (--now) to the evening of 7 August 2024: the three reports of the
    5 August attack on Ain al-Asad make one alert with its sources; the 2019 and 2023 reports
    are matched but stale; the unrelated articles are ignored."""
    from monitor.demo import demo_config, serve_site, shipped_rules

    setup_logging(verbose, quiet or not verbose)
    with errors_to_exit_codes(), serve_site() as (base, _):
        with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
            config = load_config(demo_config(base, Path(tmp), rules_dir or shipped_rules()))
            click.echo(f"demo: sample news site at {base}; feeds: "
                       f"{', '.join(f.url for f in config.feeds)}\n")
            now = _parse_now(now_text)
            report = check_once(config, dry_run=False, clock=lambda: now)
            sys.exit(report_exit(report, "demo"))


def _parse_now(text: str) -> datetime:
    try:
        now = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--now") from e
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def rules_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("--rules", "rules_dir", metavar="DIR",
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Rule folder to use. Default: the rules folder of --config when it "
                             "is given, else the shipped rules/.")(f)


def tool_config_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("-c", "--config", "config_path", metavar="FILE",
                        type=click.Path(dir_okay=False, path_type=Path),
                        help="A TOML config file whose rules folder and settings ([network], "
                             "[stories]) to use (optional; $MONITOR_CONFIG is not read).")(f)


@cli.command("match")
@rules_option
@tool_config_option
@verbosity
def match_command(rules_dir: Path | None, config_path: Path | None, verbose: int,
                  quiet: bool) -> None:
    """Match articles offline, for backtesting: JSON lines on stdin, one JSON line out for each.

    \b
    in:  {"id": …, "title": …, "text": …, "url": …, "published": "2024-08-06T14:12:00+04:00"}
         ("summary" stands in for a missing text: a bare feed item; url, published optional)
    out: {"id": …, "matched": true, "rules": [{"id": …, "severity": …}], "entities": […],
          "snippet": …}

    A bad line gets {"id": …, "error": …} and a line on stderr, and the rest goes on. Exit 0
    when every line was read, 1 if any was bad, 2 for a config or rule error.
    """
    from monitor.cli_tools import match_lines

    setup_logging(verbose, quiet)
    with errors_to_exit_codes():
        _, ruleset = tool_setup(rules_dir, config_path)
        with broken_pipe_exits():
            bad = match_lines(sys.stdin.buffer, ruleset, sys.stdout.buffer, sys.stderr)
        sys.exit(EXIT_FAILED if bad else EXIT_OK)


@cli.command()
@click.argument("page", metavar="URL|FILE")
@rules_option
@tool_config_option
@verbosity
def explain(page: str, rules_dir: Path | None, config_path: Path | None, verbose: int,
            quiet: bool) -> None:
    """Show why each rule matches one page, or not: the title, the head of the text, then every
    rule with MATCHED or not matched, the reason and each condition found or not, and where.

    FILE: a saved page (.html, .htm) or plain text (its first line taken as the title). URL:
    fetched through the guarded client with the [network] settings of --config (by default,
    private addresses are refused). Exit 1 if the page cannot be had, 2 for a config or rule
    error.
    """
    from monitor import cli_tools
    from monitor.net import NetConfig

    setup_logging(verbose, quiet)
    with errors_to_exit_codes():
        config, ruleset = tool_setup(rules_dir, config_path)
        if cli_tools.is_url(page):
            article = cli_tools.fetch(page, config.network if config else NetConfig())
        elif Path(page).is_file():
            article = cli_tools.read_file(Path(page))
        else:
            raise click.BadParameter(f"{page!r} is neither an http(s) URL nor a file",
                                     param_hint="URL|FILE")
        click.echo(cli_tools.explain_report(page, article, ruleset))


@cli.group()
def rules() -> None:
    """Work with rule files."""


@rules.command("test")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def rules_test(directory: Path | None) -> None:
    """Load the rule files in DIRECTORY (default: the shipped rules/) and run the examples they
    carry. Exit 1 if any example fails, 2 if a file does not load."""
    from monitor.demo import shipped_rules

    with errors_to_exit_codes():
        ruleset = match.load_rules(directory or shipped_rules())
        failures = match.check_examples(ruleset)
        for line in failures:
            click.echo(f"FAIL {line}")
        total = len(ruleset.examples)
        click.echo(f"{total - len(failures)} passed, {len(failures)} failed")
        sys.exit(EXIT_FAILED if failures else EXIT_OK)


def stories_options(json_help: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    def add(f: click.decorators.FC) -> click.decorators.FC:
        f = click.option("--json", "as_json", is_flag=True, help=json_help)(f)
        return config_option(f, required=False)  # `stories show` may take that of `stories`
    return add


def open_stories(config_path: Path | None) -> Store:
    """The database of --config (that of `stories` when `stories show` has none)."""
    parent = click.get_current_context().parent
    path = config_path or (parent.params.get("config_path") if parent else None)
    if path is None:
        raise click.UsageError("Missing option '-c' / '--config' (or $MONITOR_CONFIG).")
    from monitor.cli_stories import open_database

    return open_database(load_config(path).database)


@cli.group(invoke_without_command=True)
@stories_options("One JSON array: full titles, ISO 8601 times, the outlets.")
@click.option("--limit", default=50, show_default=True, metavar="N",
              type=click.IntRange(min=1), help="How many stories to list.")
@click.pass_context
def stories(ctx: click.Context, config_path: Path | None, as_json: bool, limit: int) -> None:
    """List the recent stories of the database, newest update first: id, severity, first
    seen, last update, number of articles and of outlets, title. `stories show ID` shows one.
    Exit 1 if the database is missing or not news-monitor's, 2 for a config error."""
    from monitor.cli_stories import stories_json, stories_table

    if ctx.invoked_subcommand is None:
        with errors_to_exit_codes(), closing(open_stories(config_path)) as store:
            rows = store.list_stories(limit)
            click.echo(stories_json(rows) if as_json else stories_table(rows))


@stories.command("show")
@click.argument("story_id", metavar="ID", type=click.IntRange(min=1))
@stories_options("The story and its articles as JSON.")
def stories_show(story_id: int, config_path: Path | None, as_json: bool) -> None:
    """Show one story: its header, then its articles oldest first (time, decision, outlet,
    title, URL) with the reason each joined. Exit 1 for an unknown ID."""
    from monitor.cli_stories import story_json, story_text

    with errors_to_exit_codes(), closing(open_stories(config_path)) as store:
        click.echo((story_json if as_json else story_text)(store, story_id))


@cli.command("replay")
@click.argument("file", metavar="FILE.jsonl", type=click.File("rb"))
@rules_option
@tool_config_option
@click.option("--max-age", metavar="DURATION",
              help="Articles older than this when seen are stale (e.g. '3d'). Default: none "
                   "is; the clock follows the articles.")
@verbosity
def replay(file: BinaryIO, rules_dir: Path | None, config_path: Path | None,
           max_age: str | None, verbose: int, quiet: bool) -> None:
    """Backtest the story decisions: replay saved articles, oldest first, through a scratch
    database with the clock at each one's publication, delivering nothing. Story settings from
    the [stories] of --config, else the defaults. FILE "-" reads stdin.

    \b
    in:  {"id", "title"?, "text"?, "url"?, "outlet"?, "published"?: "2024-08-06"}
    out: {"id", "story_id", "decision", "reason"}, one per article in the order processed;
         decision: new, update, escalation, duplicate, stale or no-match

    A bad line gets {"id": …, "error": …} (first) and a line on stderr, and the rest goes on.
    Exit 0 when every line was read, 1 if any was bad, 2 for a config or rule error."""
    from monitor import cli_stories

    setup_logging(verbose, quiet)
    if not verbose:  # the queue of its throw-away target is not news: one line per error only
        logging.getLogger("monitor.ingest").setLevel(logging.WARNING)
    with errors_to_exit_codes():
        config, ruleset = tool_setup(rules_dir, config_path)
        settings = cli_stories.replay_config(config, max_age)
        with broken_pipe_exits():
            bad = cli_stories.replay(file, ruleset, settings, sys.stdout.buffer, sys.stderr)
        sys.exit(EXIT_FAILED if bad else EXIT_OK)


# `alerts`, `send-test` and `backup` live in companion modules, which add them to `cli` when
# imported.
import monitor.cli_alerts_commands  # noqa: E402, F401
import monitor.cli_backup as _backup  # noqa: E402, F401 - adds `backup`
import monitor.cli_db as _db  # noqa: E402, F401 - adds `db` and `search`
import monitor.cli_feeds as _feeds  # noqa: E402, F401 - adds `feeds`
import monitor.cli_silences as _silences  # noqa: E402, F401 - adds `silence`
import monitor.cli_status as _status  # noqa: E402, F401 - adds `status`


def main() -> None:
    cli(prog_name="monitor")
