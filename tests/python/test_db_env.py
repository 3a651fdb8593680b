"""`eval "$(runner db env)"` is enough for the documented psql/pg_dump examples: the bundled
client tools come first on PATH, so no system PostgreSQL client (or an older one that
refuses the version-18 server) is needed."""

from __future__ import annotations

import subprocess


def test_db_env_puts_the_bundled_client_tools_on_path(warehouse_env, run_cli):
    exports = run_cli("db", "env")
    assert exports.exit_code == 0, exports.output
    script = (exports.output + "\ncommand -v pg_dump\npg_dump --version\n"
              "psql -Atc 'select 6 * 7'\npg_dump -s -t pg_catalog.pg_class >/dev/null && echo dumped\n")
    # Only the basic system folders, which may or may not hold another client.
    result = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", "/bin/bash", "-c", script],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    where, version, answer, dumped = result.stdout.splitlines()
    assert not where.startswith(("/usr/bin", "/bin"))
    assert "18." in version and answer == "42" and dumped == "dumped"
