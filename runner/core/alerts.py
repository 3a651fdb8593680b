"""Tell someone when the night went wrong: a JSON POST to a webhook (Slack-formatted for
Slack's incoming webhooks). A webhook that is down never fails the job: the caller gets
the reason back and logs it."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlparse

from runner.core.daily import DailyRun

TIMEOUT_S = 10


def summary(job: DailyRun, log_hint: str) -> dict:
    """What failed (or warned), its first error lines, the failing tests and the logs."""
    bad = job.failed or job.warned
    status = "failed" if job.failed else ("warned" if job.warned else "ok")
    tests = [test for step in job.steps for test in step.failing_tests]
    return {
        "job": "runner daily",
        "run_id": job.run_id,
        "status": status,
        "started_at": job.started_at.isoformat(),
        "steps": {step.step: step.status for step in job.steps},
        "failed_steps": [step.step for step in job.failed],
        "warned_steps": [step.step for step in job.warned],
        "errors": [f"{step.step}: {(step.error or step.detail)[:500]}" for step in bad],
        "tests": tests[:20],
        "log": log_hint,
    }


def _slack(payload: dict) -> dict:
    icon = ":red_circle:" if payload["status"] == "failed" else ":warning:"
    lines = [f"{icon} *warehouse {payload['job']}: {payload['status']}* (run {payload['run_id'][:8]})"]
    lines += [f"• {error}" for error in payload["errors"][:5]]
    lines += [f"• test `{t['test']}`: {t['rows']} row(s)" for t in payload["tests"][:10]]
    lines.append(f"log: {payload['log']}")
    return {"text": "\n".join(lines)}


def is_slack(url: str) -> bool:
    return urlparse(url).hostname == "hooks.slack.com"


def post(url: str, payload: dict) -> str | None:
    """POST ``payload``; None when delivered, else why not (never raises)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"not an http(s) URL: {url!r}"
    body = json.dumps(_slack(payload) if is_slack(url) else payload).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            if response.status >= 300:
                return f"the webhook answered HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"the webhook answered HTTP {error.code}"
    except (urllib.error.URLError, socket.timeout, OSError) as error:
        return f"the webhook could not be reached ({getattr(error, 'reason', error)})"
    return None
