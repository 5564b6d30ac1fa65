"""`monitor feeds list|add|remove|import|export` against the sample news site on 127.0.0.1 and a
real SQLite file; `check` polls a feed added at the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from monitor.cli import cli
from monitor.store import Store
from tests.conftest import ROOT
from tests.test_sources_opml import BILLION_LAUGHS

Site = tuple[str, list[tuple[str, dict[str, str]]]]


def write_config(tmp_path: Path, base: str, *, extra: str = "", private: bool = True,
                 name: str = "monitor.toml", database: str = "state/monitor.db") -> Path:
    path = tmp_path / name
    allow = '["127.0.0.1"]' if private else "[]"
    path.write_text(f"""
database = "{database}"
rules = "{(ROOT / 'rules').as_posix()}"

[network]
allow_private = {allow}
total_timeout = 20

[stories]
max_age = "3650d"

[[feeds]]
name = "rss"
url = "{base}/feeds/rss.xml"
tags = ["demo"]
{extra}
[targets.console]
type = "console"
""", encoding="utf-8")
    return path


def feeds(*args: str, config: Path) -> Result:
    return CliRunner().invoke(cli, ["feeds", *args, "--config", str(config)])


def listing(config: Path) -> dict[str, dict[str, Any]]:
    result = feeds("list", "--json", config=config)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_add_fetches_once_shows_title_and_count_and_lists_with_the_config_feed(
        tmp_path: Path, sample_site: Site) -> None:
    base, seen = sample_site
    config = write_config(tmp_path, base)
    result = feeds("add", f"{base}/feeds/atom.xml?token=s3cret", "--tag", "iraq", "--tag",
                   "wire", "--interval", "15m", config=config)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("added feed sample-news-site-iraq-regional-news: "
                                    "'Sample News Site: Iraq regional news', 10 entries, every "
                                    "15m, tags iraq, wire")
    assert [p for p, _ in seen] == ["/feeds/atom.xml"]  # fetched once
    rows = listing(config)
    assert list(rows) == ["rss", "sample-news-site-iraq-regional-news"]
    added = rows["sample-news-site-iraq-regional-news"]
    assert (added["origin"], added["tags"], added["interval"], added["title"]) == (
        "cli", ["iraq", "wire"], 900, "Sample News Site: Iraq regional news")
    assert added["added_at"] and added["last_success_at"] is None
    assert rows["rss"]["origin"] == "config" and rows["rss"]["tags"] == ["demo"]
    table = feeds("list", config=config)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "ORIGIN", "STATUS"]
    assert lines[2].split()[:3] == ["sample-news-site-iraq-regional-news", "cli", "new"]
    assert f"{base}/feeds/atom.xml?…" in lines[2]
    assert "s3cret" not in table.stdout and "s3cret" not in json.dumps(rows)


@pytest.mark.parametrize(("path", "private", "expected"), [
    ("/index.html", True, "is not an RSS, Atom or JSON feed (it is an HTML page); nothing added"),
    ("/no/such/feed.xml", True, "answered HTTP 404; nothing added"),
    ("/feeds/atom.xml", False, "refused: non-public address 127.0.0.1"),
    ("/MANIFEST.md", True, "is not an RSS, Atom or JSON feed"),
], ids=["html-page", "404", "blocked-address", "plain-text"])
def test_add_refuses_what_is_not_a_feed_and_stores_nothing(
        tmp_path: Path, sample_site: Site, path: str, private: bool, expected: str) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base, private=private)
    result = feeds("add", f"{base}{path}", config=config)
    assert result.exit_code == 1
    assert expected in result.stderr and len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
    assert not (tmp_path / "state" / "monitor.db").exists()  # not even a database


def test_a_refused_add_leaves_an_existing_database_as_it_was(
        tmp_path: Path, sample_site: Site) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    assert feeds("add", f"{base}/feeds/atom.xml", "--name", "atom", config=config).exit_code == 0
    before = listing(config)
    assert feeds("add", f"{base}/index.html", config=config).exit_code == 1
    assert listing(config) == before


def test_add_refuses_a_url_or_name_already_present(tmp_path: Path, sample_site: Site) -> None:
    base, seen = sample_site
    config = write_config(tmp_path, base)
    again = feeds("add", f"{base}/feeds/rss.xml", config=config)
    assert again.exit_code == 1
    assert "is already feed 'rss' (in the config)" in again.stderr
    named = feeds("add", f"{base}/feeds/atom.xml", "--name", "rss", config=config)
    assert named.exit_code == 1 and "a feed named 'rss' already exists" in named.stderr
    assert seen == []  # refused before any fetch


@pytest.mark.parametrize(("args", "expected"), [
    (["ftp://example.org/feed"], "is not an http(s) URL"),
    (["https://example.org/feed", "--name", "bad name!"], "must be 1-64 letters"),
    (["https://example.org/feed", "--interval", "5s"], "at least 60 seconds"),
    (["https://example.org/feed", "--interval", "often"], "a duration such as 15m"),
    (["https://example.org/feed", "--tag", " "], "a tag must not be empty"),
    (["https://example.org/feed", "--full-text", "sometimes"], "'always', 'when_candidate'"),
])
def test_add_checks_its_options_before_fetching(tmp_path: Path, args: list[str],
                                                expected: str) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    result = feeds("add", *args, config=config)
    assert result.exit_code == 2 and expected in result.stderr


def test_remove_stops_a_cli_feed_and_refuses_a_config_feed(
        tmp_path: Path, sample_site: Site) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    assert feeds("add", f"{base}/feeds/atom.xml", "--name", "atom", config=config).exit_code == 0
    refused = feeds("remove", "rss", config=config)
    assert refused.exit_code == 1
    assert f"comes from the config file {config}" in refused.stderr
    assert "[[feeds]]" in refused.stderr
    removed = feeds("remove", "atom", config=config)
    assert removed.exit_code == 0 and removed.stdout.startswith("removed feed atom")
    assert list(listing(config)) == ["rss"]
    unknown = feeds("remove", "atom", config=config)
    assert unknown.exit_code == 1 and "no feed named 'atom'" in unknown.stderr


def opml(base: str) -> bytes:
    return f"""<?xml version="1.0"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="Iraq">
    <outline type="rss" text="Already here" xmlUrl="{base}/feeds/rss.xml"/>
    <outline type="rss" text="Atom of the site" xmlUrl="{base}/feeds/atom.xml"/>
  </outline>
  <outline type="rss" text="ftp one" xmlUrl="ftp://files.example/feed"/>
  <outline type="rss" text="Elsewhere" xmlUrl="https://elsewhere.example/rss.xml"
           category="wire"/>
