"""What the commands of ``cli.py`` share (logging setup, the dry-run target, the config and rules
of an offline tool), and the offline tools behind two of them: ``monitor match`` (JSON lines in,
one verdict per line out, for backtesting) and ``monitor explain`` (one page, rule by rule).

No click here: ``cli.py`` parses the options and hands these functions its streams. Text that
came from a feed or a page is data: whatever is printed for a terminal is cleaned of control
characters and escape sequences first (``clean_line``/``clean_text``); JSON output escapes them.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TextIO
from urllib.parse import urlsplit

from monitor import extract, match
from monitor.config import Config, load_config
from monitor.deliver.base import clean_line, clean_text, truncate
from monitor.deliver.console import render_console
from monitor.deliver.marks import cut, segments
from monitor.errors import BlockedURLError, FetchError, MonitorError
from monitor.model import Alert, Article, Entry, Evidence, Match
from monitor.net import GuardedClient, NetConfig, redact_url

HEAD_LIMIT = 600  # characters of the text shown by explain
WIDTH = 96

# --- shared by the commands ---------------------------------------------------------------------


LOG_FORMATS = ("text", "json")
# Libraries that log every request or parse step: WARNING unless -vv.
CHATTY = ("httpx", "httpcore", "trafilatura", "htmldate", "courlan", "charset_normalizer",
          "apscheduler", "urllib3")
_log_format = "text"  # set by the commands' --log-format option (``set_log_format``)
# syslog priorities, as the journal reads them from a "<N>" line prefix (sd-daemon(3))
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}
# key=value, the value a Python repr of a string ('…' or "…", as %r writes it) or a bare word
_FIELD = re.compile(r"""(?<!\S)([A-Za-z_]\w*)="""
                    r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S*)""")


def set_log_format(value: str) -> None:
    """``text`` (the default) or ``json``, for the next ``setup_logging``."""
    global _log_format
    if value not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    _log_format = value


