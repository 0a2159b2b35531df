"""The HTML report in a real browser: headless Chromium opens it with every network
request sent to a dead proxy, the summary matrix renders, the page asks for nothing from
the network, and a screenshot is kept under reports/ as a test artefact."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

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


LEAKY_MIGRATION = """
from alembic import op

revision = "0002_leaky"
down_revision = "0001_hardened"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE documents DISABLE ROW LEVEL SECURITY")


def downgrade():
    op.execute("ALTER TABLE documents ENABLE ROW LEVEL SECURITY")
"""


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory: pytest.TempPathFactory, rlsguard_server: Server) -> Path:
    """The hardened project with RLS switched off on one table, printed to PDF too."""
    folder = tmp_path_factory.mktemp("failing")
    project = folder / "fixtures" / "project"  # its migration reads ../../corpus/hardened.sql
    shutil.copytree(HARDENED, project)
    shutil.copytree(HARDENED.parents[1] / "corpus", folder / "corpus")
    (project / "migrations" / "versions" / "0002_leaky.py").write_text(LEAKY_MIGRATION)
    page = folder / "reports" / "rlsguard-report.html"
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), "--report", str(page), "--pdf", *FAST,
        "--project", str(project), cwd=folder,
    )  # fmt: skip
    assert code == 1, output
    assert f"rlsguard: PDF: {page.with_suffix('.pdf')}" in output
    return page


def measured(page: Path, folder: Path, width: int) -> tuple[int, int]:
    """How wide the report's content is when the window is ``width`` pixels wide, and how
    many log boxes with nothing in them are shown: a page of the test's own loads it in a
    frame of that width and writes both down."""
    frame = folder / "measure.html"
    frame.write_text(
        f'<html><body><iframe id="f" src="{page.as_uri()}" style="width:{width}px;'
        'height:900px;border:0"></iframe><script>'
        'document.getElementById("f").onload = () => { const d = document.getElementById("f")'
        ".contentDocument; document.body.dataset.width = d.documentElement.scrollWidth;"
        "document.body.dataset.empty = [...d.querySelectorAll('.logwrapper')].filter(w => "
        "w.getClientRects().length && !(w.querySelector('.log')?.textContent || '')).length; };"
        "</script></body></html>"
    )
    dom, _requested = open_offline(
        frame, folder, "--allow-file-access-from-files", "--virtual-time-budget=10000"
    )
    found = re.search(r'data-width="(\d+)" data-empty="(\d+)"', dom)
    assert found, dom[-1000:]
    return int(found.group(1)), int(found.group(2))


def width_at(page: Path, folder: Path, width: int) -> int:
    return measured(page, folder, width)[0]


@pytest.mark.parametrize("which", ["passing", "failing"])
def test_at_1280_pixels_the_verdict_and_the_matrix_need_no_sideways_scroll(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    page: Path = request.getfixturevalue("report" if which == "passing" else "failing_report")
    width, empty_logs = measured(page, tmp_path, 1280)
    assert width <= 1280
    assert empty_logs == 0  # pytest-html's log box under a row, with nothing in it
    dom, _requested = open_offline(page, tmp_path)
    assert dom.index('id="rlsguard-verdict"') < dom.index('id="rlsguard-controls"')
    assert dom.index('id="rlsguard-controls"') < dom.index('id="rlsguard-matrix"')
    word = "PASS" if which == "passing" else "FAIL"
    assert f"Verdict: {word}</h2>" in dom
    shot = PROJECT / "reports" / f"rlsguard-report-{which}-1280.png"
    subprocess.run(
        [
            chromium(), *OFFLINE, f"--user-data-dir={tmp_path / 'shot'}",
            "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri(),
        ],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.stat().st_size > 10_000


def test_the_pdf_opens_with_the_verdict(failing_report: Path) -> None:
    history = (failing_report.parent / "rlsguard-history.jsonl").read_text().splitlines()
    files = json.loads(history[-1])["files"]
    assert (
        files["rlsguard-report.pdf"]
        == hashlib.sha256(failing_report.with_suffix(".pdf").read_bytes()).hexdigest()
    )
    pdf = PdfReader(failing_report.with_suffix(".pdf"))
    first = pdf.pages[0].extract_text()
    assert "Verdict: FAIL" in first
    assert "RG101 rls-enabled on public.documents" in first
    assert "Show all details" not in "".join(page.extract_text() for page in pdf.pages)


def test_a_run_without_pdf_removes_an_earlier_one(tmp_path: Path, rlsguard_server: Server) -> None:
    page = tmp_path / "reports" / "rlsguard-report.html"
    page.parent.mkdir()
    page.with_suffix(".pdf").write_bytes(b"%PDF- an earlier run's")
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), "--report", str(page), *FAST,
        "--project", str(HARDENED), cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, output
    assert not page.with_suffix(".pdf").exists()
    assert "rlsguard: PDF" not in output


def test_a_page_too_wide_for_1280_pixels_or_with_empty_log_boxes_is_caught(
    report: Path, failing_report: Path, tmp_path: Path
) -> None:
    """``width_at`` can fail: a report with a 2000-pixel table is measured as that."""
    wide = tmp_path / "wide.html"
    wide.write_text(
        report.read_text().replace(
            "</body>", '<table style="width:2000px"><tr><td>x</td></tr></table></body>'
        )
    )
    assert width_at(wide, tmp_path, 1280) >= 2000
    unstyled = tmp_path / "unstyled.html"
    unstyled.write_text(failing_report.read_text().replace(".logwrapper:not(:has(.log))", ".none"))
    assert measured(unstyled, tmp_path, 1280)[1] > 0  # and the empty log boxes are counted


def test_a_page_that_does_load_from_the_network_is_caught(tmp_path: Path) -> None:
    """The two detectors above can fail: a page with an external image trips both."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.invalid/pixel.png"></body></html>')
    assert EXTERNAL_LOAD.findall(page.read_text())
    _dom, requested = open_offline(page, tmp_path)
    assert requested == ["http://example.invalid/pixel.png"]


