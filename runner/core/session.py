"""One dbt session for `runner build`: freshness, the snapshot replay, then the build.

A dbt snapshot records the state it sees when it runs. When several batches arrive
between two builds, snapshotting once would merge their changes into one version. So
`runner build` first replays every batch not yet snapshotted, in one set-based pass
(macros/snapshots/replay_snapshots.sql) that asks each batch only for the keys it brought
rows for; each batch's clock is the end of its day, as the build's own snapshot step would
use (macros/snapshots/snapshot_get_time.sql). The history is the same however the batches
arrived. The build then leaves the snapshot nodes out when the runner says they are
current (`build_args`): run again, dbt's snapshot would find nothing new, after comparing
every current version with its source (the longest step of a daily build at scale 5).

Runs as ``python -m runner.core.session SPEC.json``: dbt runs in-process, the project is
parsed once and every step reuses that manifest, so freshness, the replay and
the build do not each pay dbt's start-up and parse. The runner itself stays isolated
from dbt. The outcome is written back to the spec's ``result_path``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

# Garbage collection took about 1.2 s of a 15 s daily build: a young-generation pass every
# 700 new objects (over a thousand of them) and full passes that walked everything dbt had
# parsed. Young passes every 50,000 objects (the older generations' passes rarer too) and
# freezing the parsed project (it lives until this process ends) leave 0.4 s;
# `_exit_without_collecting` saves the last pass at exit.
gc.set_threshold(50_000, 20, 100)

from dbt.cli.main import dbtRunner  # noqa: E402 (after the threshold: the import allocates)


def _timed(name: str, outcome: dict, result) -> None:
    """Seconds of one invocation and, of them, Elementary's hooks (for runner bench)."""
    nodes = getattr(result.result, "results", None) or []
    outcome.setdefault("invocations", {})[name] = {
        "seconds": getattr(result.result, "elapsed_time", None),
        "elementary_hooks_s": sum(
            node.execution_time for node in nodes
            if getattr(getattr(node, "node", None), "unique_id", "").startswith("operation.elementary")),
        "elementary_tests_s": sum(
            node.execution_time for node in nodes
            if ".elementary_" in getattr(getattr(node, "node", None), "unique_id", "")),
    }


def _replay(runner: dbtRunner, spec: dict, common: list[str], outcome: dict) -> bool:
    audit_schema, batches = spec["audit_schema"], spec["batches"]
    # Seeds and the base models the snapshots read (their tests run in the build, which
    # leaves these nodes out).
    parents = runner.invoke(
        ["build", "--select", *spec["snapshot_inputs"], "--resource-type", "model",
         "--resource-type", "seed", *(["--full-refresh"] if spec["full_refresh"] else []),
         *common, "--quiet"]
    )
    _timed("inputs", outcome, parents)
    if not parents.success:
        print("could not build the snapshots' inputs (seeds and base models)", file=sys.stderr)
        return False
    span = batches[0] if len(batches) == 1 else f"{batches[0]} to {batches[-1]}"
    if spec["late"]:
        print(f"snapshots: late batch(es) {', '.join(spec['late'])} arrived after newer ones; "
              f"re-deriving the history from all {len(batches)} batches and rebuilding "
              "what reads it (full refresh)", flush=True)
    else:
        print(f"snapshots: applying {len(batches)} batch(es) ({span})", flush=True)
    # One transaction: the snapshots and the record of the batches they now include.
    replayed = runner.invoke([
        "run-operation", "replay_snapshots",
        "--args", json.dumps({"batches": batches, "audit_schema": audit_schema,
                              "rebuild": bool(spec["late"])}), *common,
    ])
    if not replayed.success:
        print("replaying the batches into the snapshots failed", file=sys.stderr)
    return replayed.success


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    common = ["--project-dir", os.environ["WAREHOUSE_PROJECT_DIR_RESOLVED"]]
    vars_args = spec["vars_args"]
    outcome: dict = {"parsed": False, "freshness_ok": None, "replay_ok": None,
                     "replay_s": 0.0, "build_returncode": None}

    def finish(code: int) -> int:
        Path(spec["result_path"]).write_text(json.dumps(outcome))
        return code

    # Parsed with the vars the build gets, so dbt's partial-parse state stays valid.
    parsed = dbtRunner().invoke(["parse", *vars_args, *common, "--quiet"])
    if not parsed.success:
        print("dbt could not parse the project", file=sys.stderr)
        return finish(1)
    outcome["parsed"] = True
    gc.freeze()  # the parsed project, kept to the end: no collection walks it again
    runner = dbtRunner(manifest=parsed.result)
    if spec["freshness"]:
        freshness = runner.invoke(["source", "freshness", *spec["early_vars_args"], *common])
        _timed("freshness", outcome, freshness)
        outcome["freshness_ok"] = freshness.success
    if spec["batches"]:
        started = time.perf_counter()
        outcome["replay_ok"] = _replay(runner, spec, [*spec["early_vars_args"], *common], outcome)
        outcome["replay_s"] = time.perf_counter() - started
        if not outcome["replay_ok"]:
            return finish(1)
    build = runner.invoke(["build", *spec["build_args"], *vars_args, *common])
    outcome["build_returncode"] = 0 if build.success else (2 if build.exception else 1)
    if build.result is not None:
        _timed("build", outcome, build)
    return finish(outcome["build_returncode"])


def _exit_without_collecting(code: int) -> None:
    # The interpreter's last full collection at exit walked every object dbt made (0.45 s
    # on a daily build). Frozen objects are skipped; the operating system frees them.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    _exit_without_collecting(main(sys.argv[1]))
