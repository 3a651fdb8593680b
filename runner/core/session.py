"""One dbt session for `runner build`: freshness, the replay of older batches, then the build.

A dbt snapshot records the state it sees when it runs. When several batches arrive
between two builds, snapshotting once would merge their changes into one version. So
`runner build` first replays every batch not yet snapshotted but the newest, in one
set-based pass (macros/snapshots/replay_snapshots.sql); the build's own snapshot step then
applies the newest batch (its clock is the end of that batch day, see
macros/snapshots/snapshot_get_time.sql). The history is the same however the batches
arrived, and a daily build replays nothing.

Runs as ``python -m runner.core.session SPEC.json``: dbt runs in-process, the project is
parsed once and every step reuses that manifest, so freshness, the replay and
the build do not each pay dbt's start-up and parse. The runner itself stays isolated
from dbt. The outcome is written back to the spec's ``result_path``.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import closing
from pathlib import Path

import psycopg2
from dbt.cli.main import dbtRunner


def _connect():
    conn = psycopg2.connect(
        host=os.environ["WAREHOUSE_HOST"], port=os.environ["WAREHOUSE_PORT"],
        user=os.environ["WAREHOUSE_USER"], password=os.environ["WAREHOUSE_PASSWORD"],
        dbname=os.environ["WAREHOUSE_DB"],
    )
    conn.autocommit = True
    return conn


def _replay(runner: dbtRunner, audit_schema: str, batches: list[str], common: list[str]) -> bool:
    quiet = [*common, "--quiet"]
    # Seeds and the base models the snapshots read (their tests run in the build).
    parents = runner.invoke(
        ["build", "--select", "+resource_type:snapshot", "--exclude", "resource_type:snapshot",
         "--resource-type", "model", "--resource-type", "seed", *quiet]
    )
    if not parents.success:
        print("could not build the snapshots' inputs (seeds and base models)", file=sys.stderr)
        return False
    print(f"snapshots: replaying {len(batches)} older batches ({batches[0]} to {batches[-1]})",
          flush=True)
    # One transaction: the snapshots and the record of the batches they now include.
    replayed = runner.invoke([
        "run-operation", "replay_snapshots",
        "--args", json.dumps({"batches": batches, "audit_schema": audit_schema}), *common,
    ])
    if not replayed.success:
        print("replaying the older batches into the snapshots failed", file=sys.stderr)
    return replayed.success


def _record(conn, audit_schema: str, batch: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"insert into {audit_schema}.snapshot_batches (batch_date) values (%s)", (batch,)
        )


def _snapshots_applied(manifest, build) -> bool:
    """Whether every snapshot of the project ran successfully in this build."""
    snapshots = {uid for uid, node in manifest.nodes.items() if node.resource_type == "snapshot"}
    results = getattr(build.result, "results", None) or []
    done = {r.node.unique_id for r in results if str(r.status) == "success"}
    return bool(snapshots) and snapshots <= done


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    common = ["--project-dir", os.environ["WAREHOUSE_PROJECT_DIR_RESOLVED"]]
    vars_args = spec["vars_args"]
    outcome: dict = {"parsed": False, "freshness_ok": None, "replay_ok": None,
                     "build_returncode": None}

    def finish(code: int) -> int:
        Path(spec["result_path"]).write_text(json.dumps(outcome))
        return code

    # Parsed with the vars the build gets, so dbt's partial-parse state stays valid.
    parsed = dbtRunner().invoke(["parse", *vars_args, *common, "--quiet"])
    if not parsed.success:
        print("dbt could not parse the project", file=sys.stderr)
        return finish(1)
    outcome["parsed"] = True
    runner = dbtRunner(manifest=parsed.result)
    if spec["freshness"]:
        outcome["freshness_ok"] = runner.invoke(["source", "freshness", *vars_args, *common]).success
    older, newest = spec["batches"][:-1], spec["batches"][-1:]
    if older:
        outcome["replay_ok"] = _replay(runner, spec["audit_schema"], older, [*vars_args, *common])
        if not outcome["replay_ok"]:
            return finish(1)
    build = runner.invoke(["build", *spec["build_args"], *vars_args, *common])
    outcome["build_returncode"] = 0 if build.success else (2 if build.exception else 1)
    # The newest batch counts as applied once the build's snapshots ran; if they did not
    # (deselected, failed), the next build applies it.
    if newest and _snapshots_applied(parsed.result, build):
        with closing(_connect()) as conn:
            _record(conn, spec["audit_schema"], newest[0])
    return finish(outcome["build_returncode"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
