"""What a command costs before it does anything: ``rlsguard --version`` and ``--help``,
this working tree against an earlier commit, side by side.

The two run alternately (which one goes first swaps every round) and each figure is the
median of the rounds, with the ratio's spread; the earlier commit runs from a git
worktree through PYTHONPATH, with this venv's packages.

    .venv/bin/python bench/bench_startup.py --base HEAD~1 --rounds 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from worktree import ROOT, earlier_tree

COMMANDS = (("--version",), ("--help",))


def timed(source: Path, arguments: tuple[str, ...]) -> float:
    environment = {**os.environ, "PYTHONPATH": str(source / "src")}
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rlsguard.cli", *arguments],
        env=environment, capture_output=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument("--rounds", type=int, default=15)
    arguments = parser.parse_args()
    with earlier_tree(arguments.base) as earlier:
        for command in COMMANDS:
            now, base, ratios = [], [], []
            for round_ in range(arguments.rounds):
                sides = [(now, ROOT), (base, earlier)]
                if round_ % 2:
                    sides.reverse()
                for times, source in sides:
                    times.append(timed(source, command))
                ratios.append(now[-1] / base[-1])
            print(
                f"rlsguard {' '.join(command)}: now {statistics.median(now):.3f} s, "
                f"{arguments.base} {statistics.median(base):.3f} s; ratio median "
                f"{statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f} "
                f"over {arguments.rounds} rounds"
            )


if __name__ == "__main__":
    main()
