"""The store under faults (security-cases §H 66–71): lock contention, a batch killed half-way,
a read-only or full disk, backup while writing, a long reader and the WAL, truncated files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.cli_backup import backup, integrity
from monitor.errors import StoreError
from monitor.model import Entry, Feed
from monitor.store import Store

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

def test_backup_while_writing_is_consistent_and_restores(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = store_with_feed(db)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set():
                with store.transaction():
                    for _ in range(5):
                        store.add_entry(entry(f"g{i}", "y" * 500), None, NOW)
                        i += 1
                written.append(i)
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while (not written or written[-1] < 50) and time.monotonic() < deadline and not errors:
            time.sleep(0.01)
        copies = [tmp_path / f"backup{n}.db" for n in range(3)]
        for copy in copies:
            size = backup(store, copy)
            assert size == copy.stat().st_size > 0
    finally:
        stop.set()
        thread.join(timeout=10)
        store.close()
    assert not errors, errors
    total = count(db)
    assert total == written[-1] and total % 5 == 0
    previous = 0
    for copy in copies:
        assert integrity(copy) == "ok"
        restored = Store.open(copy)
        n = restored.db.execute("SELECT count(*) FROM entries").fetchone()[0]
        assert n % 5 == 0 and previous <= n <= total and n >= 50  # whole transactions only
        previous = n
        restored.close()
    assert not list(tmp_path.glob(".backup*.tmp"))


def test_backup_command_refuses_an_existing_dest(tmp_path: Path) -> None:
    db = tmp_path / "state" / "monitor.db"
    store = store_with_feed(db)
    with store.transaction():
        store.add_entry(entry("g1"), None, NOW)
    store.close()
    config = tmp_path / "c.toml"
    config.write_text('database = "state/monitor.db"\n[targets.console]\ntype = "console"\n')
    dest = tmp_path / "copy.db"
    result = CliRunner().invoke(cli, ["backup", str(dest), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ") and f"{dest.stat().st_size} bytes" in result.output
    assert count(dest) == 1
    dest.write_bytes(b"precious")
    again = CliRunner().invoke(cli, ["backup", str(dest), "-c", str(config)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert dest.read_bytes() == b"precious"
    missing = CliRunner().invoke(cli, ["backup", str(tmp_path / "x.db"), "-c",
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
