"""Where the server comes from: the order DSN -> Docker -> local -> embedded, the
errors for bad input, and the Docker path driven through a stand-in testcontainers."""

from __future__ import annotations

import socket
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rlsguard.errors import BackendUnavailable, ConfigError, ProvisionError
from rlsguard.server import Provisioning, ServerRequest, local, provision, request_from
from rlsguard.server import embedded as embedded_module
from rlsguard.server.docker import DockerServer, docker_endpoint
from rlsguard.server.dsn import connection_params
from rlsguard.server.external import ExternalServer
from rlsguard.server.local import LocalServer, discover_local_binaries
from rlsguard.server.urls import parse_dsn, psycopg2_params, redact
from tests.conftest import execute, query


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no Docker, no PostgreSQL binaries and no embedded extra."""
    for name in (
        "DOCKER_HOST", "PG_BINDIR", "RLSGUARD_DATABASE_URL", "RLSGUARD_PG_VERSION",
        "RLSGUARD_SERVER_CACHE", "XDG_CACHE_HOME",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("rlsguard.server.docker.SOCKET_CANDIDATES", ())
    monkeypatch.setattr(local, "SYSTEM_BINDIR_GLOBS", ())
    absent = embedded_module.Wheel("no-such-wheel", "no_such_embedded_package", ())
    monkeypatch.setattr(embedded_module, "WHEELS", (absent,))


# -- requests and their validation ---------------------------------------------------------


def test_unknown_backend() -> None:
    with pytest.raises(
        ConfigError, match="unknown backend 'podman'; choose one of auto, dsn, docker"
    ):
        ServerRequest(backend="podman").validated()


def test_dsn_with_another_backend_is_a_contradiction() -> None:
    with pytest.raises(ConfigError, match=r"a DSN was given .* but the backend is 'local'"):
        ServerRequest(backend="local", dsn="postgresql://x@localhost/db").validated()


def test_dsn_backend_needs_a_dsn() -> None:
    with pytest.raises(ConfigError, match="backend 'dsn' needs a DSN"):
        ServerRequest(backend="dsn").validated()


def test_environment_dsn_applies_only_when_no_other_backend_was_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RLSGUARD_DATABASE_URL", "postgresql://from-env@localhost/db")
    assert request_from(None, None, None).dsn == "postgresql://from-env@localhost/db"
    assert request_from("local", None, None).dsn is None
    assert (
        request_from(None, "postgresql://flag@localhost/db", None).dsn
        == "postgresql://flag@localhost/db"
    )


# -- no server at all --------------------------------------------------------------------------


@pytest.mark.usefixtures("nothing_installed")
def test_no_server_anywhere_names_the_four_fixes() -> None:
    with pytest.raises(ProvisionError) as failure:
        provision(ServerRequest())
    message = str(failure.value)
    assert message.startswith("rlsguard found no PostgreSQL server to test against.")
    for fix in (
        "--rlsguard-dsn",
        "RLSGUARD_DATABASE_URL",
        "start a Docker engine",
        "apt-get install postgresql",
        "pip install 'rlsguard[embedded]'",
    ):
        assert fix in message
    for tried in (
        "dsn:",
        "docker:   no Docker engine found",
        "local:    no initdb",
        "embedded: the 'embedded' extra",
    ):
        assert tried in message


@pytest.mark.usefixtures("nothing_installed")
@pytest.mark.parametrize("backend", ["docker", "local", "embedded"])
def test_an_explicit_backend_that_is_unavailable_says_so(backend: str) -> None:
    with pytest.raises(
        ProvisionError, match=f"backend '{backend}' is unavailable: .*\nAny one of these fixes it"
    ):
        provision(ServerRequest(backend=backend))


# -- an explicit DSN ---------------------------------------------------------------------------


def test_a_begun_provisioning_says_a_bad_request_when_the_server_is_asked_for() -> None:
    provisioning = Provisioning(ServerRequest(backend="podman")).begin()  # no error yet
    with pytest.raises(ConfigError, match="unknown backend 'podman'"):
        provisioning.finish()
    provisioning.abandon()  # nothing was begun: nothing to stop


def test_an_abandoned_provisioning_stops_the_server_it_began() -> None:
    provisioning = Provisioning(ServerRequest(backend="local")).begin()
    begun = provisioning._begun
    assert begun is not None
    name, server = begun
    assert name == "local"
    assert isinstance(server, LocalServer)
    scratch = server.scratch
    assert scratch is not None
    assert scratch.exists()
    provisioning.abandon()
    assert not scratch.exists()
    assert provisioning._begun is None


def test_unreachable_dsn_names_where_and_hides_the_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    dsn = f"postgresql://alice:s3cret-pw@127.0.0.1:{closed_port}/appdb"
    with pytest.raises(ProvisionError) as failure:
        provision(ServerRequest(dsn=dsn))
    message = str(failure.value)
    assert f"cannot connect to PostgreSQL as alice@127.0.0.1:{closed_port}/appdb" in message
    assert "s3cret-pw" not in message


def test_wrong_password_is_reported_without_it(rlsguard_server: Any) -> None:
    wrong = rlsguard_server.url.set(password="hunter2-wrong")
    with pytest.raises(ProvisionError) as failure:
        provision(ServerRequest(dsn=wrong.render_as_string(hide_password=False)))
    message = str(failure.value)
    assert "password authentication failed for user" in message
    assert "hunter2-wrong" not in message
    assert f"postgres@127.0.0.1:{wrong.port}/postgres" in message


def test_a_throwaway_server_runs_no_autovacuum(rlsguard_server: Any) -> None:
    """Autovacuum's locks would turn the probes that lock a whole table into "cannot"."""
    assert query(rlsguard_server.url, "SHOW autovacuum") == [("off",)]


