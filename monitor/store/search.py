"""Full-text search over the stored articles (`monitor search`): SQLite FTS5.

``articles_fts`` indexes the title and text of every article with the ``unicode61
remove_diacritics 2`` tokenizer: words are split at spaces and punctuation (so "al-Asad",
"al Asad" and "Al-Asad" are the same two words), case and Latin accents are ignored ("Aïn" is
"ain"). It does not fold Arabic, so the index is fed a folded copy of each text (the view
``articles_search``, which the triggers read too): harakat, tatweel and
zero-width characters dropped, alef, yeh, waw and teh marbuta variants unified (أ إ آ ٱ → ا,
ى ی ئ → ي, ؤ → و, ة → ه), Arabic-Indic digits → 0-9: "عين الأسد", "عَيْنِ الأسد" and
"عين الاسد" are one phrase. The same folding is applied to a query (:func:`fold`). Snippets
show the folded text (Latin text is not changed by it).

The index is an external-content FTS5 table kept by triggers on ``articles``, like those of
sqlite-utils' ``Table.enable_fts(..., create_triggers=True)`` but fed from the folded view; it
is created by hand, also because ``enable_fts`` runs ``executescript``, which would commit the
migration's transaction. Since ``0013_ingest_path``, ``Store.add_article`` indexes a new article
itself, folded in Python (the view's nested ``replace`` calls cost ~0.3 ms of the writer's CPU
per 5 kB text, :func:`fold` some µs), just before inserting its row; the insert trigger then
finds it indexed and does nothing, and still indexes a row inserted by anything else.
An article whose text is pruned (``monitor.store.retention``) is re-indexed by its title alone.

A query is never FTS5 syntax: each phrase the user gives is quoted (:func:`match_query`), so
``"``, ``*``, ``NEAR(``, ``^`` or ``title:`` are searched as the words they contain, if any.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlite_utils

from monitor.model import Article
from monitor.store.codec import dt_in, dt_out

TOKENIZE = "unicode61 remove_diacritics 2"
MARK_START, MARK_END = "«", "»"  # around each hit in a snippet
SNIPPET_WORDS = 24

_DROP = [*range(0x064B, 0x0660), 0x0670, 0x0640, 0x0621,  # harakat, dagger alef, tatweel, hamza
         *range(0x200B, 0x2010), 0x2060, 0xFEFF, 0x00AD]  # zero-width, soft hyphen
_MAP = {0x0623: 0x0627, 0x0625: 0x0627, 0x0622: 0x0627, 0x0671: 0x0627,  # alef variants
        0x0649: 0x064A, 0x06CC: 0x064A, 0x0626: 0x064A,  # yeh variants
        0x0624: 0x0648, 0x0629: 0x0647, 0x06A9: 0x0643}  # waw, teh marbuta, keheh
_DIGITS = {base + i: ord("0") + i for base in (0x0660, 0x06F0) for i in range(10)}
_FOLD: dict[int, str] = {cp: "" for cp in _DROP} | {
    cp: chr(to) for cp, to in (_MAP | _DIGITS).items()}
_PER_LEVEL = 16  # replace() calls nested in one expression
_CONTROLS = {cp: " " for cp in (*range(0x20), 0x7F)}


# ``str.replace`` per character: no replacement is itself folded, so the order does not matter,
# and it is ~10x faster than ``str.translate`` with a dict (which looks up every character).
_FOLD_PAIRS = tuple((chr(cp), to) for cp, to in _FOLD.items())


def fold(text: str) -> str:
    """A text as the index sees it (see the module docstring)."""
    if text.isascii():  # every folded character is outside ASCII
        return text
    for ch, to in _FOLD_PAIRS:
        if ch in text:
            text = text.replace(ch, to)
    return text


def _replaces(expr: str, pairs: Sequence[tuple[int, str]]) -> str:
    for cp, to in pairs:
        target = f"char({ord(to)})" if to else "''"
        expr = f"replace({expr}, char({cp}), {target})"
    return expr


def fold_select(source: str) -> str:
    """A SELECT of ``entry_id, title, text`` from ``source`` with title and text folded exactly
    as :func:`fold` does, in plain SQL (nested ``replace`` calls: it runs in any SQLite,
    Datasette's or the sqlite3 shell's). The calls are spread over nested subqueries, as the
    SQL parser refuses one expression nested some 30 deep."""
    pairs = list(_FOLD.items())
    select = f"SELECT entry_id, title, text FROM {source}"  # noqa: S608 - constants
    for i in range(0, len(pairs), _PER_LEVEL):
        chunk = pairs[i:i + _PER_LEVEL]
        select = (f"SELECT entry_id, {_replaces('title', chunk)} AS title,"  # noqa: S608
                  f" {_replaces('text', chunk)} AS text FROM ({select})")
    return select


_INSERT = ("INSERT INTO articles_fts (rowid, title, text) SELECT entry_id, title, text"
           " FROM articles_search WHERE entry_id = new.entry_id;")
_DELETE = ("INSERT INTO articles_fts (articles_fts, rowid, title, text) SELECT 'delete',"
           " entry_id, title, text FROM articles_search WHERE entry_id = old.entry_id;")
# What ``Store.add_article`` runs with ``(entry_id, fold(title), fold(text))``.
INDEX_ARTICLE = "INSERT INTO articles_fts (rowid, title, text) VALUES (?, ?, ?)"


def migrate_search(db: sqlite_utils.Database) -> None:
    """``articles_fts`` over a folded view of ``articles``, its triggers, and every article
    stored so far indexed."""
    db.execute(f"CREATE VIEW articles_search AS {fold_select('articles')}")
    db.execute(f"CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, tokenize='{TOKENIZE}',"
               " content='articles_search', content_rowid='entry_id')")
    # Each trigger reads the row's folded values from the view: before a delete or an update
    # (the values indexed), after an insert or an update (the new ones).
    db.execute(f"CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN {_INSERT} END")
    db.execute(f"CREATE TRIGGER articles_bd BEFORE DELETE ON articles BEGIN {_DELETE} END")
    db.execute("CREATE TRIGGER articles_bu BEFORE UPDATE OF entry_id, title, text ON articles"
               f" BEGIN {_DELETE} END")
    db.execute("CREATE TRIGGER articles_au AFTER UPDATE OF entry_id, title, text ON articles"
               f" BEGIN {_INSERT} END")
    db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')")


def index_by_store(db: sqlite_utils.Database) -> None:
    """Part of ``0013_ingest_path``: the insert trigger indexes only a row not indexed yet
    (``articles_fts_docsize`` has a row per indexed rowid), as ``Store.add_article`` indexes
    its own (:data:`INDEX_ARTICLE`) before inserting the row."""
    db.execute("DROP TRIGGER articles_ai")
    db.execute("CREATE TRIGGER articles_ai AFTER INSERT ON articles WHEN NOT EXISTS"  # noqa: S608
               " (SELECT 1 FROM articles_fts_docsize WHERE id = new.entry_id)"  # (constants)
               f" BEGIN {_INSERT} END")


def match_query(phrases: Sequence[str]) -> str | None:
    """The FTS5 query for ``phrases``: each one folded, its control characters made spaces,
    and quoted as a phrase (its words in that order, next to each other), all of them
    required. A phrase without a letter or digit is left out; None when nothing is left."""
    parts = []
    for phrase in phrases:
        folded = fold(phrase).translate(_CONTROLS)  # a NUL would end the FTS5 string early
        if any(ch.isalnum() for ch in folded):
            parts.append('"' + folded.replace('"', '""') + '"')
    return " AND ".join(parts) or None


@dataclass(frozen=True)
class SearchHit:
    """An article that matched: ``snippet`` has each hit between MARK_START and MARK_END."""

    entry_id: int
    time: datetime | None  # published, as the feed gives it; else first seen
    feed: str
    outlet: str
    title: str
    url: str | None
    snippet: str
    story_id: int | None
    text_pruned: bool


_TIME = "coalesce(e.published, e.first_seen_at)"


def _article_row(entry_id: int, article: Article, now: datetime) -> list[object]:
    return [entry_id, article.url, article.title, article.text, dt_out(article.published),
            article.site, article.source, article.note, dt_out(now)]


_ADD_ARTICLE = ("INSERT INTO articles (entry_id, url, title, text, published, site, source, note,"
                " extracted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


class SearchQueries:
    """Full-text search for :class:`monitor.store.Store` (which provides ``db``), and the
    insert of an article with its index row."""

    if TYPE_CHECKING:
        _indexes_articles: bool  # set by Store.migrate: 0013_ingest_path is applied

        @property
        def db(self) -> sqlite_utils.Database: ...

    def add_article(self, entry_id: int, article: Article, now: datetime) -> None:
        """Insert an article and index it for full-text search (inside the caller's
        transaction): its folded title and text go to ``articles_fts`` first, so the insert
        trigger finds them there and skips its slower SQL folding (``search.index_by_store``).
        A savepoint keeps the two together if the row is refused. (On a schema before
        ``0013_ingest_path``, the row alone: the trigger of then indexes it.)"""
        conn = self.db.conn
        if not self._indexes_articles:
            conn.execute(_ADD_ARTICLE, _article_row(entry_id, article, now))
            return
        conn.execute("SAVEPOINT add_article")
        try:
            conn.execute(INDEX_ARTICLE, [entry_id, fold(article.title), fold(article.text)])
            conn.execute(_ADD_ARTICLE, _article_row(entry_id, article, now))
        except BaseException:
            with suppress(sqlite3.Error):  # the caller's own rollback undoes it if this fails
                conn.execute("ROLLBACK TO add_article")
                conn.execute("RELEASE add_article")
            raise
        conn.execute("RELEASE add_article")

    def search(self, phrases: Sequence[str], *, since: datetime | None = None,
               limit: int = 20) -> list[SearchHit]:
        """The articles whose title or text holds every phrase, newest first (by ``_TIME``),
        at most ``limit``, none before ``since``."""
        query = match_query(phrases)
        if query is None:
            return []
        # The order needs every match's time; the snippets only the ``limit`` shown.
        ids = [r[0] for r in self.db.execute(
            f"SELECT f.rowid FROM articles_fts f JOIN entries e ON e.id = f.rowid"  # noqa: S608
            f" WHERE articles_fts MATCH ? AND {_TIME} >= ? ORDER BY {_TIME} DESC, e.id DESC"
            " LIMIT ?", [query, dt_out(since) or "", limit]).fetchall()]
        rows = self.db.execute(
            f"SELECT a.entry_id, {_TIME}, e.feed, coalesce(nullif(a.site, ''), e.feed),"  # noqa: S608
            " coalesce(nullif(a.title, ''), e.title), coalesce(a.url, e.link),"
            " snippet(articles_fts, -1, ?, ?, '…', ?), s.story_id,"
            " a.text_pruned_at IS NOT NULL FROM articles_fts"
            " JOIN articles a ON a.entry_id = articles_fts.rowid JOIN entries e ON e.id ="
            " a.entry_id LEFT JOIN story_entries s ON s.entry_id = a.entry_id"
            " WHERE articles_fts MATCH ? AND articles_fts.rowid IN"
            " (SELECT value FROM json_each(?))",
            [MARK_START, MARK_END, SNIPPET_WORDS, query, json.dumps(ids)]).fetchall()
        hits = {r[0]: SearchHit(entry_id=r[0], time=dt_in(r[1]), feed=r[2], outlet=r[3],
                                title=r[4], url=r[5], snippet=r[6] or "", story_id=r[7],
                                text_pruned=bool(r[8])) for r in rows}
        return [hits[i] for i in ids if i in hits]
