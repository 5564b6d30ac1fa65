"""The store under faults (security-cases §H 66–71): lock contention, a batch killed half-way,
a read-only or full disk (in the store, and under a whole `monitor check`), backup while writing
and what the docs say of unsafe copies, a long reader and the WAL, truncated, corrupt or foreign
files refused by the store and by the commands that open it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.cli_backup import integrity
from monitor.config import load_config
from monitor.errors import StoreError
from monitor.model import Entry, Feed
from monitor.store import Store
from tests.conftest import Receiver
from tests.test_pipeline_e2e import STORIES, Site, monitor, write_config

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
FEED = Feed(name="f", url="https://example.org/feed.xml", interval=3600)
ROOT = Path(__file__).resolve().parents[1]


def entry(guid: str, summary: str = "s") -> Entry:
    return Entry(feed="f", guid=guid, link=f"https://example.org/{guid}", title="t",
                 summary=summary, published=NOW)


def store_with_feed(path: Path) -> Store:
    store = Store.open(path)
    store.sync_feeds([FEED])
    return store


def count(path: Path, table: str = "entries") -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)


# --- 66: lock contention -----------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, time
conn = sqlite3.connect({db!r}, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE feeds SET etag = 'other' WHERE name = 'f'")
print("locked", flush=True)
time.sleep({hold})
conn.execute("COMMIT")
"""


def test_a_write_waits_for_another_process_holding_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = store_with_feed(db)
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    with python(HOLD_LOCK.format(db=str(db), hold=1.0)) as child:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        start = time.monotonic()
        store.sync_feeds([FEED, Feed(name="g", url="https://example.org/g", interval=60)])
        waited = time.monotonic() - start
    assert child.returncode == 0
    assert 0.5 < waited < 4.5, waited  # waited for the other commit, well inside 5 s
    assert count(db, "feeds") == 2
    assert store.feed_state("f").etag == "other"