def test_a_throwaway_server_takes_a_migration_of_thousands_of_tables(rlsguard_server: Any) -> None:
    """Dropping 1,000 tables with their indexes in one transaction holds about 8,000
    locks, more than PostgreSQL's default lock table (64 a connection, 6,400) takes; here
    20,000 advisory locks stand in for them."""
    held = "SELECT count(pg_advisory_xact_lock(key)) FROM generate_series(1, 20000) AS key"
    assert query(rlsguard_server.url, held) == [(20000,)]


def test_a_dsn_is_used_as_is_and_never_stopped(rlsguard_server: Any) -> None:
    dsn = rlsguard_server.url.render_as_string(hide_password=False)
    server = provision(ServerRequest(dsn=dsn))
    assert isinstance(server, ExternalServer)
    assert server.url == rlsguard_server.url
    assert server.where() == f"DSN {redact(rlsguard_server.url)}"
    server.stop()
    assert query(rlsguard_server.url, "SELECT 1") == [(1,)]


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgres://u:p@h:6543/d", "postgresql+psycopg2://u:***@h:6543/d"),
        ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
        ("host=h port=6543 user=u password=p dbname=d", "postgresql+psycopg2://u:***@h:6543/d"),
    ],
)
def test_dsn_spellings(dsn: str, expected: str) -> None:
    assert redact(parse_dsn(dsn)) == expected


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:p@h/d?options=-c+lock_timeout%3D5s",  # as SQLAlchemy renders it
        "postgresql://u:p@h/d?options=-c%20lock_timeout%3D5s",
        "host=h user=u password=p dbname=d options='-c lock_timeout=5s'",
    ],
)
def test_a_dsn_means_the_same_to_the_driver_and_to_sqlalchemy(dsn: str) -> None:
    """One parser (libpq's) reads every DSN: the driver's parameters for a static scan and
    the SQLAlchemy URL for everything else agree, a query's + being a space."""
    params = connection_params(dsn)
    assert params == {
        "host": "h", "user": "u", "password": "p", "dbname": "d", "options": "-c lock_timeout=5s"
    }  # fmt: skip
    assert psycopg2_params(parse_dsn(dsn)) == params


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("", "the database URL is empty"),
        ("mysql://u:pw@h/d", "rlsguard needs a PostgreSQL URL, got 'mysql'"),
        ("host=h dbname", "not a database URL or libpq connection string"),
        ("host=h port=abc", "the port in the connection string is not a number: 'abc'"),
    ],
)
def test_bad_dsns(dsn: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as failure:
        parse_dsn(dsn)
    assert "pw" not in str(failure.value)


# -- Docker ----------------------------------------------------------------------------------------


def test_docker_endpoint_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert docker_endpoint({"DOCKER_HOST": "tcp://10.0.0.1:2375"}) == "tcp://10.0.0.1:2375"
    monkeypatch.setattr(
        "rlsguard.server.docker.SOCKET_CANDIDATES", (str(tmp_path / "docker.sock"),)
    )
    assert docker_endpoint({}) is None
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "docker.sock"))
        assert docker_endpoint({}) == f"unix://{tmp_path / 'docker.sock'}"


