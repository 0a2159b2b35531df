"""Probe coverage on schema shapes beyond the platform's (the correct variants of
tests/test_shapes.py, the populated shapes of tests/test_populated.py and the correct
corpus schemas): per shape, how many (object x probe) items acted (held or found
something) rather than "cannot", and how many drawn examples witnessed their premise.

    .venv/bin/python bench/bench_coverage.py [--max-examples 100]
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlsguard.config import Settings  # noqa: E402
from rlsguard.findings import Outcome  # noqa: E402
from rlsguard.run import Run  # noqa: E402
from rlsguard.server import ServerRequest  # noqa: E402
from tests.conftest import execute  # noqa: E402
from tests.corpus.cases import CORRECT, Case  # noqa: E402
from tests.corpus.harness import ROLES, BuiltCase, fill, run_all_probes  # noqa: E402
from tests.test_populated import (  # noqa: E402
    IN_USE,
    INTEGER_KEYS,
    SEQUENCED_IN_USE,
    SEQUENCED_KEYS,
    UUID_IN_USE,
    UUID_KEYS,
)
from tests.test_shapes import SHAPES  # noqa: E402


def shapes() -> list[tuple[str, Case, str]]:
    """(label, case, rows already there)."""
    found = [(shape.name, shape, "") for shape, _break, _caught in SHAPES]
    found += [
        (f"{INTEGER_KEYS.name}, populated", INTEGER_KEYS, IN_USE),
        (f"{UUID_KEYS.name}, populated", UUID_KEYS, UUID_IN_USE),
        (f"{SEQUENCED_KEYS.name}, populated", SEQUENCED_KEYS, SEQUENCED_IN_USE),
    ]
    return found + [(f"corpus: {case.name}", case, "") for case in CORRECT]


def measure(run: Run, case: Case, rows: str, examples: int) -> tuple[Counter[str], int, int]:
    names = {role: f"rg_{secrets.token_hex(3)}_{role}" for role in ROLES}
    execute(run.server.url, "; ".join(f"CREATE ROLE {name}" for name in names.values()))
    database = run.empty_database(f"coverage_{case.name}")
    try:
        url = run.url(database)
        execute(url, fill(case.base + "\n" + case.sql, names))
        if rows:
            execute(url, rows)
        values: dict[str, object] = {
            "project_root": ROOT,
            "app_role": names["app"],
            "admin_roles": (names["admin"],),
            **case.settings,
        }
        built = BuiltCase(url, names, Settings(**values))  # type: ignore[arg-type]
        results = run_all_probes(run, built, examples)
    finally:
        run.drop(database)
        execute(run.server.url, "; ".join(f"DROP ROLE {name}" for name in names.values()))
    statuses = Counter(result.status.value for result in results)
    drawn = sum(result.examples for result in results if result.status is not Outcome.CANNOT)
    witnessed = sum(result.witnessed for result in results)
    return statuses, drawn, witnessed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100)
    arguments = parser.parse_args()
    run = Run(Settings(project_root=ROOT), request=ServerRequest(backend="local"))
    print(f"{'shape':48} {'items':>5} {'acted':>5} {'cannot':>6} {'drawn':>7} {'witnessed':>9}")
    totals: Counter[str] = Counter()
    try:
        for label, case, rows in shapes():
            statuses, drawn, witnessed = measure(run, case, rows, arguments.max_examples)
            items = sum(statuses.values())
            unable = statuses[Outcome.CANNOT.value]
            totals.update(items=items, acted=items - unable, drawn=drawn, witnessed=witnessed)
            print(
                f"{label:48} {items:>5} {items - unable:>5} {unable:>6} {drawn:>7} {witnessed:>9}",
                flush=True,
            )
    finally:
        run.close()
    print(
        f"all: {totals['acted']} of {totals['items']} items acted "
        f"({100 * totals['acted'] / max(totals['items'], 1):.0f}%); "
        f"{totals['witnessed']} of {totals['drawn']} examples of acting items witnessed "
        f"their premise ({100 * totals['witnessed'] / max(totals['drawn'], 1):.0f}%)"
    )


if __name__ == "__main__":
    main()
