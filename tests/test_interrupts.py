"""Ctrl-C and SIGTERM, during a pytest session and during ``rlsguard check``: the run
stops its server and removes its folder on the way out."""

from __future__ import annotations

import gc
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest
from hypothesis.control import currently_in_test_context

from rlsguard.plugin.lanes import FACT
from rlsguard.report.evidence.history import EVIDENCE_NAME, HISTORY_NAME, beside
from rlsguard.run import Run
from rlsguard.server.children import pid_alive
from rlsguard.server.process import DROPPED_INTERRUPT, InterruptSignals, wait_interruptibly
from tests.conftest import (
    OWN_BACKEND,
    PROJECT,
    lanes_of,
    postgres_processes_of,
    replace_once,
    scratch_folders_of,
)
from tests.corpus.cases import CORRECT
from tests.corpus.harness import BuildCase, run_probe

pytestmark = pytest.mark.slow

SLEEPER = """
import time
from pathlib import Path

def test_sleeps_with_a_server(rlsguard_connection, rlsguard_server):
    # written then renamed: the outer test must never read a file that is still empty
    Path("started.tmp").write_text(f"{rlsguard_server.process.pid} {rlsguard_server.scratch}")
    Path("started.tmp").rename("started")
    time.sleep(120)
"""


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_pytest_session_leaves_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.rlsguard]\nalembic_ini = "{PROJECT / "alembic.ini"}"\n'
    )
    (tmp_path / "test_sleeper.py").write_text(textwrap.dedent(SLEEPER))
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "test_sleeper.py", "-p", "no:cacheprovider", "-q",
         "--rlsguard-backend", OWN_BACKEND, "-c", "pyproject.toml", "--rootdir", str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    started = tmp_path / "started"
    wait_for(started.exists, 120, "the inner session's server")
    postmaster, scratch = started.read_text().split()
    assert pid_alive(int(postmaster))
    session.send_signal(sig)
    output = session.communicate(timeout=60)[0]
    assert session.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert not pid_alive(int(postmaster)), output
    assert not Path(scratch).exists()
    assert postgres_processes_of(session.pid) == []
    assert scratch_folders_of(session.pid) == []


