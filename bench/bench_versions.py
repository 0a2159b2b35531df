"""``rlsguard check`` at head on each PostgreSQL major version this machine can start.

The versions run in turn within each round (the order rotates every round, so no
version always goes first on a machine that warms up or gets busier), and the figures
are each version's median with its spread, and its ratio to the first version asked
for within each round. A run that fails is reported with its exit status and verdict:
the shipped platform needs PostgreSQL 15 or later (revision 007 uses
``UNIQUE NULLS NOT DISTINCT``).

    .venv/bin/python bench/bench_versions.py --versions 14 15 16 17 18 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worktree import ROOT


def timed_check(major: int, report: Path) -> tuple[float, int, str]:
    environment = {**os.environ, "RLSGUARD_PG_VERSION": str(major)}
    command = [sys.executable, "-m", "rlsguard.cli", "check", "-q",
               "--project", str(ROOT), "--report", str(report)]  # fmt: skip
    began = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    verdict = next(
        (line for line in result.stdout.splitlines() if line.startswith("rlsguard: ")),
        (result.stderr.strip().splitlines() or ["?"])[-1],
    )
    return seconds, result.returncode, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, nargs="+", default=[15, 16, 17, 18])
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    versions: list[int] = arguments.versions
    times: dict[int, list[float]] = {major: [] for major in versions}
    ratios: dict[int, list[float]] = {major: [] for major in versions}
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(arguments.rounds):
            shift = round_number % len(versions)
            this_round: dict[int, float] = {}
            for major in versions[shift:] + versions[:shift]:
                seconds, code, verdict = timed_check(major, Path(scratch) / f"{major}.html")
                this_round[major] = seconds
                times[major].append(seconds)
                print(f"round {round_number + 1}: PostgreSQL {major}: {seconds:.1f} s, "
                      f"exit {code}: {verdict[:120]}", flush=True)  # fmt: skip
            for major in versions:
                ratios[major].append(this_round[major] / this_round[versions[0]])
    for major in versions:
        spread = f"{min(times[major]):.1f}-{max(times[major]):.1f}"
        ratio = f"{statistics.median(ratios[major]):.2f} ({min(ratios[major]):.2f}-{max(ratios[major]):.2f})"
        print(f"PostgreSQL {major}: median {statistics.median(times[major]):.1f} s "
              f"({spread}); ratio to {versions[0]}: {ratio}")  # fmt: skip


if __name__ == "__main__":
    main()
