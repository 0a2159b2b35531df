"""The login the probes act through on a server rlsguard controls: never a superuser.

A trigger, a column default, a CHECK or a policy function runs with the rights of the
session that fired it, and a superuser session cannot be fenced in: ``SET ROLE`` is
undone by the database's own code with ``RESET ROLE``. So the probes' connections log in
as a role made for the run, with the least that making rows past RLS and acting as the
application take: ``BYPASSRLS``, ``pg_read_all_data`` and ``pg_write_all_data``, and
membership in the application's and the admins' roles. Its name starts with
``rlsguard_probe_``; the catalog reader leaves such roles out.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from rlsguard.errors import RlsguardError
from rlsguard.probes.registry import AUTHORITY
from rlsguard.schema.targets import app_readable_views_of_either_kind
from rlsguard.schema.tenancy import Tenancy
from rlsguard.server.driver import quote_ident
from rlsguard.server.urls import psycopg2_params

LOGIN_PREFIX = "rlsguard_probe_"
DATA_ROLES = ("pg_read_all_data", "pg_write_all_data")


class ProbeLoginUnavailable(RlsguardError):
    """The server would not let rlsguard make its probe login (a non-superuser admin)."""


@dataclass
class ProbeLogin:
    admin_url: URL  # a superuser of the server, which makes and drops the login
    name: str
    password: str

    @classmethod
    def create(cls, admin_url: URL) -> ProbeLogin:
        name = f"{LOGIN_PREFIX}{os.getpid()}_{secrets.token_hex(3)}"
        login = cls(admin_url, name, secrets.token_urlsafe(24))
        login._execute(
            f"CREATE ROLE {quote_ident(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"INHERIT BYPASSRLS PASSWORD '{login.password}'",
            f"GRANT {', '.join(DATA_ROLES)} TO {quote_ident(name)}",
        )
        return login

    def url_for(self, database_url: URL) -> URL:
        """``database_url`` (options included) logging in as this login."""
        return database_url.set(username=self.name, password=self.password)

    def admit(self, roles: Iterable[str]) -> dict[str, str]:
        """Make the login a member of ``roles`` (the application's and its admins': acting
        as one, even a superuser, is the application's own rights). Returns why a role
        could not be granted."""
        refused: dict[str, str] = {}
        for role in sorted(set(roles)):
            try:
                self._execute(f"GRANT {quote_ident(role)} TO {quote_ident(self.name)}")
            except ProbeLoginUnavailable as error:
                refused[role] = str(error)
        return refused

    def drop(self) -> None:
        self._execute(f"DROP ROLE IF EXISTS {quote_ident(self.name)}")

    def _execute(self, *statements: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement)
        except DBAPIError as error:
            first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise ProbeLoginUnavailable(
                f"rlsguard could not set up its probe login {self.name}: {first}"
            ) from None
        finally:
            engine.dispose()


def probe_connections(
    database_url: URL, probe_url: URL | None = None, cursor_factory: type | None = None
) -> dict[str, psycopg2.extensions.connection]:
    """The connections a ProbeRunner acts through: "main" and "fresh" as ``probe_url``
    (the probe login), and "authority" as ``database_url``; their cursors are made by
    ``cursor_factory`` when given."""
    acting = probe_url or database_url
    places = (("main", acting), ("fresh", acting), (AUTHORITY, database_url))
    opened: dict[str, psycopg2.extensions.connection] = {}
    try:
        for name, where in places:
            opened[name] = psycopg2.connect(**psycopg2_params(where))
            if cursor_factory is not None:
                opened[name].cursor_factory = cursor_factory
    except psycopg2.OperationalError as error:
        for connection in opened.values():
            connection.close()
        said = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        user = where.username  # the connection that failed
        raise RlsguardError(f"the probes cannot connect as {user}: {said}") from None
    return opened


def roles_acted_as(tenancy: Tenancy) -> list[str]:
    """The roles the probes become: the application, its admins, and the owners (other
    than superusers) of the materialized views it reads, whose query runs as them."""
    catalog = tenancy.catalog
    owners = {
        catalog.relations[view].owner
        for view in app_readable_views_of_either_kind(tenancy)
        if catalog.relations[view].kind == "materialized view"
    }
    owners = {
        owner for owner in owners if owner in catalog.roles and not catalog.roles[owner].superuser
    }
    return sorted({tenancy.app.name, *(admin.name for admin in tenancy.admins), *owners})


PROBE_LOGIN_SECTION = '"A login for probes" in docs/probes.md'


def why_unable(connection: psycopg2.extensions.connection, tenancy: Tenancy) -> str | None:
    """The probes act through a login that makes rows past RLS and becomes the application,
    and is not a superuser: the database's own code runs with the rights of that session."""
    app = tenancy.app.name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT session_user, rolsuper, rolbypassrls, pg_has_role(session_user, %s, 'MEMBER')"
            " FROM pg_roles WHERE rolname = session_user",
            (app,),
        )
        user, superuser, bypassrls, can_act = cursor.fetchone() or ("?", False, False, False)
    connection.rollback()
    if superuser:
        return (
            f"probes not run: connected as {user}, a superuser; the database's triggers, "
            "defaults and policy functions would run with superuser rights. Give the probes "
            f"a login that is not (scan: --probe-dsn; see {PROBE_LOGIN_SECTION})"
        )
    if not bypassrls:
        return (
            f"probes not run: {user} cannot make the examples' rows past row level security "
            f"(it needs BYPASSRLS; see {PROBE_LOGIN_SECTION})"
        )
    if not can_act:
        return f"probes not run: {user} cannot act as the application role {app} (GRANT it)"
    return None


def why_no_authority(connections: dict[str, psycopg2.extensions.connection]) -> str | None:
    authority = connections.get(AUTHORITY)
    if authority is None:
        return (
            "needs a superuser connection to log in as the application for the whole session; "
            "none was given"
        )
    with authority.cursor() as cursor:
        cursor.execute("SELECT session_user, rolsuper FROM pg_roles WHERE rolname = session_user")
        user, superuser = cursor.fetchone() or ("?", False)
    authority.rollback()
    if superuser:
        return None
    return f"needs a superuser connection to log in as the application; {user} is not one"
