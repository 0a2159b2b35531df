"""Side channels: what a unique key or a foreign key tells one tenant about another's rows."""

from __future__ import annotations

from rlsguard.findings import Severity
from rlsguard.probes.drawing import draw, integers
from rlsguard.probes.moves import (
    FOREIGN_KEY_VIOLATION,
    REFUSED_BY_RIGHTS,
    attempt_insert,
    failure,
    judged,
    new_row,
    populate,
    two_tenants,
    witness_rows,
)
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import (
    Example,
)
from rlsguard.schema.targets import (
    guessable_unique_keys,
    tables_with_guessable_unique_keys,
    tables_with_tenant_parents,
    tenant_foreign_keys,
)


@probe(
    "RP107",
    "unique-side-channel",
    Severity.WARNING,
    "Inserting a value another tenant holds behaves like inserting a fresh one",
    attacks=(10,),
    fixes_from=("RG401",),
    objects=tables_with_guessable_unique_keys,
    premise="another tenant's row holds the value, and the row with a fresh value goes in or "
    "is refused for lack of rights",
)
def unique_side_channel(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, insert a row whose unique key copies a row of tenant B, and one with
    a fresh value: if only the copy fails (duplicate key), A has learnt what B holds."""
    plan = example.planner.plan(table)
    actor, other = two_tenants(example)
    victim = populate(example, table, [other], least=1)[other][0]
    keys = guessable_unique_keys(context.tenancy, plan.relation)
    key = keys[draw(example.data, integers(0, len(keys) - 1), label="unique key")]
    copied = new_row(example, table, actor, {name: victim.values[name] for name in key})
    fresh = new_row(example, table, actor)
    context.session.as_role(context.app, actor)
    with_copy = attempt_insert(context, table, copied)
    with_fresh = attempt_insert(context, table, fresh)
    if judged(with_fresh):
        witness_rows(context, table, [victim])
    if with_copy.error_code == "23505" and not with_fresh.failed:
        shown = ", ".join(f"{name}={victim.values[name]!r}" for name in key)
        raise failure(
            f"as tenant {actor}, inserting ({shown}), which another tenant holds, fails with a "
            f"duplicate key while a fresh value succeeds: the error tells the tenant it exists"
        )


@probe(
    "RP108",
    "fk-side-channel",
    Severity.ERROR,
    "A row cannot reference another tenant's parent row",
    attacks=(11,),
    fixes_from=("RG402", "RG302"),
    objects=tables_with_tenant_parents,
    shares_rows=True,
    alike_by_foreign_keys=True,
    premise="another tenant's parent row is there, and the INSERT pointing at it is refused "
    "for lack of rights or by the foreign key (SQLSTATE 42501 or 23503)",
)
def fk_side_channel(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, insert a row whose foreign key points at tenant B's parent row
    (foreign-key checks ignore RLS): it must be rejected."""
    plan = example.planner.plan(table)
    actor, other = two_tenants(example)
    foreign_keys = tenant_foreign_keys(context.tenancy, plan.relation)
    foreign_key = foreign_keys[
        draw(example.data, integers(0, len(foreign_keys) - 1), label="foreign key")
    ]
    assert foreign_key.references is not None
    parent = example.insert(foreign_key.references, other)
    pointing = {
        own: parent.values[referenced]
        for own, referenced in zip(foreign_key.columns, foreign_key.referenced_columns, strict=True)
    }
    values = example.values_for(table, actor, pointing)
    context.session.as_role(context.app, actor)
    outcome = attempt_insert(context, table, values)
    if outcome.error_code in (REFUSED_BY_RIGHTS, FOREIGN_KEY_VIOLATION):
        witness_rows(context, foreign_key.references, [parent])
    if outcome.touched:
        raise failure(
            f"as tenant {actor}, {context.app} inserted a row of {table} that references another "
            f"tenant's row of {foreign_key.references} ({foreign_key.name})"
        )
