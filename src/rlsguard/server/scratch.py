"""Scratch folders (for throwaway servers, and for the git worktrees of ``--base``), and
the sweep that removes those of dead runs.

A folder is named ``rlsguard-pg-<pid>-<random>`` (or ``rlsguard-base-...``) after the
process that made it. A run that was killed with SIGKILL cannot clean up after itself;
the next run removes its folder (and stops its server, should one still be running) once
that pid is gone.

A server's folder goes where ``RLSGUARD_SCRATCH_DIR`` says, else in memory (``/dev/shm``)
when that has room and allows programs to run, else in the temp folder. On a disk every
``CREATE DATABASE`` writes the template's few hundred files through the file system (30 ms
in memory, 80-300 ms on the ext4 of a shared runner).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from rlsguard.errors import ProvisionError
from rlsguard.server.children import pid_alive

PREFIX = "rlsguard-pg-"
BASE_PREFIX = "rlsguard-base-"
SCRATCH_ENV = "RLSGUARD_SCRATCH_DIR"
MEMORY_FOLDER = Path("/dev/shm")
MEMORY_FREE_NEEDED = 1 << 30  # room for a big schema's cluster and PostgreSQL's own segments


def make_scratch_dir(prefix: str = PREFIX, root: Path | None = None) -> Path:
    """A new folder under ``root`` (the temp folder by default), after sweeping the
    folders of dead runs from every place a scratch folder may be."""
    for place in scratch_roots():
        sweep_stale(place, prefix=prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root))


def server_scratch_root(environ: Mapping[str, str] | None = None) -> Path:
    """Where a throwaway server's folder goes: ``RLSGUARD_SCRATCH_DIR`` (an existing
    folder), else memory when it has room, else the temp folder."""
    folder = _chosen(environ)
    if folder is not None:
        if not folder.is_dir():
            raise ProvisionError(f"{SCRATCH_ENV}={folder} is not a folder; create it or unset it")
        return folder
    if memory_has_room(MEMORY_FOLDER):
        return MEMORY_FOLDER
    return Path(tempfile.gettempdir())


def memory_has_room(folder: Path) -> bool:
    """Whether ``folder`` can hold a server: writable, programs may run from it (a copy
    of the server's binaries may have to), and 1 GiB free."""
    try:
        usage, flags = shutil.disk_usage(folder), os.statvfs(folder).f_flag
    except OSError:
        return False
    return (
        os.access(folder, os.W_OK | os.X_OK)
        and not flags & getattr(os, "ST_NOEXEC", 0)  # a flag only Linux names
        and not flags & os.ST_RDONLY
        and usage.free >= MEMORY_FREE_NEEDED
    )


def scratch_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Every place a scratch folder may be: the one chosen now and those chosen by other
    runs under other conditions."""
    chosen = _chosen(environ)
    places = [*([chosen] if chosen else []), MEMORY_FOLDER, Path(tempfile.gettempdir())]
    return list(dict.fromkeys(places))


def _chosen(environ: Mapping[str, str] | None) -> Path | None:
    """``RLSGUARD_SCRATCH_DIR`` as an absolute path (initdb runs in another folder)."""
    chosen = (os.environ if environ is None else environ).get(SCRATCH_ENV)
    return Path(chosen).absolute() if chosen else None


def owner_pid(folder: Path, prefix: str = PREFIX) -> int | None:
    rest = folder.name.removeprefix(prefix)
    pid_text = rest.split("-", 1)[0]
    return int(pid_text) if pid_text.isdigit() else None


def sweep_stale(root: Path | None = None, prefix: str = PREFIX) -> list[Path]:
    """Remove the scratch folders whose creating process no longer exists."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = owner_pid(folder, prefix)
        if pid is None or pid == os.getpid() or pid_alive(pid) or not folder.is_dir():
            continue
        stop_orphan_postmaster(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def stop_orphan_postmaster(data_dir: Path, wait_seconds: float = 10.0) -> None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if not _is_postgres(pid):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + wait_seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _is_postgres(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"postgres" in command
