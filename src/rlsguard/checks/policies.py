"""The policies that apply to the application keep it to the current tenant."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import (
    admin_policies,
    create_tenant_policy,
    ident,
    qualified,
    revoke,
    rewrite_policy,
)
from rlsguard.findings import Severity
from rlsguard.schema.catalog import PUBLIC, Policy, Relation
from rlsguard.schema.expressions import judge
from rlsguard.schema.targets import rls_tenant_tables, tables_with_policies
from rlsguard.schema.tenancy import READ_COMMANDS, WRITE_COMMANDS, Tenancy


def _app_policies(tenancy: Tenancy, relation: Relation) -> list[Policy]:
    app = tenancy.app.name
    seen: dict[str, Policy] = {}
    for command in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        for policy in tenancy.applicable(relation, command, app):
            seen.setdefault(policy.name, policy)
    return [policy for name, policy in sorted(seen.items())]


def _expressions(policy: Policy) -> list[tuple[str, str]]:
    return [
        (label, text)
        for label, text in (("USING", policy.using), ("WITH CHECK", policy.check))
        if text
    ]


@check(
    "RG301",
    "policy-isolates-reads",
    Severity.ERROR,
    "The policies the application gets show and change only the current tenant's rows",
    attacks=(6,),
    objects=rls_tenant_tables,
)
def policy_isolates_reads(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: other tenants' rows, to read, update or delete. Permissive policies
    are OR-ed: one that applies to the application (directly, through PUBLIC, or through
    a role it belongs to) and does not compare the tenant column with the tenant
    context opens the table, whatever the others say. A RESTRICTIVE policy that binds
    the tenant closes it again, since restrictive policies are AND-ed.

    How it is used: ``SELECT * FROM documents`` as the application returns every tenant.

    Fix: every permissive policy for the application restricts to the tenant, or one
    restrictive policy does.

        CREATE POLICY documents_tenant ON documents AS RESTRICTIVE TO app_user
            USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
    """
    relation = tenancy.catalog.relations[table]
    app = tenancy.app.name
    for commands, why, cause in _open_commands(tenancy, relation, READ_COMMANDS, new_rows=False):
        yield Problem(
            f"{commands} as {app} {'is' if '/' not in commands else 'are'} not restricted "
            f"to the tenant: {why}",
            cause=cause,
            fix=create_tenant_policy(tenancy, relation, restrictive=True),
        )


def _open_commands(
    tenancy: Tenancy, relation: Relation, commands: tuple[str, ...], *, new_rows: bool
) -> list[tuple[str, str, str | None]]:
    """The commands the app may run whose policies do not isolate, grouped by reason, with
    the policies that let the rows through (the cause)."""
    app = tenancy.app.name
    by_reason: dict[str, list[str]] = {}
    policies: dict[str, set[str]] = {}
    for command in commands:
        if tenancy.has(app, command, relation):
            isolation = tenancy.isolation(relation, command, app, new_rows=new_rows)
            if not isolation.isolated:
                by_reason.setdefault(isolation.why, []).append(command)
                policies.setdefault(isolation.why, set()).update(
                    policy.name for policy in isolation.deciding
                )
    return [("/".join(found), why, _cause(policies[why])) for why, found in by_reason.items()]


def _cause(names: set[str]) -> str | None:
    return f"policy {', '.join(sorted(names))}" if names else None


