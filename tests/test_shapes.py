"""Probes on schema shapes beyond the platform's: each shape correct (every probe acts, and
holds) and broken (the probe about the break fails on the right object)."""

from __future__ import annotations

import pytest

from rlsguard.findings import Outcome
from rlsguard.probes.runner import ProbeResult
from rlsguard.run import Run
from tests.conftest import execute
from tests.corpus.cases import BOUND, Case, case, tenant_bound
from tests.corpus.harness import BuildCase, BuiltCase, run_all_probes, run_probe

pytestmark = pytest.mark.slow

EXAMPLES = 60

ORG = "organization_id = nullif(current_setting('app.org', true), '')::uuid"

# The tenant table is organizations(id); tenant tables carry organization_id referencing
# it: the key has another name than the tenant column.
KEYED_BY_ID = Case(
    "tenants-keyed-by-id",
    "",
    frozenset(),
    f"""
CREATE TABLE organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL
);
CREATE TABLE projects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name text NOT NULL,
    UNIQUE (organization_id, id)
);
CREATE TABLE tasks (
    id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100000) PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    project_id uuid NOT NULL,
    title text NOT NULL,
    FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id)
);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY projects_app ON projects TO {{app}} USING ({ORG}) WITH CHECK ({ORG});
CREATE POLICY tasks_app ON tasks TO {{app}} USING ({ORG}) WITH CHECK ({ORG});
CREATE POLICY projects_admin ON projects TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY tasks_admin ON tasks TO {{admin}} USING (true) WITH CHECK (true);
GRANT USAGE ON SCHEMA public TO {{app}}, {{admin}};
GRANT SELECT ON organizations TO {{app}}, {{admin}};
GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks TO {{app}}, {{admin}};
""",
    {"tenant_column": "organization_id", "tenant_setting": "app.org"},
)
# The same with the common key style: organizations(id bigint GENERATED ALWAYS AS IDENTITY).
KEYED_BY_IDENTITY = Case(
    "tenants-keyed-by-identity",
    "",
    frozenset(),
    KEYED_BY_ID.base.replace(
        "id uuid PRIMARY KEY DEFAULT gen_random_uuid(),\n    name text NOT NULL\n);",
        "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    name text NOT NULL\n);",
    )
    .replace("organization_id uuid", "organization_id bigint")
    .replace("::uuid", "::bigint"),
    KEYED_BY_ID.settings,
)

