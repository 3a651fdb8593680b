"""Every command has help text and a README entry; the root options behave."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from runner import __version__
from runner.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def walk(group, prefix=()):
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from walk(command, path)


COMMANDS = list(walk(cli))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help_and_readme_entry(path, command, run_cli):
    assert (command.help or "").strip(), f"runner {' '.join(path)} has no help text"
    result = run_cli(*path, "--help")
    assert result.exit_code == 0
    assert "Usage: runner " + " ".join(path) in result.output
    assert f"runner {' '.join(path)}" in README, f"README does not mention runner {' '.join(path)}"


def test_version_and_short_help(run_cli):
    assert run_cli("--version").output.strip() == f"runner, version {__version__}"
    assert "Commands:" in run_cli("-h").output


def test_unknown_command_is_a_usage_error(run_cli):
    result = run_cli("nonsense")
    assert result.exit_code == 2
    assert "No such command 'nonsense'" in result.output


def test_unexpected_errors_are_one_line_without_debug(run_cli, monkeypatch):
    import runner.commands.db as db_module

    def explode():
        raise RuntimeError("boom")

    monkeypatch.setattr(db_module, "load_settings", explode)
    result = run_cli("db", "status")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: unexpected RuntimeError: boom. Rerun with `runner --debug …` for the "
        "traceback and report it.")
    with pytest.raises(RuntimeError):
        run_cli("--debug", "db", "status")
