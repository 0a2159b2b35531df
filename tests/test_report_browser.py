"""The HTML report in a real browser: headless Chromium opens it with every network
request sent to a dead proxy, the summary matrix renders, the page asks for nothing from
the network, and a screenshot is kept under reports/ as a test artefact."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rlsguard.server import Server
from tests.conftest import PROJECT
from tests.test_cli import FAST, dsn_of, rlsguard

pytestmark = pytest.mark.slow

HARDENED = PROJECT / "tests" / "fixtures" / "hardened_project"
SCREENSHOT = PROJECT / "reports" / "rlsguard-report-in-chromium.png"
OFFLINE = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--proxy-server=127.0.0.1:9",  # nothing listens there: any request fails
    "--no-first-run",
    "--disable-background-networking",
)
EXTERNAL_LOAD = re.compile(
    r"""(?:<(?:script|img|iframe|link|source|video|audio)\b[^>]*\b(?:src|href)\s*=\s*["']?"""
    r"""(?:https?:)?//)|(?:url\(\s*["']?(?:https?:)?//)|(?:@import\s+["']?(?:https?:)?//)""",
    re.IGNORECASE,
)


def chromium() -> str:
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def open_offline(page: Path, folder: Path, *extra: str) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the URLs the page itself asked the network for."""
    net_log = folder / "net-log.json"
    done = subprocess.run(
        [
            chromium(),
            *OFFLINE,
            f"--user-data-dir={folder / 'profile'}",
            f"--log-net-log={net_log}",
            *extra,
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, page_requests(net_log)


def page_requests(net_log: Path) -> list[str]:
    """Requests with an initiator: the page's own (the browser's background chatter has
    none and is not the report's doing)."""
    log = json.loads(net_log.read_text())
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    return [
        event["params"]["url"]
        for event in log["events"]
        if names.get(event["type"]) == "URL_REQUEST_START_JOB"
        and event.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, rlsguard_server: Server) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    page = folder / "rlsguard-report.html"
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), "--report", str(page), *FAST,
        "--project", str(HARDENED), cwd=folder,
    )  # fmt: skip
    assert code == 0, output
    return page


def test_the_report_loads_nothing_from_the_network(report: Path) -> None:
    assert EXTERNAL_LOAD.findall(report.read_text()) == []


def test_the_summary_renders_in_chromium_offline(report: Path, tmp_path: Path) -> None:
    dom, requested = open_offline(report, tmp_path)
    assert requested == []
    assert 'id="rlsguard-matrix"' in dom
    assert re.search(r'class="rlsguard-cell rlsguard-pass"[^>]*>pass<', dom)
    assert "public.documents" in dom
    # the results table is drawn by pytest-html's own script from data in the page
    assert re.search(r"<td[^>]*>[^<]*RG101 rls-enabled\[public\.documents\]", dom), dom[-2000:]
    assert "rlsguard isolation evidence: hardened_project" in dom
    SCREENSHOT.parent.mkdir(exist_ok=True)
    subprocess.run(
        [
            chromium(),
            *OFFLINE,
            f"--user-data-dir={tmp_path / 'shot-profile'}",
            "--window-size=1400,1000",
            f"--screenshot={SCREENSHOT}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert SCREENSHOT.stat().st_size > 10_000


def test_a_page_that_does_load_from_the_network_is_caught(tmp_path: Path) -> None:
    """The two detectors above can fail: a page with an external image trips both."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.invalid/pixel.png"></body></html>')
    assert EXTERNAL_LOAD.findall(page.read_text())
    _dom, requested = open_offline(page, tmp_path)
    assert requested == ["http://example.invalid/pixel.png"]