@check(
    "RG302",
    "check-isolates-writes",
    Severity.ERROR,
    "INSERT and UPDATE can only write rows of the current tenant",
    attacks=(4, 5),
    objects=rls_tenant_tables,
)
def check_isolates_writes(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: integrity. New rows are checked against WITH CHECK (or USING, for a
    policy that has no WITH CHECK: PostgreSQL reuses it, so a USING-only policy is
    safe). A WITH CHECK of ``true``, or one weaker than USING, lets the application
    insert rows for another tenant or move its own rows to another tenant with UPDATE.
    (An INSERT policy with neither clause lets nothing in.)

    How it is used: ``INSERT INTO documents (tenant_id, ...) VALUES ('<other tenant>', ...)``
    or ``UPDATE documents SET tenant_id = '<other tenant>'``.

    Fix:

        ALTER POLICY documents_tenant ON documents WITH CHECK
            (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
    """
    relation = tenancy.catalog.relations[table]
    for commands, why, cause in _open_commands(tenancy, relation, WRITE_COMMANDS, new_rows=True):
        yield Problem(
            f"{commands} as {tenancy.app.name} may write rows of another tenant: {why}",
            cause=cause,
            fix=create_tenant_policy(tenancy, relation, restrictive=True),
        )


@check(
    "RG303",
    "policy-not-public",
    Severity.WARNING,
    "Policies name the roles they are for (not PUBLIC)",
    attacks=(7,),
    objects=tables_with_policies,
)
def policy_not_public(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: nothing by itself, but a policy without ``TO`` applies to PUBLIC:
    every role, including ones created later for other purposes (reporting, support),
    gets it, and an over-broad policy to PUBLIC reaches the application too.

    How it is used: a new role meant to see one thing inherits the tenant policies (or
    a permissive ``USING (true)`` policy meant for someone else).

    Fix: name the role.

        DROP POLICY documents_tenant ON documents;
        CREATE POLICY documents_tenant ON documents TO app_user USING (...);
    """
    relation = tenancy.catalog.relations[table]
    for policy in relation.policies:
        if PUBLIC in policy.roles:
            yield Problem(
                f"policy {policy.name} on {table} applies TO PUBLIC (every role)",
                fix=f"ALTER POLICY {ident(policy.name)} ON {qualified(table)} TO "
                f"{', '.join(ident(role) for role in _meant_for(tenancy, relation, policy))};",
            )


def _meant_for(tenancy: Tenancy, relation: Relation, policy: Policy) -> list[str]:
    """Whom a policy TO PUBLIC is for: the application when it binds the tenant, else
    the admin roles (an open policy), else the application."""
    context = tenancy.context_for(relation)
    if all(judge(text, context).bound for _label, text in _expressions(policy)):
        return [tenancy.app.name]
    return [admin.name for admin in tenancy.admins] or [tenancy.app.name]


@check(
    "RG304",
    "no-setting-bypass",
    Severity.ERROR,
    "No policy grants access on a setting the application can set itself",
    attacks=(8,),
    objects=rls_tenant_tables,
)
def no_setting_bypass(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: every tenant's rows. Any role can set any custom setting
    (``set_config('app.is_admin', 'on', true)``), so a policy that opens rows when some
    setting other than the tenant setting has a value gives the application an admin
    bypass of its own.

    How it is used: ``SELECT set_config('app.is_admin', 'on', true); SELECT * FROM documents;``

    Fix: give admins a role of their own and a policy TO that role, not a flag.

        CREATE POLICY documents_admin ON documents TO uber_admin USING (true) WITH CHECK (true);
    """
    relation = tenancy.catalog.relations[table]
    for policy in _app_policies(tenancy, relation):
        if not policy.permissive:
            continue
        for label, text in _expressions(policy):
            verdict = judge(text, tenancy.context_for(relation))
            if verdict.bound:
                continue
            fix = "\n".join([rewrite_policy(tenancy, policy), *admin_policies(tenancy, relation)])
            if verdict.other_settings:
                yield Problem(
                    f"policy {policy.name} ({label}) lets rows through on setting "
                    f"{', '.join(verdict.other_settings)}, which {tenancy.app.name} can set "
                    "to anything",
                    cause=f"policy {policy.name}",
                    fix=fix,
                )
            if verdict.untrusted_claims:
                yield Problem(
                    f"policy {policy.name} ({label}) lets rows through on claim "
                    f"{', '.join(verdict.untrusted_claims)}, which the user can edit",
                    cause=f"policy {policy.name}",
                    fix=fix,
                )


@check(
    "RG305",
    "unset-context-closed",
    Severity.ERROR,
    "With the tenant setting unset or empty, policies let nothing through",
    attacks=(9,),
    objects=rls_tenant_tables,
)
def unset_context_closed(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: every tenant's rows, whenever the context is missing: a background
    job, a code path that forgot to set the tenant, or a pooled connection after a
    reset. ``current_setting(x, true)`` is NULL when never set and '' after a reset;
    policies written as ``... OR current_setting(x, true) IS NULL``, ``= ''`` or around
    ``coalesce(...)`` let everything through then.

    How it is used: query before (or without) setting the tenant.

    Fix: compare with the setting and nothing else; NULL then matches nothing.

        USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    """
    relation = tenancy.catalog.relations[table]
    for policy in _app_policies(tenancy, relation):
        for label, text in _expressions(policy):
            if judge(text, tenancy.context_for(relation)).fails_open:
                yield Problem(
                    f"policy {policy.name} ({label}) lets rows through when the tenant "
                    "setting is unset or empty",
                    cause=f"policy {policy.name}",
                    fix=rewrite_policy(tenancy, policy),
                )


_FRAGILE_IN_BODY = (
    r"current_setting\(\s*'{setting}'[^)]*\)\s*::\s*(?!text\b|varchar\b|character varying\b)\w+"
)


@check(
    "RG306",
    "empty-setting-cast",
    Severity.WARNING,
    "An empty tenant setting does not make queries fail with a cast error",
    attacks=(9,),
    objects=rls_tenant_tables,
)
def empty_setting_cast(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What breaks: availability, and it hides the missing context. Once a pooled
    connection has seen the setting (even ``SET LOCAL``), ``current_setting(x, true)``
    returns '' after the transaction instead of NULL, and ``''::uuid`` raises
    ``invalid input syntax for type uuid`` on every query without a tenant.

    How it is used: not an attack; a crash that teaches people to work around the
    policy.

    Fix: turn '' into NULL before the cast.

        USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    """
    relation = tenancy.catalog.relations[table]
    fragile_body = re.compile(
        _FRAGILE_IN_BODY.format(setting=re.escape(tenancy.settings.tenant_setting))
    )
    for policy in _app_policies(tenancy, relation):
        for label, text in _expressions(policy):
            if judge(text, tenancy.context_for(relation)).fragile_cast:
                yield Problem(
                    f"policy {policy.name} ({label}) casts the tenant setting without "
                    "NULLIF: '' raises an error",
                    fix=rewrite_policy(tenancy, policy),
                )
        for signature in policy.calls_functions:
            function = tenancy.catalog.functions.get(signature)
            if function is not None and fragile_body.search(function.source):
                yield Problem(
                    f"policy {policy.name} calls {signature}, which casts the tenant "
                    "setting without NULLIF",
                    fix=rewrite_policy(tenancy, policy),
                )


@check(
    "RG307",
    "policy-trusts-writable-table",
    Severity.ERROR,
    "Policies do not decide visibility from tables the application can write freely",
    attacks=(18,),
    objects=rls_tenant_tables,
)
def policy_trusts_writable_table(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: whatever the policy guards. A policy that looks rows up in another
    table (``tenant_id IN (SELECT tenant_id FROM memberships WHERE user_id = ...)``)
    is only as strong as that table: if the application can insert or update it without
    a tenant restriction, it enrols itself in another tenant.

    How it is used: ``INSERT INTO memberships (user_id, tenant_id) VALUES (<me>, <victim>)``.

    Fix: the application must not write the table the policy trusts, or that table's
    own policies must restrict writes to the current tenant.

        REVOKE INSERT, UPDATE ON memberships FROM app_user;
    """
    relation = tenancy.catalog.relations[table]
    app = tenancy.app.name
    for policy in _app_policies(tenancy, relation):
        for read in policy.reads_tables:
            trusted = tenancy.catalog.relations.get(read)
            if trusted is None or read == table or not tenancy.writes(app, trusted):
                continue
            unguarded = [
                command
                for command in WRITE_COMMANDS
                if tenancy.has(app, command, trusted)
                and (
                    not trusted.rls_enabled
                    or tenancy.rls_bypass(app, trusted) is not None
                    or not tenancy.isolation(trusted, command, app, new_rows=True).isolated
                )
            ]
            if unguarded:
                yield Problem(
                    f"policy {policy.name} decides from {read}, which {app} can "
                    f"{'/'.join(unguarded)} without a tenant restriction",
                    fix=revoke(tenancy, app, unguarded, trusted),
                )
