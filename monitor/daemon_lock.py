"""One daemon per database: ``monitor run`` holds an exclusive ``flock`` on ``<database>.lock``.

The lock is taken before the database is opened (so before migrations and before READY=1) and
held for the life of the process; the kernel drops it when the process ends, however it ends
(a ``kill -9`` leaves no stale lock: a pid left in the file by a dead holder means nothing).
The holder writes its pid into the file, so a second ``monitor run`` on the same database can
say who holds it. The file is never deleted: removing it while another process waits on it
would let two processes lock two different files of one name.

``monitor check`` does not take the lock: SQLite serialises the writers (WAL, ``BEGIN
IMMEDIATE``, a busy timeout), the outbox leases each row it sends, and an entry stored by one
process is seen by the other (README, "Operating").
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from monitor.errors import StoreError

__all__ = ["DaemonLock", "DaemonLockError", "lock_path"]


class DaemonLockError(StoreError):
    """Another process holds the daemon lock of this database (or the lock file is unusable)."""


def lock_path(database: Path) -> Path:
    """``/var/lib/news-monitor/monitor.db`` → ``/var/lib/news-monitor/monitor.db.lock``."""
    return database.with_name(database.name + ".lock")


class DaemonLock:
    """``with DaemonLock(database):`` (or ``acquire()``/``release()``) holds the lock, or raises
    :class:`DaemonLockError` at once, naming the database and the holder's pid."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Not inherited by child processes (PEP 446): an extraction child outliving the
            # daemon must not keep the database locked.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise DaemonLockError(f"cannot open the lock file {self.path}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DaemonLockError(
                f"another `monitor run` (pid {holder or 'unknown'}) is already running on "
                f"{self.database} (it holds {self.path}); one daemon per database: stop it "
                "first") from None
        except OSError as e:
            os.close(fd)
            raise DaemonLockError(f"cannot lock {self.path}: {e.strerror}") from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Unlock (closing the file is enough: the lock belongs to this open file)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
