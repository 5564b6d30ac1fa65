"""`monitor db prune` by hand, and the read commands (`db backup`, `db prune`, `search`)
refusing a missing, corrupt or foreign database with one clear line, touching nothing. (The
backup while writing is in test_store_faults.py, with the other backup cases.)"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.store import Store
from tests.test_store_faults import bad_database
from tests.test_store_retention import FEED, add, queue

CONFIG = ('database = "state/monitor.db"\n[retention]\narticle_text = "30d"\n'
          '[targets.console]\ntype = "console"\n')


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_db_prune_dry_run_then_for_real(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    db = tmp_path / "state" / "monitor.db"
    store = Store.open(db)
    store.sync_feeds([FEED])
    # the helpers date rows from their own NOW; these ages are from today
    shift = datetime.now(UTC) - datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    for i in range(30):
        add(store, f"old{i}", timedelta(days=500) - shift, story=i == 0)
    add(store, "young", timedelta(days=1) - shift)
    queue(store, "k", timedelta(days=200) - shift, "dead", 1)
    store.checkpoint()
    store.close()
    before = db.read_bytes()

    dry = CliRunner().invoke(cli, ["db", "prune", "--dry-run", "-c", str(config)])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert lines[0].startswith("article texts: 30 to empty (extracted before ")
    assert "article_text = 30d" in lines[0]
    assert lines[1].startswith("fingerprints: 30 to delete (") and "fingerprints = 400d" in lines[1]
    assert lines[2].startswith("alerts: 1 sent or dead to delete, with 2 recipient rows")
    assert lines[3].startswith("entries: all kept")
    assert lines[4].startswith("vacuum: due: would run")
    assert lines[-1].startswith("dry run: nothing changed")
    assert db.read_bytes() == before

    real = CliRunner().invoke(cli, ["db", "prune", "-c", str(config)])
    assert real.exit_code == 0, real.output
    lines = real.output.splitlines()
    assert lines[0].startswith("article texts: 30 emptied")
    assert lines[1].startswith("fingerprints: 30 deleted, with 960 LSH band rows")
    assert lines[2].startswith("alerts: 1 sent or dead deleted, with 2 recipient rows")
    assert lines[4].startswith("vacuum: done (never run before; ") and " MB → " in lines[4]
    assert "checkpoint: WAL truncated" in real.output
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM articles WHERE text = ''").fetchone() == (30,)
        assert conn.execute("SELECT count(*) FROM entries").fetchone() == (31,)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
    again = CliRunner().invoke(cli, ["db", "prune", "-c", str(config)])
    assert again.exit_code == 0 and again.output.startswith("article texts: 0 emptied")
    assert "vacuum: not due" in again.output


COMMANDS = [["db", "backup", "{tmp}/copy.db"], ["db", "prune"], ["db", "prune", "--dry-run"],
            ["search", "Ain al-Asad"], ["backup", "{tmp}/copy.db"]]


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_read_commands_refuse_a_corrupt_or_foreign_database(tmp_path: Path, kind: str,
                                                            command: list[str]) -> None:
    before = bad_database(tmp_path, kind)
    db = tmp_path / "state" / "monitor.db"
    config = config_file(tmp_path)
    args = [a.format(tmp=tmp_path) for a in command]
    result = CliRunner().invoke(cli, [*args, "-c", str(config)])
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and str(db) in line
    assert ("integrity check" in line or "not a usable" in line) if kind == "corrupt" \
        else "not news-monitor's" in line
    assert db.read_bytes() == before, "the file was not touched"
    assert not (tmp_path / "copy.db").exists()


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_read_commands_create_no_database(tmp_path: Path, command: list[str]) -> None:
    config = config_file(tmp_path)
    args = [a.format(tmp=tmp_path) for a in command]
    result = CliRunner().invoke(cli, [*args, "-c", str(config)])
    assert result.exit_code == 1 and "no database at" in result.output, result.output
    assert not (tmp_path / "state").exists()


def test_db_group_help_lists_its_commands() -> None:
    result = CliRunner().invoke(cli, ["db", "--help"])
    assert result.exit_code == 0
    assert "backup" in result.output and "prune" in result.output
    search = CliRunner().invoke(cli, ["search", "--help"]).output
    assert "never search syntax" in " ".join(search.split())
