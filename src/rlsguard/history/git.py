"""Running git for the evidence (commit, branch) and for ``--base`` (worktrees)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitFailed(Exception):
    """git is missing, timed out, or refused; the message is git's last line."""


def git(folder: Path, *arguments: str, timeout: float = 120) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitFailed(str(error)) from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise GitFailed(lines[-1] if lines else f"git {' '.join(arguments)} failed")
    return done.stdout.strip()
