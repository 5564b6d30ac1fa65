"""`monitor stories` and `monitor stories show`, after a check against the sample news site."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Receiver
from tests.test_pipeline_e2e import Site, monitor, write_config

# Where the three reports of the 5 August 2024 attack on Ain al-Asad are on the sample site.
AUGUST = ("the-national/2024/08/06/", "shafaq-news/2024/08/07/", "al-fassel/2024/08/08/")


def test_stories_lists_and_shows_what_check_grouped(tmp_path: Path, sample_site: Site,
                                                     receiver: Receiver) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    assert monitor("check", "--config", str(config), hook=receiver.url).returncode == 0

    listed = monitor("stories", "--config", str(config), "--json", hook=receiver.url)
    assert listed.returncode == 0, listed.stderr
    stories = json.loads(listed.stdout)
    assert len(stories) == 4
    (august,) = [s for s in stories if s["event_date"] == "2024-08-05"]
    assert august["articles"] == 3 and len(august["outlets"]) == 3
    assert august["severity"] == "critical"
    assert sorted(s["articles"] for s in stories) == [1, 1, 1, 3]
    for s in stories:
        assert s["title"] and s["first_seen"].endswith("+00:00") and s["last_update"]

    table = monitor("stories", "-c", str(config), hook=receiver.url)
    assert table.returncode == 0, table.stderr
    head, *rows = table.stdout.splitlines()
    assert head.split()[:3] == ["ID", "SEVERITY", "FIRST"] and len(rows) == 4
    assert all(len(line) <= 100 for line in table.stdout.splitlines())
    (row,) = [r for r in rows if r.split()[0] == str(august["id"])]
    assert row.split()[1] == "critical" and row.split()[6:8] == ["3", "3"]
    assert monitor("stories", "-c", str(config), "--limit", "1", "--json",
                   hook=receiver.url).stdout.count('"id"') == 1

    shown = monitor("stories", "show", str(august["id"]), "--config", str(config),
                    hook=receiver.url)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.startswith(f"story {august['id']}: ") and "severity:    critical" in out
    for path in AUGUST:
        assert f"{base}/{path}" in out
    assert out.count("why: ") == 3 and "joined story" in out

    detail = monitor("stories", "show", str(august["id"]), "-c", str(config), "--json",
                     hook=receiver.url)
    articles = json.loads(detail.stdout)["articles"]
    assert sorted(next(p for p in AUGUST if a["url"].startswith(f"{base}/{p}"))
                  for a in articles) == sorted(AUGUST)
    assert [a["published"] for a in articles] == sorted(a["published"] for a in articles)
    assert articles[0]["decision"] == "new"
    assert {a["decision"] for a in articles[1:]} <= {"update", "escalation"}
    assert all(a["reason"] for a in articles)
    assert "joined story" in articles[1]["reason"]

    unknown = monitor("stories", "show", "999", "-c", str(config), hook=receiver.url)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"error: no story 999 in {tmp_path / 'state' / 'monitor.db'}"


def test_a_missing_or_foreign_database_exits_1(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    missing = monitor("stories", "-c", str(config), hook="http://127.0.0.1:9/")
    assert missing.returncode == 1 and "no database at" in missing.stderr
    (tmp_path / "state").mkdir()
    with sqlite3.connect(tmp_path / "state" / "monitor.db") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    foreign = monitor("stories", "show", "1", "-c", str(config), hook="http://127.0.0.1:9/")
    assert foreign.returncode == 1 and "not news-monitor's" in foreign.stderr
    no_config = monitor("stories", hook="http://127.0.0.1:9/")
    assert no_config.returncode == 2 and "--config" in no_config.stderr


def test_config_from_the_environment_and_from_the_group(tmp_path: Path, sample_site: Site,
                                                       receiver: Receiver) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    assert monitor("check", "--config", str(config), hook=receiver.url).returncode == 0
    env = {**os.environ, "TEST_SLACK_WEBHOOK_URL": receiver.url, "MONITOR_CONFIG": str(config)}
    listed = subprocess.run([sys.executable, "-m", "monitor", "stories", "--json"],
                            capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    first = json.loads(listed.stdout)[0]["id"]
    shown = monitor("stories", "-c", str(config), "show", str(first), hook=receiver.url)
    assert shown.returncode == 0 and shown.stdout.startswith(f"story {first}: ")
