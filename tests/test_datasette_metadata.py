"""`deploy/datasette.json` (Datasette metadata for browsing the database) cannot drift from the
schema: it parses, names only tables and columns a freshly migrated database has, describes
every table, and each canned query runs and finds what it is meant to find."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.model import Entry, Feed, PollResult
from monitor.store import Store
from tests.conftest import ROOT
from tests.fakes import story_view
from tests.test_store_schema import alert

METADATA: dict[str, Any] = json.loads((ROOT / "deploy" / "datasette.json").read_text("utf-8"))
DATABASE: dict[str, Any] = METADATA["databases"]["monitor"]
QUERIES: dict[str, Any] = DATABASE["queries"]
COLUMN_KEYS = ("label_column", "sort", "sort_desc", "fts_pk")  # keys naming one column
NOW = datetime.now(UTC).replace(microsecond=0)


def schema(path: Path) -> dict[str, set[str]]:
    """Table or view → its columns, without SQLite's and FTS5's internal tables."""
    with closing(sqlite3.connect(path)) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'articles_fts_%'")]
        return {n: {r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", [n])}
                for n in names}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A migrated database with a little of everything the queries look at."""
    path = tmp_path / "monitor.db"
    store = Store.open(path)
    feeds = [Feed(name=n, url=f"https://example.org/{n}.xml", interval=3600)
             for n in ("healthy", "broken")]
    store.sync_feeds(feeds)
    store.record_poll(PollResult(feed="broken", status="error", error="HTTP 500"), NOW, NOW,
                      status="failing")
    store.record_poll(PollResult(feed="healthy", status="ok"), NOW, NOW)
    with store.transaction():
        stories = {}
        for guid, updated in (("recent", NOW), ("old", NOW - timedelta(days=30))):
            entry = Entry(feed="healthy", guid=guid, link=f"https://example.org/{guid}",
                          title=guid, summary="", published=updated)
            entry_id = store.add_entry(entry, entry.link, updated)
            stories[guid] = store.open_story(entry_id, story_view(f"story {guid}", updated),
                                             updated)
            store.attach(stories[guid], entry_id, "new", "first", updated)
        store.add_alert(replace(alert("sent", story_id=stories["recent"]), created_at=NOW))
        store.add_alert(replace(alert("dead", story_id=stories["old"]), created_at=NOW))
    store.db.execute("UPDATE alerts SET state = key")
    store.close()
    return path


def test_the_metadata_parses_and_says_what_it_shows() -> None:
    assert METADATA["title"] and METADATA["description"] and DATABASE["description"]
    for name, query in QUERIES.items():
        assert query["title"] and query["description"] and query["sql"].startswith("SELECT"), name
    assert {"latest_alerts", "failing_feeds", "stories_of_the_week"} <= set(QUERIES)


def test_it_names_only_tables_and_columns_that_exist_and_describes_every_table(
        database: Path) -> None:
    tables = schema(database)
    described = DATABASE["tables"]
    assert set(described) <= set(tables), set(described) - set(tables)
    assert set(tables) <= set(described), f"undescribed: {set(tables) - set(described)}"
    for name, meta in described.items():
        assert meta["description"], name
        columns = tables[name]
        named = set(meta.get("columns", {})) | set(meta.get("facets", []))
        named |= {meta[k] for k in COLUMN_KEYS if k in meta}
        assert named <= columns, (name, named - columns)
        if "fts_table" in meta:
            assert meta["fts_table"] in tables and meta["fts_pk"] in columns


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_canned_query_runs(database: Path, name: str) -> None:
    with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as conn:
        cursor = conn.execute(QUERIES[name]["sql"])
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
    if name == "latest_alerts":
        assert [r["state"] for r in rows] == ["dead", "sent"] and rows[0]["title"] == "T"
    elif name == "dead_alerts":
        assert len(rows) == 1 and rows[0]["last_error"] is None and rows[0]["title"] == "T"
    elif name == "failing_feeds":
        assert [(r["name"], r["status"], r["last_error"]) for r in rows] == [
            ("broken", "failing", "HTTP 500")]
    elif name == "stories_of_the_week":
        assert [(r["title"], r["articles"], r["feeds"]) for r in rows] == [
            ("story recent", 1, "healthy")]
    else:
        assert rows, f"{name}: the test data should give it a row"