def test_a_lock_held_past_the_busy_timeout_is_a_clean_store_error(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = store_with_feed(db)
    store.db.execute("PRAGMA busy_timeout = 300")  # the 5 s default, shortened for the test
    with closing(sqlite3.connect(db, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        start = time.monotonic()
        with pytest.raises(StoreError, match=r"cannot start a transaction.*locked"):
            store.sync_feeds([Feed(name="g", url="https://example.org/g", interval=60)])
        assert time.monotonic() - start >= 0.25
        other.execute("COMMIT")
    store.sync_feeds([Feed(name="g", url="https://example.org/g", interval=60)])  # goes on
    assert count(db, "feeds") == 2


# --- 67: a batch killed half-way -----------------------------------------------------------------

BATCH = """
import time
from datetime import UTC, datetime
from monitor.model import Entry, Feed
from monitor.store import Store
from tests.fakes import story_view
from tests.test_store_faults import NOW, FEED, entry
from tests.test_store_schema import alert
store = Store.open({db!r})
store.sync_feeds([FEED])
print("ready", flush=True)
with store.transaction():
    for i in range(250):
        eid = store.add_entry(entry(f"g{{i}}"), None, NOW)
        sid = store.open_story(eid, story_view(f"s{{i}}"), NOW)
        store.add_alert(alert(f"k{{i}}", story_id=sid))
        if i == 150:
            print("row 150", flush=True)
            time.sleep(60)
"""


def test_a_process_killed_mid_batch_leaves_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with python(BATCH.format(db=str(db))) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            assert child.stdout.readline().strip() == "row 150"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    store = Store.open(db)  # recovers from the killed writer (quick_check passes)
    for table in ("entries", "stories", "alerts"):
        assert count(db, table) == 0, table
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with store.transaction():  # and the store takes writes again
        store.add_entry(entry("after"), None, NOW)
    assert count(db) == 1


# --- 68: read-only state directory, disk full ----------------------------------------------------

@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes: see the query_only test")
def test_a_read_only_database_refuses_writes_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "m.db"
    store = store_with_feed(db)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    before = db.read_bytes()
    db.chmod(0o444)
    state.chmod(0o555)
    try:
        with pytest.raises(StoreError, match=r"readonly|read-only|unable to open|I/O"):
            ro = Store.open(db)
            ro.sync_feeds([Feed(name="g", url="https://example.org/g", interval=60)])
    finally:
        state.chmod(0o755)
        db.chmod(0o644)
    assert db.read_bytes() == before


def test_writes_on_a_query_only_connection_raise_store_error(tmp_path: Path) -> None:
    """Simulates SQLITE_READONLY (the chmod test above is skipped as root) with
    ``PRAGMA query_only``: the write fails inside the transaction, nothing is half-written."""
    db = tmp_path / "m.db"
    store = store_with_feed(db)
    with pytest.raises(StoreError, match=r"cannot write.*readonly"), store.transaction() as conn:
        store.add_entry(entry("g1"), None, NOW)
        conn.execute("PRAGMA query_only = ON")  # read-only from here on, mid-transaction
        store.add_entry(entry("g2"), None, NOW)
    with pytest.raises(StoreError, match=r"cannot start a transaction.*readonly"):
        store.sync_feeds([Feed(name="g", url="https://example.org/g", interval=60)])
    store.db.execute("PRAGMA query_only = OFF")
    assert count(db) == 0 and count(db, "feeds") == 1
    with store.transaction():
        store.add_entry(entry("g1"), None, NOW)
    assert count(db) == 1


def test_a_full_disk_fails_the_whole_batch_then_recovers(tmp_path: Path) -> None:
    """Simulates SQLITE_FULL with ``PRAGMA max_page_count`` (a database that may not grow)."""
    db = tmp_path / "m.db"
    store = store_with_feed(db)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(StoreError, match="full"), store.transaction():
        for i in range(200):
            store.add_entry(entry(f"g{i}", "x" * 2000), None, NOW)
    assert count(db) == 0
    store.db.execute("PRAGMA max_page_count = 1073741823")  # space returns
    with store.transaction():
        for i in range(200):
            store.add_entry(entry(f"g{i}", "x" * 2000), None, NOW)
    assert count(db) == 200
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- 69: backup while a writer keeps inserting ---------------------------------------------------

WRITER = """
from pathlib import Path
from tests.test_store_faults import NOW, entry
from monitor.store import Store
store = Store.open(Path({db!r}))
i = 0
while True:
    with store.transaction():
        for _ in range(5):
            store.add_entry(entry(f"g{{i}}", "y" * 500), None, NOW)
            i += 1
    if i == 50:
        print("50 rows", flush=True)
"""


def test_db_backup_while_a_writer_process_commits_is_consistent_and_restores(
        tmp_path: Path) -> None:
    """`monitor db backup` (and its alias `monitor backup`), run while another process commits
    five rows at a time without pause: every copy passes integrity_check, opens, and holds
    whole transactions only, each later copy more of them."""
    db = tmp_path / "state" / "monitor.db"
    store_with_feed(db).close()
    config = tmp_path / "c.toml"
    config.write_text('database = "state/monitor.db"\n[targets.console]\ntype = "console"\n')
    copies = [tmp_path / f"backup{n}.db" for n in range(4)]
    counts: list[int] = []
    with python(WRITER.format(db=str(db))) as writer:
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "50 rows"
            for n, copy in enumerate(copies):
                command = ["backup"] if n == len(copies) - 1 else ["db", "backup"]
                result = CliRunner().invoke(cli, [*command, str(copy), "-c", str(config)])
                assert result.exit_code == 0, result.output
                assert result.output.startswith(f"ok: {copy} ({copy.stat().st_size} bytes")
                counts.append(count(copy))
                deadline = time.monotonic() + 10  # the writer has committed since this copy
                while count(db) <= counts[-1] and time.monotonic() < deadline:
                    time.sleep(0.01)
            assert writer.poll() is None, "the writer was still writing"
        finally:
            writer.kill()
            writer.wait(timeout=10)
    total = count(db)
    assert total % 5 == 0
    assert counts == sorted(set(counts)), f"each copy later than the one before: {counts}"
    for copy, n in zip(copies, counts, strict=True):
        assert integrity(copy) == "ok"
        restored = Store.open(copy)
        assert restored.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert n % 5 == 0 and 50 <= n <= total, "whole transactions only"
        restored.close()
    assert not list(tmp_path.glob(".backup*.tmp")) and not list(db.parent.glob(".backup*"))


@pytest.mark.parametrize("command", [["db", "backup"], ["backup"]], ids=["db-backup", "alias"])
def test_backup_command_refuses_an_existing_dest(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "state" / "monitor.db"
    store = store_with_feed(db)
    with store.transaction():
        store.add_entry(entry("g1"), None, NOW)
    store.close()
    config = tmp_path / "c.toml"
    config.write_text('database = "state/monitor.db"\n[targets.console]\ntype = "console"\n')
    dest = tmp_path / "copy.db"
    result = CliRunner().invoke(cli, [*command, str(dest), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ") and f"{dest.stat().st_size} bytes" in result.output
    assert count(dest) == 1
    dest.write_bytes(b"precious")
    again = CliRunner().invoke(cli, [*command, str(dest), "-c", str(config)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert dest.read_bytes() == b"precious"
    missing = CliRunner().invoke(cli, [*command, str(tmp_path / "x.db"), "-c",
                                       str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2
    assert not (tmp_path / "x.db").exists()


# --- 70: a long reader and the WAL ---------------------------------------------------------------

def wal_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_long_reader_does_not_block_writes_and_the_wal_is_reclaimed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.db"
    store = store_with_feed(db)

    def write_batches(start: int) -> None:
        for b in range(40):
            with store.transaction():
                for i in range(25):
                    store.add_entry(entry(f"g{start + b * 25 + i}", "z" * 2000), None, NOW)

    write_batches(0)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with closing(sqlite3.connect(db, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM entries").fetchone()[0] == 1000
        write_batches(1000)  # the reader's snapshot pins the WAL: it can only grow
        during = wal_size(db)
        assert reader.execute("SELECT count(*) FROM entries").fetchone()[0] == 1000
        reader.execute("COMMIT")
    assert count(db) == 2000
    write_batches(2000)  # the reader gone, auto-checkpoints let the WAL be reused
    after = wal_size(db)
    busy, log, done = store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    truncated = wal_size(db)
    with capsys.disabled():
        print(f"\n[wal] during long reader {during} B, after it {after} B, "
              f"after checkpoint(TRUNCATE) {truncated} B")
    assert during > 2_000_000  # ~1000 rows of 2 KB held in the WAL
    assert after < during * 1.5  # bounded: reused, not grown, once the reader is gone
    assert busy == 0 and log == done and truncated == 0
    assert count(db) == 3000


# --- 71: corrupt, foreign or truncated database ---------------------------------------------------

@pytest.mark.parametrize("half", [True, False], ids=["half", "50-bytes"])
def test_a_truncated_database_is_refused_untouched(tmp_path: Path, half: bool) -> None:
    db = tmp_path / "m.db"
    store = store_with_feed(db)
    with store.transaction():
        for i in range(300):
            store.add_entry(entry(f"g{i}", "w" * 1000), None, NOW)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = db.read_bytes()
    cut = len(data) // 2 if half else 50
    db.write_bytes(data[:cut])
    with pytest.raises(StoreError, match=r"integrity check|not a usable SQLite database"):
        Store.open(db)
    assert db.read_bytes() == data[:cut]


# --- 68 under a whole `monitor check`: the disk fills during a poll ------------------------------


def test_a_full_disk_during_a_check_is_surfaced_writes_nothing_and_recovers(
        tmp_path: Path, sample_site: Site, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLITE_FULL once the file must grow (every connection the check opens gets
    ``max_page_count``): the check stops at that article with one clear line and exit 1; each
    article is its own transaction, so what is stored is whole, and the feed's validators are
    not, so the next poll reads the feed again in full; once there is room the next check takes
    the rest and alerts."""
    base, _ = sample_site
    config = write_config(tmp_path, base)
    env = {"TEST_SLACK_WEBHOOK_URL": receiver.url}
    db = tmp_path / "state" / "monitor.db"
    prepared = Store.open(db)
    prepared.sync_feeds(load_config(config, env=env).feeds)
    prepared.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = prepared.db.execute("PRAGMA page_count").fetchone()[0]
    prepared.close()
    full = True
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        if full:
            conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    failed = CliRunner().invoke(cli, ["check", "-c", str(config)], env=env)
    full = False
    assert failed.exit_code == 1, failed.output
    errors = [line for line in failed.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "full" in errors[0], failed.output
    assert "Traceback" not in failed.output
    with closing(real(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored, half = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE id NOT IN (SELECT entry_id FROM articles)"
            " OR id IN (SELECT entry_id FROM matches)"
            " AND id NOT IN (SELECT entry_id FROM fingerprints)) FROM entries").fetchone()
        assert half == 0, "an entry was stored without its article (or a match without its" \
            " fingerprint)"
        assert stored < 21, "the poll stopped at the full disk"
        assert conn.execute("SELECT count(*) FROM stories WHERE id NOT IN"
                            " (SELECT story_id FROM alerts)").fetchone() == (0,)
        assert conn.execute("SELECT etag, last_modified, last_polled_at FROM feeds").fetchall() \
            == [(None, None, None)] * 2, "the poll left no validators: nothing is skipped later"
    assert receiver.requests == []

    recovered = CliRunner().invoke(cli, ["check", "-c", str(config)], env=env)
    assert recovered.exit_code == 0, recovered.output
    assert count(db, "entries") > 0 and count(db, "alerts") == len(STORIES)
    assert len(receiver.requests) == len(STORIES)


# --- 69: what the docs say of copies made by hand ------------------------------------------------


def test_copying_the_file_by_hand_or_deleting_the_wal_is_documented_as_unsupported() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "Copying the .db file by hand while it runs, or deleting -wal, is unsupported" in readme
    assert "VACUUM INTO" in readme
    for command in (["db", "backup"], ["backup"]):
        help_text = CliRunner().invoke(cli, [*command, "--help"]).output
        assert "unsupported" in help_text and "VACUUM INTO" in help_text
        assert "-wal" in " ".join(help_text.split())


# --- 71: the commands refuse a corrupt or foreign file, and leave it alone -----------------------


def bad_database(tmp_path: Path, kind: str) -> bytes:
    db = tmp_path / "state" / "monitor.db"
    db.parent.mkdir(parents=True)
    if kind == "foreign":
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
            conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
            conn.commit()
    else:
        store = store_with_feed(db)
        with store.transaction():
            for i in range(200):
                store.add_entry(entry(f"g{i}", "v" * 1000), None, NOW)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        data = bytearray(db.read_bytes())
        data[4096 * 3:4096 * 3 + 2048] = b"\xff" * 2048  # a page of the entries overwritten
        db.write_bytes(bytes(data))
    return db.read_bytes()


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
def test_check_and_run_refuse_a_corrupt_or_foreign_database(
        tmp_path: Path, notify_socket: socket.socket, kind: str) -> None:
    before = bad_database(tmp_path, kind)
    db = tmp_path / "state" / "monitor.db"
    config = write_config(tmp_path, "http://127.0.0.1:9")
    for command in ("check", "run"):
        result = monitor(command, "--config", str(config), hook="http://127.0.0.1:9/hook")
        assert result.returncode == 1, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and str(db) in lines[-1], result.stderr
        assert ("integrity" in lines[-1] or "not a usable" in lines[-1]) if kind == "corrupt" \
            else "not news-monitor's" in lines[-1]
        assert "Traceback" not in result.stderr
        assert db.read_bytes() == before, "the file was not touched"
        wal = db.with_name(db.name + "-wal")  # the read-only check may leave an empty one
        assert not wal.exists() or wal.stat().st_size == 0, "nothing was written beside it"
    notify_socket.setblocking(False)
    with pytest.raises(BlockingIOError):
        notify_socket.recv(64)  # the daemon never said READY=1


def test_threads_of_one_process_queue_for_the_write_lock_instead_of_failing(
        tmp_path: Path) -> None:
    """A transaction held longer than a thread's busy timeout: the other thread waits for the
    store's own write lock and commits after it, instead of failing with 'database is
    locked' (as SQLite's busy handler alone would, after busy_timeout)."""
    store = Store.open(tmp_path / "m.db")
    holding, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def long_writer() -> None:
        with store.transaction() as db:
            db.execute("INSERT INTO feeds (name, url) VALUES ('a', 'https://a.example/')")
            holding.set()
            done.wait(0.5)

    def impatient_writer() -> None:
        store.db.execute("PRAGMA busy_timeout = 50")  # this thread's connection
        holding.wait(10)
        try:
            with store.transaction() as db:
                db.execute("INSERT INTO feeds (name, url) VALUES ('b', 'https://b.example/')")
        except BaseException as e:  # recorded for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=long_writer), threading.Thread(target=impatient_writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert {r[0] for r in store.db.execute("SELECT name FROM feeds")} == {"a", "b"}
