"""One writer at a time, proven with real processes holding a real advisory lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from runner.core import generate as gen

HOLDER = """
import sys, time
from runner.core.locking import writer_lock
from runner.settings import load_settings
with writer_lock(load_settings(), "build", 0):
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def hold_lock(seconds):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(seconds)], env=dict(os.environ),
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def runner(*args):
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], env=dict(os.environ),
                          capture_output=True, text=True)


def test_second_writer_gives_up_naming_the_holder(database, tmp_path):
    gen.generate(tmp_path / "landing", seed=1, scale=0.01)
    holder = hold_lock(30)
    try:
        started = time.monotonic()
        result = runner("load", "--landing", str(tmp_path / "landing"), "--wait", "1")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert "Error: another writer holds the warehouse lock ('runner build', server pid" in result.stderr
    assert "--wait SECONDS" in result.stderr
    assert waited >= 1
    # nothing was loaded while the lock was held
    assert "nothing loaded yet" in runner("load", "--status").stdout


def test_second_writer_waits_for_the_first(database, tmp_path):
    gen.generate(tmp_path / "landing", seed=1, scale=0.01)
    holder = hold_lock(2)
    try:
        result = runner("load", "--landing", str(tmp_path / "landing"), "--wait", "30")
    finally:
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert "loaded 97 files" in result.stdout


def test_a_killed_holder_releases_the_lock(database, tmp_path):
    holder = hold_lock(60)
    holder.kill()
    holder.wait()
    time.sleep(0.5)
    result = runner("backup", "--dest", str(tmp_path / "backups"), "--wait", "5")
    assert result.returncode == 0, result.stderr
