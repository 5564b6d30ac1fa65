"""Simulated power loss, security case 65 (tests/SECURITY_CASES.md).

A separate writer process commits outbox rows through ``monitor.store.Store`` (WAL mode,
``synchronous=FULL``), each transaction an entry, its story and its alert (a payload of several
pages, so a half-written transaction would show). The test takes copies of the database and its
``-wal`` as a power cut would leave them, and opens each copy with ``Store.open``: it must open,
``PRAGMA integrity_check`` must say ``ok``, and every alert row that is visible must be whole
(its payload decodes to exactly what was written, its story and entry are there) and the
visible transactions must be a prefix of those committed.

1. Snapshots at arbitrary moments while the writer checkpoints often: the writer is frozen
   (SIGSTOP) at a random moment, both files are copied, it goes on. Every transaction it had
   reported committed must be in the copy (the files are what the OS had; a frozen process is
   the moment of the cut).
2. Dropping the tail that was not yet on disk: a writer that never checkpoints (so the database
   file stays as it was and the WAL holds every transaction since) is frozen, its WAL copied and
   cut at many byte offsets (WAL header, frame boundaries, inside a frame header, inside a page),
   and also with the dropped tail replaced by garbage (sectors that never reached the disk). Each
   cut must recover a prefix of the transactions, never fewer for a longer WAL, and all of them
   for the whole WAL.

What this cannot prove: it does not drop the OS page cache or reorder writes the way a disk can
(the copies are read through the cache that holds what ``write`` put there); it does not show
that ``fsync`` reached the platter, nor the difference between ``synchronous=FULL`` and
``NORMAL`` (which is only which commits a real cut may lose); it does not cut the database file
during a checkpoint (SQLite syncs the WAL before it backfills). Those are SQLite's own crash
tests' ground (``src/test6.c``); this test shows that the way the store writes (one transaction
per decision, WAL, FULL) leaves a file SQLite recovers whole.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.model import Alert, Entry, Feed, Match
from monitor.store import Store
from monitor.store.codec import alert_from_json

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
FEED = Feed(name="f", url="https://example.org/feed.xml", interval=3600)
TIMEOUT = 30.0  # seconds: the bound on every wait below
WAL_HEADER = 32
FRAME_HEADER = 24


def snippet_for(i: int) -> str:
    """Several pages of text that differ per row and along their length."""
    return "".join(f"{i}:{j:05d}|" for j in range(900))


def entry_for(i: int) -> Entry:
    return Entry(feed="f", guid=f"g{i}", link=f"https://example.org/{i}", title=f"t{i}",
                 summary="s", published=NOW)


def alert_for(i: int, story_id: int) -> Alert:
    m = Match(rule_id="r", title="R", severity="high", tags=("x",), entities=("Ain al-Asad",),
              terms=("rocket",), snippet=snippet_for(i))
    return Alert(key=f"k{i}", target="hook", story_id=story_id, severity="high", title=f"t{i}",
                 url=f"https://example.org/{i}", feed="f", site="S", published=NOW,
                 snippet=snippet_for(i), matches=(m,), created_at=NOW)


WRITER = """
import sys
from monitor.store import Store
from tests.fakes import story_view
from tests.test_fault_power import FEED, NOW, alert_for, entry_for
store = Store.open(sys.argv[1])
store.sync_feeds([FEED])
store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema in the file, the WAL empty
store.db.execute(f"PRAGMA wal_autocheckpoint = {int(sys.argv[2])}")
print("ready", flush=True)
i = 0
while True:
    with store.transaction():
        eid = store.add_entry(entry_for(i), None, NOW)
        sid = store.open_story(eid, story_view(f"s{i}"), NOW)
        store.add_alert(alert_for(i, sid))
    print(i, flush=True)  # after COMMIT returned
    i += 1