def under_journald(stream: IO[Any], env: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal's own stream: ``$JOURNAL_STREAM`` holds its
    ``DEVICE:INODE`` (systemd.exec(5)), compared with the stream's; a variable inherited by a
    process whose stderr goes elsewhere does not count."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):  # unset, malformed, or not a real file
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def log_fields(message: str) -> dict[str, str]:
    """The ``key=value`` pairs of a log message (a value written with ``%r`` is unquoted);
    the first of a repeated key wins."""
    fields: dict[str, str] = {}
    for m in _FIELD.finditer(message):
        key, raw = m.groups()
        value = raw
        if len(raw) >= 2 and raw[0] in "'\"" and raw[-1] == raw[0]:
            try:
                value = str(ast.literal_eval(raw))
            except (ValueError, SyntaxError):
                value = raw[1:-1]
        fields.setdefault(key, value)
    return fields


_RESERVED = frozenset({"time", "level", "logger", "message", "exception", "stack"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (unless ``timestamps`` is off), ``level``,
    ``logger``, ``message``, the message's ``key=value`` pairs, and ``exception`` (the
    traceback) when there is one."""

    def __init__(self, timestamps: bool = True) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        out: dict[str, str] = {}
        if self.timestamps:
            out["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds")
        out |= {"level": record.levelname, "logger": record.name, "message": message}
        for key, value in log_fields(message).items():
            if key not in _RESERVED:
                out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False)


class _JournalPrefix(logging.Formatter):
    """Another formatter's line, led by the record's syslog priority (``<6>``), which the
    journal takes as the entry's priority."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 3 if record.levelno > logging.ERROR else 6)
        return f"<{priority}>{self.inner.format(record)}"


def setup_logging(verbose: int, quiet: bool, log_format: str | None = None, *,
                  stream: IO[str] | None = None, env: Mapping[str, str] | None = None) -> None:
    """One line per event on stderr (``stream``), ``text`` or ``json`` (default: the
    ``--log-format`` given); under journald no timestamps (it adds its own) and each line led
    by its syslog priority. Chatty libraries stay at WARNING unless ``verbose`` > 1."""
    stream = sys.stderr if stream is None else stream
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    journald = under_journald(stream, env)
    formatter: logging.Formatter
    if (log_format or _log_format) == "json":
        formatter = JsonFormatter(timestamps=not journald)
    else:
        fmt = "%(levelname)s %(name)s %(message)s"
        formatter = logging.Formatter(fmt if journald else "%(asctime)s " + fmt)
    if journald:
        formatter = _JournalPrefix(formatter)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in CHATTY:
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)
    # Apprise's DEBUG lines carry service URLs, i.e. tokens: never below WARNING.
    logging.getLogger("apprise").setLevel(logging.WARNING)


class DryRunTarget:
    """Prints what would be sent to a target, and sends nothing."""

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name = name
        self.stream = stream

    def send(self, alert: Alert) -> None:
        self.stream.write(f"[dry-run] would send to target {self.name!r}:\n")
        self.stream.write(render_console(alert))


def tool_setup(rules_dir: Path | None, config_path: Path | None) -> tuple[Config | None,
                                                                           match.RuleSet]:
    """The config (when given) and the rule set of an offline tool."""
    from monitor.demo import shipped_rules

    config = load_config(config_path) if config_path is not None else None
    directory = rules_dir or (config.rules if config is not None else shipped_rules())
    return config, match.load_rules(directory)


# --- monitor match -------------------------------------------------------------------------------


class BadLine(ValueError):
    """An input line that is not a valid article record; ``id`` when it could be read."""

    def __init__(self, message: str, record_id: str | int | None = None) -> None:
        super().__init__(message)
        self.record_id = record_id


def record_str(record: dict[str, Any], key: str, record_id: str | int) -> str | None:
    """``record[key]``: a string or None (missing); ``BadLine`` for any other type."""
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadLine(f"'{key}' must be a string, not {_json_type(value)}", record_id)


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
             dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def parse_record(raw: bytes) -> tuple[str | int, Article]:
    """One JSON line → (its id, the Article to match); ``BadLine`` when it is not one."""
    return record_article(decode_record(raw))


def decode_record(raw: bytes) -> dict[str, Any]:
    """One JSON line → its object, with a usable ``id``; ``BadLine`` when it is not one."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadLine(f"not UTF-8 (byte {e.start + 1})") from None
    except json.JSONDecodeError as e:
        raise BadLine(f"not JSON: {e.msg} at column {e.colno}") from None
    except ValueError as e:  # e.g. an integer longer than Python converts
        raise BadLine(f"not usable JSON: {str(e)[:80]}") from None
    except RecursionError:
        raise BadLine("not JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise BadLine(f"not a JSON object but {_json_type(record)}")
    record_id = record.get("id")
    if record_id is None:
        raise BadLine("no 'id'")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        raise BadLine(f"'id' must be a string or an integer, not {_json_type(record_id)}")
    if record_id == "":
        raise BadLine("'id' is empty")
    return record


def record_article(record: dict[str, Any]) -> tuple[str | int, Article]:
    """``{"id", "title", "text", "url"?, "published"?}`` → (its id, the Article to match);
    ``summary`` stands in for a missing or empty ``text`` (a bare feed item); other keys are
    ignored. ``published``: ISO 8601, a date meaning 00:00 UTC, no offset meaning UTC."""
    record_id: str | int = record["id"]
    title = record_str(record, "title", record_id) or ""
    text = record_str(record, "text", record_id)
    summary = record_str(record, "summary", record_id)
    url = record_str(record, "url", record_id)
    published = parse_time(record_str(record, "published", record_id), record_id, "published")
    body = text or summary or ""
    entry = Entry(feed="stdin", guid=str(record_id), link=url, title=title, summary=summary or "",
                  published=published)
    return record_id, Article(entry=entry, url=url, title=title, text=body, published=published,
                              site=None, source="page")


def parse_time(value: str | None, record_id: str | int, field: str) -> datetime | None:
    """An ISO 8601 date or date-time of a record (a date is 00:00 UTC; no offset is UTC)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadLine(f"{field!r} is not an ISO 8601 date: {value[:40]!r}", record_id) from None


def verdict(record_id: str | int, matches: Sequence[Match]) -> dict[str, Any]:
    """The output record: matched rules (most severe first), the union of their entities in
    order, and the snippet of the most severe match."""
    entities = dict.fromkeys(e for m in matches for e in m.entities)
    return {
        "id": record_id,
        "matched": bool(matches),
        "rules": [{"id": m.rule_id, "severity": m.severity} for m in matches],
        "entities": list(entities),
        "snippet": matches[0].snippet if matches else "",
    }


def match_lines(lines: Iterable[bytes], ruleset: match.RuleSet, out: IO[bytes],
                err: IO[str]) -> int:
    """Match every JSON line of ``lines``, writing one JSON line per input line to ``out``
    (blank lines are skipped); one line per bad input line on ``err``. Streams: holds one line
    at a time. Returns the number of bad lines."""
    bad = 0
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record_id, article = parse_record(raw)
        except BadLine as e:
            bad += 1
            shown = "" if e.record_id is None else f" (id {e.record_id!a})"
            err.write(f"error: line {number}{shown}: {e}\n")
            result: dict[str, Any] = {"id": e.record_id, "error": f"line {number}: {e}"}
        else:
            result = verdict(record_id, match.match(article, ruleset))
        out.write(json.dumps(result, ensure_ascii=False).encode("utf-8") + b"\n")
    out.flush()
    return bad


# --- monitor explain -----------------------------------------------------------------------------


def is_url(target: str) -> bool:
    return urlsplit(target).scheme.lower() in ("http", "https") and "://" in target


def _entry(source: str, link: str | None) -> Entry:
    return Entry(feed="explain", guid=source, link=link, title="", summary="", published=None)


def plain_article(text: str, source: str, link: str | None = None) -> Article:
    """Plain text: the first non-empty line is the title, the rest the text."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    title = lines[0].strip() if lines else ""
    body = "\n".join(lines[1:]).strip()
    return Article(entry=_entry(source, link), url=link, title=title, text=body,
                   published=None, site=None, source="page")


def _html_article(data: bytes, source: str, url: str, link: str | None) -> Article:
    article = extract.extract_html(_entry(source, link), data, url)
    if article is None:
        raise MonitorError(f"no article text found in {source}")
    return article


def read_file(path: Path) -> Article:
    """A saved page (``.html``/``.htm``) or a plain text file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise MonitorError(f"cannot read {path}: {e.strerror}") from e
    if path.suffix.lower() in (".html", ".htm"):
        return _html_article(data, str(path), path.resolve().as_uri(), None)
    return plain_article(data.decode("utf-8", "replace"), str(path))


def fetch(url: str, network: NetConfig) -> Article:
    """Fetch a page through the guarded client (FetchError/BlockedURLError when refused)."""
    try:
        with GuardedClient(network) as client:
            response = client.get(url, headers={"Accept": extract.ACCEPT},
                                  max_bytes=extract.PAGE_MAX_BYTES)
    except BlockedURLError as e:
        if "non-public address" not in str(e):
            raise
        raise BlockedURLError(f"{e}; to fetch it anyway, list the address under [network] "
                              "allow_private in a --config file") from e
    shown = redact_url(response.url)
    if response.status != 200:
        raise FetchError(f"HTTP {response.status}", url=shown, status=response.status)
    kind = response.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if kind == "text/plain":
        return plain_article(response.content.decode("utf-8", "replace"), url, response.url)
    if kind not in ("text/html", "application/xhtml+xml", ""):
        raise FetchError(f"the page is {kind}, not HTML or plain text", url=shown)
    return _html_article(response.content, redact_url(url), response.url, response.url)


def _hits(hits: Sequence[Evidence]) -> str:
    shown = [f'"{truncate(clean_line(h.text), 60)}" ({h.field} @{h.start})' for h in hits]
    return ", ".join(shown)


def _marked(found: Match) -> str:
    """The snippet, cleaned, with the evidence in «…»."""
    parts = cut(segments(found.snippet, found.marks), 400, markup=2)
    return "".join(f"«{text}»" if marked else text for text, marked in parts)


def explain_report(source: str, article: Article, ruleset: match.RuleSet) -> str:
    """The page, then every rule in order: MATCHED or not, why, and each condition."""
    checks = match.explain(article, ruleset)
    head = truncate(clean_text(article.text), HEAD_LIMIT)
    lines = [
        f"source:  {clean_line(source)}",
        f"title:   {clean_line(article.title) or '(none)'}",
        f"text:    {len(article.text)} characters" + (":" if head else ""),
    ]
    for paragraph in head.split("\n") if head else []:
        lines += [f"  {line}" for line in textwrap.wrap(paragraph, WIDTH - 2) or [""]]
    matched = sum(1 for c in checks if c.matched)
    lines += ["", f"rules:   {len(checks)}, matched {matched}", ""]
    for check in checks:
        verdict_word = "MATCHED" if check.matched else "not matched"
        lines.append(f"{verdict_word:<12} {clean_line(check.rule_id)} "
                     f"[{check.severity.upper()}] {clean_line(check.title)}")
        lines.append(f"  reason: {clean_line(check.reason)}")
        for part in check.parts:
            state = "found" if part.found else "not found"
            where = f" — {_hits(part.hits)}" if part.hits else ""
            lines.append(f"  {part.group:<4} {state:<9} {clean_line(part.part)}{where}")
        if check.match is not None and check.match.snippet:
            lines.append(f"  snippet: {_marked(check.match)}")
        lines.append("")
    return "\n".join(lines)
