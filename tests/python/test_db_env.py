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


def test_db_env_survives_a_home_with_a_quote_and_a_space(warehouse_env, run_cli, tmp_path):
    """`eval` of the exports must give the paths back as they are (old code wrapped them in
    '…' as they came, so O'Brien's home broke the eval and psql found no password file)."""
    import shutil

    home = tmp_path / "o'brien $HOME" / ".warehouse"
    home.mkdir(parents=True)
    for name in ("server.json", "pgpass"):
        shutil.copy2(warehouse_env.home / name, home / name)
    exports = run_cli("db", "env", env={"WAREHOUSE_HOME": str(home)})
    assert exports.exit_code == 0, exports.output
    script = exports.output + '\nprintf "%s\\n" "$PGPASSFILE"\npsql -Atc "select 6 * 7"\n'
    result = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", "/bin/bash", "-c", script],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(home / "pgpass"), "42"]