# Organizations point at their active dataset and datasets at their organization: a
# foreign-key cycle, one side nullable.
CYCLE = Case(
    "foreign-key-cycle",
    "",
    frozenset(),
    """
CREATE TABLE orgs (
    org_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    active_dataset_id uuid
);
CREATE TABLE datasets (
    dataset_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs,
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 40)
);
ALTER TABLE orgs ADD FOREIGN KEY (active_dataset_id) REFERENCES datasets;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
ALTER TABLE datasets ENABLE ROW LEVEL SECURITY;
ALTER TABLE datasets FORCE ROW LEVEL SECURITY;
CREATE POLICY orgs_app ON orgs FOR SELECT TO {app}
    USING (org_id = nullif(current_setting('app.org', true), '')::uuid);
CREATE POLICY datasets_app ON datasets TO {app}
    USING (org_id = nullif(current_setting('app.org', true), '')::uuid)
    WITH CHECK (org_id = nullif(current_setting('app.org', true), '')::uuid);
CREATE POLICY orgs_admin ON orgs TO {admin} USING (true) WITH CHECK (true);
CREATE POLICY datasets_admin ON datasets TO {admin} USING (true) WITH CHECK (true);
GRANT USAGE ON SCHEMA public TO {app}, {admin};
GRANT SELECT ON orgs TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON datasets TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, datasets TO {admin};
""",
    {"tenant_column": "org_id", "tenant_setting": "app.org"},
)
# A log table without any key: rows are told apart by every column.
NO_KEY = case(
    "table-without-a-key",
    """
CREATE TABLE notes (
    tenant_id uuid NOT NULL REFERENCES tenants,
    body text NOT NULL,
    level smallint NOT NULL DEFAULT 0
);
"""
    + tenant_bound("notes"),
)
# Big tenants get a partition of their own; everybody else lands in the DEFAULT one.
BY_TENANT = """
CREATE TABLE events (
    event_id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    body text NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) PARTITION BY LIST (tenant_id);
CREATE TABLE events_big PARTITION OF events
    FOR VALUES IN ('00000000-0000-0000-0000-0000000000b1');
CREATE TABLE events_rest PARTITION OF events DEFAULT;
""" + tenant_bound("events")
PARTITIONED_BY_TENANT = case("partitioned-by-tenant", BY_TENANT)
# Spread over four partitions by the hash of the tenant: every tenant has one.
HASHED_BY_TENANT = case(
    "hash-partitioned-by-tenant",
    """
CREATE TABLE events (
    event_id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    body text NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) PARTITION BY HASH (tenant_id);
CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE events_2 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE events_3 PARTITION OF events FOR VALUES WITH (MODULUS 4, REMAINDER 3);
"""
    + tenant_bound("events"),
)
# Integer tenants, and a table split into ranges of them without a DEFAULT partition:
# the tenants rlsguard makes must have ids inside a range.
SHARD = "shard_id = nullif(current_setting('app.shard', true), '')::integer"
RANGED_BY_TENANT = Case(
    "range-partitioned-by-integer-tenant",
    "",
    frozenset(),
    f"""
CREATE TABLE shards (shard_id integer PRIMARY KEY, region text NOT NULL);
CREATE TABLE readings (
    reading_id bigint GENERATED BY DEFAULT AS IDENTITY,
    shard_id integer NOT NULL REFERENCES shards,
    value numeric(10, 2) NOT NULL,
    PRIMARY KEY (shard_id, reading_id)
) PARTITION BY RANGE (shard_id);
CREATE TABLE readings_low PARTITION OF readings FOR VALUES FROM (1) TO (500000);
CREATE TABLE readings_high PARTITION OF readings FOR VALUES FROM (500000) TO (90000000);
ALTER TABLE shards ENABLE ROW LEVEL SECURITY;
ALTER TABLE shards FORCE ROW LEVEL SECURITY;
ALTER TABLE readings ENABLE ROW LEVEL SECURITY;
ALTER TABLE readings FORCE ROW LEVEL SECURITY;
CREATE POLICY shards_app ON shards FOR SELECT TO {{app}} USING ({SHARD});
CREATE POLICY shards_admin ON shards TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY readings_app ON readings TO {{app}} USING ({SHARD}) WITH CHECK ({SHARD});
CREATE POLICY readings_admin ON readings TO {{admin}} USING (true) WITH CHECK (true);
GRANT USAGE ON SCHEMA public TO {{app}}, {{admin}};
GRANT SELECT ON shards TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON readings TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON shards, readings TO {{admin}};
""",
    {"tenant_column": "shard_id", "tenant_setting": "app.shard"},
)
# Types the platform does not use: citext, ranges, a domain over an array, a domain
# with a CHECK (understood like a table's).
UNUSUAL_TYPES = case(
    "citext-ranges-and-domains",
    """
CREATE EXTENSION IF NOT EXISTS citext;
CREATE DOMAIN tag_list AS text[];
CREATE DOMAIN seat_count AS integer CHECK (VALUE BETWEEN 1 AND 500);
CREATE TABLE bookings (
    booking_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    contact citext NOT NULL,
    during tstzrange NOT NULL,
    nights daterange,
    rooms int4range,
    tags tag_list,
    seats seat_count NOT NULL,
    UNIQUE (tenant_id, contact)
);
"""
    + tenant_bound("bookings"),
)
# A tree whose every node has a parent: a root is its own parent.
SELF_REFERENCE = case(
    "not-null-self-reference",
    """
CREATE TABLE categories (
    category_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    parent_id uuid NOT NULL,
    name text NOT NULL,
    UNIQUE (tenant_id, category_id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES categories (tenant_id, category_id)
);
"""
    + tenant_bound("categories"),
)
# The tenant table's key is the tenant column, numbered GENERATED ALWAYS: no UPDATE may
# set it, not even to itself.
ACCOUNT = "account_id = nullif(current_setting('app.account', true), '')::bigint"
ALWAYS_NUMBERED_TENANTS = Case(
    "tenant-key-generated-always",
    "",
    frozenset(),
    f"""
CREATE TABLE accounts (
    account_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE invoices (
    invoice_id serial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts,
    amount numeric(10, 2) NOT NULL,
    UNIQUE (account_id, invoice_id)
);
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY accounts_app ON accounts FOR SELECT TO {{app}} USING ({ACCOUNT});
CREATE POLICY invoices_app ON invoices TO {{app}} USING ({ACCOUNT}) WITH CHECK ({ACCOUNT});
CREATE POLICY accounts_admin ON accounts TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY invoices_admin ON invoices TO {{admin}} USING (true) WITH CHECK (true);
GRANT USAGE ON SCHEMA public TO {{app}}, {{admin}};
GRANT SELECT ON accounts TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, invoices TO {{admin}};
""",
    {"tenant_column": "account_id", "tenant_setting": "app.account"},
)
SHAPES = [
    (
        KEYED_BY_IDENTITY,
        "ALTER POLICY tasks_app ON tasks USING (true)",
        "rls[public.tasks-cross-tenant-read]",
    ),
    (
        KEYED_BY_ID,
        "ALTER POLICY tasks_app ON tasks USING (true)",
        "rls[public.tasks-cross-tenant-read]",
    ),
    (
        CYCLE,
        "ALTER POLICY datasets_app ON datasets WITH CHECK (true)",
        "rls[public.datasets-cross-tenant-insert]",
    ),
    (NO_KEY, "ALTER POLICY notes_app ON notes USING (true)", "rls[public.notes-cross-tenant-read]"),
    (
        PARTITIONED_BY_TENANT,
        "ALTER POLICY events_app ON events USING (true)",
        "rls[public.events-cross-tenant-read]",
    ),
    (
        HASHED_BY_TENANT,
        "ALTER POLICY events_app ON events USING (true)",
        "rls[public.events-cross-tenant-read]",
    ),
    (
        RANGED_BY_TENANT,
        "ALTER POLICY readings_app ON readings WITH CHECK (true)",
        "rls[public.readings-cross-tenant-insert]",
    ),
    (
        ALWAYS_NUMBERED_TENANTS,
        f"CREATE POLICY invoices_edit ON invoices FOR UPDATE TO {{app}} USING (true)"
        f" WITH CHECK ({ACCOUNT})",
        "rls[public.invoices-cross-tenant-update]",
    ),
    (
        SELF_REFERENCE,
        "ALTER POLICY categories_app ON categories USING (true)",
        "rls[public.categories-cross-tenant-read]",
    ),
    (
        UNUSUAL_TYPES,
        "ALTER POLICY bookings_app ON bookings USING (true)",
        "rls[public.bookings-cross-tenant-read]",
    ),
]


