"""What a command costs before it does anything: ``rlsguard --version``, ``--help``,
(``--scan``) a static scan of a 10-table synthetic schema, ``scan --static-only --format
json``, and (``--pytest``) a pytest run of one trivial test in a folder that does not use
rlsguard (the plugin loads into it all the same), this working tree against an earlier
commit, side by side.

The two run alternately (which one goes first swaps every round) and each figure is the
median of the rounds, with the ratio's spread; the earlier commit runs from a git
worktree through PYTHONPATH, with this venv's packages.

    .venv/bin/python bench/bench_startup.py --base HEAD~1 --rounds 15 [--scan] [--pytest]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from synthetic import create_roles, synthetic_schema
from worktree import ROOT, compiled, earlier_tree

from rlsguard.server import ServerRequest, provision
from rlsguard.server.databases import Databases, connected

APP, ADMIN = "bench_app", "bench_admin"

COMMANDS = (("--version",), ("--help",))


def timed(source: Path, arguments: tuple[str, ...]) -> float:
    environment = {
        **{name: value for name, value in os.environ.items() if "RLSGUARD" not in name},
        "PYTHONPATH": str(source / "src"),
    }
    command = (
        list(arguments) if arguments[:2] == ("-m", "pytest") else ["-m", "rlsguard.cli", *arguments]
    )
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *command], env=environment, capture_output=True, check=False
    )
    if done.returncode not in (0, 1):
        sys.exit(f"rlsguard {arguments[0]} from {source} exited {done.returncode}: {done.stderr!r}")
    return time.perf_counter() - began


@contextlib.contextmanager
def static_scan_of_ten_tables() -> Iterator[tuple[str, ...]]:
    """The arguments of a static scan of a fresh 10-table synthetic schema."""
    with provision(ServerRequest()) as server, tempfile.TemporaryDirectory() as project:
        create_roles(server.url, APP, ADMIN)
        databases = Databases(server.url)
        name = databases.create("startup_scan")
        with connected(databases.url(name)) as connection:
            connection.exec_driver_sql(synthetic_schema(10, APP, ADMIN))
            connection.commit()
        dsn = databases.url(name).render_as_string(hide_password=False)
        yield ("scan", "--static-only", "--format", "json", "--dsn", dsn, "--project", project,
               "--app-role", APP, "--admin-role", ADMIN)  # fmt: skip


@contextlib.contextmanager
def trivial_pytest_run() -> Iterator[tuple[str, ...]]:
    """The arguments of a pytest run of one trivial test, in a folder without rlsguard."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "pytest.ini").write_text("[pytest]\n")
        (Path(folder) / "test_trivial.py").write_text("def test_nothing():\n    pass\n")
        yield ("-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", folder,
               "-c", str(Path(folder) / "pytest.ini"), str(Path(folder) / "test_trivial.py"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--scan", action="store_true", help="also a static scan (a server)")
    parser.add_argument("--pytest", action="store_true", help="also a trivial pytest run")
    arguments = parser.parse_args()
    compiled(ROOT)
    with contextlib.ExitStack() as stack:
        earlier = stack.enter_context(earlier_tree(arguments.base))
        commands: list[tuple[str, ...]] = list(COMMANDS)
        if arguments.scan:
            commands.append(stack.enter_context(static_scan_of_ten_tables()))
        if arguments.pytest:
            commands.append(stack.enter_context(trivial_pytest_run()))
        for command in commands:
            now, base, ratios = [], [], []
            for round_ in range(arguments.rounds):
                sides = [(now, ROOT), (base, earlier)]
                if round_ % 2:
                    sides.reverse()
                for times, source in sides:
                    times.append(timed(source, command))
                ratios.append(now[-1] / base[-1])
            print(
                f"rlsguard {' '.join(command[:2])}: now {statistics.median(now):.3f} s, "
                f"{arguments.base} {statistics.median(base):.3f} s; ratio median "
                f"{statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f} "
                f"over {arguments.rounds} rounds"
            )


if __name__ == "__main__":
    main()
