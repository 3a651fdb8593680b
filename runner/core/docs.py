"""`runner docs`: dbt's documentation site (with the catalog) served on 127.0.0.1."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from runner.core import dbt
from runner.settings import Settings

SITE_FILES = ("index.html", "manifest.json", "catalog.json")


def generate(settings: Settings) -> Path:
    """`dbt docs generate` (it reads the catalog from the database); returns target/."""
    dbt.run_dbt_checked(settings, ["docs", "generate"], capture=True)
    return settings.project_dir / "target"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def list_directory(self, path):
        self.send_error(404, "no directory listings")
        return None


def server(site: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 for the site's files (the caller serves and stops it)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    return ThreadingHTTPServer(("127.0.0.1", port), handler)
