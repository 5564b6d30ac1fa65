"""The demo: the sample news site served on 127.0.0.1, and a config that watches it."""

from __future__ import annotations

from pathlib import Path

from monitor.demo.server import SITE, serve_site

__all__ = ["SITE", "demo_config", "serve_site", "shipped_rules"]


def shipped_rules() -> Path:
    """The watchlist shipped in the repository's ``rules/`` folder."""
    return Path(__file__).resolve().parents[2] / "rules"


def demo_config(base_url: str, state_dir: Path, rules: Path) -> Path:
    """Write a config watching the sample site's two feeds with the console target."""
    path = state_dir / "monitor.toml"
    path.write_text(f"""\
# Written by `monitor demo`: the sample news site's feeds, the shipped rules, console output.
database = "monitor.db"
rules = "{rules.as_posix()}"

[network]
allow_private = ["127.0.0.1"]   # the sample site runs on this machine

[polling]
first_poll_max_age = "3d"   # the demo's first poll may alert on reports up to [stories] max_age

[[feeds]]
name = "sample-news-rss"
url = "{base_url}/feeds/rss.xml"
interval = "15m"
tags = ["demo"]

[[feeds]]
name = "sample-news-atom"
url = "{base_url}/feeds/atom.xml"
interval = "15m"
tags = ["demo"]

[targets.console]
type = "console"
""", encoding="utf-8")
    return path
