"""One dbt session for `runner build`: freshness, then the build, which replays new batches.

A dbt snapshot records the state it sees when it runs. When several batches arrive
between two builds, snapshotting once would merge their changes into one version. So
`runner build` replays every batch not yet snapshotted, in one set-based pass
(macros/snapshots/replay_snapshots.sql) that asks each batch only for the keys it brought
rows for, as the build's node int_snapshot_replay (so the order models build meanwhile);
each batch's clock is the end of its day, as the build's own snapshot step would use
(macros/snapshots/snapshot_get_time.sql). The history is the same however the batches
arrived. The build then leaves the snapshot nodes out when the runner says they are
current (`build_args`): run again, dbt's snapshot would find nothing new, after comparing
every current version with its source (the longest step of a daily build at scale 5).

Runs as ``python -m runner.core.session SPEC.json``: dbt runs in-process, the project is
parsed once and every step reuses that manifest, so freshness and the build do not each
pay dbt's start-up and parse. The runner itself stays isolated from dbt. The outcome is
written back to the spec's ``result_path``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

# dbt allocates millions of long-lived objects: collect young objects rarely, and freeze
# the parsed project (it lives until the process ends) so no pass walks it again
# (DECISIONS.md, "One dbt process per build").
gc.set_threshold(50_000, 20, 100)

from dbt.cli.main import dbtRunner  # noqa: E402 (after the threshold: the import allocates)

from runner.core.progress import REPLAY_NODE, DbtProgress, phase, print_layers  # noqa: E402


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


def _freshness_line(result, seconds: float) -> None:
    statuses = [(str(r.status), f"{r.node.source_name}.{r.node.name}")
                for r in (getattr(result.result, "results", None) or [])
                if r.node.resource_type == "source"]
    late = [name for status, name in statuses if status != "pass"]
    detail = f"{len(statuses) - len(late)} of {len(statuses)} sources fresh"
    if late:
        detail += f"; late or unchecked: {', '.join(sorted(late))} (see logs/build.log)"
    phase("freshness", detail, seconds)


def _replay_line(spec: dict, build, outcome: dict) -> None:
    """The snapshots line, from the replay node of the build (int_snapshot_replay)."""
    results = getattr(build.result, "results", None) or []
    node = next((r for r in results if r.node.unique_id == REPLAY_NODE), None)
    outcome["replay_ok"] = node is not None and str(node.status) == "success"
    outcome["replay_s"] = node.execution_time if node is not None else 0.0
    if not outcome["replay_ok"]:
        print("replaying the batches into the snapshots failed"
              + ("" if node is not None else " (the replay did not run)"), file=sys.stderr)
        return
    batches = spec["batches"]
    span = batches[0] if len(batches) == 1 else f"{batches[0]} to {batches[-1]}"
    detail = f"{len(batches)} batch(es) applied ({span})"
    if spec["late"]:
        detail += (f"; late batch(es) {', '.join(spec['late'])} got files after newer or the "
                   "same batches were applied, so " + (
                       "the history was re-derived from every batch and gold is rebuilt in full"
                       if spec["rebuild"] else
                       "the keys they touch were re-derived and gold rewrites what they changed"))
    phase("snapshots", detail, outcome["replay_s"])


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    project = os.environ["WAREHOUSE_PROJECT_DIR_RESOLVED"]
    # dbt's console log only with --verbose; its lines go to logs/build.log either way.
    quiet = [] if spec["verbose"] else ["--log-level", "none", "--log-level-file", "debug"]
    common = ["--project-dir", project, *quiet]
    progress = DbtProgress(Path(project) / "logs" / "build.log", spec["verbose"])
    vars_args = spec["vars_args"]
    outcome: dict = {"parsed": False, "freshness_ok": None, "replay_ok": None,
                     "replay_s": 0.0, "build_returncode": None}

    def finish(code: int) -> int:
        progress.close()
        Path(spec["result_path"]).write_text(json.dumps(outcome))
        return code

    # Parsed with the vars the build gets, so dbt's partial-parse state stays valid.
    parsed = dbtRunner(callbacks=[progress]).invoke(["parse", *vars_args, *common, "--quiet"])
    if not parsed.success:
        print(f"dbt could not parse the project: {parsed.exception}", file=sys.stderr)
        return finish(1)
    outcome["parsed"] = True
    gc.freeze()  # the parsed project, kept to the end: no collection walks it again
    runner = dbtRunner(manifest=parsed.result, callbacks=[progress])
    if spec["freshness"]:
        started = time.perf_counter()
        freshness = runner.invoke(["source", "freshness", *spec["early_vars_args"], *common])
        _timed("freshness", outcome, freshness)
        outcome["freshness_ok"] = freshness.success
        _freshness_line(freshness, time.perf_counter() - started)
    shown = progress.errors_shown
    if spec["replay_first"]:
        # It and its inputs, seeds included; their tests run in the user's selection.
        replayed = runner.invoke(["build", "--select", "+int_snapshot_replay",
                                  "--resource-type", "model", "--resource-type", "seed",
                                  *spec["build_vars_args"], *common, "--quiet"])
        _replay_line(spec, replayed, outcome)
        if not outcome["replay_ok"]:
            return finish(1)
    # The same vars, and what to replay (int_snapshot_replay): the parsed project stays valid.
    build_vars = spec["vars_args"] if spec["replay_first"] else spec["build_vars_args"]
    build = runner.invoke(["build", *spec["build_args"], *build_vars, *common])
    outcome["build_returncode"] = 0 if build.success else (2 if build.exception else 1)
    if build.exception and progress.errors_shown == shown:  # else its message is shown already
        print(f"dbt stopped: {build.exception}", file=sys.stderr, flush=True)
    if build.result is not None:
        _timed("build", outcome, build)
        if spec["batches"] and not spec["replay_first"]:
            _replay_line(spec, build, outcome)
    print_layers(progress.layers())
    return finish(outcome["build_returncode"])


def _exit_without_collecting(code: int) -> None:
    # The interpreter's last full collection at exit would walk every object dbt made;
    # frozen objects are skipped and the operating system frees them.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    _exit_without_collecting(main(sys.argv[1]))
