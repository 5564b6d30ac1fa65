"""A poll looks each entry up in the store as few times as it can (issue 8): the loop keeps what
the prefetch found where it cannot have changed, and looks again where it can. Served over real
HTTP on 127.0.0.1."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.daemon_context import build_context
from monitor.demo import serve_site
from monitor.model import Entry
from monitor.pipeline import run_once
from monitor.store import Seen, Store
from tests.conftest import DATA, ROOT

NOW = datetime(2024, 8, 7, 21, tzinfo=UTC)
ITEM = ('<item><title>{title}</title><link>{{{{BASE}}}}/{page}.html</link>'
        '<guid isPermaLink="false">{guid}</guid><pubDate>Wed, 07 Aug 2024 1{n}:00:00 GMT'
        "</pubDate><description>{title}</description></item>")


def feed(root: Path, name: str, items: list[tuple[str, str]]) -> None:
    """``items``: (guid, page) pairs."""
    body = "".join(ITEM.format(title=f"Report {page}", page=page, guid=guid, n=n)
                   for n, (guid, page) in enumerate(items))
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "rss.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>'
        f"<link>{{{{BASE}}}}/</link><description>x</description>{body}</channel></rss>",
        encoding="utf-8")


def page(root: Path, name: str, text: str) -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n") if p.strip())
    (root / f"{name}.html").write_text(f"<html><head><title>{name}</title></head><body><article>"
                                       f"<h1>{name}</h1>{paragraphs}</article></body></html>",
                                       encoding="utf-8")


def check(config: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Counter[str]]:
    """One ``check``; the summary and how often each guid was looked up."""
    lookups: Counter[str] = Counter()
    find_seen = Store.find_seen

    def counted(self: Store, feed: str, guid: str, canonical_url: str | None,
                entry: Entry | None = None) -> Seen | None:
        lookups[guid] += 1
        return find_seen(self, feed, guid, canonical_url, entry)

    with monkeypatch.context() as patch:
        patch.setattr(Store, "find_seen", counted)
        store = Store.open(load_config(config, env={}).database)
        ctx = build_context(load_config(config, env={}), store, stream=io.StringIO(),
                            clock=lambda: NOW)
        summary = run_once(ctx).summary()
        ctx.client.close()
        store.close()
    return summary, lookups


def test_seen_entries_are_looked_up_once_and_copies_still_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = sorted(p.read_text(encoding="utf-8") for p in (DATA / "seeds").glob("*.txt"))
    site = tmp_path / "site"
    site.mkdir()
    for n in range(4):
        page(site, f"p{n}", seeds[n])
    feed(site, "a", [("a1", "p0"), ("a2", "p1")])
    with serve_site(site) as (base, _):
        head = (f'database = "m.db"\nrules = "{(ROOT / "rules").as_posix()}"\n'
                '[network]\nallow_private = ["127.0.0.1"]\n[targets.console]\n'
                'type = "console"\n')
        config = tmp_path / "monitor.toml"
        config.write_text(head + f'[[feeds]]\nname = "a"\nurl = "{base}/a/rss.xml"\n',
                          encoding="utf-8")
        summary, lookups = check(config, monkeypatch)
        assert "new=2" in summary
        assert lookups == {"a1": 3, "a2": 3}  # prefetch, loop (may have changed), ingest
        # feed a gains an entry; feed b carries a copy of a1 (same page) and one of its own
        feed(site, "a", [("a1", "p0"), ("a2", "p1"), ("a3", "p2")])
        feed(site, "b", [("b1", "p0"), ("b2", "p3")])
        config.write_text(head + f'[[feeds]]\nname = "a"\nurl = "{base}/a/rss.xml"\n'
                          f'[[feeds]]\nname = "b"\nurl = "{base}/b/rss.xml"\n',
                          encoding="utf-8")
        summary, lookups = check(config, monkeypatch)
    assert "new=2" in summary  # a3 and b2; b1 is a copy
    # a1, a2: stored unedited, the prefetch's answer stands; b1: a copy, looked up again only
    # inside the transaction that records it; a3, b2: new, as before
    assert lookups == {"a1": 1, "a2": 1, "b1": 2, "a3": 3, "b2": 3}
    store = Store.open(tmp_path / "m.db")
    rows = dict(store.db.execute("SELECT guid, duplicate_of FROM entries").fetchall())
    ids = dict(store.db.execute("SELECT guid, id FROM entries").fetchall())
    assert rows == {"a1": None, "a2": None, "a3": None, "b1": ids["a1"], "b2": None}
