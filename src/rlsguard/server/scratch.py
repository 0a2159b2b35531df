"""Scratch folders (for throwaway servers, and for the git worktrees of ``--base``), and
the sweep that removes those of dead runs.

A folder is named ``rlsguard-pg-<pid>-<random>`` (or ``rlsguard-base-...``) after the
process that made it. A run that was killed with SIGKILL cannot clean up after itself;
the next run removes its folder (and stops its server, should one still be running) once
that pid is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from rlsguard.server.children import pid_alive

PREFIX = "rlsguard-pg-"
BASE_PREFIX = "rlsguard-base-"


def make_scratch_dir(prefix: str = PREFIX) -> Path:
    sweep_stale(prefix=prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


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
