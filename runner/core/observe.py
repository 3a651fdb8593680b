"""Elementary observability, switched on by the presence of its dbt package.

dbt loads every package folder under ``dbt_packages/`` even without a packages.yml
entry, so the warehouse builds with no package at all and records run and test results
in the ``elementary`` schema as soon as the package is there. ``install`` puts the
pinned package (and dbt_utils, which edr's own dbt project needs) there, from a local
mirror folder or, when reachable, the dbt hub. ``report`` runs ``edr report`` without
ever letting it run ``dbt deps``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runner.core import dbt
from runner.errors import WarehouseError
from runner.settings import Settings

ELEMENTARY_VERSION = "0.25.1"
DBT_UTILS_VERSION = "0.8.6"
PACKAGES = ("elementary", "dbt_utils")
IGNORE = shutil.ignore_patterns("integration_tests", ".git", ".github", "docs", "*.png")
OFF_MESSAGE = (
    "observability is off: the Elementary dbt package is not installed. Turn it on with "
    "`runner observe install --from DIR` (a folder holding elementary/ and dbt_utils/), "
    "or `runner observe install` where the dbt hub is reachable."
)


def packages_dir(settings: Settings) -> Path:
    return settings.project_dir / "dbt_packages"


def _project_version(folder: Path) -> tuple[str | None, str | None]:
    text = (folder / "dbt_project.yml").read_text()
    name = re.search(r"^name:\s*['\"]?([\w-]+)", text, re.M)
    version = re.search(r"^version:\s*['\"]?([\w.]+)", text, re.M)
    return (name.group(1) if name else None, version.group(1) if version else None)


@dataclass
class ObserveStatus:
    enabled: bool
    version: str | None
    path: Path
    schema: str


def status(settings: Settings) -> ObserveStatus:
    folder = packages_dir(settings) / "elementary"
    version = None
    if (folder / "dbt_project.yml").exists():
        version = _project_version(folder)[1]
    return ObserveStatus(version is not None, version, folder,
                         settings.layer_schema("elementary"))


def _copy_package(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".installing")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=IGNORE)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def install(settings: Settings, mirror: Path | None) -> str:
    """Install elementary + dbt_utils into dbt_packages/; returns the installed version."""
    if mirror is None:
        mirror = _download_from_hub(settings)
    for name in PACKAGES:
        if not (mirror / name / "dbt_project.yml").exists():
            raise WarehouseError(
                f"{mirror / name} holds no dbt package (no dbt_project.yml). The mirror "
                "folder must contain elementary/ (dbt-data-reliability "
                f"{ELEMENTARY_VERSION}) and dbt_utils/ ({DBT_UTILS_VERSION})."
            )
    name, version = _project_version(mirror / "elementary")
    if name != "elementary" or version != ELEMENTARY_VERSION:
        raise WarehouseError(
            f"{mirror / 'elementary'} is {name} {version}, but the CLI is elementary-data "
            f"{ELEMENTARY_VERSION}: the package and the CLI must be the same release."
        )
    if _project_version(mirror / "dbt_utils")[0] != "dbt_utils":
        raise WarehouseError(f"{mirror / 'dbt_utils'} is not the dbt_utils package.")
    target = packages_dir(settings)
    target.mkdir(exist_ok=True)
    for package in PACKAGES:
        _copy_package(mirror / package, target / package)
    return version


def uninstall(settings: Settings) -> list[str]:
    """Remove the packages `install` put in dbt_packages/; returns the names removed. The
    next dbt run parses the project afresh (dbt.dbt_environment sees the change)."""
    removed = []
    for package in PACKAGES:
        folder = packages_dir(settings) / package
        if folder.exists():
            shutil.rmtree(folder)
            removed.append(package)
    dbt.forget_parse_if_packages_changed(settings)
    return removed


def _download_from_hub(settings: Settings) -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="observe-deps-"))
    (scratch / "dbt_project.yml").write_text(
        "name: scratch\nversion: '1.0'\nconfig-version: 2\nprofile: warehouse\n")
    (scratch / "packages.yml").write_text(
        "packages:\n"
        f"  - package: elementary-data/elementary\n    version: {ELEMENTARY_VERSION}\n"
        f"  - package: dbt-labs/dbt_utils\n    version: {DBT_UTILS_VERSION}\n")
    result = subprocess.run(
        [dbt.dbt_executable(), "deps", "--project-dir", str(scratch)], cwd=scratch,
        env=dbt.dbt_environment(settings), capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        raise WarehouseError(
            "could not download the Elementary package from the dbt hub (offline?). Use a "
            "local mirror: `runner observe install --from DIR` with DIR holding elementary/ "
            "and dbt_utils/."
        )
    return scratch / "dbt_packages"


def edr_executable() -> str:
    beside = Path(sys.executable).parent / "edr"
    found = str(beside) if beside.exists() else shutil.which("edr")
    if not found:
        raise WarehouseError("edr (elementary-data) is not installed: run `make install`.")
    return found


def _edr_profile(settings: Settings) -> str:
    schema = settings.layer_schema("elementary")
    return (
        "elementary:\n  target: default\n  outputs:\n    default:\n      type: postgres\n"
        f"      host: \"{{{{ env_var('WAREHOUSE_HOST') }}}}\"\n"
        f"      port: \"{{{{ env_var('WAREHOUSE_PORT') | as_number }}}}\"\n"
        f"      user: \"{{{{ env_var('WAREHOUSE_USER') }}}}\"\n"
        f"      password: \"{{{{ env_var('WAREHOUSE_PASSWORD') }}}}\"\n"
        f"      dbname: \"{{{{ env_var('WAREHOUSE_DB') }}}}\"\n"
        f"      schema: {schema}\n      threads: 4\n"
    )


def _edr(settings: Settings, command: list[str],
         slack_webhook: str | None = None) -> subprocess.CompletedProcess:
    """Run ``edr <command>`` offline: the runner's connection settings, no `dbt deps`,
    tracking off, and edr's internal dbt project reading a disposable copy of the
    packages (never ours) with its target/ in .warehouse/edr."""
    if not status(settings).enabled:
        raise WarehouseError(OFF_MESSAGE)
    work = settings.home / "edr"
    shutil.rmtree(work, ignore_errors=True)
    (work / "profiles").mkdir(parents=True)
    (work / "profiles" / "profiles.yml").write_text(_edr_profile(settings))
    (work / "config").mkdir()
    config = "anonymous_usage_tracking: false\nrun_dbt_deps_if_needed: false\n"
    if slack_webhook:
        # In edr's config file (mode 0600), never on its command line: the URL is a secret.
        config += f"slack:\n  notification_webhook: {json.dumps(slack_webhook)}\n"
    fd = os.open(work / "config" / "config.yml", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(config)
    packages = work / "dbt_packages"
    for package in PACKAGES:
        shutil.copytree(packages_dir(settings) / package, packages / package, ignore=IGNORE)
    env = dbt.dbt_environment(settings, {
        "DBT_PACKAGES_FOLDER": str(packages),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DO_NOT_TRACK": "1",
    })
    return subprocess.run(
        [edr_executable(), *command, "--profiles-dir", str(work / "profiles"),
         "--config-dir", str(work / "config"), "--update-dbt-package", "false",
         "--target-path", str(work / "edr_target"), "--project-dir", str(settings.project_dir)],
        cwd=work, env=env, capture_output=True, text=True,
    )


def _tail(result: subprocess.CompletedProcess) -> str:
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])


def report(settings: Settings, out: Path) -> Path:
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    # Labelled with the real environment (the dbt target), not edr's default "dev".
    result = _edr(settings, ["report", "--file-path", str(out), "--open-browser", "false",
                             "--env", settings.target])
    if result.returncode != 0 or not out.exists():
        raise WarehouseError(f"edr report failed (exit code {result.returncode}):\n{_tail(result)}")
    return out


def monitor(settings: Settings, webhook: str, days_back: int = 1) -> str:
    """`edr monitor`: send the new failures and warnings Elementary recorded to a Slack
    (or Slack-compatible) webhook; returns edr's last lines."""
    result = _edr(settings, ["monitor", "--days-back", str(days_back), "--group-by", "table"],
                  slack_webhook=webhook)
    if result.returncode != 0:
        raise WarehouseError(f"edr monitor failed (exit code {result.returncode}):\n{_tail(result)}")
    return _tail(result)
