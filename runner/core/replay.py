"""Apply the snapshots once per load batch, each seeing the sources as of that batch.

A dbt snapshot records the state it sees when it runs. When several batches arrive
between two builds, snapshotting once would merge their changes into one version. So
`runner build` replays every batch not yet snapshotted, oldest first, with
var('as_of_batch'); the history is then the same however the batches arrived.

Runs as ``python -m runner.core.replay BATCH...`` so dbt runs in-process once per batch
(without paying dbt's start-up for each) while the runner stays isolated from dbt.
"""

from __future__ import annotations

import json
import os
import sys

import psycopg2
from dbt.cli.main import dbtRunner


def main(argv: list[str]) -> int:
    audit_schema, batches = argv[0], argv[1:]
    project_dir = os.environ["WAREHOUSE_PROJECT_DIR_RESOLVED"]
    common = ["--project-dir", project_dir, "--quiet"]
    # Parse once and reuse the manifest: a new --vars would otherwise re-parse the
    # whole project for every batch. var('as_of_batch') is read when each snapshot's SQL
    # is compiled, so the reused manifest still sees each batch's value.
    parsed = dbtRunner().invoke(["parse", *common])
    if not parsed.success:
        print("dbt could not parse the project", file=sys.stderr)
        return 1
    runner = dbtRunner(manifest=parsed.result)
    parents = runner.invoke(
        ["build", "--select", "+resource_type:snapshot", "--exclude", "resource_type:snapshot",
         "--indirect-selection", "cautious", *common]
    )
    if not parents.success:
        print("could not build the snapshots' inputs (seeds and base views)", file=sys.stderr)
        return 1
    conn = psycopg2.connect(
        host=os.environ["WAREHOUSE_HOST"], port=os.environ["WAREHOUSE_PORT"],
        user=os.environ["WAREHOUSE_USER"], password=os.environ["WAREHOUSE_PASSWORD"],
        dbname=os.environ["WAREHOUSE_DB"],
    )
    conn.autocommit = True
    try:
        for number, batch in enumerate(batches, start=1):
            print(f"snapshots as of batch {batch} ({number}/{len(batches)})", flush=True)
            result = runner.invoke(
                ["snapshot", "--vars", json.dumps({"as_of_batch": batch}), *common]
            )
            if not result.success:
                print(f"snapshots failed for batch {batch}", file=sys.stderr)
                return 1
            with conn.cursor() as cur:
                cur.execute(
                    f"insert into {audit_schema}.snapshot_batches (batch_date) values (%s)",
                    (batch,),
                )
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
