"""The logic behind two commands of ``cli.py``: ``monitor stories`` (the stories of the
database, and one story's articles with why each joined) and ``monitor replay`` (a backtest of
the story decisions on saved articles, with a scratch database and no delivery).

No click here: ``cli.py`` parses the options and hands these functions its streams. Feed text
printed for a terminal is cleaned of control characters first (``clean_line``); JSON output
escapes them.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from monitor import dedup, match
from monitor.cli_tools import BadLine, decode_record, parse_time, record_article, record_str
from monitor.config import Config, DeliveryConfig, StoriesConfig, parse_duration
from monitor.dedup.stories import entity_kinds, entity_regions
from monitor.deliver.base import clean_line, truncate
from monitor.errors import ConfigError, MonitorError, StoreError
from monitor.ingest import Outcome, ingest
from monitor.model import Alert, Entry, Feed
from monitor.net import GuardedClient, NetConfig
from monitor.pipeline import Context
from monitor.store import Store
from monitor.store.stories import StoryEntryRow, StoryRow

WIDTH = 100  # columns of the story table

# --- monitor stories -----------------------------------------------------------------------------


def open_database(path: Path) -> Store:
    """The monitor's database, which must exist (a listing creates nothing)."""
    if not path.is_file():
        raise StoreError(f"no database at {path} (`monitor check` or `monitor run` creates it)")
    return Store.open(path)


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def stories_json(rows: Sequence[StoryRow]) -> str:
    """One JSON array: full titles, ISO 8601 UTC times, the outlets."""
    return json.dumps([{
        "id": r.id, "title": r.title, "severity": r.severity,
        "event_date": r.event_date.isoformat() if r.event_date else None,
        "first_seen": _iso(r.created_at), "last_update": _iso(r.updated_at),
        "articles": r.articles, "outlets": list(r.outlets),
    } for r in rows], ensure_ascii=False, indent=2)


def stories_table(rows: Sequence[StoryRow]) -> str:
    """An aligned table, newest update first; titles cut to fit :data:`WIDTH` columns."""
    if not rows:
        return "no stories"
    head = ("ID", "SEVERITY", "FIRST SEEN (UTC)", "UPDATED (UTC)", "ART", "OUT", "TITLE")
    cells = [(str(r.id), r.severity, _time(r.created_at), _time(r.updated_at), str(r.articles),
              str(len(r.outlets)), clean_line(r.title)) for r in rows]
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(len(head) - 1)]
    room = max(20, WIDTH - sum(widths) - 2 * len(widths))
    numeric = {0, 4, 5}
    lines = []
    for row in [head, *cells]:
        fixed = [c.rjust(w) if i in numeric else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*fixed, truncate(row[-1], room)]).rstrip())
    return "\n".join(lines)


def _entries(store: Store, story_id: int) -> list[StoryEntryRow]:
    entries = store.story_entries(story_id)
    if not entries and store.story_view(story_id) is None:
        raise MonitorError(f"no story {story_id} in {store.path}")
    return entries


def story_json(store: Store, story_id: int) -> str:
    """The story and its articles in order, with each one's decision and reason."""
    entries, view = _entries(store, story_id), store.story_view(story_id)
    return json.dumps({
        "id": story_id,
        "title": view.title if view else entries[0].title,
        "severity": view.severity if view else None,
        "event_date": view.event_date.isoformat() if view and view.event_date else None,
        "outlets": sorted(view.outlets) if view else sorted({e.outlet for e in entries}),
        "articles": [{
            "published": _iso(e.published), "outlet": e.outlet, "title": e.title, "url": e.url,
            "decision": e.decision, "reason": e.reason, "joined_at": _iso(e.joined_at),
        } for e in entries],
    }, ensure_ascii=False, indent=2)


