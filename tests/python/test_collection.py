"""The suite's test ids are the same whenever it is collected.

Under pytest-xdist (`make test`) each worker collects the suite itself, and the run stops
when two workers' ids differ. An id built from today's date, or from bytes holding a
timestamp (a gzip header's mtime), then fails the whole run whenever two workers collect
on either side of midnight or of a second.
"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO_DIR


def collected(time_zone: str) -> list[str]:
    # Not as a worker: without PYTEST_XDIST_WORKER conftest copies nothing.
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_DIR, env={**env, "TZ": time_zone}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_test_ids_do_not_depend_on_the_clock():
    # 26 hours apart, so today's date differs; each collection takes over a second.
    east = collected("Etc/GMT-14")
    west = collected("Etc/GMT+12")
    assert len(east) > 400
    assert east == west, sorted(set(east) ^ set(west))[:10]
