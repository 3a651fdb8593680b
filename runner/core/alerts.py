"""Tell someone when the night went wrong: a JSON POST to a webhook (Slack-formatted for
Slack's incoming webhooks). A webhook that is down or slow never fails or holds up the
job: the whole call has one deadline, and the caller gets the reason back and logs it."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import urllib.error
import urllib.request
from urllib.parse import urlparse

from runner.core.daily import DailyRun
from runner.errors import WarehouseError
from runner.settings import Settings

# The whole call (connect, send, answer), not each socket read: a receiver that trickles
# one byte at a time would otherwise hold the night forever.
DEADLINE_S = 20.0


def summary(job: DailyRun, settings: Settings) -> dict:
    """Where it comes from, what failed (or warned), its first error lines, each failing or
    warning test with its status, and what to open next."""
    bad = job.failed or job.warned
    status = "failed" if job.failed else ("warned" if job.warned else "ok")
    tests = [test for step in job.steps for test in step.failing_tests]
    logs = settings.project_dir / "logs"
    return {
        "job": "runner daily",
        "run_id": job.run_id,
        "status": status,
        "host": socket.gethostname(),
        "environment": f"target {settings.target}, database {settings.dbname}",
        "started_at": job.started_at.isoformat(),
        "steps": {step.step: step.status for step in job.steps},
        "failed_steps": [step.step for step in job.failed],
        "warned_steps": [step.step for step in job.warned],
        "errors": [f"{step.step}: {(step.error or step.detail)[:500]}" for step in bad],
        "tests": tests[:20],
        "tests_not_shown": max(len(tests) - 20, 0),
        "log": (f"{logs / 'build.log'} (dbt's lines), {logs / 'dbt.log'} (debug detail) and "
                "the job's own output (.warehouse/logs/daily.log under cron or systemd)"),
        "test_failures": (f"schema {settings.layer_schema('test_failures')}: one view per "
                          "failing test, named after the test; audit.job_runs for every step"),
    }


def _slack(payload: dict) -> dict:
    icon = ":red_circle:" if payload["status"] == "failed" else ":warning:"
    lines = [f"{icon} *warehouse {payload['job']}: {payload['status']}* (run "
             f"{payload['run_id'][:8]}, {payload.get('host', '?')}, "
             f"{payload.get('environment', '?')})"]
    lines += [f"• {error}" for error in payload["errors"][:5]]
    lines += [f"• test `{t['test']}` {t.get('status', 'fail')}: {t['rows']} row(s)"
              for t in payload["tests"][:10]]
    lines.append(f"log: {payload['log']}")
    if payload.get("test_failures"):
        lines.append(f"failing rows: {payload['test_failures']}")
    return {"text": "\n".join(lines)}


def is_slack(url: str) -> bool:
    return urlparse(url).hostname == "hooks.slack.com"


# Longer than this is no deadline: a night's end must not wait on a receiver for hours.
MAX_DEADLINE_S = 600


def deadline_seconds() -> float:
    """WAREHOUSE_ALERT_TIMEOUT (seconds for the whole webhook call), else DEADLINE_S."""
    value = os.environ.get("WAREHOUSE_ALERT_TIMEOUT", "").strip()
    if not value:
        return DEADLINE_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAX_DEADLINE_S:  # also refuses nan and inf
        raise WarehouseError(f"WAREHOUSE_ALERT_TIMEOUT {value!r}: give seconds from 1 to "
                             f"{MAX_DEADLINE_S} (or leave it unset for {DEADLINE_S:g}).")
    return seconds


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook, without repeating it (its path is often the secret)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return ("the webhook (--notify or WAREHOUSE_ALERT_WEBHOOK) is not an http(s) URL "
                "with a host name, such as https://hooks.slack.com/services/...")
    return None


def check(url: str | None) -> None:
    """The alert's settings, checked before a night starts rather than when it fails."""
    deadline_seconds()
    problem = url_problem(url) if url else None
    if problem:
        raise WarehouseError(f"{problem}. Fix it before the night runs.")


def _send(request: urllib.request.Request, timeout: float, outcome: list) -> None:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status >= 300:
                outcome.append(f"the webhook answered HTTP {response.status}")
    except urllib.error.HTTPError as error:
        outcome.append(f"the webhook answered HTTP {error.code}")
    except (urllib.error.URLError, socket.timeout, OSError) as error:
        outcome.append(f"the webhook could not be reached ({getattr(error, 'reason', error)})")
    except http.client.HTTPException as error:
        outcome.append(f"the webhook's answer was not HTTP ({type(error).__name__})")
    else:
        outcome.append(None)


def post(url: str, payload: dict, deadline: float | None = None) -> str | None:
    """POST ``payload``; None when delivered, else why not (never raises, and returns
    within ``deadline`` seconds whatever the receiver does)."""
    problem = url_problem(url)
    if problem:
        return problem
    deadline = deadline or deadline_seconds()
    body = json.dumps(_slack(payload) if is_slack(url) else payload).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    outcome: list = []
    # A daemon thread: one that is still waiting when the deadline passes is abandoned and
    # ends with the process.
    sender = threading.Thread(target=_send, args=(request, deadline, outcome), daemon=True)
    sender.start()
    sender.join(deadline)
    if not outcome:
        return f"the webhook did not answer within {deadline:g} s (WAREHOUSE_ALERT_TIMEOUT)"
    return outcome[0]
