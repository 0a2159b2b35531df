"""``rlsguard check`` at head with pytest-xdist's workers sharing one server and template
(``--workers N``), against the same check in one process, side by side.

The machine is shared and noisy, so the two run alternately (which one goes first swaps
every pair) and the figure is the ratio within each pair, with its spread.

    .venv/bin/python bench/bench_workers.py --workers 2 --pairs 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worktree import ROOT, compiled


def timed_check(report: Path, workers: int) -> float:
    command = [sys.executable, "-m", "rlsguard.cli", "check", "-q", "--backend", "local",
               "--project", str(ROOT), "--report", str(report)]  # fmt: skip
    if workers > 1:
        command += ["--workers", str(workers)]
    began = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"rlsguard check ({workers} workers) exited {result.returncode}:\n"
                 f"{result.stdout[-2000:]}{result.stderr[-2000:]}")  # fmt: skip
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=3)
    arguments = parser.parse_args()
    compiled(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        ratios = []
        for pair in range(arguments.pairs):
            sides = [arguments.workers, 1]
            if pair % 2:
                sides.reverse()
            times = {
                workers: timed_check(Path(scratch) / str(workers) / "report.html", workers)
                for workers in sides
            }
            ratios.append(times[arguments.workers] / times[1])
            print(
                f"pair {pair + 1}: {arguments.workers} workers {times[arguments.workers]:.1f} s, "
                f"one process {times[1]:.1f} s, ratio {ratios[-1]:.2f}",
                flush=True,
            )
        print(
            f"ratio {arguments.workers} workers / one process: median "
            f"{statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f} "
            f"over {len(ratios)} pairs"
        )


if __name__ == "__main__":
    main()
