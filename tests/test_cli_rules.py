"""`monitor rules test`: the shipped examples pass; a failing example or a broken file is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def rules_test(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "rules", "test", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_shipped_rules_pass() -> None:
    result = rules_test()
    assert result.returncode == 0, result.stdout + result.stderr
    passed, failed = result.stdout.strip().splitlines()[-1].split(", ")
    assert int(passed.split()[0]) >= 100 and failed == "0 failed"


RULES = """\
entities:
  - {id: tanf, kind: base, name: Al-Tanf Garrison, aliases: [Tanf]}
terms:
  attack: [drone, rocket]
rules:
  - {id: base-attack, title: Base attack, severity: high,
     all: [{kind: base}, {terms: attack}]}
examples:
  - text: A drone struck the Tanf garrison.
    expect: [base-attack]
  - text: Rockets were fired, but nowhere near a base.
    expect: [base-attack]
"""


def test_a_failing_example_is_named_with_why_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "watch.yaml").write_text(RULES, encoding="utf-8")
    result = rules_test(str(tmp_path))
    assert result.returncode == 1
    fail_lines = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fail_lines) == 1
    assert "watch.yaml" in fail_lines[0] and "base-attack" in fail_lines[0]
    assert result.stdout.strip().endswith("1 passed, 1 failed")


def test_a_broken_file_exits_2_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "watch.yaml").write_text(RULES.replace("{terms: attack}", "{terms: atack}"),
                                         encoding="utf-8")
    result = rules_test(str(tmp_path))
    assert result.returncode == 2
    assert "watch.yaml:7" in result.stderr and "atack" in result.stderr
