"""A synthetic multi-tenant schema of N tenant tables, for benchmarks.

Every table carries the tenant column, references the tenants table and a parent table
by (tenant_id, id) (the table before it: a chain N deep; or, with ``shape="tree"``, table
i // 2: a binary tree about log2(N) deep, closer to real schemas), has a tenant-scoped unique key, forced RLS with an app
and an admin policy, and the grants an application would get. Each table's policy
names its own table in a comment-free way (``t<i>.tenant_id``) so the expressions are
distinct, as in a real schema.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

BOUND = "nullif(current_setting('app.current_tenant_id', true), '')::uuid"


def parent_of(number: int, shape: str) -> int | None:
    if number == 1:
        return None
    return number - 1 if shape == "chain" else number // 2


def synthetic_schema(tables: int, app: str, admin: str, shape: str = "chain") -> str:
    statements = [
        "CREATE TABLE tenants (tenant_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL)",
        "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE tenants FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenants_app ON tenants FOR SELECT TO {app} USING (tenant_id = {BOUND})",
        f"CREATE POLICY tenants_admin ON tenants TO {admin} USING (true) WITH CHECK (true)",
        f"GRANT USAGE ON SCHEMA public TO {app}, {admin}",
        f"GRANT SELECT ON tenants TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO {admin}",
    ]
    for number in range(1, tables + 1):
        name = f"t{number:04d}"
        above = parent_of(number, shape)
        parent = (
            f", parent_id uuid, FOREIGN KEY (tenant_id, parent_id) REFERENCES t{above:04d} (tenant_id, id)"
            if above
            else ""
        )
        statements += [
            f"CREATE TABLE {name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
            "tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, "
            f"label text NOT NULL, amount numeric(12, 2), created timestamptz NOT NULL DEFAULT now(){parent}, "
            f"UNIQUE (tenant_id, id), UNIQUE (tenant_id, label))",
            f"CREATE INDEX {name}_tenant ON {name} (tenant_id)",
            f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY {name}_app ON {name} TO {app} USING ({name}.tenant_id = {BOUND}) "
            f"WITH CHECK ({name}.tenant_id = {BOUND})",
            f"CREATE POLICY {name}_admin ON {name} TO {admin} USING (true) WITH CHECK (true)",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {app}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {admin}",
        ]
    return ";\n".join(statements) + ";\n"


def create_roles(url: URL, *names: str) -> None:
    """The application's and the admin's roles, on the benchmark's own server."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("; ".join(f"CREATE ROLE {name}" for name in names)))
    engine.dispose()
