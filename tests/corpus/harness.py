"""Building a corpus case: its roles (names unique to the test), its schema in a new
database, and the rlsguard settings that go with it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from rlsguard.config import Settings
from rlsguard.run import Run
from tests.conftest import execute
from tests.corpus.cases import Case

ROLES = ("app", "admin", "group", "owner")


@dataclass(frozen=True)
class BuiltCase:
    url: URL
    names: dict[str, str]
    settings: Settings


BuildCase = Callable[..., BuiltCase]


def fill(text: str, names: dict[str, str]) -> str:
    for placeholder, name in names.items():
        text = text.replace("{" + placeholder + "}", name)
    return text


@pytest.fixture
def case_database(rlsguard_run: Run, tmp_path: Path) -> Iterator[BuildCase]:
    made: list[tuple[str, dict[str, str]]] = []
    server = rlsguard_run.server.url

    def build(case: Case, **overrides: object) -> BuiltCase:
        token = secrets.token_hex(3)
        names = {role: f"rg_{token}_{role}" for role in ROLES}
        execute(server, "; ".join(f"CREATE ROLE {name}" for name in names.values()))
        database = rlsguard_run.empty_database(f"case_{case.name}")
        made.append((database, names))
        execute(rlsguard_run.url(database), fill(case.base + "\n" + case.sql, names))
        values: dict[str, object] = {
            "project_root": tmp_path,
            "app_role": names["app"],
            "admin_roles": (names["admin"],),
            **case.settings,
            **overrides,
        }
        return BuiltCase(rlsguard_run.url(database), names, Settings(**values))  # type: ignore[arg-type]

    yield build
    for database, names in made:
        rlsguard_run.drop(database)
        execute(server, "; ".join(f"DROP ROLE IF EXISTS {name}" for name in names.values()))