def story_text(store: Store, story_id: int) -> str:
    """The story's header, then its articles oldest first: time, decision, outlet, title, URL
    and the reason it joined."""
    entries, view = _entries(store, story_id), store.story_view(story_id)
    title = view.title if view else entries[0].title
    joined = [e.joined_at for e in entries]
    lines = [f"story {story_id}: {clean_line(title)}"]
    if view is not None:
        lines += [f"  severity:    {view.severity}",
                  f"  event day:   {view.event_date.isoformat() if view.event_date else '-'}",
                  f"  reported:    {_time(view.first_seen)} to {_time(view.last_seen)} UTC"]
    if joined:
        lines.append(f"  first seen:  {_time(min(joined))} UTC, last update "
                     f"{_time(max(joined))} UTC")
    outlets = sorted({e.outlet for e in entries})
    lines += [f"  articles:    {len(entries)} from {len(outlets)} outlets: "
              f"{', '.join(clean_line(o) for o in outlets)}", ""]
    for e in entries:
        lines.append(f"{_time(e.published or e.joined_at)}  {e.decision:<10}  "
                     f"{clean_line(e.outlet)}")
        lines.append(f"  {clean_line(e.title) or '(no title)'}")
        if e.url:
            lines.append(f"  {clean_line(e.url)}")
        lines.append(f"  why: {clean_line(e.reason)}")
    return "\n".join(lines)


# --- monitor replay ------------------------------------------------------------------------------

FOREVER = 1000 * 365 * 86400  # seconds: max_age when none is given (nothing is stale)
_MIN = datetime.min.replace(tzinfo=UTC)


