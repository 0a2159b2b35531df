"""``rlsguard check`` at head, this working tree against an earlier commit, side by side.

The machine is shared and noisy, so the two run alternately (which one goes first swaps
every pair) and the figure is the ratio within each pair, with its spread. The earlier
commit runs from a git worktree through PYTHONPATH, with this venv's packages.

    .venv/bin/python bench/bench_versus.py --base HEAD~1 --pairs 3
    .venv/bin/python bench/bench_versus.py --base HEAD --base-flags="--probe-processes 1"
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worktree import ROOT, compiled, earlier_tree


def timed_check(source: Path, project: Path, report: Path, flags: list[str]) -> float:
    environment = {**os.environ, "PYTHONPATH": str(source / "src")}
    command = [sys.executable, "-m", "rlsguard.cli", "check", "-q", "--backend", "local",
               "--project", str(project), "--report", str(report), *flags]  # fmt: skip
    began = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(
            f"rlsguard check from {source} exited {result.returncode}:\n{result.stdout[-2000:]}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--base-flags", default="", help="rlsguard check flags of the base side")
    arguments = parser.parse_args()
    flags = {"now": [], "base": shlex.split(arguments.base_flags)}
    base = f"{arguments.base} {arguments.base_flags}".strip()
    compiled(ROOT)
    with earlier_tree(arguments.base) as earlier, tempfile.TemporaryDirectory() as scratch:
        ratios = []
        for pair in range(arguments.pairs):
            sides = [("now", ROOT), ("base", earlier)]
            if pair % 2:
                sides.reverse()
            times = {
                name: timed_check(source, source, Path(scratch) / name / "report.html", flags[name])
                for name, source in sides
            }
            ratios.append(times["now"] / times["base"])
            print(
                f"pair {pair + 1}: now {times['now']:.1f} s, {base} "
                f"{times['base']:.1f} s, ratio {ratios[-1]:.2f}",
                flush=True,
            )
        print(
            f"ratio now/{base}: median {statistics.median(ratios):.2f}, "
            f"range {min(ratios):.2f}-{max(ratios):.2f} over {len(ratios)} pairs"
        )


if __name__ == "__main__":
    main()
