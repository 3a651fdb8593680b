"""The documented examples work: every shell line and SQL block of README.md and docs/*.md
(and the examples column of the README's command table) is taken from the text and run,
in the order written, on one small warehouse built for this module.

Every `runner` example is first checked against the CLI itself (the command exists, its
options and values parse), whether it runs here or not. An example that cannot run here
(an external server or a Citus cluster, the Elementary mirror, an interactive session,
a whole demo or benchmark) is skipped with its reason, listed in SKIPS below; paths under
/tmp and /srv are kept inside this test's scratch folder, and the placeholder ID (or the
sample backup id) becomes the backup the examples took.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import psycopg2
import pytest

from conftest import PROJECT_DIR
from runner.cli import cli
from runner.core import backup as backups

DOCS = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
SHELL = ("bash", "sh", "shell", "console")
# (pattern of a line or of its whole block, why it does not run here)
SKIPS = [
    (r"coordinator|\.internal|WAREHOUSE_CITUS_DSN|export WAREHOUSE_DSN|citus",
     "needs an external server or a Citus cluster"),
    (r"observe install|observe uninstall|runner alerts|runner report|observability-from",
     "needs the Elementary package (a mirror or the dbt hub)"),
    (r"^make (demo|test)\b", "the whole demo or test suite: CI runs it"),
    (r"^runner demo\b", "builds a warehouse from landing/: `make demo` is this example"),
    (r"^runner bench\b", "builds warehouses at several scales (minutes): test_bench.py"),
    (r"^runner lint\b", "`make test` lints"),
    (r"^runner db roles\b", "creates logins on the server: test_roles.py"),
    (r"^runner db psql\s*$|&& psql\s*$", "an interactive psql session"),
    (r"^runner docs(?!.*--no-serve)", "serves until stopped: test_docs.py fetches the site"),
    (r"^runner daily\b", "a whole night with a webhook: test_daily.py"),
    (r"--full-refresh|full_tests|planner_hints",
     "rebuilds every model from scratch (minutes): test_progress.py, test_gold_history.py"),
    (r"^runner build\s*$|--skip-freshness",
     "this module's warehouse is built with it (`runner load && runner build`)"),
    (r"^runner load --landing /tmp/landing",
     "a second sample under the loaded files' names: the loader refuses it by design"),
    (r"--dest /srv/backups", "reads the backups of a production folder"),
    (r"--as analyst", "the analyst login of `runner db roles` (skipped above): "
                      "test_db.py::test_url_as_analyst_connects_with_its_own_password_file"),
    (r"--state prod-artifacts", "a production manifest the CI downloads: test_ci.py"),
]
# Run last, in the order written: they take months out of bronze.
LAST = re.compile(r"^runner partitions (retain|restore)\b")


def _code(text: str) -> str:
    return re.sub(r"\s+#.*$", "", text).strip()


def examples() -> list[tuple[str, str, str, str]]:
    """(where, kind, example, the block it is part of) in document order."""
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in re.finditer(r"```(\w+)\n(.*?)```", text, re.S):
            lang, block = match.group(1), match.group(2)
            where = f"{path.name}:{text[:match.start()].count(chr(10)) + 1}"
            if lang == "sql":
                found.append((where, "sql", block, block))
            elif lang in SHELL:
                for line in block.splitlines():
                    if _code(line):
                        found.append((where, "shell", _code(line), block))
        if path.name == "README.md":
            for number, line in enumerate(text.splitlines(), 1):
                cells = line.split("|")
                if line.startswith("| `runner") and len(cells) > 2:
                    for span in re.findall(r"`([^`]+)`", cells[2]):
                        if span.startswith(("runner ", "eval ")):
                            found.append((f"README.md:{number}", "shell", span, span))
    return found


def skip_reason(where: str, example: str, block: str) -> str | None:
    if where.startswith("scaling-out.md"):
        return "needs a Citus cluster"
    for pattern, reason in SKIPS:
        # The external-server pattern holds for its whole block (an `export` before it).
        if re.search(pattern, block if pattern is SKIPS[0][0] else example, re.M):
            return reason
    return None


def runner_calls(example: str) -> list[list[str]]:
    calls = []
    for part in re.split(r"&&|\|\||;", example):
        inner = re.search(r"\$\((runner [^)]*)\)", part)
        words = shlex.split(inner.group(1) if inner else part.strip())
        if words and words[0] == "runner":
            calls.append(words[1:])
    return calls


def check_parses(args: list[str]) -> None:
    """Raise click's UsageError when the command or an option does not exist or a value
    does not parse (nothing runs)."""
    command, name, rest = cli, "runner", list(args)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        name, command, rest = rest[0], command.commands[rest[0]], rest[1:]
    assert command is not cli, f"no such command: runner {' '.join(args)}"
    try:
        command.make_context(name, rest).close()
    except click.BadParameter as error:
        # A path that exists only where the example is meant to run (/srv/...).
        if not isinstance(getattr(error.param, "type", None), click.Path):
            raise


def test_every_runner_example_parses():
    calls = [(where, call) for where, kind, example, _ in examples() if kind == "shell"
             for call in runner_calls(example)]
    assert len(calls) > 40
    for where, call in calls:
        try:
            check_parses(call)
        except click.UsageError as error:
            pytest.fail(f"{where}: runner {' '.join(call)}: {error}")


@pytest.fixture(scope="module")
def built(database, tmp_path_factory):
    """One small warehouse, built the documented way, and the environment the examples
    run in (scratch folders for landing, backups and metrics)."""
    scratch = tmp_path_factory.mktemp("examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "WAREHOUSE_DB": database.dbname, "WAREHOUSE_LANDING": str(scratch / "landing"),
           "WAREHOUSE_BACKUP_DIR": str(scratch / "backups"),
           "WAREHOUSE_METRICS_FILE": str(scratch / "metrics" / "warehouse.prom"),
           "WAREHOUSE_PII_SALT": "examples"}
    for line in ("runner generate --scale 0.01", "runner load && runner build"):
        result = subprocess.run(["/bin/bash", "-c", line], env=env, cwd=PROJECT_DIR,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return database, env, scratch


def _localised(example: str, scratch: Path) -> str:
    example = example.replace("/tmp/", f"{scratch}/tmp/").replace("/srv/", f"{scratch}/srv/")
    found = backups.list_backups(scratch / "backups")
    if found:
        example = re.sub(r"\bID\b|\b\d{8}T\d{6}Z-nightly\b", found[0].backup_id, example)
    return example


def test_every_documented_example_runs(built):
    settings, env, scratch = built
    (scratch / "tmp").mkdir()
    ran, skipped, failed = [], [], []
    todo = [e for e in examples() if not (e[1] == "shell" and LAST.search(e[2]))]
    todo += [e for e in examples() if e[1] == "shell" and LAST.search(e[2])]
    for where, kind, example, block in todo:
        reason = skip_reason(where, example, block)
        if reason:
            skipped.append(f"{where} {example.splitlines()[0][:60]}: {reason}")
            continue
        if kind == "sql":
            conn = psycopg2.connect(**settings.connect_kwargs())
            try:
                with conn.cursor() as cur:
                    cur.execute(example)
                    if cur.description:
                        cur.fetchall()
            except psycopg2.Error as error:
                failed.append(f"{where} sql: {error}")
            finally:
                conn.rollback()
                conn.close()
        else:
            result = subprocess.run(["/bin/bash", "-c", _localised(example, scratch)],
                                    env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                failed.append(f"{where} {example}: exit {result.returncode}: "
                              f"{(result.stderr or result.stdout)[-600:]}")
        ran.append(f"{where} {example.splitlines()[0][:60]}")
    print(f"{len(ran)} examples ran, {len(skipped)} skipped:", *skipped, sep="\n  ")
    assert not failed, "\n".join(failed)
    assert len(ran) > 30
