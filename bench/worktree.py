"""An earlier commit of this repository in a temporary git worktree, for a benchmark that
runs it side by side with the working tree."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compiled(tree: Path) -> Path:
    """Byte-compile a tree's sources, so that no timed run pays for compiling them (the
    environment may forbid writing them on import: PYTHONDONTWRITEBYTECODE)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "src")], check=True)
    return tree


@contextmanager
def earlier_tree(ref: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rlsguard-bench-") as scratch:
        tree = Path(scratch) / "earlier"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), ref],
            check=True,
        )
        try:
            yield compiled(tree)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                check=False,
            )
