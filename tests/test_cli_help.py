"""`--help` explains every option, and the README's CLI section cannot drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
CLI_SECTION = README.split("## CLI", 1)[1].split("\n## ", 1)[0]


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found += commands(command, f"{full} ")
        else:
            found.append((full, command))
    return found


ALL = commands(cli)


def test_python_dash_m_monitor_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name in cli.commands:
        assert name in out


@pytest.mark.parametrize(("name", "command"), ALL, ids=[n for n, _ in ALL])
def test_every_option_is_explained_in_help_and_readme(name: str, command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0
    assert f"monitor {name}" in CLI_SECTION, f"README CLI section lacks `monitor {name}`"
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        assert param.help, f"{name} {param.opts} has no help text"
        long = max(param.opts, key=len)
        assert long in result.output
        assert long in CLI_SECTION, f"README CLI section lacks {long} of `monitor {name}`"


def test_check_help_names_exit_codes_and_dry_run() -> None:
    out = CliRunner().invoke(cli, ["check", "--help"]).output
    assert "--dry-run" in out and "Exit 0" in out and "2 for a config" in out
