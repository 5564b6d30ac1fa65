"""The command line: the only place that prints or sets exit codes.

Exit codes: 0 all went well; 1 a feed or a target failed (or the database could not be used);
2 usage, config or rule error.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click

from monitor import __version__, match
from monitor.config import Config, load_config
from monitor.deliver import Target, build_target
from monitor.deliver.console import render_console
from monitor.errors import ConfigError, MonitorError, RuleError
from monitor.model import Alert
from monitor.net import GuardedClient
from monitor.pipeline import Context, RunReport, run_once
from monitor.store import Store

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
CONFIG_HELP = ("The TOML config file (feeds, targets, routes, rules folder, database). "
               "Default: $MONITOR_CONFIG.")


def setup_logging(verbose: int, quiet: bool) -> None:
    """One line per event on stderr; no timestamps under journald, which adds its own."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    under_journald = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = "%(levelname)s %(name)s %(message)s"
    if not under_journald:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    for noisy in ("httpx", "httpcore", "trafilatura", "htmldate", "courlan", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


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


def verbosity(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("-v", "--verbose", count=True,
                     help="More log output on stderr (-vv also logs HTTP library detail).")(f)
    return click.option("-q", "--quiet", is_flag=True,
                        help="Log only warnings and errors on stderr.")(f)


def config_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("-c", "--config", "config_path", envvar="MONITOR_CONFIG",
                        required=True, metavar="FILE",
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
    """


class DryRunTarget:
    """Prints what would be sent to a target, and sends nothing."""

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name = name
        self.stream = stream

    def send(self, alert: Alert) -> None:
        self.stream.write(f"[dry-run] would send to target {self.name!r}:\n")
        self.stream.write(render_console(alert))


def build_context(config: Config, store: Store, *, dry_run: bool = False,
                  stream: TextIO | None = None) -> Context:
    ruleset = match.load_rules(config.rules)
    client = GuardedClient(config.network)
    out = stream or sys.stdout
    targets: dict[str, Target] = {
        name: DryRunTarget(name, out) if dry_run else build_target(name, s, client, stream=out)
        for name, s in config.targets.items()
    }
    return Context(config=config, store=store, client=client, ruleset=ruleset, targets=targets)


def check_once(config: Config, *, dry_run: bool) -> RunReport:
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
        ctx = build_context(config, store, dry_run=dry_run)
        try:
            return run_once(ctx)
        finally:
            ctx.client.close()
            store.close()


def report_exit(report: RunReport, prefix: str = "check") -> int:
    """Print the summary and the failures; return the exit code."""
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
@verbosity
def check(config_path: Path, dry_run: bool, verbose: int, quiet: bool) -> None:
    """Poll every feed once, then deliver the alerts due.

    Exit 0 when all went well, 1 when a feed or a target failed (the alert stays queued and is
    retried by the next check or by the daemon), 2 for a config or rule error.
    """
    setup_logging(verbose, quiet)
    with errors_to_exit_codes():
        config = load_config(config_path)
        report = check_once(config, dry_run=dry_run)
        sys.exit(report_exit(report, "check (dry run)" if dry_run else "check"))


@cli.command()
@config_option
@verbosity
def run(config_path: Path, verbose: int, quiet: bool) -> None:
    """Run the daemon: each feed polled at its interval, the outbox drained continuously.

    Stops cleanly, after the work in hand, on SIGTERM or SIGINT. SIGHUP reloads the rule
    folder, swapped in only if it loads and all its examples pass. Under systemd (Type=notify)
    it reports READY=1 once the database is migrated and the rules loaded.
    """
    from monitor.scheduler import run_daemon

    setup_logging(verbose, quiet)
    with errors_to_exit_codes():
        config = load_config(config_path)
        store = Store.open(config.database)
        ctx = build_context(config, store)
        try:
            run_daemon(ctx)
        finally:
            ctx.client.close()
            store.close()


@cli.command()
@click.option("--rules", "rules_dir", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Rule folder to use instead of the shipped rules/.")
@verbosity
def demo(rules_dir: Path | None, verbose: int, quiet: bool) -> None:
    """Serve the bundled sample news site on 127.0.0.1, run one check against it with the
    shipped rules and the console target, print the alerts and a summary, stop the server."""
    from monitor.demo import demo_config, serve_site, shipped_rules

    setup_logging(verbose, quiet or not verbose)
    with errors_to_exit_codes(), serve_site() as (base, _):
        with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
            config = load_config(demo_config(base, Path(tmp), rules_dir or shipped_rules()))
            click.echo(f"demo: sample news site at {base}; feeds: "
                       f"{', '.join(f.url for f in config.feeds)}\n")
            report = check_once(config, dry_run=False)
            sys.exit(report_exit(report, "demo"))


def rules_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("--rules", "rules_dir", metavar="DIR",
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Rule folder to use. Default: the rules folder of --config when it "
                             "is given, else the shipped rules/.")(f)


def tool_config_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("-c", "--config", "config_path", metavar="FILE",
                        type=click.Path(dir_okay=False, path_type=Path),
                        help="A TOML config file whose rules folder and [network] settings to "
                             "use (optional; $MONITOR_CONFIG is not read).")(f)


def tool_setup(rules_dir: Path | None, config_path: Path | None) -> tuple[Config | None,
                                                                           match.RuleSet]:
    """The config (when given) and the rule set of an offline tool."""
    from monitor.demo import shipped_rules

    config = load_config(config_path) if config_path is not None else None
    directory = rules_dir or (config.rules if config is not None else shipped_rules())
    return config, match.load_rules(directory)


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
        try:
            bad = match_lines(sys.stdin.buffer, ruleset, sys.stdout.buffer, sys.stderr)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_FAILED)
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


def main() -> None:
    cli(prog_name="monitor")
