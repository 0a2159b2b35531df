"""A server in a Docker container, through testcontainers.

The engine is looked for (``DOCKER_HOST`` or a known socket) before testcontainers is
imported, so a machine without Docker pays nothing. ``DockerException`` from the
constructor (no engine answers) or from ``start()`` (no image, no pull) means this
way is unavailable here; ``auto`` then tries the next one.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from rlsguard.config import DEFAULT_IMAGE
from rlsguard.errors import BackendUnavailable
from rlsguard.server.base import Server
from rlsguard.server.driver import THROWAWAY_SETTING
from rlsguard.server.urls import DRIVER

POSTGRES_PORT = 5432
TUNING = (
    "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off "
    f"-c max_locks_per_transaction=1024 -c {THROWAWAY_SETTING}=throwaway"
)
SOCKET_CANDIDATES = (
    "/var/run/docker.sock",
    "~/.docker/run/docker.sock",
    "~/.docker/desktop/docker.sock",
    "~/.colima/default/docker.sock",
    "~/.rd/docker.sock",
    "$XDG_RUNTIME_DIR/docker.sock",
)


def docker_endpoint(environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    runtime_dir = env.get("XDG_RUNTIME_DIR", "")
    for candidate in SOCKET_CANDIDATES:
        if "$XDG_RUNTIME_DIR" in candidate and not runtime_dir:
            continue
        path = Path(os.path.expanduser(candidate.replace("$XDG_RUNTIME_DIR", runtime_dir)))
        if path.is_socket():
            return f"unix://{path}"
    return None


def _postgres_container_class() -> Any:
    try:
        # testcontainers is imported only once a Docker engine was found: importing it
        # without one is slow and can fail.
        from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415
    except ImportError:
        try:
            from testcontainers.postgres import PostgresContainer  # noqa: PLC0415
        except ImportError as error:
            raise BackendUnavailable(f"testcontainers is not installed ({error})") from None
    return PostgresContainer


class DockerServer(Server):
    backend = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE, environ: dict[str, str] | None = None) -> None:
        super().__init__()
        self.image = image
        self.endpoint = docker_endpoint(environ)
        self._container: Any = None

    def _begin(self) -> None:
        if self.endpoint is None:
            raise BackendUnavailable(
                "no Docker engine found (DOCKER_HOST is unset and no docker.sock exists)"
            )

    def _start(self) -> URL:
        self._begin()
        container_class = _postgres_container_class()
        from docker.errors import DockerException  # noqa: PLC0415  (comes with testcontainers)

        password = secrets.token_urlsafe(18)
        try:
            self._container = container_class(
                self.image,
                username="postgres",
                password=password,
                dbname="postgres",
                driver="psycopg2",
                command=TUNING,
            )
        except DockerException as error:
            raise BackendUnavailable(
                f"no Docker engine answered at {self.endpoint}: {error}"
            ) from None
        try:
            self._container.start()
        except DockerException as error:
            raise BackendUnavailable(f"Docker could not run {self.image}: {error}") from None
        return URL.create(
            DRIVER,
            username="postgres",
            password=password,
            host=self._container.get_container_host_ip(),
            port=int(self._container.get_exposed_port(POSTGRES_PORT)),
            database="postgres",
        )

    def _stop(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.stop()
            except Exception as error:
                warnings.warn(f"could not remove the postgres container: {error}", stacklevel=2)

    def where(self) -> str:
        return f"docker image {self.image} via testcontainers ({self.endpoint})"
