"""What a person reads after ``rlsguard check`` on a broken revision, and how long it takes:
the platform with one more revision that turns RLS off on ``documents`` (the golden
console's case), checked by each source tree given, alternating, with and without
``-q``. Prints the lines of output and the wall time per tree, and the ratios to the
first tree.

    .venv/bin/python bench/bench_console.py --trees /tmp/base . [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_console import BROKEN_REVISION  # noqa: E402

PROJECT_FILES = ("alembic.ini", "pyproject.toml", "migrations")
CHECK_FLAGS = ("--max-examples", "10", "--seed", "7")


def broken_copy(into: Path) -> Path:
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, into / name)
    (into / "migrations" / "versions" / "009_documents_without_rls.py").write_text(BROKEN_REVISION)
    return into


def check(tree: Path, project: Path, *flags: str) -> tuple[int, float]:
    """Lines printed and seconds taken by ``rlsguard check`` of ``tree``'s source."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rlsguard.cli", "check", *CHECK_FLAGS, *flags],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree / "src"), "RLSGUARD_DATABASE_URL": ""},
        check=False,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 1:
        raise SystemExit(f"{tree}: expected exit 1, got {done.returncode}:\n{done.stderr}")
    return len(done.stdout.splitlines()) + len(done.stderr.splitlines()), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs="+", type=Path, default=[ROOT])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    trees = [tree.resolve() for tree in options.trees]
    found: dict[tuple[Path, str], list[tuple[int, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="rlsguard-bench-console-") as folder:
        project = broken_copy(Path(folder))
        for _ in range(options.repeat):
            for mode in ("default", "-q"):
                for tree in trees:  # alternating, so a busy moment hits every tree
                    flags = () if mode == "default" else ("-q",)
                    found.setdefault((tree, mode), []).append(check(tree, project, *flags))
    first = trees[0]
    for mode in ("default", "-q"):
        for tree in trees:
            runs = found[(tree, mode)]
            lines = statistics.median(count for count, _ in runs)
            seconds = [taken for _, taken in runs]
            ratios = [a / b for (_, a), (_, b) in zip(runs, found[(first, mode)], strict=True)]
            spread = f"({min(seconds):.1f}-{max(seconds):.1f})"
            ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            print(
                f"{mode:<8} {tree!s:<40} {lines:6.0f} lines  "
                f"{statistics.median(seconds):6.1f} s {spread}  time/first {ratio}"
            )


if __name__ == "__main__":
    main()