def started_check(project: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    """``rlsguard check`` of ``project`` on a server of its own, its report in tmp_path."""
    return subprocess.Popen(
        [sys.executable, "-m", "rlsguard.cli", "check", "--project", str(project),
         "--backend", OWN_BACKEND, "--report", str(tmp_path / "reports" / "report.html"), *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def check_until_migrating(
    project_copy: Callable[..., Path], tmp_path: Path
) -> subprocess.Popen[str]:
    """``rlsguard check`` of the platform, once it runs a revision that sleeps two minutes."""
    marker = tmp_path / "migrating"
    copy = project_copy(
        {
            "002_enable_rls": replace_once(
                "def upgrade() -> None:\n",
                "def upgrade() -> None:\n"
                f"    __import__('pathlib').Path({str(marker)!r}).touch()\n"
                "    op.execute('SELECT pg_sleep(120)')\n",
            )
        }
    )
    check = started_check(copy, tmp_path)
    wait_for(marker.exists, 120, "rlsguard check to reach the sleeping migration")
    time.sleep(0.2)
    return check


def assert_judged_nothing(output: str, evidence: dict[str, Any], incomplete: str) -> None:
    page = Path(evidence["report"]["path"]).read_text()
    assert "Verdict: INCOMPLETE</h2>" in page
    assert f"This run is INCOMPLETE: {evidence['incomplete']}" in html.unescape(page)
    assert "FAILED" not in output
    assert "Traceback" not in output
    assert "of work on the workers" not in output  # one process: the phase's own time
    assert evidence["complete"] is False
    assert incomplete in evidence["incomplete"]
    assert [item for item in evidence["items"] if item["status"] == "fail"] == []
    assert evidence["findings"] == []


@pytest.mark.parametrize(
    ("sig", "again_after"),
    [(signal.SIGINT, None), (signal.SIGTERM, None), (signal.SIGINT, 0.05), (signal.SIGINT, 0.4)],
    ids=["ctrl-c", "sigterm", "ctrl-c-twice-at-once", "ctrl-c-again-while-stopping"],
)
def test_a_signal_during_a_migration_is_never_a_failed_migration(
    project_copy: Callable[..., Path],
    tmp_path: Path,
    sig: signal.Signals,
    again_after: float | None,
) -> None:
    """Pressed twice, Ctrl-C must not cut the cleanup short nor end the run another way."""
    check = check_until_migrating(project_copy, tmp_path)
    assert postgres_processes_of(check.pid)
    check.send_signal(sig)
    if again_after is not None:
        time.sleep(again_after)
        check.send_signal(sig)
    output = check.communicate(timeout=20)[0]  # pg_sleep(120) is cancelled, not waited for
    assert check.returncode == 2, output
    assert "rlsguard: interrupted; the report is marked incomplete" in output
    assert "Exception ignored" not in output
    assert "Unraisable" not in output
    assert_judged_nothing(output, evidence_of(tmp_path), "interrupted")
    assert postgres_processes_of(check.pid) == [], output
    assert scratch_folders_of(check.pid) == []


def test_a_server_that_dies_during_a_migration_is_said_not_judged(
    project_copy: Callable[..., Path], tmp_path: Path
) -> None:
    check = check_until_migrating(project_copy, tmp_path)
    (postmaster,) = postgres_processes_of(check.pid)
    os.kill(postmaster, signal.SIGKILL)
    output = check.communicate(timeout=120)[0]
    assert check.returncode == 2, output
    assert "rlsguard: the server went away" in output
    assert "failed" not in output.lower()
    assert_judged_nothing(output, evidence_of(tmp_path), "the server went away")
    assert scratch_folders_of(check.pid) == []


HARDENED_PROJECT = Path(__file__).parent / "fixtures" / "hardened_project"


def check_until_probing(tmp_path: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """``rlsguard check`` of a correct schema in one process, read until its first probe
    item ended (with lanes, the first item ends when they all have)."""
    check = started_check(
        HARDENED_PROJECT, tmp_path, "--max-examples", "1000", "--probe-processes", "1", "-v"
    )  # -v: items
    assert check.stdout is not None
    seen: list[str] = []
    for line in check.stdout:
        seen.append(line)
        if "::test_probes::rls[" in line:
            return check, seen
    pytest.fail("rlsguard check ended before a probe ran:\n" + "".join(seen))


def evidence_of(tmp_path: Path) -> dict[str, Any]:
    """An incomplete run's evidence: beside where a complete run's goes, never in its place
    (and never in the history)."""
    reports = tmp_path / "reports"
    assert not (reports / EVIDENCE_NAME).exists()
    assert not (reports / HISTORY_NAME).exists()
    return json.loads(beside(reports / EVIDENCE_NAME).read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_probing_is_never_a_finding(tmp_path: Path, sig: signal.Signals) -> None:
    check, seen = check_until_probing(tmp_path)
    time.sleep(0.5)  # in the middle of the next probe's examples
    check.send_signal(sig)
    output = "".join(seen) + check.communicate(timeout=60)[0]
    assert check.returncode == 2, output
    assert "rlsguard: interrupted; the report is marked incomplete" in output
    assert "FAILED" not in output
    evidence = evidence_of(tmp_path)
    assert evidence["complete"] is False
    assert "interrupted" in evidence["incomplete"]
    assert evidence["findings"] == []
    assert postgres_processes_of(check.pid) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_lanes_probe_ends_every_lane_and_keeps_what_they_judged(
    tmp_path: Path,
    sig: signal.Signals,
    project_copy: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The platform at head: 8 tables' probes, about 10 s of them at 200 examples each,
    stopped once this process's lane has made a judgement (a plugin given to the run's
    pytest marks it), the other lane in the middle of its own."""
    (tmp_path / "lane_marker.py").write_text(LANE_MARKER)
    marker = tmp_path / "judged"
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("JUDGED_MARKER", str(marker))
    check = started_check(
        project_copy(), tmp_path, "--max-examples", "200", "--probe-processes", "2",
        "--", "-p", "lane_marker",
    )  # fmt: skip
    lane = forked_lane(check.pid)
    wait_for(marker.exists, 120, "the run's process to make a judgement")
    check.send_signal(sig)
    signalled = time.monotonic()
    output = check.communicate(timeout=60)[0]
    assert time.monotonic() - signalled < 5, "the lane was waited for, not stopped"
    assert check.returncode == 2, output
    assert "rlsguard: interrupted; the report is marked incomplete" in output
    assert "Traceback" not in output
    evidence = evidence_of(tmp_path)
    assert "interrupted" in evidence["incomplete"]
    kept = [item["status"] for item in evidence["items"] if item["kind"] == "probe"]
    assert kept, "the judgements made before the interrupt were lost"
    assert set(kept) <= {"pass", "accepted"}, kept  # made, not "cannot" for want of time
    assert re.search(
        rf"; interrupted while they probed: {len(kept)} of \d+ probe items judged, the others not "
        "run$",
        evidence["environment"][FACT],
    )
    assert not pid_alive(lane)
    assert postgres_processes_of(check.pid) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_during_the_migration_checks_ends_the_lane_forked_early(
    tmp_path: Path, sig: signal.Signals, project_copy: Callable[..., Path]
) -> None:
    """The lanes start at the session's first item and probe while the migration checks
    run: stopped in one (a downgrade that sleeps), the run ends the lane before its server,
    and judges nothing."""
    marker = tmp_path / "downgrading"
    copy = project_copy(
        {
            "002_enable_rls": replace_once(
                "def downgrade() -> None:\n",
                "def downgrade() -> None:\n"
                f"    __import__('pathlib').Path({str(marker)!r}).touch()\n"
                "    op.execute('SELECT pg_sleep(120)')\n",
            )
        }
    )
    check = started_check(copy, tmp_path, "--probe-processes", "2")
    lane = forked_lane(check.pid)
    wait_for(marker.exists, 120, "rlsguard check to reach the sleeping downgrade")
    assert running(lane), "the lane was not probing during the migration checks"
    check.send_signal(sig)
    output = check.communicate(timeout=30)[0]
    assert check.returncode == 2, output
    assert "rlsguard: interrupted; the report is marked incomplete" in output
    assert "Traceback" not in output
    evidence = evidence_of(tmp_path)
    assert "interrupted" in evidence["incomplete"]
    assert [item for item in evidence["items"] if item["kind"] == "probe"] == []
    assert not pid_alive(lane)
    assert postgres_processes_of(check.pid) == []
    assert scratch_folders_of(check.pid) == []


def test_a_lane_ends_with_the_process_that_forked_it(tmp_path: Path, rlsguard_run: Run) -> None:
    """On a server of its own, a lane would end with the server its parent stops; on a
    server it was pointed at, it ends because its parent did (it would otherwise probe
    on, until it next sends a judgement back)."""
    dsn = rlsguard_run.server.url.render_as_string(hide_password=False)
    check = subprocess.Popen(
        [sys.executable, "-m", "rlsguard.cli", "check", "--project", str(HARDENED_PROJECT),
         "--dsn", dsn, "--report", str(tmp_path / "report.html"), "--max-examples", "1000",
         "--probe-processes", "2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    lane = forked_lane(check.pid)
    check.kill()
    check.wait(timeout=60)
    wait_for(lambda: not running(lane), 2, "the lane to end with its parent")


LANE_MARKER = """
import os, pathlib
from rlsguard.probes import forked

judge = forked._Lane.judge
parent = os.getpid()

def marked(lane, index):
    result = judge(lane, index)
    if result is not None and os.getpid() == parent and not os.path.exists(os.environ["JUDGED_MARKER"] + ".tmp"):
        pathlib.Path(os.environ["JUDGED_MARKER"] + ".tmp").touch()
        os.rename(os.environ["JUDGED_MARKER"] + ".tmp", os.environ["JUDGED_MARKER"])
    return result

forked._Lane.judge = marked
"""


def forked_lane(pid: int) -> int:
    """``pid``'s probing lane, once it has one: a fork that is still one a moment later
    (a fork that runs a program, initdb or git, is one only until it does)."""
    seen: list[int] = []

    def forked() -> bool:
        now = lanes_of(pid)
        if len(now) == 1 and now == seen:
            return True
        seen[:] = now
        time.sleep(0.2)
        return False

    wait_for(forked, 180, "rlsguard check to fork its probing lane")
    return seen[0]


def running(pid: int) -> bool:
    """Not ended, nor a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_server_that_dies_while_probing_is_said_not_judged(tmp_path: Path) -> None:
    check, seen = check_until_probing(tmp_path)
    (postmaster,) = postgres_processes_of(check.pid)
    os.kill(postmaster, signal.SIGKILL)
    output = "".join(seen) + check.communicate(timeout=120)[0]
    assert check.returncode == 2, output
    assert "the server went away" in output
    evidence = evidence_of(tmp_path)
    assert evidence["incomplete"].startswith("the server went away")
    assert_judged_nothing(output, evidence, "the server went away")


def test_ctrl_c_while_a_connection_is_being_opened_stays_an_interrupt() -> None:
    """A server that accepts the TCP connection and never answers: the wait is in
    select(), and Ctrl-C there must not become 'asynchronous connection attempt underway'."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    previous_wait = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(wait_interruptibly)
    previous_alarm = signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            psycopg2.connect(
                host="127.0.0.1", port=silent.getsockname()[1], user="x", connect_timeout=10
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        psycopg2.extensions.set_wait_callback(previous_wait)
        silent.close()


def test_an_interrupt_dropped_inside_a_gc_callback_still_stops_the_probes(
    rlsguard_run: Run, case_database: BuildCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPython drops an exception raised in a garbage-collector callback (it only reports
    it as unraisable), and Hypothesis installs one: a Ctrl-C handled there was lost and
    the run went on probing. The signal is remembered and raised at the next example."""
    built = case_database(CORRECT[0])
    dropped: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: dropped.append(report.exc_value))
    fired: list[bool] = []

    def ctrl_c_inside_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start" and not fired and currently_in_test_context():
            fired.append(True)
            signal.raise_signal(signal.SIGINT)

    signals = InterruptSignals()
    signals.install()
    gc.callbacks.append(ctrl_c_inside_gc)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_probe(rlsguard_run, built, "RP101", "public.documents", built.url)
    finally:
        gc.callbacks.remove(ctrl_c_inside_gc)
        signals.uninstall()
        # the interrupt it stood for would have ended a real run; this worker goes on
        InterruptSignals.pending = None
    assert fired
    assert any(isinstance(error, KeyboardInterrupt) for error in dropped), dropped


@pytest.mark.parametrize("after", [0.0, 0.4], ids=["initdb", "starting"])
def test_ctrl_c_while_the_server_starts_leaves_nothing(tmp_path: Path, after: float) -> None:
    check = started_check(PROJECT, tmp_path)
    wait_for(lambda: bool(scratch_folders_of(check.pid)), 60, "the server's folder")
    time.sleep(after)
    check.send_signal(signal.SIGINT)
    output = check.communicate(timeout=30)[0]
    assert check.returncode == 2, output
    assert "rlsguard: interrupted" in output
    assert "Traceback" not in output
    assert "ready in" not in output  # it was stopped before the server answered
    assert postgres_processes_of(check.pid) == []
    assert scratch_folders_of(check.pid) == []


CTRL_C_INSIDE_AN_IMPORT = """
import importlib.abc, os, signal, sys

class SendsCtrlC:
    def __set_name__(self, owner, name):
        os.kill(os.getpid(), signal.SIGINT)

class ImportingCheck(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "rlsguard.cli.check":
            sys.meta_path.remove(self)
            type("Made", (), {"field": SendsCtrlC()})  # as a dataclass's field is made
        return None

sys.meta_path.insert(0, ImportingCheck())
from rlsguard.cli.commands import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_check_imports_its_machinery_is_an_interrupt(tmp_path: Path) -> None:
    """``rlsguard check`` imports pytest and the rest while the server's initdb runs. A
    Ctrl-C raised inside that import could come out as another error (Python 3.11 wraps
    one raised in a class's creation in a RuntimeError): it waits for the import to end."""
    check = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_INSIDE_AN_IMPORT, "check", "--project", str(PROJECT),
         "--backend", OWN_BACKEND, "--report", str(tmp_path / "reports" / "report.html")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = check.communicate(timeout=60)[0]
    assert check.returncode == 2, output
    assert "rlsguard: interrupted" in output
    assert "Traceback" not in output
    assert postgres_processes_of(check.pid) == []
    assert scratch_folders_of(check.pid) == []


def test_ctrl_c_while_the_base_is_built_leaves_no_worktree(
    project_copy: Callable[..., Path], tmp_path: Path
) -> None:
    """``--base``: the base's migrations run in a worktree of the repository; the signal
    comes while one of them runs there."""
    marker = tmp_path / "building-the-base"
    repository = project_copy(
        {
            "002_enable_rls": replace_once(
                "def upgrade() -> None:\n",
                "def upgrade() -> None:\n"
                "    if 'rlsguard-base-' in __file__:\n"
                f"        __import__('pathlib').Path({str(marker)!r}).touch()\n"
                "        op.execute('SELECT pg_sleep(120)')\n",
            )
        }
    )
    for arguments in (("init", "-q", "-b", "main"), ("add", "-A")):
        subprocess.run(["git", "-C", str(repository), *arguments], check=True)
    subprocess.run(
        ["git", "-C", str(repository), "-c", "user.email=t@example.invalid", "-c", "user.name=t",
         "commit", "-qm", "base"],
        check=True,
    )  # fmt: skip
    check = started_check(repository, tmp_path, "--base", "HEAD", "--seed", "1")
    wait_for(marker.exists, 120, "the base's sleeping migration")
    (worktree,) = Path(tempfile.gettempdir()).glob(f"rlsguard-base-{check.pid}-*")
    check.send_signal(signal.SIGINT)
    output = check.communicate(timeout=30)[0]
    assert check.returncode == 2, output
    assert "rlsguard: interrupted" in output
    assert "Traceback" not in output
    assert not worktree.exists()
    listed = subprocess.run(
        ["git", "-C", str(repository), "worktree", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.count("\n") == 1, listed.stdout  # the repository alone
    assert postgres_processes_of(check.pid) == []
    assert scratch_folders_of(check.pid) == []


KILL_THE_SERVER_AT_THE_CATALOG_READ = """
import os, signal, sys
import rlsguard.run
from rlsguard.cli import main

read_the_catalog = rlsguard.run.scan


def scan_after_the_server_died(connection, *arguments, **keywords):
    backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with open(f"/proc/{backend}/stat") as stat:
        postmaster = int(stat.read().rsplit(")", 1)[1].split()[1])
    os.kill(postmaster, signal.SIGKILL)
    return read_the_catalog(connection, *arguments, **keywords)


rlsguard.run.scan = scan_after_the_server_died
sys.exit(main(sys.argv[1:]))
"""


def test_a_server_that_dies_while_the_catalog_is_read_is_said_not_judged(tmp_path: Path) -> None:
    """The real ``rlsguard check``, whose catalog read starts just after its server was
    killed (the read is wrapped to kill it first; the error is the server's own)."""
    check = subprocess.run(
        [sys.executable, "-c", KILL_THE_SERVER_AT_THE_CATALOG_READ, "check",
         "--project", str(PROJECT), "--backend", OWN_BACKEND,
         "--report", str(tmp_path / "reports" / "report.html")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = check.stdout + check.stderr
    assert check.returncode == 2, output
    assert "rlsguard: the server went away" in output
    assert_judged_nothing(output, evidence_of(tmp_path), "the server went away")


def _fails() -> None:
    raise RuntimeError("a bug in a gc callback")


def test_pytest_says_nothing_of_an_interrupt_dropped_inside_a_gc_callback() -> None:
    """Raised again at the next safe point, it is not also pytest's unraisable warning
    (whose traceback would end up in the console of an interrupted run); other dropped
    exceptions still are."""
    from _pytest.config import parse_warning_filter  # noqa: PLC0415  what pytest applies

    line = f"ignore:{DROPPED_INTERRUPT}:pytest.PytestUnraisableExceptionWarning"
    _action, message, category, _module, _lineno = parse_warning_filter(line, escape=False)
    assert category is pytest.PytestUnraisableExceptionWarning

    def dropped(raising: Callable[[], None]) -> str:
        try:
            raising()
        except BaseException as error:
            told = "".join(traceback.format_exception(error))
        return f"Exception ignored in: <function gc_callback at 0x7f00>\n\n{told}\n"

    try:
        ours = dropped(lambda: InterruptSignals._raise(signal.SIGINT, None))
    finally:
        InterruptSignals.pending = None
    assert re.compile(message, re.IGNORECASE).match(ours)
    other = dropped(_fails)
    assert not re.compile(message, re.IGNORECASE).match(other)
