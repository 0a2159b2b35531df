"""The migration roundtrips (up, down, up with the fingerprint compared at each turn) per
revision of the platform, this working tree against an earlier commit, side by side.

Each round starts one process per tree (alternating which goes first), which starts its
own server, builds the templates, then times ``roundtrip_problems`` for every revision;
the figure is the median per revision and the ratio of the rounds' totals, with the
spread. The earlier commit runs from a git worktree through PYTHONPATH.

    .venv/bin/python bench/bench_roundtrips.py --base HEAD~1 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from worktree import ROOT, earlier_tree

TIMED = """
import json, sys, time
from pathlib import Path
from rlsguard.config import load_settings
from rlsguard.migration_checks import roundtrip_problems
from rlsguard.run import Run
from rlsguard.server import ServerRequest, provision

with provision(ServerRequest(backend="local")) as server:
    run = Run(settings=load_settings(Path(sys.argv[1])), given_server=server)
    try:
        revisions = run.project.revision_ids()
        for revision in revisions:
            run.template(revision)
        seconds = {}
        for revision in revisions:
            began = time.perf_counter()
            problems = roundtrip_problems(run, revision)
            seconds[revision] = time.perf_counter() - began
            assert not problems, problems
        print(json.dumps(seconds))
    finally:
        run.close()
"""


def timed(source: Path) -> dict[str, float]:
    environment = {**os.environ, "PYTHONPATH": str(source / "src")}
    result = subprocess.run(
        [sys.executable, "-c", TIMED, str(ROOT)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(
            f"the roundtrips from {source} exited {result.returncode}:\n{result.stderr[-2000:]}"
        )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"now": [], "base": []}
    ratios = []
    with earlier_tree(arguments.base) as earlier:
        for round_ in range(arguments.rounds):
            sides = [("now", ROOT), ("base", earlier)]
            if round_ % 2:
                sides.reverse()
            for name, source in sides:
                runs[name].append(timed(source))
            totals = {name: sum(found[-1].values()) for name, found in runs.items()}
            ratios.append(totals["now"] / totals["base"])
            print(
                f"round {round_ + 1}: now {totals['now']:.2f} s, {arguments.base} "
                f"{totals['base']:.2f} s, ratio {ratios[-1]:.2f}",
                flush=True,
            )
    print(f"\n{'revision':34} {'now':>8} {'base':>8}  (median seconds per roundtrip)")
    for revision in runs["now"][0]:
        now = statistics.median(found[revision] for found in runs["now"])
        base = statistics.median(found[revision] for found in runs["base"])
        print(f"{revision:34} {now:8.3f} {base:8.3f}")
    per_revision = {
        name: statistics.median(sum(found.values()) / len(found) for found in found_runs)
        for name, found_runs in runs.items()
    }
    print(
        f"per revision: now {per_revision['now']:.3f} s, {arguments.base} "
        f"{per_revision['base']:.3f} s; ratio now/{arguments.base}: median "
        f"{statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f} over "
        f"{len(ratios)} rounds"
    )


if __name__ == "__main__":
    main()
