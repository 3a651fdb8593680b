"""dbt parses the whole project again when the connection changes; the runner keeps its
partial-parse state per connection, so going back to a warehouse parses only what changed."""

from __future__ import annotations

import shutil
from dataclasses import replace

from conftest import PROJECT_DIR, copy_project, empty_database
from runner.core import dbt


def parse(settings) -> str:
    result = dbt.run_dbt(settings, ["parse"], capture=True)
    assert result.returncode == 0, result.stdout[-2000:]
    return result.stdout


def test_going_back_to_a_warehouse_does_not_parse_everything_again(warehouse_env):
    first, second = (empty_database(warehouse_env, f"parse_{name}") for name in ("a", "b"))
    parse(first)
    assert "profile has changed" in parse(second)  # dbt's own state is for the other one
    again = parse(first)
    assert "Unable to do partial parsing" not in again, again[-2000:]
    assert "Unable to do partial parsing" not in parse(second)


def test_a_change_of_packages_parses_afresh_instead_of_failing(warehouse_env, tmp_path):
    """Installing or removing a package (Elementary) drops the kept states, which dbt must
    then not be pointed at: it refuses a --partial-parse-file-path that does not exist."""
    project = copy_project(PROJECT_DIR, tmp_path / "warehouse", "dbt_packages")
    settings = replace(empty_database(warehouse_env, "parse_packages"), project_dir=project)
    parse(settings)  # leaves a kept state for this connection
    package = project / "dbt_packages" / "tiny"
    package.mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: tiny\nversion: '1.0'\nconfig-version: 2\n")
    assert "Unable to do partial parsing" in parse(settings)
    shutil.rmtree(package)
    assert "Unable to do partial parsing" in parse(settings)
