"""Open a page in headless Chromium: its DOM, console messages and network requests.

Shared by the tests of every HTML page riskengine writes (the report, the
comparison); a test skips with a reason where Chromium is not installed.
"""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # nothing resolves: a request the page made could not reach anything
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


@dataclass(frozen=True)
class BrowserLoad:
    """What headless Chromium saw loading a page."""

    dom: str
    console: list[str]
    """Console messages (errors, CSP violations, logs) the page produced."""
    requests: list[str]
    """URLs the page asked for over the network (its own file excluded)."""


def chromium() -> str:
    """The Chromium executable, or skip the test naming what is missing."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "headless Chromium is not installed (e.g. apt-get install chromium): the "
        "page is not checked in a browser here"
    )


def load_page(page: Path, work: Path) -> BrowserLoad:
    """Open `page` in headless Chromium; its DOM, console and network requests."""
    netlog = work / "netlog.json"
    run = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={work / 'profile'}",
            f"--log-net-log={netlog}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        # the page's own requests carry its file:// origin; the browser's own
        # background requests (if any) carry none
        and "file://" in event["params"].get("network_isolation_key", "")
        and not event["params"]["url"].startswith("file:")
    ]
    return BrowserLoad(run.stdout, console, requests)
