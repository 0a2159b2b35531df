"""Where a throwaway server's folder goes: RLSGUARD_SCRATCH_DIR, else memory when it has
room and lets programs run, else the temp folder; and the sweep looks in every one."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from rlsguard.errors import ProvisionError
from rlsguard.server import scratch
from rlsguard.server.scratch import (
    PREFIX,
    SCRATCH_ENV,
    make_scratch_dir,
    memory_has_room,
    scratch_roots,
    server_scratch_root,
)


@pytest.fixture
def memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "shm"
    folder.mkdir()
    monkeypatch.setattr(scratch, "MEMORY_FOLDER", folder)
    monkeypatch.setattr(scratch, "MEMORY_FREE_NEEDED", 1)
    return folder


def _flags(monkeypatch: pytest.MonkeyPatch, flags: int) -> None:
    real = os.statvfs

    class Result:
        def __init__(self, path: os.PathLike[str] | str) -> None:
            self._real = real(path)
            self.f_flag = self._real.f_flag | flags

        def __getattr__(self, name: str) -> int:
            return int(getattr(self._real, name))

    monkeypatch.setattr(scratch.os, "statvfs", Result)


def test_memory_with_room_is_chosen(memory: Path) -> None:
    assert server_scratch_root({}) == memory


def test_the_variable_wins_over_memory(memory: Path, tmp_path: Path) -> None:
    chosen = tmp_path / "mine"
    chosen.mkdir()
    assert server_scratch_root({SCRATCH_ENV: str(chosen)}) == chosen


def test_a_variable_naming_no_folder_is_a_clear_error(memory: Path, tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match=f"{SCRATCH_ENV}=.*missing is not a folder"):
        server_scratch_root({SCRATCH_ENV: str(tmp_path / "missing")})


def test_memory_without_room_gives_way_to_the_temp_folder(
    memory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scratch, "MEMORY_FREE_NEEDED", 1 << 60)
    assert not memory_has_room(memory)
    assert server_scratch_root({}) == Path(tempfile.gettempdir())


def test_no_memory_folder_gives_way_to_the_temp_folder(
    memory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scratch, "MEMORY_FOLDER", memory / "absent")
    assert server_scratch_root({}) == Path(tempfile.gettempdir())


@pytest.mark.parametrize("flag", [os.ST_NOEXEC, os.ST_RDONLY], ids=["noexec", "read-only"])
def test_memory_that_cannot_run_or_hold_files_is_passed_over(
    memory: Path, monkeypatch: pytest.MonkeyPatch, flag: int
) -> None:
    assert memory_has_room(memory)
    _flags(monkeypatch, flag)
    assert not memory_has_room(memory)
    assert server_scratch_root({}) == Path(tempfile.gettempdir())


def test_the_sweep_looks_in_memory_too(memory: Path, tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = memory / f"{PREFIX}{finished.pid}-left"
    stale.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = make_scratch_dir(root=elsewhere)
    assert made.parent == elsewhere
    assert not stale.exists()
    assert memory in scratch_roots({})


def test_the_sweep_looks_where_the_variable_points(tmp_path: Path) -> None:
    chosen = tmp_path / "mine"
    chosen.mkdir()
    assert scratch_roots({SCRATCH_ENV: str(chosen)})[0] == chosen


def test_a_relative_variable_is_taken_from_where_rlsguard_runs(
    memory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine").mkdir()
    monkeypatch.chdir(tmp_path)
    assert server_scratch_root({SCRATCH_ENV: "mine"}) == tmp_path / "mine"
    assert scratch_roots({SCRATCH_ENV: "mine"})[0] == tmp_path / "mine"
