"""Peers on the same feed farm: rss2email and feed2exec, each from PyPI in its own virtual
environment under ``bench/.peers/`` (git-ignored), set up to read the farm's polling feeds and
mail new entries to the farm's SMTP sink on 127.0.0.1.

What each does per feed, as installed (read from their code):

* **rss2email** (``r2e run``): one feed after the other, ``feedparser.parse(url, etag,
  modified)`` (urllib, a new connection per feed, conditional GET with the stored validators),
  then each entry checked against the feed's seen guids; one message per new entry over SMTP;
  its state (a JSON file) written once at the end of the run.
* **feed2exec** (``feed2exec fetch``): one feed after the other through a ``requests`` session
  with CacheControl (its HTTP cache in SQLite answers conditional GETs; a 304 skips parsing),
  ``feedparser`` on the body, each item checked against its SQLite cache of seen guids and
  handed to the output plugin. It has no SMTP output of its own, so the plugin is ``output()``
  below (this module, put on its ``PYTHONPATH``): one message per new item over SMTP, built by
  feed2exec's own ``make_message``. Its ``--parallel`` option parses in a process pool but
  still fetches one feed after the other; it is not used.

This module imports nothing outside the standard library at its top: feed2exec imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
PACKAGES = {"rss2email": "rss2email", "feed2exec": "feed2exec"}


def ensure(name: str, timeout: float = 300) -> dict[str, Any]:
    """The peer's venv, created and installed with pip when missing; its version or why not."""
    venv = PEERS / name
    python = venv / "bin" / "python"
    started = time.perf_counter()
    installed = False
    if not (venv / ".installed").exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                           timeout=timeout, capture_output=True)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", PACKAGES[name]], check=True,
                           timeout=timeout, capture_output=True, text=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            detail = getattr(e, "stderr", "") or str(e)
            return {"installed": False, "error": " ".join(str(detail).split())[-400:]}
        (venv / ".installed").touch()
        installed = True
    version = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version('{name}'))"],
        capture_output=True, text=True, timeout=60).stdout.strip()
    return {"installed": True, "version": version, "venv": str(venv.relative_to(HERE.parent)),
            "install_seconds": round(time.perf_counter() - started, 1) if installed else 0.0}


class Run:
    """A peer's run: started at once, ``finish()`` waits for it, stopping it at ``deadline``
    (``time.monotonic()``); its CPU time comes from ``wait4``, its own, apart from the others
    running at the same time."""

    def __init__(self, argv: list[str], env: dict[str, str] | None, log: Path) -> None:
        self.started = time.perf_counter()
        with log.open("a", encoding="utf-8") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def finish(self, deadline: float | None) -> dict[str, Any]:
        completed = True
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                self.proc.kill()
                pid, status, usage = os.wait4(self.proc.pid, 0)
                completed = False
                break
            time.sleep(0.05)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return {"seconds": round(time.perf_counter() - self.started, 2),
                "exit_code": self.proc.returncode, "completed": completed,
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2)}


# --- rss2email -------------------------------------------------------------------------------


def rss2email_setup(directory: Path, feeds: list[tuple[str, str]], smtp_port: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["[DEFAULT]", "to = analysts@example.org", "from = r2e@example.org",
             "email-protocol = smtp", "smtp-server = 127.0.0.1", f"smtp-port = {smtp_port}",
             "smtp-ssl = False", "smtp-auth = False", "feed-timeout = 60", ""]
    for name, url in feeds:
        lines += [f"[feed.{name}]", f"url = {url}", ""]
    (directory / "rss2email.cfg").write_text("\n".join(lines), encoding="utf-8")
    data = {"version": 2, "feeds": [{"name": n, "etag": None, "modified": None, "seen": {}}
                                    for n, _ in feeds]}
    (directory / "rss2email.json").write_text(json.dumps(data), encoding="utf-8")


def rss2email_run(directory: Path, *, send: bool) -> Run:
    argv = [str(PEERS / "rss2email" / "bin" / "r2e"), "-c", str(directory / "rss2email.cfg"),
            "-d", str(directory / "rss2email.json"), "run"] + ([] if send else ["--no-send"])
    return Run(argv, None, directory / "r2e.log")


# --- feed2exec -------------------------------------------------------------------------------


def feed2exec_setup(directory: Path, feeds: list[tuple[str, str]], smtp_port: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, url in feeds:
        lines += [f"[{name}]", f"url = {url}", "output = peers", f"args = 127.0.0.1 {smtp_port}",
                  ""]
    (directory / "feed2exec.ini").write_text("\n".join(lines), encoding="utf-8")


def feed2exec_run(directory: Path, *, send: bool) -> Run:
    argv = [str(PEERS / "feed2exec" / "bin" / "feed2exec"), "--config",
            str(directory / "feed2exec.ini"), "--database", str(directory / "feed2exec.db"),
            "fetch"] + ([] if send else ["--catchup"])
    env = dict(os.environ, PYTHONPATH=str(HERE))
    return Run(argv, env, directory / "feed2exec.log")


def output(host: str, port: str, *args: Any, feed: Any = None, item: Any = None,
           **kwargs: Any) -> bool:
    """feed2exec output plugin: the item as an e-mail to the SMTP server at host:port."""
    import mailbox
    import smtplib

    from feed2exec.email import make_message  # type: ignore[import-not-found]

    if feed.get("catchup"):
        return True
    # as its maildir plugin does (the default class of make_message fails on Python 3.11)
    message, _ = make_message(feed, item, to_addr="analysts@example.org",
                              cls=mailbox.MaildirMessage)
    with smtplib.SMTP(host, int(port), timeout=30) as smtp:
        smtp.sendmail("feed2exec@example.org", ["analysts@example.org"], message.as_bytes())
    return True