def results_on(run: Run, built: BuiltCase) -> list[ProbeResult]:
    return run_all_probes(run, built, EXAMPLES)


@pytest.mark.parametrize(
    ("shape", "break_it", "caught_by"), SHAPES, ids=[s[0].name for s in SHAPES]
)
def test_every_probe_acts_on_the_shape_and_catches_its_break(
    rlsguard_run: Run, case_database: BuildCase, shape: Case, break_it: str, caught_by: str
) -> None:
    correct = results_on(rlsguard_run, case_database(shape))
    assert len(correct) >= 15
    # a key unique across tenants is a side channel: a warning, and the only one allowed
    not_held = [
        f"{r.label}: {r.status} {r.message}"
        for r in correct
        if r.status is not Outcome.PASS
        and not (r.status is Outcome.WARNING and r.probe.id == "RP107")
    ]
    assert not_held == []
    broken = case_database(shape)
    execute(broken.url, break_it.replace("{app}", broken.names["app"]))
    found = {result.label: result for result in results_on(rlsguard_run, broken)}
    assert found[caught_by].status is Outcome.FAIL, found[caught_by].message
    assert "SET LOCAL ROLE" in (found[caught_by].transcript or "")


def test_partitioned_by_tenant_without_a_default_partition_is_cannot_and_says_why(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """A tenant rlsguard makes has no partition to go to: the premise is impossible."""
    no_default = BY_TENANT.replace("CREATE TABLE events_rest PARTITION OF events DEFAULT;", "")
    built = case_database(case("partitioned-without-default", no_default))
    found = {result.label: result for result in results_on(rlsguard_run, built)}
    read = found["rls[public.events-cross-tenant-read]"]
    assert read.status is Outcome.CANNOT
    assert "partitioned by tenant_id without a DEFAULT partition" in (read.message or "")
    assert found["rls[public.documents-cross-tenant-read]"].status is Outcome.PASS


NOT_NULL_CYCLE = """
CREATE TABLE folders (
    folder_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    cover_id uuid NOT NULL
);
CREATE TABLE files (
    file_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    folder_id uuid NOT NULL REFERENCES folders
);
ALTER TABLE folders ADD FOREIGN KEY (cover_id) REFERENCES files;
ALTER TABLE folders ENABLE ROW LEVEL SECURITY;
ALTER TABLE files ENABLE ROW LEVEL SECURITY;
CREATE POLICY folders_app ON folders TO {app} USING ({BOUND}) WITH CHECK ({BOUND});
CREATE POLICY files_app ON files TO {app} USING ({BOUND}) WITH CHECK ({BOUND});
GRANT SELECT, INSERT, UPDATE, DELETE ON folders, files TO {app};
""".replace("{BOUND}", BOUND)


def test_a_cycle_of_not_null_links_is_cannot_and_says_why(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """Every link of the cycle is NOT NULL and not deferrable: no row can be made first."""
    built = case_database(case("not-null-cycle", NOT_NULL_CYCLE))
    read = run_probe(rlsguard_run, built, "RP101", "public.files", built.url)
    assert read.status is Outcome.CANNOT
    assert "is NOT NULL and leads back to it" in (read.message or "")
    other = run_probe(rlsguard_run, built, "RP101", "public.documents", built.url)
    assert other.status is Outcome.PASS