</body></opml>""".encode()


def test_import_adds_new_feeds_with_tags_without_fetching_and_reports_skips(
        tmp_path: Path, sample_site: Site) -> None:
    base, seen = sample_site
    config = write_config(tmp_path, base)
    file = tmp_path / "subs.opml"
    file.write_bytes(opml(base))
    dry = feeds("import", str(file), "--dry-run", config=config)
    assert dry.exit_code == 0, dry.output
    assert "would add atom-of-the-site" in dry.stdout
    assert "added=2 skipped=2" in dry.stdout and "nothing stored" in dry.stdout
    assert not (tmp_path / "state" / "monitor.db").exists()
    result = feeds("import", str(file), config=config)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"skipped {file}:7: outline 'ftp one'" in out
    assert f"skipped {base}/feeds/rss.xml: already feed 'rss' (in the config)" in out
    assert f"added atom-of-the-site: {base}/feeds/atom.xml (tags: Iraq)" in out
    assert "added Elsewhere: https://elsewhere.example/rss.xml (tags: wire)" in out
    assert "import: added=2 skipped=2; not fetched" in out
    rows = listing(config)
    assert rows["atom-of-the-site"]["tags"] == ["Iraq"]
    assert rows["Elsewhere"]["tags"] == ["wire"]  # a valid name as written, else a slug
    assert rows["Elsewhere"]["origin"] == "cli" and rows["Elsewhere"]["interval"] == 3600
    assert seen == []  # nothing was fetched
    twice = feeds("import", str(file), config=config)
    assert "added=0 skipped=4" in twice.stdout


def test_import_refuses_a_hostile_file_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    file = tmp_path / "laughs.opml"
    file.write_bytes(BILLION_LAUGHS)
    result = feeds("import", str(file), config=config)
    assert result.exit_code == 1
    assert f"{file}: refused: it declares XML entities" in result.stderr
    assert not (tmp_path / "state" / "monitor.db").exists()


def test_export_then_import_into_a_fresh_database_gives_the_same_feeds(
        tmp_path: Path, sample_site: Site) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    assert feeds("add", f"{base}/feeds/atom.xml?k=1&v=2", "--tag", "x", "--tag", "y",
                 config=config).exit_code == 0
    out = tmp_path / "export.opml"
    exported = feeds("export", "--output", str(out), config=config)
    assert exported.exit_code == 0 and "exported 2 feeds" in exported.stdout
    to_stdout = feeds("export", config=config)
    assert to_stdout.exit_code == 0 and to_stdout.stdout_bytes.startswith(b"<?xml")
    assert b'xmlUrl="' + f"{base}/feeds/atom.xml?k=1&amp;v=2".encode() in out.read_bytes()

    empty = tmp_path / "fresh"
    empty.mkdir()
    fresh = empty / "monitor.toml"
    fresh.write_text(f'database = "fresh.db"\nrules = "{(ROOT / "rules").as_posix()}"\n'
                     '[targets.console]\ntype = "console"\n', encoding="utf-8")
    imported = feeds("import", str(out), config=fresh)
    assert imported.exit_code == 0 and "added=2 skipped=0" in imported.stdout

    def essentials(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[str, set[str]]]:
        return {name: (r["url"], set(r["tags"])) for name, r in rows.items()}

    assert essentials(listing(fresh)) == essentials(listing(config))
    again = json.loads(feeds("list", "--json", config=fresh).stdout)
    assert {r["origin"] for r in again} == {"cli"}


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("MONITOR_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=180, env=env, cwd=ROOT)


@pytest.mark.parametrize("path", ["/feeds/other.xml", "/feeds/atom.xml"],
                         ids=["other-url", "identical"])
def test_a_config_feed_named_like_a_cli_feed_is_an_error_and_overwrites_nothing(
        tmp_path: Path, sample_site: Site, path: str) -> None:
    base, seen = sample_site
    config = write_config(tmp_path, base)
    assert feeds("add", f"{base}/feeds/atom.xml", "--name", "atom", config=config).exit_code == 0
    before = listing(config)["atom"]
    clash = write_config(tmp_path, base, name="clash.toml", extra=f"""
