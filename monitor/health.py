"""The monitor's health: what the database says (read only), what the daemon's heartbeat says,
and the optional listener of ``monitor run`` that serves both (``[health] listen``).

- :func:`read_picture` reads, on a read-only connection of its own (:func:`readonly`), what
  ``monitor status`` shows and ``/metrics`` exports: feeds by health and the troubled ones, the
  last poll, the outbox by target and state, its oldest undelivered alert, the last alert sent,
  the number of stories. It never writes, so it is safe while the daemon runs. The queries on
  ``alerts`` go through its ``alerts_due`` index (state first); the other tables it reads are
  small (``feeds``, ``target_state``) or counted through an index (``stories``).
- :func:`check` is ``/healthz``: healthy when every part of the daemon beat within its limit
  (:data:`BEAT_LIMITS`) and the database answers and takes the daemon's writes
  (``monitor.write_pause``); otherwise each failed check says why.
- :class:`Listener` serves ``GET``/``HEAD`` of ``/healthz`` and ``/metrics`` from a
  ``ThreadingHTTPServer`` in a daemon thread; any other path is 404, any other method 405.
  Nothing it serves holds a secret (target names are config names, never URLs).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor.errors import MonitorError
from monitor.heartbeat import Heartbeat
from monitor.store.codec import dt_in
from monitor.watchdog import JOB_LIMITS
from monitor.write_pause import WritePause

if TYPE_CHECKING:
    from monitor.config import HealthConfig
    from monitor.metrics import Metrics
    from monitor.pipeline import Context

__all__ = ["BEAT_LIMITS", "FeedProblem", "Listener", "Picture", "SentAlert", "check",
           "read_picture", "readonly", "start_listener"]

log = logging.getLogger("monitor.health")
# Seconds without a beat after which a part of the daemon is taken as hung: the jobs' limits
# are the watchdog's; the main loop beats after each passing self-check (every 5 s at most),
# so a stale ``scheduler`` means the self-check has been failing, or the loop is stuck.
BEAT_LIMITS: Mapping[str, float] = {"scheduler": 30.0, **JOB_LIMITS}
UNDELIVERED = ("pending", "sending")
OUTBOX_STATES = ("pending", "sending", "dead")  # counted by /metrics and `monitor status`
# The queries on the outbox, which grows with every alert: each goes through the alerts_due
# index (state, next_attempt_at), reading only the rows of the states it asks for.
OUTBOX_SQL = ("SELECT target, state, count(*) FROM alerts WHERE state IN (?, ?, ?)"
              " GROUP BY target, state")
OLDEST_SQL = "SELECT min(created_at) FROM alerts WHERE state IN (?, ?)"
LAST_SENT_SQL = ("SELECT sent_at, target, coalesce(json_extract(payload, '$.title'), '')"
                 " FROM alerts WHERE state = 'sent' ORDER BY sent_at DESC, id DESC LIMIT 1")
MATCHES_SQL = "SELECT id, rule_id, severity FROM matches WHERE id > ? ORDER BY id LIMIT ?"


# --- the database, read only --------------------------------------------------------------------


@contextmanager
def readonly(path: Path, timeout: float = 2.0) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at ``path``, closed on leaving the block. A
    missing file is ``sqlite3.OperationalError`` (nothing is created)."""
    if not path.is_file():
        raise sqlite3.OperationalError(f"no database at {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                           isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class FeedProblem:
    """A feed that is failing or gone, or whose last poll failed."""

    name: str
    status: str  # active | failing | gone
    consecutive_failures: int
    last_error: str | None
    last_success_at: datetime | None


@dataclass(frozen=True)
class SentAlert:
    sent_at: datetime | None
    target: str
    title: str


@dataclass(frozen=True)
class Picture:
    """What the database says about the monitor at one moment."""

    feeds: Mapping[str, int]  # health status (active, failing, gone) → feeds
    failures: Mapping[str, int]  # feed → consecutive failures
    problems: tuple[FeedProblem, ...]
    last_poll: datetime | None
    outbox: Mapping[tuple[str, str], int]  # (target, state) → rows, for OUTBOX_STATES
    oldest_undelivered: datetime | None  # created_at of the oldest pending or sending row
    last_sent_by_target: Mapping[str, datetime]  # from target_state
    disabled_targets: Mapping[str, str]  # name → reason
    stories: int
    last_sent: SentAlert | None = None  # read only when asked (it sorts the sent rows)

    def state_total(self, state: str) -> int:
        return sum(n for (_, s), n in self.outbox.items() if s == state)


def read_picture(conn: sqlite3.Connection, *, last_sent: bool = False) -> Picture:
    """The picture, from one read transaction (a consistent snapshot)."""
    conn.execute("BEGIN")
    try:
        return _read(conn, last_sent)
    finally:
        conn.rollback()


def _read(conn: sqlite3.Connection, with_last_sent: bool) -> Picture:
    feeds = {"active": 0, "failing": 0, "gone": 0}
    failures: dict[str, int] = {}
    problems: list[FeedProblem] = []
    last_poll: datetime | None = None
    for name, status, failed, error, polled, success, last_status in conn.execute(
            "SELECT name, status, consecutive_failures, last_error, last_polled_at,"
            " last_success_at, last_status FROM feeds WHERE removed_at IS NULL ORDER BY name"):
        feeds[status] = feeds.get(status, 0) + 1
        failures[name] = failed
        if status != "active" or last_status == "error":
            problems.append(FeedProblem(name, status, failed, error, dt_in(success)))
        moment = dt_in(polled)
        if moment is not None and (last_poll is None or moment > last_poll):
            last_poll = moment
    outbox = {(target, state): n for target, state, n in conn.execute(OUTBOX_SQL,
                                                                      OUTBOX_STATES)}
    oldest = conn.execute(OLDEST_SQL, UNDELIVERED).fetchone()[0]
    sent_by_target: dict[str, datetime] = {}
    disabled: dict[str, str] = {}
    for name, sent_at, disabled_at, reason in conn.execute(
            "SELECT name, last_sent_at, disabled_at, reason FROM target_state ORDER BY name"):
        if (moment := dt_in(sent_at)) is not None:
            sent_by_target[name] = moment
        if disabled_at is not None:
            disabled[name] = reason or ""
    stories = int(conn.execute("SELECT count(*) FROM stories").fetchone()[0])
    return Picture(feeds=feeds, failures=failures, problems=tuple(problems),
                   last_poll=last_poll, outbox=outbox, oldest_undelivered=dt_in(oldest),
                   last_sent_by_target=sent_by_target, disabled_targets=disabled,
                   stories=stories, last_sent=_last_sent(conn) if with_last_sent else None)


def _last_sent(conn: sqlite3.Connection) -> SentAlert | None:
    row = conn.execute(LAST_SENT_SQL).fetchone()
    return SentAlert(dt_in(row[0]), row[1], row[2]) if row else None


def last_match_id(conn: sqlite3.Connection) -> int:
    """The highest ``matches`` row id (0 when there is none): a rowid lookup."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM matches").fetchone()[0])


def matches_after(conn: sqlite3.Connection, after: int,
                  limit: int = 100_000) -> list[tuple[int, str, str]]:
    """``(id, rule, severity)`` of the matches recorded after row ``after``: a rowid range."""
    return [(int(r[0]), str(r[1]), str(r[2])) for r in conn.execute(MATCHES_SQL,
                                                                      [after, limit])]


# --- /healthz -----------------------------------------------------------------------------------


def check(heartbeat: Heartbeat, database: Path, limits: Mapping[str, float] = BEAT_LIMITS,
          writes: WritePause | None = None) -> dict[str, Any]:
    """``{"status": "ok"|"unhealthy", "checks": {part: {...}, "database": {...}}}``: every part
    of the daemon beat within its limit, and the database answers a query and (``writes``, the
    daemon's) takes its writes."""
    checks: dict[str, dict[str, Any]] = {}
    for part, limit in limits.items():
        age = heartbeat.age(part)
        entry: dict[str, Any] = {"ok": age is not None and age <= limit,
                                 "age_seconds": None if age is None else round(age, 1),
                                 "limit_seconds": limit}
        if age is None:
            entry["error"] = "no beat yet"
        elif age > limit:
            entry["error"] = f"no beat for {age:.0f} s (limit {limit:g} s)"
        checks[part] = entry
    try:
        with readonly(database) as conn:
            conn.execute("SELECT count(*) FROM _migrations").fetchone()
        checks["database"] = {"ok": True}
    except (sqlite3.Error, OSError) as e:
        checks["database"] = {"ok": False, "error": str(e)}
    failing = writes.failing() if writes is not None else None
    if failing is not None:
        checks["database"] = {"ok": False, "error": "a write failed and no poll or drain has "
                                                    f"stored since (polls pause): {failing}"}
    healthy = all(c["ok"] for c in checks.values())
    return {"status": "ok" if healthy else "unhealthy", "checks": checks}


# --- the listener -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    heartbeat: Heartbeat
    database: Path
    metrics: Metrics
    limits: Mapping[str, float]
    writes: WritePause | None


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # seconds a client may take to send its request
    server_version = "news-monitor"
    sys_version = ""

    def do_GET(self) -> None:  # the name http.server calls
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _refuse(self) -> None:
        self._send(405, b"method not allowed: GET or HEAD\n", "text/plain; charset=utf-8",
                   with_body=True, extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _answer(self, with_body: bool) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/healthz":
                report = check(self.server.heartbeat, self.server.database, self.server.limits,
                               self.server.writes)
                body = json.dumps(report, indent=2).encode() + b"\n"
                status = 200 if report["status"] == "ok" else 503
                self._send(status, body, "application/json", with_body)
            elif path == "/metrics":
                body, kind = self.server.metrics.render()
                self._send(200, body, kind, with_body)
            else:
                self._send(404, b"not found: /healthz or /metrics\n",
                           "text/plain; charset=utf-8", with_body)
        except Exception:
            log.exception("health=error path=%s", path)
            self._send(500, b"internal error\n", "text/plain; charset=utf-8", with_body)

    def _send(self, status: int, body: bytes, kind: str, with_body: bool,
              extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health=request client=%s %s", self.address_string(), format % args)


class Listener:
    """``/healthz`` and ``/metrics`` on ``host:port`` (port 0: a free one), served from a
    daemon thread until :meth:`stop`; ``metrics`` is made to watch ``database``."""

    def __init__(self, host: str, port: int, heartbeat: Heartbeat, database: Path,
                 metrics: Metrics, limits: Mapping[str, float] = BEAT_LIMITS,
                 writes: WritePause | None = None) -> None:
        metrics.watch(database, heartbeat, writes=writes)
        kind = _Server6 if ipaddress.ip_address(host).version == 6 else _Server
        self._server = kind((host, port), _Handler)
        self._server.heartbeat, self._server.database = heartbeat, database
        self._server.metrics, self._server.limits = metrics, limits
        self._server.writes = writes
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.5,),
                                        name="health-listener", daemon=True)
        self._stopped = False
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_listener(ctx: Context, settings: HealthConfig | None = None) -> Listener | None:
    """The listener of ``[health] listen`` (``settings``, default the config's) for the daemon
    of ``ctx``; None when not configured. ``MonitorError`` when the address cannot be bound (in
    use, not this machine's)."""
    settings = settings or ctx.config.health
    if settings.host is None:
        return None
    from monitor import metrics

    try:
        listener = Listener(settings.host, settings.port, ctx.heartbeat, ctx.config.database,
                            metrics.current(), writes=ctx.writes)
    except OSError as e:
        raise MonitorError(f"{ctx.config.path}: health.listen: cannot listen on "
                           f"{settings.host}:{settings.port}: {e.strerror or e}") from e
    host, port = listener.address
    shown = f"[{host}]" if ":" in host else host
    log.info("health=listening url=http://%s:%d/healthz metrics=http://%s:%d/metrics",
             shown, port, shown, port)
    if not settings.loopback:
        log.warning("health=exposed address=%s:%d reason='not a loopback address: /healthz and "
                    "/metrics answer anyone who can reach it, without authentication'",
                    shown, port)
    return listener


def move_listener(ctx: Context, listener: Listener | None,
                  before: HealthConfig) -> Listener | None:
    """After a reload: the listener of the new ``[health] listen`` when it changed from
    ``before``. The old one stops once the new one listens, or first when the new address
    takes its port (0.0.0.0 after 127.0.0.1); when the new one cannot listen the old one is
    kept (or started again), with an error line."""
    if ctx.config.health == before:
        return listener
    try:
        return _replace(ctx, listener)
    except MonitorError as e:
        log.error("health=reload-failed reason=%r (listening as before)", str(e))
    if listener is None or not listener.stopped:
        return listener
    try:
        return start_listener(ctx, before)
    except MonitorError as e:
        log.error("health=stopped reason=%r", str(e))
        return None


def _replace(ctx: Context, listener: Listener | None) -> Listener | None:
    try:
        new = start_listener(ctx)
    except MonitorError:
        if listener is None:
            raise
        listener.stop()  # it may hold the port: free it and try once more
        new = start_listener(ctx)
    if listener is not None and not listener.stopped:
        listener.stop()
    if new is None:
        log.info("health=stopped reason='[health] listen removed'")
    return new