class PlanOnly:
    """A target that is never sent to: replay plans alerts (the story decision depends on
    whether a story has alerted) and delivers none."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, alert: Alert) -> None:  # pragma: no cover - never delivered
        raise AssertionError("replay delivers nothing")


def replay_config(config: Config | None, max_age: str | None) -> Config:
    """The config of a replay: the story settings of ``config`` (defaults without one),
    ``max_age`` (a duration: ``"3d"``) when given, else very large."""
    seconds = FOREVER if max_age is None else parse_duration(max_age)
    if seconds is None:
        raise ConfigError(f"--max-age: {max_age!r} is not a duration such as '3d' or '12h'")
    if config is None:
        config = Config(path=Path("replay"), database=Path("replay.db"), rules=Path("rules"),
                        network=NetConfig(), delivery=DeliveryConfig(), stories=StoriesConfig(),
                        feeds=(), targets={}, routes=())
    stories = replace(config.stories, max_age=seconds)
    return replace(config, stories=stories, feeds=())


def _scan(source: IO[bytes], out: IO[bytes], err: IO[str]) -> tuple[list[tuple[Any, ...]], int]:
    """First pass: (sort key, line number, offset) of every good line, bad lines reported.
    Keeps no text, so memory stays at a few numbers per line."""
    good: list[tuple[Any, ...]] = []
    bad = offset = 0
    for number, raw in enumerate(iter(source.readline, b""), 1):
        start, offset = offset, offset + len(raw)
        if not raw.strip():
            continue
        try:
            record = decode_record(raw)
            record_id, article = record_article(record)
            record_str(record, "outlet", record_id)
            seen = _seen_time(record, record_id)
        except BadLine as e:
            bad += 1
            shown = "" if e.record_id is None else f" (id {e.record_id!a})"
            err.write(f"error: line {number}{shown}: {e}\n")
            _write(out, {"id": e.record_id, "error": f"line {number}: {e}"})
            continue
        clock = seen or article.published
        good.append((clock is None, clock or _MIN, number, start))
    return good, bad


def _seen_time(record: dict[str, Any], record_id: str | int) -> datetime | None:
    """The optional ``seen`` field: when the article was first seen (a resurfaced old report
    has an old ``published`` and a recent ``seen``; with ``--max-age`` it is stale)."""
    value = record_str(record, "seen", record_id)
    return parse_time(value, record_id, "seen")


def _write(out: IO[bytes], result: dict[str, Any]) -> None:
    out.write(json.dumps(result, ensure_ascii=False).encode("utf-8") + b"\n")


def replay(source: IO[bytes], ruleset: match.RuleSet, config: Config, out: IO[bytes],
           err: IO[str]) -> int:
    """Run every article of ``source`` (JSON lines) through ``ingest`` on a scratch database,
    oldest first, the clock at each article's publication (undated ones last, in file order,
    at the time of the article before). Bad lines are reported first, then one line per
    article in processing order. Returns the number of bad lines."""
    if not source.seekable():  # a pipe: spooled to a file, since the sort needs two passes
        with tempfile.TemporaryFile(prefix="monitor-replay-") as copy:
            shutil.copyfileobj(source, copy)
            copy.seek(0)
            return replay(copy, ruleset, config, out, err)
    good, bad = _scan(source, out, err)
    good.sort(key=lambda g: g[:3])
    with tempfile.TemporaryDirectory(prefix="monitor-replay-") as tmp:
        store = Store.open(Path(tmp) / "replay.db")
        names = sorted(config.targets) or ["replay"]
        ctx = Context(config=config, store=store, client=GuardedClient(), ruleset=ruleset,
                      targets={name: PlanOnly(name) for name in names})
        try:
            _Replay(ctx).run(source, good, out)
        finally:
            ctx.client.close()
            store.close()
    out.flush()
    return bad


class _Replay:
    """The second pass: each good line, in order, into the scratch store."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.kinds = entity_kinds(ctx.ruleset.entities)
        self.regions = entity_regions(ctx.ruleset.entities)
        self.feeds: dict[str, Feed] = {}
        self.ids: dict[int, str | int] = {}  # scratch entry id → input id
        self.clock: datetime | None = None

    def run(self, source: IO[bytes], good: list[tuple[Any, ...]], out: IO[bytes]) -> None:
        for *_, offset in good:
            source.seek(offset)
            record = decode_record(source.readline())
            _write(out, self.one(record))

    def _feed(self, outlet: str) -> Feed:
        feed = self.feeds.get(outlet)
        if feed is None:
            feed = self.feeds[outlet] = Feed(name=outlet, url=f"replay:{outlet}", interval=3600)
            self.ctx.store.sync_feeds([feed])
        return feed

    def one(self, record: dict[str, Any]) -> dict[str, Any]:
        record_id, parsed = record_article(record)
        outlet = record_str(record, "outlet", record_id) or "unknown"
        now = (_seen_time(record, record_id) or parsed.published or self.clock
               or datetime.now(UTC))
        self.clock = now
        entry = Entry(feed=outlet, guid=str(record_id), link=parsed.url, title=parsed.title,
                      summary="", published=parsed.published)
        article = replace(parsed, entry=entry, site=outlet)
        canonical = dedup.canonical_url(parsed.url)
        store = self.ctx.store
        seen = store.find_seen(outlet, entry.guid, canonical)
        outcome = ingest(self.ctx, self._feed(outlet), entry, canonical, article,
                         self.ctx.ruleset, now, kinds=self.kinds, group_wait=timedelta(0),
                         regions=self.regions)
        if outcome is None:  # seen before: the same id from this outlet, or the same URL
            assert seen is not None
            first = self.ids.get(seen.id)
            earlier = "an earlier article" if first is None else \
                f"id {json.dumps(first, ensure_ascii=False)}"
            reason = ("the same outlet and id as an earlier article" if seen.same_guid
                      else f"the same URL as {earlier}")
            return {"id": record_id, "story_id": store.story_of(seen.id),
                    "decision": "duplicate", "reason": reason}
        self.ids[outcome.entry_id] = record_id
        return {"id": record_id, "story_id": outcome.story_id, "decision": outcome.decision,
                "reason": self._reason(outcome)}

    def _reason(self, outcome: Outcome) -> str:
        """The reason, scratch entry ids replaced by the input ids."""
        def named(m: re.Match[str]) -> str:
            rid = self.ids.get(int(m.group(1)))
            return m.group(0) if rid is None else f"id {json.dumps(rid, ensure_ascii=False)}"
        return re.sub(r"\bentry (\d+)\b", named, outcome.reason)

