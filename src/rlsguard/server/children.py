"""Child processes that cannot outlive rlsguard: the servers it starts, and the programs
that start their own (``initdb``, ``pg_ctl``)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] = libc.prctl
    return prctl


_prctl = _load_prctl()


def die_with_parent() -> None:
    """``preexec_fn``: the kernel sends SIGINT (a fast shutdown, for postgres) to the child
    when the thread that started it dies, even by SIGKILL. Runs after ``user=`` has
    switched the child's uid, which matters: a uid change clears the setting."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate(process: subprocess.Popen[bytes], graceful: signal.Signals = signal.SIGINT) -> None:
    """Ask politely, then firmly, then kill; always reap."""
    if process.poll() is not None:
        return
    for sig, wait_seconds in ((graceful, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=wait_seconds)
        except subprocess.TimeoutExpired:
            continue
        return


def run_in_own_group(
    command: list[str], timeout: float, **options: Any
) -> subprocess.CompletedProcess[bytes]:
    """``subprocess.run`` for a program that starts programs of its own (``initdb`` runs
    ``postgres`` in bootstrap mode): on an interrupt or a timeout the whole process group
    is killed and reaped, so nothing writes into a folder that is about to be removed."""
    return finish_in_own_group(start_in_own_group(command, **options), timeout)


def start_in_own_group(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """``run_in_own_group``'s first half: the program runs while the caller goes on."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **options
    )


def finish_in_own_group(
    process: subprocess.Popen[bytes], timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """Wait for a program ``start_in_own_group`` started (``timeout`` seconds from now)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        kill_group(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the program and whatever it started, and reap them."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    _wait_for_group(process.pid)


def _wait_for_group(group: int, seconds: float = 5.0) -> None:
    """Until no process of the killed group runs. Its orphans are reaped by whoever
    adopts them (init, which in a container may take a second or more); till then they
    are zombies, which write nothing, so on Linux they are not waited for."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        if _only_zombies_in(group):
            return
        time.sleep(0.01)


def _only_zombies_in(group: int) -> bool:
    """Are the processes of ``group`` all zombies? False where /proc cannot say (no
    /proc, or none of them shown)."""
    try:
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return False
    seen = False
    for pid in entries:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 2 and int(fields[2]) == group:
            if fields[0] != b"Z":
                return False
            seen = True
    return seen
