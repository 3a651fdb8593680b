"""The production roles work end to end: after `runner db roles` the runner loads and
builds as `transformer` (even a warehouse the superuser built) and backs up as `backup`;
the PII salt never lands in dbt's artifacts or log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from conftest import PROJECT_DIR, empty_database, query
from runner.core import dbt
from runner.core import generate as gen

SALT = "s3cret salt-7f1e2d"


def owners(settings):
    return {row[0] for row in query(settings, """
        select distinct tableowner from pg_tables
        where schemaname in ('bronze', 'silver', 'gold', 'snapshots', 'audit')""")}


def test_transformer_builds_a_warehouse_the_superuser_built(database, tmp_path, run_cli):
    landing = tmp_path / "landing"
    state = gen.generate(landing, seed=5, scale=0.01)
    assert run_cli("load", "--landing", str(landing)).exit_code == 0
    first = run_cli("build", "--skip-freshness")
    assert first.exit_code == 0, first.output
    assert "public demo salt" in first.stderr
    assert owners(database) == {"postgres"}

    result = run_cli("db", "roles")
    assert result.exit_code == 0, result.output
    try:
        assert owners(database) == {"transformer"}
        day = dt.date.fromisoformat(state.batches[-1]) + dt.timedelta(days=1)
        stores = sorted(landing.glob("erp__stores__*.csv"))[-1].read_text()
        (landing / f"erp__stores__{day}.csv").write_text(stores)
        assert run_cli("load", "--landing", str(landing)).exit_code == 0
        assert query(database, "select count(*) from bronze.load_log where file_name = %s",
                     (f"erp__stores__{day}.csv",)) == [(1,)]

        # Plain dbt as the superuser meanwhile: the next runner build takes its tables over.
        assert dbt.run_dbt(database, ["run", "--select", "dim_date"], capture=True).returncode == 0
        assert query(database, "select tableowner from pg_tables where tablename = 'dim_date'") \
            == [("postgres",)]
        built = run_cli("build", "--skip-freshness", "--full-refresh",
                        env={"WAREHOUSE_PII_SALT": SALT})
        assert built.exit_code == 0, built.output
        assert "public demo salt" not in built.stderr
        assert owners(database) == {"transformer"}

        email, email_hash = query(database, """
            select customers.email, dim.email_hash
            from gold.dim_customers as dim
            join silver.stg_crm__customers as customers using (customer_id)
            where customers.email is not null and dim.is_current limit 1""")[0]
        assert email_hash == hashlib.sha256((SALT + email).encode()).hexdigest()
        for folder in ("target", "logs"):
            for path in (PROJECT_DIR / folder).rglob("*"):
                if path.is_file() and path.stat().st_size < 50_000_000:
                    assert SALT.encode() not in path.read_bytes(), path

        backup = run_cli("backup", "--dest", str(tmp_path / "backups"))
        assert backup.exit_code == 0, backup.output
        manifest = json.loads(next((tmp_path / "backups").glob("*/manifest.json")).read_text())
        assert manifest["row_counts"]["gold.fct_orders"] > 0
        assert manifest["server"]["user"] == "backup"

        # A restored database is new: the runner hands it to the transformer again.
        backup_id = manifest["backup_id"]
        restored = run_cli("restore", backup_id, "--dest", str(tmp_path / "backups"), "--yes",
                           "--target-db", f"{database.dbname}_r")
        assert restored.exit_code == 0, restored.output
        assert owners(database.with_database(f"{database.dbname}_r")) == {"transformer"}
        empty_database(database, f"{database.dbname}_r")  # (re-created empty: tidy)
    finally:
        (database.home / "roles.json").unlink(missing_ok=True)