class FakeDockerException(Exception):
    pass


class FakeContainer:
    """Stands in for testcontainers' PostgresContainer and records how it was used. Its
    "container" is a real local server whose superuser gets the password DockerServer
    chose, so a DockerServer on top of it really answers."""

    instances: ClassVar[list[FakeContainer]] = []
    fail_in: ClassVar[str | None] = None

    def __init__(self, image: str, **options: Any) -> None:
        if FakeContainer.fail_in == "constructor":
            raise FakeDockerException("Error while fetching server API version")
        self.image, self.options, self.stopped = image, options, False
        self.server: LocalServer | None = None
        FakeContainer.instances.append(self)

    def start(self) -> FakeContainer:
        if FakeContainer.fail_in == "start":
            raise FakeDockerException(f"pull access denied for {self.image}")
        self.server = LocalServer(discover_local_binaries()[0]).start()
        execute(self.server.url, f"ALTER ROLE postgres PASSWORD '{self.options['password']}'")
        return self

    def get_container_host_ip(self) -> str:
        return "127.0.0.1"

    def get_exposed_port(self, port: int) -> int:
        assert port == 5432
        assert self.server is not None
        return int(self.server.url.port or 0)

    def stop(self) -> None:
        self.stopped = True
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def fake_testcontainers(monkeypatch: pytest.MonkeyPatch) -> type[FakeContainer]:
    """testcontainers and docker.errors replaced by stand-ins, and an engine 'found'."""
    postgres_module = types.ModuleType("testcontainers.community.postgres")
    postgres_module.PostgresContainer = FakeContainer  # type: ignore[attr-defined]
    errors_module = types.ModuleType("docker.errors")
    errors_module.DockerException = FakeDockerException  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "testcontainers.community.postgres", postgres_module)
    monkeypatch.setitem(sys.modules, "docker.errors", errors_module)
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/fake-docker.sock")
    FakeContainer.instances, FakeContainer.fail_in = [], None
    return FakeContainer


def test_docker_backend_runs_the_image_with_durability_off(
    fake_testcontainers: type[FakeContainer],
) -> None:
    server = provision(ServerRequest(backend="docker", pg_image="postgres:16-alpine"))
    (container,) = fake_testcontainers.instances
    assert query(server.url, "SELECT current_user") == [("postgres",)]
    assert container.image == "postgres:16-alpine"
    assert container.options["username"] == "postgres"  # the shipped policies name this role
    assert container.options["dbname"] == "postgres"
    assert "fsync=off" in container.options["command"]
    assert "autovacuum=off" in container.options["command"]
    assert "max_locks_per_transaction=1024" in container.options["command"]
    assert server.describe().endswith(
        "docker image postgres:16-alpine via testcontainers (unix:///run/fake-docker.sock)"
    )
    server.stop()
    assert container.stopped


@pytest.mark.parametrize("fail_in", ["constructor", "start"])
def test_docker_failures_fall_through_to_local_binaries(
    fake_testcontainers: type[FakeContainer], fail_in: str
) -> None:
    fake_testcontainers.fail_in = fail_in
    with provision(ServerRequest()) as server:
        assert server.backend in ("local", "embedded")
    with pytest.raises(
        ProvisionError,
        match=r"backend 'docker' is unavailable: (no Docker engine answered|Docker could not run)",
    ):
        provision(ServerRequest(backend="docker"))


def test_docker_without_an_engine_is_unavailable_before_importing_testcontainers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr("rlsguard.server.docker.SOCKET_CANDIDATES", ())
    monkeypatch.setitem(
        sys.modules, "testcontainers.community.postgres", None
    )  # importing it would fail
    with pytest.raises(BackendUnavailable, match="no Docker engine found"):
        DockerServer().start()


def _docker_answers() -> bool:
    if docker_endpoint() is None:
        return False
    try:
        import docker  # noqa: PLC0415  (only with an engine; comes with testcontainers)

        docker.from_env().ping()
    except Exception:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _docker_answers(), reason="no Docker engine answers on this machine")
def test_a_real_container() -> None:
    with provision(ServerRequest(backend="docker")) as server:
        assert query(server.url, "SELECT current_user") == [("postgres",)]
