"""``monitor db backup PATH`` (and its alias ``monitor backup DEST``): a consistent copy of the
database while the daemon may be writing; a companion of ``cli.py`` (imported at its bottom)
that adds the alias to ``cli`` (``cli_db.py`` adds ``db backup``).

The copy is made with ``VACUUM INTO`` (one read transaction: a snapshot of the last commit,
whatever the writers do meanwhile) into a temporary file beside DEST, checked with
``PRAGMA integrity_check``, then linked to DEST, which fails if DEST exists: an existing file is
never overwritten, and a failed backup leaves no DEST behind."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import click

from monitor.cli import cli, config_option, errors_to_exit_codes
from monitor.config import load_config
from monitor.errors import StoreError
from monitor.store import Store


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of the database at ``path``, opened read-only."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as e:
        raise StoreError(f"cannot check {path}: {e}") from e
    return "; ".join(str(r[0]) for r in rows)


def backup(store: Store, dest: Path) -> int:
    """Copy ``store`` to ``dest`` (which must not exist) and check the copy; return its size."""
    if dest.exists() or dest.is_symlink():
        raise StoreError(f"{dest} already exists; refusing to overwrite it")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise StoreError(f"no directory {parent} for the backup")
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()  # VACUUM INTO wants to create the file itself
        try:
            store.snapshot(tmp)
        except sqlite3.Error as e:
            raise StoreError(f"backup of {store.path} failed: {e}") from e
        result = integrity(tmp)
        if result != "ok":
            raise StoreError(f"the backup failed its integrity check: {result}")
        try:
            os.link(tmp, dest)  # atomic, and refuses an existing DEST (even one made just now)
        except FileExistsError as e:
            raise StoreError(f"{dest} already exists; refusing to overwrite it") from e
        except OSError as e:
            raise StoreError(f"cannot create {dest}: {e}") from e
        return dest.stat().st_size
    finally:
        tmp.unlink(missing_ok=True)


@click.command("backup")
@click.argument("dest", metavar="DEST", type=click.Path(dir_okay=False, path_type=Path))
@config_option
def backup_command(dest: Path, config_path: Path) -> None:
    """The same as `monitor db backup DEST` (kept for the scripts that use it): copy the
    database of --config FILE to DEST, consistently even while the daemon writes (VACUUM
    INTO), check the copy (PRAGMA integrity_check) and print "ok" and its size. DEST must not
    exist. Copying the .db file by hand while the monitor runs, or deleting its -wal file, is
    unsupported. Exit 1 if DEST exists or the backup fails, 2 for a config error."""
    run_backup(dest, config_path)


def run_backup(dest: Path, config_path: Path) -> None:
    """What `monitor db backup` and `monitor backup` do."""
    from monitor.cli_stories import open_database

    with errors_to_exit_codes():
        database = load_config(config_path).database
        with closing(open_database(database)) as store:
            size = backup(store, dest)
        click.echo(f"ok: {dest} ({size} bytes, integrity_check ok)")


cli.add_command(backup_command)