[[feeds]]
name = "atom"
url = "{base}{path}"
""")
    result = monitor("check", "--config", str(clash))
    assert result.returncode == 1, result.stderr
    assert "feed 'atom' is both in the config and added at the command line" in result.stderr
    assert "`monitor feeds remove atom`" in result.stderr
    assert [p for p, _ in seen] == ["/feeds/atom.xml"]  # the add's fetch; check polled nothing
    warned = feeds("list", config=clash)
    assert "warning: feed 'atom' is both in the config" in warned.stderr
    assert listing(config)["atom"] == before


def test_check_polls_a_feed_added_at_the_command_line(tmp_path: Path, sample_site: Site) -> None:
    base, seen = sample_site
    config = write_config(tmp_path, base)
    assert feeds("add", f"{base}/feeds/atom.xml", "--name", "atom", config=config).exit_code == 0
    result = monitor("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "feeds=2 failed=0" in result.stdout
    assert [p for p, _ in seen].count("/feeds/atom.xml") == 2  # the add, then the check
    rows = listing(config)
    assert rows["atom"]["entries"] == 10 and rows["atom"]["last_status"] == "ok"
    assert rows["atom"]["last_success_at"] is not None
    assert rows["atom"]["origin"] == "cli" and rows["rss"]["entries"] > 0


def test_full_text_is_kept_for_a_cli_feed_and_shown_for_every_feed(
        tmp_path: Path, sample_site: Site) -> None:
    base, seen = sample_site
    config = write_config(tmp_path, base, extra='full_text = "when_candidate"')
    result = feeds("add", f"{base}/feeds/atom.xml", "--name", "atom", "--full-text",
                   "when_candidate", config=config)
    assert result.exit_code == 0 and "full_text when_candidate" in result.stdout
    rows = listing(config)
    assert (rows["atom"]["full_text"], rows["rss"]["full_text"]) == ("when_candidate",
                                                                       "when_candidate")
    result = monitor("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    store = Store.open(tmp_path / "state" / "monitor.db")
    try:
        assert {f.name: f.full_text for f in store.cli_feeds()} == {"atom": "when_candidate"}
        skipped = store.db.execute("SELECT count(*) FROM articles WHERE source = 'summary'"
                                   " AND note LIKE '%when_candidate%'").fetchone()[0]
    finally:
        store.close()
    pages = [p for p, _ in seen if not p.startswith("/feeds/")]
    assert skipped > 0 and len(pages) < 20, "pages read only for the candidates"


def test_made_up_names_follow_the_config_rule_and_are_unique() -> None:
    from monitor.cli_feeds import import_name, slug, unique
    from monitor.config import _NAME
    from monitor.sources.opml import OpmlFeed

    assert slug("Shafaq News: Iraq — Élections!") == "shafaq-news-iraq-elections"
    assert slug("شفق نيوز") == ""  # nothing ASCII: the caller falls back to the host
    assert unique("rudaw", {"rudaw", "rudaw-2"}) == "rudaw-3"
    long = unique("x" * 64, {"x" * 64})
    assert long == "x" * 62 + "-2" and _NAME.match(long)
    assert import_name(OpmlFeed(url="https://a.example/", name="Keep.Me_1")) == "Keep.Me_1"
    assert import_name(OpmlFeed(url="https://a.example/", name="شفق")) == "a.example"
    for text in ("...", "-x-", "Ça va", "a" * 200, "1/2 & 3"):
        made = slug(text) or "feed"
        assert _NAME.match(made), text
