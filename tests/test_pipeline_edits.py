"""An article edited in place (same guid, new title and text) between two polls, served over
real HTTP on 127.0.0.1: it raises its story's severity, so it escalates, once."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli import build_context
from monitor.config import load_config
from monitor.demo import serve_site
from monitor.pipeline import run_once
from monitor.store import Store
from tests.conftest import DATA, ROOT

NOW = datetime(2024, 8, 7, 21, tzinfo=UTC)
RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<link>{{BASE}}/</link><description>x</description>
<item><title>TITLE</title><link>{{BASE}}/a.html</link><guid>wire-1</guid>
<pubDate>Wed, 07 Aug 2024 18:00:00 GMT</pubDate><description>SUMMARY</description></item>
</channel></rss>"""


def publish(root: Path, title: str, seed: str) -> None:
    (root / "feeds").mkdir(exist_ok=True)
    (root / "feeds" / "rss.xml").write_text(RSS.replace("TITLE", title).replace(
        "SUMMARY", title), encoding="utf-8")
    body = "".join(f"<p>{line}</p>" for line in seed.splitlines() if line.strip())
    (root / "a.html").write_text(f"<html><head><title>{title}</title></head><body><article>"
                                 f"<h1>{title}</h1>{body}</article></body></html>",
                                 encoding="utf-8")


def check(config_path: Path) -> tuple[str, str]:
    config = load_config(config_path, env={})
    store = Store.open(config.database)
    out = io.StringIO()
    ctx = build_context(config, store, stream=out, clock=lambda: NOW)
    report = run_once(ctx)
    ctx.client.close()
    store.close()
    return out.getvalue(), report.summary()


def test_an_edit_that_raises_severity_escalates_once(tmp_path: Path) -> None:
    seeds = {p.stem[:3]: p.read_text(encoding="utf-8") for p in (DATA / "seeds").glob("*.txt")}
    site = tmp_path / "site"
    site.mkdir()
    publish(site, "Rocket attack on US forces at Ain al-Asad", seeds["001"])
    with serve_site(site) as (base, _):
        config = tmp_path / "monitor.toml"
        config.write_text(f'database = "m.db"\nrules = "{(ROOT / "rules").as_posix()}"\n'
                          '[network]\nallow_private = ["127.0.0.1"]\n'
                          f'[[feeds]]\nname = "wire"\nurl = "{base}/feeds/rss.xml"\n'
                          '[targets.console]\ntype = "console"\n', encoding="utf-8")
        first, summary = check(config)
        assert first.startswith("[HIGH]") and "alerts=1" in summary
        unchanged, summary = check(config)
        assert unchanged == "" and "alerts=0" in summary
        publish(site, "Rocket attack wounds five US service members at Ain al-Asad", seeds["000"])
        edited, summary = check(config)
        assert "ESCALATION" in edited and edited.startswith("[CRITICAL]")
        assert "alerts=1" in summary
        again, _ = check(config)
        assert again == ""


def test_a_crash_mid_poll_keeps_the_old_validators(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.pipeline as pipeline

    seeds = {p.stem[:3]: p.read_text(encoding="utf-8") for p in (DATA / "seeds").glob("*.txt")}
    site = tmp_path / "site"
    site.mkdir()
    publish(site, "Rocket attack on US forces at Ain al-Asad", seeds["001"])
    with serve_site(site) as (base, _):
        config_path = tmp_path / "monitor.toml"
        config_path.write_text(f'database = "m.db"\nrules = "{(ROOT / "rules").as_posix()}"\n'
                               '[network]\nallow_private = ["127.0.0.1"]\n'
                               f'[[feeds]]\nname = "wire"\nurl = "{base}/feeds/rss.xml"\n'
                               '[targets.console]\ntype = "console"\n', encoding="utf-8")

        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("database is locked")

        monkeypatch.setattr(pipeline, "ingest", crash)
        with pytest.raises(RuntimeError):
            check(config_path)
        monkeypatch.undo()
        store = Store.open(tmp_path / "m.db")
        assert store.feed_state("wire").etag is None, "not marked as read"
        store.close()
        out, summary = check(config_path)  # the entry is processed on the next poll
        assert out.startswith("[HIGH]") and "alerts=1" in summary
