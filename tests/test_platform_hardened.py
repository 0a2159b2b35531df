"""The platform schema at head (revisions 005-008 harden what 001-004 shipped).

The head suite itself (every static check and probe as a pytest item) runs from
tests/test_migrations.py; these tests pin what a reviewer must be able to rely on."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import psycopg2.extensions
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from rlsguard.findings import Severity
from rlsguard.run import Run
from rlsguard.server.urls import psycopg2_params

HEAD_ROLES = {"app_user", "uber_admin", "tenant_key_resolver"}
ACCEPTED = {
    ("RG401", "public.tenant_api_keys"),
    ("RG503", "public.tenant_for_api_key(presented_hash text)"),
}


def test_no_error_level_finding_at_head(rlsguard_run: Run) -> None:
    analysis = rlsguard_run.analysis("head")
    assert not analysis.failed, "\n".join(map(str, analysis.findings))
    assert {(f.check, f.object) for f in analysis.findings} == ACCEPTED
    assert all(f.accepted and len(f.reason or "") > 80 for f in analysis.findings)
    assert analysis.unused_allowances == tuple(
        item for item in rlsguard_run.settings.allow if item.check.startswith("RP")
    )  # the probe allowances are used by the probes, not by the static analysis


def test_the_roles_are_neither_superuser_nor_bypassrls(rlsguard_connection: Connection) -> None:
    rows = rlsguard_connection.execute(
        text("SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles")
    ).all()
    flags = {row.rolname: (row.rolsuper, row.rolbypassrls, row.rolcanlogin) for row in rows}
    for role in HEAD_ROLES:
        assert flags[role] == (False, False, False), role


def test_every_tenant_table_forces_rls(rlsguard_connection: Connection) -> None:
    rows = rlsguard_connection.execute(
        text(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        )
    ).all()
    flags = {row.relname: (row.relrowsecurity, row.relforcerowsecurity) for row in rows}
    tenant_tables = ("tenants", "users", "documents", "audit_logs", "tenant_api_keys")
    for table in (*tenant_tables, "tenant_configs"):
        assert flags[table] == (True, True), table
    assert flags["templates"] == (False, False)


def as_app(connection: Connection, tenant: object | None) -> None:
    connection.execute(text("SET LOCAL ROLE app_user"))
    value = "" if tenant is None else str(tenant)
    connection.execute(text("SELECT set_config('app.current_tenant_id', :v, true)"), {"v": value})


@pytest.fixture
def two_tenants_with_keys(rlsguard_connection: Connection) -> tuple[uuid.UUID, uuid.UUID]:
    tenants = []
    for name in ("acme", "globex"):
        tenant = rlsguard_connection.execute(
            text("INSERT INTO tenants (name, domain) VALUES (:n, :n) RETURNING tenant_id"),
            {"n": name},
        ).scalar_one()
        rlsguard_connection.execute(
            text(
                "INSERT INTO tenant_api_keys (tenant_id, key_hash, name, expires_at) VALUES "
                "(:t, :live, 'live', NULL), (:t, :old, 'old', now() - interval '1 day')"
            ),
            {"t": tenant, "live": f"live-{name}", "old": f"old-{name}"},
        )
        tenants.append(tenant)
    return tenants[0], tenants[1]


def test_the_api_key_lookup_returns_only_the_tenant_of_a_live_key(
    rlsguard_connection: Connection, two_tenants_with_keys: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, globex = two_tenants_with_keys
    as_app(rlsguard_connection, None)
    lookup = text("SELECT tenant_for_api_key(:h)")
    # before a tenant is set, the app sees no key, but finds the tenant of the one it holds
    assert rlsguard_connection.execute(text("SELECT count(*) FROM tenant_api_keys")).scalar() == 0
    assert rlsguard_connection.execute(lookup, {"h": "live-acme"}).scalar() == acme
    assert rlsguard_connection.execute(lookup, {"h": "live-globex"}).scalar() == globex
    assert rlsguard_connection.execute(lookup, {"h": "old-acme"}).scalar() is None  # expired
    assert rlsguard_connection.execute(lookup, {"h": "live-"}).scalar() is None  # no partial match


def test_the_lookup_role_reads_nothing_but_three_columns(rlsguard_connection: Connection) -> None:
    rlsguard_connection.execute(text("SET LOCAL ROLE tenant_key_resolver"))
    with pytest.raises(Exception, match="permission denied"):
        rlsguard_connection.execute(text("SELECT name FROM tenant_api_keys"))


def test_audit_logs_are_append_only_for_the_app(
    rlsguard_connection: Connection, two_tenants_with_keys: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, _globex = two_tenants_with_keys
    as_app(rlsguard_connection, acme)
    rlsguard_connection.execute(
        text("INSERT INTO audit_logs (tenant_id, action) VALUES (:t, 'login')"), {"t": acme}
    )
    assert rlsguard_connection.execute(text("SELECT count(*) FROM audit_logs")).scalar() == 1
    for statement in (
        "UPDATE audit_logs SET action = 'nothing'",
        "DELETE FROM audit_logs",
        "TRUNCATE audit_logs",
    ):
        savepoint = rlsguard_connection.begin_nested()
        with pytest.raises(Exception, match="permission denied"):
            rlsguard_connection.execute(text(statement))
        savepoint.rollback()


def test_an_empty_setting_reads_nothing_and_raises_nothing(
    rlsguard_connection: Connection, two_tenants_with_keys: tuple[uuid.UUID, uuid.UUID]
) -> None:
    as_app(rlsguard_connection, None)  # '' as a pooled connection has it after a reset
    for table in ("tenants", "users", "documents", "audit_logs", "tenant_configs"):
        count = rlsguard_connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        assert count == 0, table


def test_the_error_findings_of_004_are_gone_at_head(rlsguard_run: Run) -> None:
    checks = {finding.check for finding in rlsguard_run.analysis("head").findings}
    assert not checks & {"RG101", "RG102", "RG201", "RG301", "RG302", "RG306", "RG402", "RG405"}
    assert all(
        f.severity is not Severity.ERROR or f.accepted
        for f in rlsguard_run.analysis("head").findings
    )


def test_roles_are_ensured_safely_by_concurrent_migrations(rlsguard_run: Run) -> None:
    """Two databases of one cluster migrated at once (two test sessions on one server)
    both ensure the same role; also when it exists with a flag it must lose."""
    from platform_roles import ensure_role  # noqa: PLC0415  (migrations/ is on pythonpath under pytest only)

    role = "rlsguard_race_role"
    names = [rlsguard_run.empty_database(f"race{number}") for number in range(2)]
    connections = [psycopg2.connect(**psycopg2_params(rlsguard_run.url(name))) for name in names]
    errors: list[str] = []
    try:
        for connection in connections:
            connection.autocommit = True
        for round_number in range(12):
            admin = connections[0].cursor()
            admin.execute(f"DROP ROLE IF EXISTS {role}")
            if round_number % 2:
                admin.execute(f"CREATE ROLE {role} SUPERUSER")
            barrier = threading.Barrier(2)

            def ensure(
                connection: psycopg2.extensions.connection, barrier: threading.Barrier = barrier
            ) -> None:
                barrier.wait()
                try:
                    connection.cursor().execute(ensure_role(role))
                except psycopg2.Error as error:
                    errors.append(str(error).splitlines()[0])

            threads = [threading.Thread(target=ensure, args=(c,)) for c in connections]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            admin.execute(f"SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = '{role}'")
            assert admin.fetchone() == (False, False)
        assert errors == []
    finally:
        connections[0].cursor().execute(f"DROP ROLE IF EXISTS {role}")
        for connection in connections:
            connection.close()
        for name in names:
            rlsguard_run.drop(name)
