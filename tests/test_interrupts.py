"""Ctrl-C and SIGTERM, during a pytest session and during ``rlsguard check``: the run
stops its server and removes its folder on the way out."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rlsguard.server.process import pid_alive
from tests.conftest import PROJECT, postgres_processes_of, replace_once, scratch_folders_of

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
         "--rlsguard-backend", "local", "-c", "pyproject.toml", "--rootdir", str(tmp_path)],
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


def test_sigterm_during_a_migration_of_rlsguard_check(
    project_copy: Callable[..., Path], tmp_path: Path
) -> None:
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
    check = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlsguard.cli",
            "check",
            "--project",
            str(copy),
            "--backend",
            "local",
        ],
        cwd=copy,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(marker.exists, 120, "rlsguard check to reach the sleeping migration")
    time.sleep(0.2)
    assert postgres_processes_of(check.pid)
    check.send_signal(signal.SIGTERM)
    output = check.communicate(timeout=20)[0]  # pg_sleep(120) is cancelled, not waited for
    assert check.returncode == 2, output
    assert "KeyboardInterrupt: SIGTERM" in output
    assert postgres_processes_of(check.pid) == [], output
    assert scratch_folders_of(check.pid) == []
