"""Logging: `--log-format json` gives one JSON object per line with the message's key=value
pairs; under journald (JOURNAL_STREAM naming stderr itself) no timestamps and a priority
prefix; chatty libraries at WARNING unless -vv."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import cli_tools
from monitor.cli import cli
from monitor.cli_tools import CHATTY, JsonFormatter, log_fields, setup_logging, under_journald
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """setup_logging replaces the root handlers and levels: put them back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in (*CHATTY, "apprise")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    cli_tools.set_log_format("text")


def test_json_lines_parse_with_the_message_fields() -> None:
    stream = io.StringIO()
    setup_logging(0, False, "json", stream=stream, env={})
    log = logging.getLogger("monitor.pipeline")
    log.info("feed=%s status=ok http=%s new=%d", "rss", 200, 3)
    log.warning("alert=%s target=%s state=retrying error=%r", "nm_1", "slack",
                "it's \"down\"\nnow")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("job=%s error=unexpected", "deliver")
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3, "one line per event, tracebacks included"
    first = records[0]
    assert first["level"] == "INFO" and first["logger"] == "monitor.pipeline"
    assert first["message"] == "feed=rss status=ok http=200 new=3"
    assert (first["feed"], first["status"], first["http"], first["new"]) == \
        ("rss", "ok", "200", "3")
    assert first["time"].endswith("+00:00")
    assert records[1]["error"] == "it's \"down\"\nnow", "a %r value is read back as written"
    assert records[1]["level"] == "WARNING"
    assert "ValueError: boom" in records[2]["exception"]
    assert records[2]["job"] == "deliver"


def test_message_fields_never_replace_the_reserved_keys() -> None:
    record = logging.LogRecord("monitor.x", logging.INFO, __file__, 1,
                               "level=%s logger=%s message=%s time=x feed=a", ("DEBUG", "y",
                                                                                "z"), None)
    out = json.loads(JsonFormatter(timestamps=False).format(record))
    assert out["level"] == "INFO" and out["logger"] == "monitor.x"
    assert out["message"].startswith("level=DEBUG") and "time" not in out
    assert out["feed"] == "a"


def test_log_fields_take_words_and_quoted_reprs() -> None:
    assert log_fields("rules=reloaded rules=3 signal=SIGHUP reloading from /x") == \
        {"rules": "reloaded", "signal": "SIGHUP"}
    assert log_fields("reason='a b' x=\"c'd\" plain text") == {"reason": "a b", "x": "c'd"}


def test_the_cli_option_and_its_environment_variable_choose_json(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(f'database = "monitor.db"\nrules = "{(ROOT / "rules").as_posix()}"\n'
                      '[network]\nallow_private = ["127.0.0.1"]\n'
                      '[[feeds]]\nname = "down"\nurl = "http://127.0.0.1:9/feed.xml"\n'
                      '[targets.console]\ntype = "console"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG",
                                                            "JOURNAL_STREAM")}
    for how, extra in (("option", ["--log-format", "json"]), ("env", [])):
        run_env = {**env, "MONITOR_LOG_FORMAT": "json"} if how == "env" else env
        proc = subprocess.run([sys.executable, "-m", "monitor", "check", "-c", str(config),
                               *extra], capture_output=True, text=True, timeout=120,
                              env=run_env, cwd=ROOT)
        assert proc.returncode == 1, proc.stderr  # the feed is down
        logged = [json.loads(line) for line in proc.stderr.splitlines()
                  if line.startswith("{")]
        poll = [r for r in logged if r.get("feed") == "down"]
        assert poll and poll[0]["status"] == "error" and poll[0]["level"] == "WARNING", how
        others = [line for line in proc.stderr.splitlines() if not line.startswith("{")]
        assert all(line.startswith("failed: ") for line in others), others


def test_an_unknown_log_format_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["check", "-c", "x.toml", "--log-format", "xml"])
    assert result.exit_code == 2 and "'xml' is not one of 'text', 'json'" in result.output


SCRIPT = """
import logging, sys
from monitor.cli_tools import setup_logging
setup_logging(0, False, sys.argv[1])
logging.getLogger("monitor.test").warning("feed=%s status=error", "x")
"""


def run_with_stderr_to(path: Path, journal_stream: str | None, log_format: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    with path.open("w") as err:
        subprocess.run([sys.executable, "-c", SCRIPT, log_format], stderr=err, env=env,
                       cwd=ROOT, check=True, timeout=60)
    return path.read_text()


def stream_id(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def test_under_journald_no_timestamp_and_a_priority_prefix(tmp_path: Path) -> None:
    err = tmp_path / "stderr.txt"
    err.touch()
    text = run_with_stderr_to(err, stream_id(err), "text")
    assert text == "<4>WARNING monitor.test feed=x status=error\n"
    line = run_with_stderr_to(err, stream_id(err), "json")
    assert line.startswith("<4>{")
    record = json.loads(line[3:])
    assert "time" not in record and record["feed"] == "x"


def test_a_journal_stream_of_another_file_is_not_journald(tmp_path: Path) -> None:
    err, other = tmp_path / "stderr.txt", tmp_path / "other.txt"
    other.touch()
    text = run_with_stderr_to(err, stream_id(other), "text")
    assert not text.startswith("<") and text.split(" ")[2] == "WARNING", text  # date time lvl
    assert run_with_stderr_to(err, "garbage", "text").split(" ")[2] == "WARNING"
    assert "time" in json.loads(run_with_stderr_to(err, None, "json"))


def test_under_journald_compares_device_and_inode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with path.open("w") as f:
        assert under_journald(f, {"JOURNAL_STREAM": stream_id(path)})
        assert not under_journald(f, {"JOURNAL_STREAM": "0:0"})
        assert not under_journald(f, {})
    assert not under_journald(io.StringIO(), {"JOURNAL_STREAM": stream_id(path)})


@pytest.mark.parametrize(("verbose", "chatty"), [(0, logging.WARNING), (1, logging.WARNING),
                                                  (2, logging.DEBUG)])
def test_chatty_libraries_are_quiet_unless_vv(verbose: int, chatty: int) -> None:
    setup_logging(verbose, False, stream=io.StringIO(), env={})
    assert {"httpx", "httpcore", "trafilatura", "htmldate", "charset_normalizer",
            "apscheduler", "urllib3"} <= set(CHATTY)
    for name in CHATTY:
        assert logging.getLogger(name).level == chatty, name
    assert logging.getLogger("apprise").level == logging.WARNING, "never below: it logs tokens"
    root = logging.getLogger().level
    assert root == (logging.DEBUG if verbose > 1 else logging.INFO)


def test_quiet_logs_warnings_only() -> None:
    stream = io.StringIO()
    setup_logging(0, True, stream=stream, env={})
    logging.getLogger("monitor.x").info("feed=a status=ok")
    logging.getLogger("monitor.x").warning("feed=a status=error")
    assert "status=ok" not in stream.getvalue() and "status=error" in stream.getvalue()
