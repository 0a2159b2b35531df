"""``rlsguard check`` at head, this working tree against an earlier commit, side by side;
with ``--probes``, the platform's probes at head in one process instead (wall time, CPU
time of the probing process and the median examples/s of passing probes, from
``bench_probes.py`` of each tree). The machine is shared and noisy, so the two run
alternately (which one goes first swaps every pair) and the figure is the ratio within
each pair, with its spread. The earlier commit runs from a git worktree through
PYTHONPATH, with this venv's packages.

    .venv/bin/python bench/bench_versus.py --base HEAD~1 --pairs 3
    .venv/bin/python bench/bench_versus.py --base HEAD --base-flags="--probe-processes 1"
    .venv/bin/python bench/bench_versus.py --base HEAD~1 --pairs 4 --probes
    .venv/bin/python bench/bench_versus.py --base HEAD~1 --pairs 2 --probes --populate 20000
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worktree import ROOT, compiled, earlier_tree


def timed_check(source: Path, project: Path, report: Path, flags: list[str]) -> dict[str, float]:
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
    return {"wall s": seconds}


def probed(source: Path, populate: int) -> dict[str, float]:
    """The platform's probes at head in one process, by ``source``'s own bench_probes.py;
    with ``populate``, on a database in use, by this tree's bench_probes.py (which can
    fill one) over ``source``'s rlsguard."""
    environment = {**os.environ, "PYTHONPATH": str(source / "src")}
    bench = (ROOT if populate else source) / "bench" / "bench_probes.py"
    command = [sys.executable, str(bench), "--schemas", "platform", "--profiles", "ci",
               "--workers", "1", *(["--populate", str(populate)] if populate else [])]  # fmt: skip
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    head = result.stdout.partition("platform schema at head")[2]
    wall = re.search(r"wall time ([\d.]+) s", head)
    cpu = re.search(r"CPU time of the probing processes ([\d.]+) s", head)
    median = re.search(r"passing probes median (\d+) examples/s", head)
    if result.returncode != 0 or not (wall and cpu and median):
        sys.exit(f"bench_probes.py from {source} exited {result.returncode}:\n{result.stdout}")
    return {
        "wall s": float(wall.group(1)),
        "CPU s": float(cpu.group(1)),
        "examples/s": float(median.group(1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--base-flags", default="", help="rlsguard check flags of the base side")
    parser.add_argument("--probes", action="store_true", help="the probes, not the check")
    parser.add_argument(
        "--populate", type=int, default=0, metavar="N", help="with --probes: N rows already there"
    )
    arguments = parser.parse_args()
    flags = {"now": [], "base": shlex.split(arguments.base_flags)}
    base = f"{arguments.base} {arguments.base_flags}".strip()
    compiled(ROOT)
    with earlier_tree(arguments.base) as earlier, tempfile.TemporaryDirectory() as scratch:
        ratios: dict[str, list[float]] = {}
        for pair in range(arguments.pairs):
            sides = [("now", ROOT), ("base", earlier)]
            if pair % 2:
                sides.reverse()
            measured = {
                name: probed(source, arguments.populate)
                if arguments.probes
                else timed_check(source, source, Path(scratch) / name / "report.html", flags[name])
                for name, source in sides
            }
            shown = []
            for what, now in measured["now"].items():
                before = measured["base"][what]
                ratios.setdefault(what, []).append(now / before)
                shown.append(f"{what} now {now:.1f}, {base} {before:.1f}, ratio {now / before:.2f}")
            print(f"pair {pair + 1}: " + "; ".join(shown), flush=True)
        for what, found in ratios.items():
            print(
                f"{what} ratio now/{base}: median {statistics.median(found):.2f}, "
                f"range {min(found):.2f}-{max(found):.2f} over {len(found)} pairs"
            )


if __name__ == "__main__":
    main()