"""


@dataclass
class Writer:
    proc: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)
    committed: list[int] = field(default_factory=list)  # as reported, in order

    def wait_for(self, n: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while len(self.committed) < n:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the writer committed {len(self.committed)} of {n}")
            time.sleep(0.005)

    @contextmanager
    def frozen(self) -> Iterator[int]:
        """The writer stopped (SIGSTOP); yields how many commits it had reported by then."""
        self.proc.send_signal(signal.SIGSTOP)
        try:
            yield len(self.committed)
        finally:
            self.proc.send_signal(signal.SIGCONT)


@contextmanager
def writer(db: Path, autocheckpoint: int) -> Iterator[Writer]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(autocheckpoint)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    w = Writer(proc)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "ready":
                w.ready.set()
            else:
                w.committed.append(int(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert w.ready.wait(TIMEOUT), "the writer did not start"
        yield w
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        reader.join(timeout=TIMEOUT)
        assert proc.stdout is not None
        proc.stdout.close()


@dataclass(frozen=True)
class Image:
    """The bytes of the database file and of its WAL at one moment (no -shm: a power cut
    leaves it stale, and SQLite rebuilds it)."""

    db: bytes
    wal: bytes

    @classmethod
    def of(cls, db: Path) -> Image:
        wal = db.with_name(db.name + "-wal")
        return cls(db.read_bytes(), wal.read_bytes() if wal.exists() else b"")

    def write(self, dest: Path, wal: bytes | None = None) -> Path:
        """The files in the fresh folder ``dest`` (the WAL replaced by ``wal`` if given)."""
        dest.mkdir()
        copy = dest / "m.db"
        copy.write_bytes(self.db)
        wal = self.wal if wal is None else wal
        if wal:
            copy.with_name(copy.name + "-wal").write_bytes(wal)
        return copy


def recovered(copy: Path) -> int:
    """Open ``copy`` as the monitor would, check it, and return how many transactions it
    holds (asserting that they are whole and the first ones committed)."""
    store = Store.open(copy)  # runs quick_check first: a corrupt file is refused
    try:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = store.db.execute(
            "SELECT a.key, a.payload, s.title, e.guid FROM alerts a"
            " JOIN stories s ON s.id = a.story_id"
            " JOIN entries e ON e.id = s.first_entry_id ORDER BY a.id").fetchall()
        counts = [store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                  for t in ("alerts", "stories", "entries")]
    finally:
        store.close()
    n = len(rows)
    assert counts == [n, n, n], f"a transaction is visible in part: {counts}"
    for i, (key, payload, story, guid) in enumerate(rows):
        assert (key, story, guid) == (f"k{i}", f"s{i}", f"g{i}"), "not a prefix of the commits"
        alert = alert_from_json(payload)
        assert alert.snippet == snippet_for(i) and alert.matches[0].snippet == snippet_for(i)
    return n


def test_the_store_writes_with_synchronous_full(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_case_65_snapshots_at_arbitrary_moments_open_whole(tmp_path: Path) -> None:
    db = tmp_path / "live" / "m.db"
    db.parent.mkdir()
    rng = random.Random(65)
    taken: list[tuple[Image, int]] = []
    with writer(db, autocheckpoint=8) as w:  # a checkpoint every few transactions
        w.wait_for(3)
        for _ in range(12):
            time.sleep(rng.uniform(0, 0.03))
            with w.frozen() as reported:
                taken.append((Image.of(db), reported))
        w.wait_for(len(w.committed) + 1)  # it went on after every freeze
    assert any(image.wal for image, _ in taken)
    previous = 0
    for i, (image, reported) in enumerate(taken):
        n = recovered(image.write(tmp_path / f"snap{i}"))
        assert n >= reported, "a transaction reported committed was lost"
        assert n >= previous, "a later snapshot holds fewer transactions"
        previous = n
    assert previous >= 3


def test_case_65_a_wal_cut_or_garbled_anywhere_recovers_a_prefix(tmp_path: Path) -> None:
    db = tmp_path / "live" / "m.db"
    db.parent.mkdir()
    with writer(db, autocheckpoint=0) as w:  # no checkpoint: every commit stays in the WAL
        w.wait_for(25)
        with w.frozen() as reported:
            image = Image.of(db)
    wal = image.wal
    page_size = int.from_bytes(wal[8:12], "big")
    frame = FRAME_HEADER + page_size
    frames = (len(wal) - WAL_HEADER) // frame
    assert page_size in (1024, 4096, 8192, 65536) and frames > 25
    assert recovered(image.write(tmp_path / "whole")) >= reported >= 25

    rng = random.Random(650)
    offsets = {0, 16, WAL_HEADER, len(wal) - 1, len(wal)}
    for k in [*sorted(rng.sample(range(frames), 12)), 1, frames - 1]:
        start = WAL_HEADER + k * frame
        offsets |= {start, start + 10, start + FRAME_HEADER + page_size // 2, start + frame - 1}
    offsets |= {rng.randrange(len(wal)) for _ in range(8)}
    previous = 0
    for i, offset in enumerate(sorted(offsets)):
        n = recovered(image.write(tmp_path / f"cut{i}", wal[:offset]))
        assert n >= previous, f"a longer WAL ({offset} bytes) recovered fewer transactions"
        garbled = wal[:offset] + rng.randbytes(len(wal) - offset)
        assert recovered(image.write(tmp_path / f"garbled{i}", garbled)) == n, \
            "garbage where the tail should be added or removed transactions"
        previous = n
    assert previous >= reported, "the whole WAL recovers every reported commit"


@pytest.mark.parametrize("keep", [0, WAL_HEADER])
def test_case_65_a_lost_wal_gives_an_older_database_not_a_corrupt_one(
        tmp_path: Path, keep: int) -> None:
    """The WAL gone (deleted after a crash, case 69, or never synced): the database opens at
    its last checkpoint, whole, and takes writes again."""
    db = tmp_path / "live" / "m.db"
    db.parent.mkdir()
    with writer(db, autocheckpoint=0) as w:
        w.wait_for(5)
        with w.frozen():
            image = Image.of(db)
    assert len(image.wal) > WAL_HEADER
    copy = image.write(tmp_path / "lost", image.wal[:keep])
    assert recovered(copy) == 0
    store = Store.open(copy)
    with store.transaction():
        store.add_entry(entry_for(0), None, NOW)
    assert store.db.execute("SELECT count(*) FROM entries").fetchone()[0] == 1
    store.close()
