"""What a principal can do to the membership relation and to the claims it can edit:
join another tenant, or name another tenant in a claim the user controls."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.moves import (
    attempt_insert,
    failure,
    judged,
    keys_of,
    populate,
    select_keys,
    two_tenants,
    witness_rows,
)
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import Example, table_identifier
from rlsguard.schema.targets import (
    edited_claims_read,
    membership_table,
    tables_reading_edited_claims,
)


@probe(
    "RP121",
    "self-enrolment",
    Severity.ERROR,
    "A principal cannot make itself a member of another tenant",
    attacks=(18,),
    fixes_from=("RG302", "RG307"),
    objects=membership_table,
    premise="the principal's own membership is in the table, and the INSERT and the UPDATE "
    "go through or are refused for lack of rights (not by a constraint)",
)
def self_enrolment(context: ProbeContext, table: str, example: Example) -> None:
    """As a principal of tenant A, INSERT a membership of itself in tenant B, and UPDATE
    its own membership to B: both must be refused."""
    membership = context.tenancy.settings.membership
    assert membership is not None
    actor, other = two_tenants(example)
    me = example.principal_of(actor)
    own = example.rows_of(table, actor)
    values = example.values_for(table, other, {membership.principal: me})
    context.session.as_role(context.app, actor)
    inserted = attempt_insert(context, table, values)
    if inserted.touched:
        raise failure(f"as a principal of tenant {actor}, {context.app} joined tenant {other}")
    moved = context.session.attempt(
        sql.SQL("UPDATE {} SET {} = %s WHERE {} = %s").format(
            table_identifier(table),
            sql.Identifier(membership.tenant),
            sql.Identifier(membership.principal),
        ),
        [other, me],
    )
    if moved.touched:
        raise failure(
            f"as a principal of tenant {actor}, {context.app} moved its membership to "
            f"tenant {other}"
        )
    if judged(inserted) and judged(moved):
        witness_rows(context, table, own)


@probe(
    "RP122",
    "edited-claims",
    Severity.ERROR,
    "A claim the user can edit never opens another tenant's rows",
    attacks=(8,),
    fixes_from=("RG304",),
    objects=tables_reading_edited_claims,
    premise="rows of another tenant are in the table",
)
def edited_claims(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, with every user-editable claim the policies read set to tenant B's
    id (what any user can do to their own metadata), read the table: B's rows must
    not show."""
    plan = example.planner.plan(table)
    actor, other = two_tenants(example)
    rows = populate(example, table, [other], least=1)
    if not witness_rows(context, table, rows[other]):
        return
    edits: dict[str, Any] = dict.fromkeys(edited_claims_read(context.tenancy, table), other)
    context.session.as_role(context.app, actor, edits=edits)
    seen = set(select_keys(context, plan, rows[other]).rows) & keys_of(rows[other], plan)
    if seen:
        raise failure(
            f"as tenant {actor}, with the claims {', '.join(sorted(edits))} set to tenant "
            f"{other}, {context.app} reads {len(seen)} of its row(s) of {table}"
        )
