"""dbt parses the whole project again when the connection changes; the runner keeps its
partial-parse state per connection, so going back to a warehouse parses only what changed."""

from __future__ import annotations

from conftest import empty_database
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