HOSTILE_BRANCH = "<img/src='x'/onerror='document.body.dataset.pwned=1337'>"
HOSTILE_REASON = "<img src=x onerror=document.body.dataset.pwned=2>"
HOSTILE_TABLE = "<svg onload=document.body.dataset.pwned=3>"
HOSTILE_CI = {
    "CI_COMMIT_REF_NAME": "<img src=x onerror=document.body.dataset.pwned=4>",  # GitLab
    "GIT_URL": "https://bob:SECRETTOKEN1@git.example.invalid/repo.git",  # Jenkins
    "BUILD_URL": "https://jenkins.example.invalid/job/7/?token=SECRETTOKEN2&delay=0",
}
HOSTILE_MIGRATION = f"""
from alembic import op

revision = "0002_hostile"
down_revision = "0001_hardened"
branch_labels = None
depends_on = None


def upgrade():
    op.execute({f'CREATE TABLE "{HOSTILE_TABLE}" (id integer PRIMARY KEY)'!r})


def downgrade():
    op.execute({f'DROP TABLE "{HOSTILE_TABLE}"'!r})
"""


@pytest.fixture
def hostile_report(tmp_path: Path, rlsguard_server: Server) -> tuple[Path, str]:
    """The hardened project in a git checkout on a branch named like script, with an
    accepted finding whose reason is HTML, a table named like HTML, and CI variables that
    carry HTML and credentials; the report and the console output of its check."""
    project = tmp_path / "fixtures" / "project"  # its migration reads ../../corpus/hardened.sql
    shutil.copytree(HARDENED, project)
    shutil.copytree(HARDENED.parents[1] / "corpus", tmp_path / "corpus")
    (project / "migrations" / "versions" / "0002_hostile.py").write_text(HOSTILE_MIGRATION)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + f"allow = [{{ check = 'RG404', object = 'public.elsewhere', reason = '{HOSTILE_REASON}' }}]\n"
    )
    for arguments in (
        ("init", "-q", "-b", HOSTILE_BRANCH),
        ("-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-q",
         "--allow-empty", "-m", "start"),
    ):  # fmt: skip
        subprocess.run(["git", "-C", str(project), *arguments], check=True, capture_output=True)
    page = tmp_path / "reports" / "rlsguard-report.html"
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), "--report", str(page), *FAST,
        "--project", str(project), cwd=tmp_path, env=HOSTILE_CI,
    )  # fmt: skip
    assert page.is_file(), output
    assert code in (0, 1), output
    return page, output


def test_hostile_values_in_the_report_stay_text(
    hostile_report: tuple[Path, str], tmp_path: Path
) -> None:
    page, _output = hostile_report
    dom, _requested = open_offline(page, tmp_path)
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None
    assert "pwned" not in body.group(0), body.group(0)
    for text in (HOSTILE_BRANCH, HOSTILE_REASON, HOSTILE_TABLE, HOSTILE_CI["CI_COMMIT_REF_NAME"]):
        shown = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert shown in dom, text  # it is there, as text


def test_credentials_from_ci_variables_reach_no_artefact(hostile_report: tuple[Path, str]) -> None:
    page, output = hostile_report
    artefacts = {
        "console": output,
        "HTML": page.read_text(),
        "JSON": (page.parent / "rlsguard-evidence.json").read_text(),
        "JUnit": (page.parent / "rlsguard-junit.xml").read_text(),
    }
    for name, text in artefacts.items():
        assert "SECRETTOKEN" not in text, name
    assert "https://bob:***@git.example.invalid/repo.git" in artefacts["HTML"]
    evidence = json.loads(artefacts["JSON"])
    assert evidence["environment"]["CI run"] == (
        "https://jenkins.example.invalid/job/7/?token=***&delay=0"
    )
