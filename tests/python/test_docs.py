"""`runner docs` generates dbt's docs site and serves it on 127.0.0.1, fetched over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from runner.core import embedded


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def test_the_docs_site_is_served(database):
    port = embedded.free_port()
    # Ctrl-C stops the server; a shell's background job (`pytest &`) starts with SIGINT
    # ignored, and so would the server, unless its default comes back.
    process = subprocess.Popen([sys.executable, "-m", "runner.cli", "docs", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ),
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                status, index = fetch(f"http://127.0.0.1:{port}/index.html")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the docs site never came up"
                time.sleep(1)
        assert status == 200 and b"<html" in index.lower()
        _, body = fetch(f"http://127.0.0.1:{port}/manifest.json")
        manifest = json.loads(body)
        _, catalog = fetch(f"http://127.0.0.1:{port}/catalog.json")
        assert "nodes" in json.loads(catalog)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            process.kill()
    overview = [d for d in manifest["docs"].values() if d["name"] == "__overview__"
                and d["package_name"] == "warehouse"]
    assert overview and "How to query gold" in overview[0]["block_contents"]
    gold = [n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["fqn"][1] == "marts"]
    assert gold and all(n["config"]["meta"].get("owner") for n in gold)
    assert not [n for n in manifest["nodes"].values()
                if n["package_name"] == "elementary" and n["docs"]["show"]]


def test_the_docs_server_serves_the_site_files_only(tmp_path):
    """target/ also holds run results, compiled SQL and the partial parse: none served."""
    import threading

    from runner.core import docs

    for name in ("index.html", "manifest.json", "catalog.json", "run_results.json"):
        (tmp_path / name).write_text("{}" if name != "index.html" else "<html></html>")
    (tmp_path / "compiled").mkdir()
    (tmp_path / "compiled" / "model.sql").write_text("select 1")
    httpd = docs.server(tmp_path, 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        assert fetch(f"{base}/")[0] == 200 and fetch(f"{base}/catalog.json")[0] == 200
        for path in ("/run_results.json", "/compiled/model.sql", "/compiled/",
                     "/%2e%2e/etc/passwd"):
            try:
                status = fetch(base + path)[0]
            except urllib.error.HTTPError as error:
                status = error.code
            assert status == 404, path
    finally:
        httpd.shutdown()


def test_every_test_the_threat_model_cites_exists():
    """docs/security.md's threat model names the tests that prove each boundary holds:
    each `file.py::test` (or `::test`, in the file named last before it) must exist."""
    import re
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    text = (tests.parents[1] / "docs" / "security.md").read_text()
    cited, missing, current = 0, [], None
    for file_name, test_name in re.findall(r"`(test_\w+\.py)?(?:::(test_\w+))?`", text):
        current = file_name or current
        if not file_name and not test_name:
            continue
        source = tests / current
        if not source.is_file():
            missing.append(current)
        elif test_name:
            cited += 1
            if not re.search(rf"^def {test_name}\(", source.read_text(), re.MULTILINE):
                missing.append(f"{current}::{test_name}")
    assert cited > 10 and not missing, missing
