"""`runner docs`: dbt's documentation site (with the catalog) served on 127.0.0.1."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

from runner.core import dbt
from runner.settings import Settings

SITE_FILES = ("index.html", "manifest.json", "catalog.json")


def generate(settings: Settings) -> Path:
    """`dbt docs generate` (it reads the catalog from the database); returns target/."""
    dbt.run_dbt_checked(settings, ["docs", "generate"], capture=True)
    return settings.project_dir / "target"


class _SiteHandler(SimpleHTTPRequestHandler):
    """Serves the docs site's own files and nothing else of target/ (run results, compiled
    SQL, the partial parse, ...)."""

    def log_message(self, *args):
        pass

    def send_head(self):
        name = unquote(urlparse(self.path).path).lstrip("/") or "index.html"
        if name not in SITE_FILES:
            self.send_error(404, "not a file of the docs site")
            return None
        self.path = "/" + name
        return super().send_head()


def server(site: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 for the site's files only (the caller serves and stops
    it)."""
    handler = functools.partial(_SiteHandler, directory=str(site))
    return ThreadingHTTPServer(("127.0.0.1", port), handler)
