"""What one test session (or one ``rlsguard check``) shares: the server, the databases
created on it, the migration project and the migrated templates.

Everything starts lazily, on first use, so a run that needs no database starts no
server. ``close()`` drops every database the run created and stops the server if the
run started it; it is idempotent and also runs at interpreter exit as a backstop.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import hypothesis
import psycopg2
import psycopg2.errors
import psycopg2.extensions
from sqlalchemy.engine import URL, Connection

from rlsguard.analyzer import Analysis, scan
from rlsguard.config import SHRINK_SECONDS, Settings
from rlsguard.errors import RlsguardError
from rlsguard.history.migrate import BASE, HEAD, HEADS, MIGRATION_LOCK, MigrationProject
from rlsguard.history.walk import Walk
from rlsguard.probes.forked import ProberRecipe
from rlsguard.probes.login import ProbeLogin, ProbeLoginUnavailable, roles_acted_as
from rlsguard.probes.runner import ProbeRunner
from rlsguard.schema.fingerprint import Fingerprint, read_fingerprint
from rlsguard.schema.queries import ROLE_STATE
from rlsguard.server import Server, ServerRequest, provision
from rlsguard.server.databases import Databases, connected, server_gone
from rlsguard.server.urls import psycopg2_params, with_timeouts

T = TypeVar("T")

_open_runs: weakref.WeakSet[Run] = weakref.WeakSet()
ROLES_CHANGED = (
    "the server's roles are not as the schema's migrations leave them: a migration check "
    "changed a role (roles are shared by every database on the server) and replaying the "
    "migrations did not set it back"
)


@dataclass(eq=False)
class Run:
    settings: Settings
    request: ServerRequest = field(default_factory=ServerRequest)
    given_server: Server | None = None
    revision: str = HEAD
    seed: int | None = None  # for the probes' Hypothesis runs (None: a random one each)
    max_examples: int | None = None  # per probe (None: the Hypothesis profile's)
    shrink_seconds: float = SHRINK_SECONDS  # per failing probe
    workers: int = 1  # the processes the probes are spread over (probes/alike.py)
    # the roundtrip walk analyses each revision on its way, for the evidence's timeline
    analyses_along_the_walk: bool = False

    def __post_init__(self) -> None:
        self._server: Server | None = self.given_server
        self._databases: Databases | None = None
        self._project: MigrationProject | None = None
        self._templates: dict[str, str] = {}
        self._working: dict[str, str] = {}
        self._failures: dict[str, RlsguardError] = {}
        self._empty_fingerprint: Fingerprint | None = None
        self._revision_fingerprints: dict[str, Fingerprint] = {}
        self._analyses: dict[str, Analysis] = {}
        # the roles the probes act as, and their digest, as each analysis met them
        self._role_states: dict[str, tuple[list[str], str]] = {}
        self._sentinel: psycopg2.extensions.connection | None = None
        self._probers: dict[str, ProbeRunner] = {}
        self._recipes: dict[str, ProberRecipe] = {}
        self._probe_connections: list[psycopg2.extensions.connection] = []
        self._login: ProbeLogin | None = None
        self._walk: Walk[Fingerprint] | None = None
        _open_runs.add(self)

    # -- lazily started parts ---------------------------------------------------------------

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = self._remember("server", lambda: provision(self.request))
        return self._server

    @property
    def databases(self) -> Databases:
        if self._databases is None:
            self._databases = Databases(self.server.url)
        return self._databases

    @property
    def project(self) -> MigrationProject:
        if self._project is None:
            self._project = self._remember(
                "project",
                lambda: MigrationProject(
                    self.settings.alembic_ini_path,
                    self.settings.version_table,
                    migration_timeout=self.settings.migration_timeout,
                    server=lambda: self.server,
                ),
            )
        return self._project

    @property
    def server_started(self) -> bool:
        return self._server is not None

    def failure(self, part: str) -> RlsguardError | None:
        return self._failures.get(part)

    def _remember(self, part: str, make: Callable[[], T]) -> T:
        """Build a part once; if it fails, fail the same way on every later call
        instead of trying again (and waiting again) for every test."""
        if part in self._failures:
            raise self._failures[part]
        try:
            return make()
        except RlsguardError as error:
            self._failures[part] = error
            raise

    # -- databases ---------------------------------------------------------------------------

    def url(self, name: str) -> URL:
        """A database of this run; its connections wait for a lock and run a statement no
        longer than the config's lock_timeout and statement_timeout."""
        settings = self.settings
        return with_timeouts(
            self.databases.url(name), settings.lock_timeout, settings.statement_timeout
        )

    def resolve(self, revision: str) -> str:
        """A revision id for ``revision`` ("head" becomes the head's id)."""
        if revision == HEAD:
            heads = self.project.heads()
            return heads[0] if len(heads) == 1 else HEADS
        return self.project.resolve(revision)

    def template(self, revision: str = HEAD) -> str:
        """A database migrated to ``revision`` that is only ever copied, never connected to
        by tests. Built from the previous revision's template when that one exists."""
        revision = self.resolve(revision)
        if revision not in self._templates:
            source = None
            if revision not in (BASE, HEADS):
                source = self._templates.get(self.project.previous(revision))
            self._templates[revision] = self._remember(
                f"template:{revision}", lambda: self._build_template(revision, source)
            )
        return self._templates[revision]

    def _build_template(self, revision: str, source: str | None) -> str:
        name = self.databases.create(f"tpl_{revision}", template=source)
        if revision != BASE:
            self.project.upgrade(self.url(name), revision)
        return name

    def built_templates(self) -> dict[str, str]:
        """The templates built so far, by revision id (for a run that shares them)."""
        return dict(self._templates)

    def adopt_templates(self, templates: dict[str, str]) -> None:
        """Copy from templates another run of the same session built (on the same server):
        this run neither builds nor drops them."""
        self._templates.update(templates)

    def clone(self, revision: str = HEAD, label: str = "clone") -> str:
        """A fresh copy of the migrated template, for a test that must commit."""
        return self.databases.create(label, template=self.template(revision))

    def empty_database(self, label: str = "empty") -> str:
        return self.databases.create(label)

    def working_database(self, revision: str = HEAD) -> str:
        """The session's shared copy at ``revision``; tests use it inside rolled-back
        transactions."""
        revision = self.resolve(revision)
        if revision not in self._working:
            self._working[revision] = self.clone(revision, label=f"work_{revision}")
        return self._working[revision]

    def rebuild_working_database(self, revision: str = HEAD) -> None:
        """After a test committed into the shared copy: replace it with a fresh one of the
        same name, so engines on it stay valid."""
        revision = self.resolve(revision)
        name = self._working.get(revision)
        if name is not None:
            self.drop(name)
            self.databases.create(name, template=self.template(revision), name=name)

    def drop(self, name: str) -> None:
        self.databases.drop(name)

    @contextmanager
    def disposable(self, name: str) -> Iterator[str]:
        """Use a database this run created, and drop it afterwards whatever happens."""
        try:
            yield name
        finally:
            self.drop(name)

    def roundtrip_walk(self) -> Walk[Fingerprint]:
        """The revisions' roundtrips walked on one database of this run."""
        if self._walk is None:
            self._walk = Walk(
                self.project,
                lambda: self.url(self.empty_database("roundtrip_walk")),
                self.fingerprint_on,
                self._analysed_on_the_walk,
            )
        return self._walk

    def fingerprint(self, name: str) -> Fingerprint:
        with connected(self.url(name)) as connection:
            return self.fingerprint_on(connection)

    def fingerprint_on(self, connection: Connection) -> Fingerprint:
        fingerprint = read_fingerprint(connection, (self.settings.version_table,))
        connection.rollback()
        return fingerprint

    def revision_fingerprint(self, revision: str, copy: Connection) -> Fingerprint:
        """The schema of ``revision``'s template, read (once) through ``copy``, a
        connection to a fresh copy of it (a template itself takes no connections)."""
        if revision not in self._revision_fingerprints:
            self._revision_fingerprints[revision] = self.fingerprint_on(copy)
        return self._revision_fingerprints[revision]

    def empty_fingerprint(self) -> Fingerprint:
        if self._empty_fingerprint is None:
            with self.disposable(self.empty_database("fingerprint_of_nothing")) as name:
                self._empty_fingerprint = self.fingerprint(name)
        return self._empty_fingerprint

    def analysis(self, revision: str | None = None, *, lenient: bool = False) -> Analysis:
        """The static analysis of the schema at ``revision`` (default: the run's);
        ``lenient`` for earlier revisions, where configured tables may not exist yet."""
        resolved = self.resolve(revision or self.revision)
        if lenient and resolved in self._analyses:  # the strict one found every table
            return self._analyses[resolved]
        key = f"{resolved}{' (lenient)' if lenient else ''}"
        if key not in self._analyses:
            self._analyses[key] = self._remember(
                f"analysis:{key}", lambda: self._analyze(resolved, lenient)
            )
        return self._analyses[key]

    def lenient_analyses(self, revisions: list[str]) -> list[Analysis | RlsguardError]:
        """``analysis(revision, lenient=True)``, or its error, for each of ``revisions`` (the
        history's, oldest first). Those not analysed yet are read on one database migrated
        a revision at a time, not on a template and a copy of each revision (when each
        revision's parent is the one before it: a branched history is analysed as ever)."""
        wanted = [revision for revision in revisions if not self._analysed(revision)]
        parents = [BASE, *revisions[:-1]]
        linear = all(
            self.project.previous(revision) == parent
            for revision, parent in zip(revisions, parents, strict=True)
        )
        if wanted and linear:
            walked = revisions[: revisions.index(wanted[-1]) + 1]
            with self.disposable(self.empty_database("analyses")) as name:
                self._analyse_along(self.url(name), walked, set(wanted))
        found: list[Analysis | RlsguardError] = []
        for revision in revisions:
            try:
                found.append(self.analysis(revision, lenient=True))
            except RlsguardError as error:
                found.append(error)
        return found

    def _analysed(self, revision: str) -> bool:
        return any(key in self._analyses for key in (revision, f"{revision} (lenient)"))

    def _analyse_along(self, url: URL, revisions: list[str], wanted: set[str]) -> None:
        for position, revision in enumerate(revisions):
            try:
                self.project.upgrade(url, revision)
            except RlsguardError as error:  # no later revision is reached either
                for unreached in wanted.intersection(revisions[position:]):
                    self._failures[f"analysis:{unreached} (lenient)"] = error
                return
            if revision in wanted:
                self._analyse_leniently_on(url, revision)

    def _analysed_on_the_walk(self, revision: str, url: URL) -> None:
        """The walk's database is at ``revision``, its roundtrip clean (so its schema is
        the clean build's): analysed there, the timeline need not build it again."""
        if self.analyses_along_the_walk and not self._analysed(revision):
            self._analyse_leniently_on(url, revision)

    def _analyse_leniently_on(self, url: URL, revision: str) -> None:
        key = f"{revision} (lenient)"
        with contextlib.suppress(RlsguardError):  # kept, and raised by analysis()
            self._analyses[key] = self._remember(
                f"analysis:{key}", lambda: self._analyze_on(url, revision, lenient=True)
            )

    def _analyze(self, revision: str, lenient: bool) -> Analysis:
        return self._analyze_on(self.url(self.working_database(revision)), revision, lenient)

    def _analyze_on(self, url: URL, revision: str, lenient: bool) -> Analysis:
        settings = self.settings_at(revision)
        with connected(url) as connection:
            analysis = scan(connection, settings, lenient=lenient)
            if revision not in self._role_states:  # as the first analysis met them
                tenancy = analysis.tenancy
                roles = [tenancy.app.name, *(admin.name for admin in tenancy.admins)]
                state = _role_state_of(self._sentinel_cursor(), roles)
                self._role_states[revision] = (roles, state)
            return analysis

    def analysed_roles(self, revision: str | None = None) -> tuple[list[str], str]:
        """The roles the probes at ``revision`` act as, and their state (ROLE_STATE's
        answer) when the analysis met them."""
        resolved = self.resolve(revision or self.revision)
        self.analysis(resolved)
        return self._role_states[resolved]

    @contextmanager
    def roles_as_analysed(self, revision: str | None = None) -> Iterator[str | None]:
        """While held, no rlsguard process migrates on this server, and its roles (shared
        by every database on it) are as the analysis at ``revision`` met them: yields None,
        or why they are not. A migration check may have changed them (a downgrade that
        takes BYPASSRLS back): the migrations to ``revision`` are then replayed on a
        database of their own, which sets them again."""
        resolved = self.resolve(revision or self.revision)
        roles, expected = self.analysed_roles(resolved)
        sentinel = self._sentinel_cursor()
        held = False
        try:
            for _attempt in range(3):  # another process's migration check may come between
                if _role_state_of(sentinel, roles) != expected:
                    with self.disposable(self.empty_database("roles_again")) as name:
                        self.project.upgrade(self.url(name), resolved)
                self._migration_lock(sentinel, "pg_advisory_lock_shared")
                held = True
                if _role_state_of(sentinel, roles) == expected:
                    break
                self._migration_lock(sentinel, "pg_advisory_unlock_shared")
                held = False
            yield None if held else ROLES_CHANGED
        finally:
            if held and not sentinel.connection.closed:
                self._migration_lock(sentinel, "pg_advisory_unlock_shared")

    def _migration_lock(self, sentinel: psycopg2.extensions.cursor, function: str) -> None:
        try:
            _said(sentinel, f"SELECT {function}(%s)", (MIGRATION_LOCK,))
        except psycopg2.errors.LockNotAvailable as error:
            raise RlsguardError(
                "an rlsguard process kept migrating on this server for longer than "
                f"migration_timeout ({self.settings.migration_timeout}): {error}"
            ) from None

    def _sentinel_cursor(self) -> psycopg2.extensions.cursor:
        """A connection of the run's own to the server, kept open: it reads the roles and
        holds the migration lock shared while a probe acts."""
        if self._sentinel is None or self._sentinel.closed:
            url = self.server.url
            self._sentinel = psycopg2.connect(connect_timeout=10, **psycopg2_params(url))
            self._sentinel.autocommit = True
            self._probe_connections.append(self._sentinel)
            with self._sentinel.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = '{self.settings.migration_timeout}'")
        return self._sentinel.cursor()

    def settings_at(self, revision: str | None = None) -> Settings:
        """The config for the schema at ``revision``, ``[tool.rlsguard.until]`` applied."""
        resolved = self.resolve(revision or self.revision)
        return self.settings.as_of(resolved, self.project.revision_ids())

    def prober(self, revision: str | None = None) -> ProbeRunner:
        """Runs the probes against the shared copy at ``revision``, on two connections of
        its own (one never sees the tenant setting); every example is rolled back."""
        resolved = self.resolve(revision or self.revision)
        if resolved not in self._probers:
            runner = self.probe_recipe(resolved).runner()
            self._probe_connections.extend(item.connection for item in runner.sessions.values())
            self._probers[resolved] = runner
        return self._probers[resolved]

    def probe_recipe(self, revision: str | None = None) -> ProberRecipe:
        """What the probes at ``revision`` are run with: the shared copy, the probe login
        (made and admitted to the roles the probes act as), the Hypothesis profile."""
        resolved = self.resolve(revision or self.revision)
        if resolved not in self._recipes:
            self._recipes[resolved] = self._probe_recipe(resolved)
        return self._recipes[resolved]

    def _probe_recipe(self, resolved: str) -> ProberRecipe:
        tenancy = self.analysis(resolved).tenancy
        url = self.url(self.working_database(resolved))
        probe_url, left_out, unavailable = None, {}, None
        try:
            login = self.probe_login()
            left_out = login.admit(roles_acted_as(tenancy))
            probe_url = login.url_for(url)
        except ProbeLoginUnavailable as error:
            unavailable = f"probes not run: {error}"
        profile = hypothesis.settings()
        if self.max_examples:
            profile = hypothesis.settings(profile, max_examples=self.max_examples)
        return ProberRecipe(
            tenancy,
            url,
            probe_url,
            profile,
            self.seed,
            self.shrink_seconds,
            unavailable,
            left_out,
            spread_over=self.workers,
        )

    def probe_login(self) -> ProbeLogin:
        """The run's non-superuser login for the probes, made on first use."""
        if self._login is None:
            self._login = self._remember("probe login", lambda: ProbeLogin.create(self.server.url))
        return self._login

    # -- end ------------------------------------------------------------------------------------

    def close(self) -> None:
        for connection in self._probe_connections:
            connection.close()
        self._probe_connections.clear()
        self._probers.clear()
        self._recipes.clear()
        login, self._login = self._login, None
        walk, self._walk = self._walk, None
        if walk is not None:
            walk.close()
        try:
            if login is not None:
                with contextlib.suppress(ProbeLoginUnavailable):  # the server may be gone
                    login.drop()
            if self._databases is not None:
                self._databases.close()
                self._databases = None
        finally:
            server, self._server = self._server, None
            if server is not None and self.given_server is None:
                server.stop()
            _open_runs.discard(self)


@atexit.register
def _close_open_runs() -> None:
    for run in list(_open_runs):
        run.close()


def _role_state_of(cursor: psycopg2.extensions.cursor, roles: list[str]) -> str:
    _said(cursor, ROLE_STATE, {"roles": roles})
    row = cursor.fetchone()
    return str(row[0]) if row else ""


def _said(
    cursor: psycopg2.extensions.cursor,
    sql: str,
    params: tuple[object, ...] | dict[str, object] = (),
) -> None:
    """A statement on the run's own connection; a lost server is said as one."""
    try:
        cursor.execute(sql, params or None)
    except psycopg2.Error as error:
        gone = server_gone(error)
        if gone is not None:
            raise gone from None
        raise
