"""What a long job prints: one line per phase, a node counter while dbt builds, and a
closing summary. dbt's own log goes to ``logs/build.log`` (what dbt would have printed)
and ``logs/dbt.log`` (debug detail); ``--verbose`` shows dbt's log live instead. Errors
are always printed in full as they happen."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections import Counter
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LAYERS = ("snapshots", "silver", "gold", "observability", "tests")


def phase(name: str, detail: str, seconds: float | None = None) -> None:
    """One line of a job's progress: the phase, what it did, how long it took."""
    took = f"  ({seconds:.1f} s)" if seconds is not None else ""
    print(f"  {name:<10} {detail}{took}", flush=True)


# The build's snapshot replay (models/intermediate/snapshots/int_snapshot_replay.sql).
REPLAY_NODE = "model.warehouse.int_snapshot_replay"


def layer_of(resource_type: str, unique_id: str, path: str) -> str:
    if resource_type in ("test", "unit_test"):
        return "tests"
    if resource_type == "snapshot":
        return "snapshots"
    if unique_id == REPLAY_NODE:
        return "replay"  # its own line, printed by the session
    if unique_id.split(".")[1] != "warehouse":
        return "observability"
    return "gold" if path.startswith("marts/") else "silver"


def _seconds(started: str, finished: str) -> tuple[float, float] | None:
    try:
        return (dt.datetime.fromisoformat(started).timestamp(),
                dt.datetime.fromisoformat(finished).timestamp())
    except (TypeError, ValueError):  # a skipped node never finished
        return None


class DbtProgress:
    """A dbtRunner callback: writes dbt's log lines to a file, counts finished nodes on a
    terminal, prints errors in full, and keeps each node's layer, status and times."""

    def __init__(self, log_path: Path, verbose: bool) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # UTF-8 whatever the locale, and a character that cannot be written (a surrogate
        # from undecodable bytes) is escaped rather than stopping the build.
        self.log = log_path.open("w", encoding="utf-8", errors="backslashreplace")
        self.verbose = verbose
        self.counting = sys.stdout.isatty() and not verbose
        self.total = self.done = 0
        self.nodes: dict[str, dict] = {}
        self._counter_shown = False
        self._after_error = False
        self.errors_shown = 0

    def __call__(self, msg) -> None:
        info = msg.info
        if info.name == "LogStartLine":
            if msg.data.index == 1:  # a new dbt invocation: count its nodes afresh
                self._clear_counter()
                self.done = 0
            self.total = msg.data.total
        elif info.name == "NodeFinished":
            self._finished(msg.data.node_info)
        # An error in full, and where a failing test's rows are (not a warned test's).
        if info.level == "error" or (info.name == "CheckNodeTestFailure" and self._after_error):
            if not self.verbose:
                self._clear_counter()
                print(ANSI.sub("", info.msg), file=sys.stderr, flush=True)
            self.errors_shown += 1
        if info.level in ("info", "warn", "error"):
            self.log.write(ANSI.sub("", info.msg) + "\n")
            self._after_error = info.level == "error"

    def _finished(self, node) -> None:
        if node.resource_type not in ("model", "seed", "snapshot", "test", "unit_test"):
            return
        self.nodes[node.unique_id] = {
            "name": node.node_name, "status": node.node_status,
            "layer": layer_of(node.resource_type, node.unique_id, node.node_path),
            "span": _seconds(node.node_started_at, node.node_finished_at),
        }
        self.done += 1
        if self.counting and self.total:
            print(f"\r  {'build':<10} {self.done}/{self.total} nodes", end="", flush=True)
            self._counter_shown = True

    def _clear_counter(self) -> None:
        if self._counter_shown:
            print("\r\x1b[2K", end="", flush=True)
            self._counter_shown = False

    def layers(self) -> dict[str, dict]:
        """Per layer: wall-clock span, statuses, and the warned/failed names."""
        self._clear_counter()
        out: dict[str, dict] = {}
        for node in self.nodes.values():
            layer = out.setdefault(node["layer"], {"statuses": Counter(), "start": None,
                                                   "end": None, "named": {}})
            layer["statuses"][node["status"]] += 1
            if node["status"] in ("warn", "fail", "error"):
                layer["named"].setdefault(node["status"], []).append(node["name"])
            if node["span"]:
                start, end = node["span"]
                layer["start"] = min(start, layer["start"] or start)
                layer["end"] = max(end, layer["end"] or end)
        for layer in out.values():
            layer["seconds"] = (layer["end"] - layer["start"]) if layer["start"] else None
        return out

    def close(self) -> None:
        self._clear_counter()
        self.log.close()


def print_layers(layers: dict[str, dict]) -> None:
    """The build's lines: models per layer, then the tests."""
    for name in LAYERS:
        layer = layers.get(name)
        if not layer:
            continue
        statuses = layer["statuses"]
        if name == "tests":
            detail = (f"{statuses.get('pass', 0)} passed, {statuses.get('warn', 0)} warned, "
                      f"{statuses.get('fail', 0) + statuses.get('error', 0)} failed")
        else:
            kind = "snapshots" if name == "snapshots" else "models"
            detail = f"{statuses.get('success', 0)} {kind} built"
            broken = statuses.get("error", 0)
            if broken:
                detail += f", {broken} failed"
        if statuses.get("skipped"):
            detail += f", {statuses['skipped']} skipped"
        phase(name, detail, layer["seconds"])
        for status, label in (("warn", "warned"), ("fail", "failed"), ("error", "failed")):
            names = sorted(layer["named"].get(status, []))
            if names:
                print(f"  {'':<10} {label}: {', '.join(names)}", flush=True)
