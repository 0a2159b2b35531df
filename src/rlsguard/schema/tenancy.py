"""The tenancy model: which tables belong to tenants, who the application and the
admins are, what each role can reach, and what the policies let each role do.

Built from the catalog and the config; a config that names a role, column, setting,
schema or table the database does not have is an error that says what it does have.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from rlsguard.config import Settings
from rlsguard.errors import ConfigError
from rlsguard.schema.catalog import PUBLIC, Catalog, Column, Function, Policy, Relation, Role
from rlsguard.schema.expressions import TenantContext, Verdict, interned, judge
from rlsguard.schema.helpers import tenant_context
from rlsguard.schema.validation import ConfigChecks, listing

READ_COMMANDS = ("SELECT", "UPDATE", "DELETE")  # commands whose USING picks visible rows
WRITE_COMMANDS = ("INSERT", "UPDATE")  # commands whose new rows are checked


@dataclass(frozen=True)
class Isolation:
    """What the policies make of one command on one table for one role."""

    isolated: bool
    denied: bool  # no permissive policy applies: nothing passes (safe)
    why: str
    deciding: tuple[Policy, ...] = ()  # the policies the verdict is about
    verdicts: tuple[tuple[Policy, Verdict], ...] = ()


class Tenancy(ConfigChecks):
    def __init__(self, catalog: Catalog, settings: Settings, *, lenient: bool = False) -> None:
        self.catalog = catalog
        self.settings = settings
        self.lenient = lenient
        self._validate()
        self.app: Role = catalog.roles[settings.app_role]
        self.admins: tuple[Role, ...] = tuple(catalog.roles[name] for name in settings.admin_roles)
        self.global_tables: frozenset[str] = self._resolve_tables(
            settings.global_tables, "global_tables"
        )
        self.append_only: frozenset[str] = self._resolve_tables(settings.append_only, "append_only")
        self.principal_table: Relation | None = self._principal_table()
        self.membership_table: Relation | None = (
            self.catalog.relations[self._resolve_table(settings.membership.table, "membership")]
            if settings.membership
            else None
        )
        self.tenant_tables: dict[str, str] = self._find_tenant_tables()
        if not self.tenant_tables and not lenient:
            raise ConfigError(
                f"nothing to check: no table of schema(s) {', '.join(settings.schemas)} in "
                f"database {catalog.database} carries tenant_column {settings.tenant_column!r} "
                "or references a table that does (a check of no table would pass without "
                "proving anything); set tenant_column and schemas in [tool.rlsguard]"
            )
        self.context = tenant_context(catalog, settings, self.tenant_tables)
        self._contexts: dict[tuple[str, bool], TenantContext] = {}

    # -- validation ------------------------------------------------------------------------------

    def _resolve_tables(self, names: Iterable[str], key: str) -> frozenset[str]:
        found = set()
        for name in names:
            try:
                found.add(self._resolve_table(name, key))
            except ConfigError:
                if not self.lenient:
                    raise
        return frozenset(found)

    def _principal_table(self) -> Relation | None:
        """The table of principals: configured, or the one the membership's principal
        column references."""
        settings = self.settings
        if settings.principal_table:
            return self.catalog.relations[
                self._resolve_table(settings.principal_table, "principal_table")
            ]
        if settings.membership is None:
            return None
        membership = self.catalog.relations[
            self._resolve_table(settings.membership.table, "membership")
        ]
        return next(
            (
                self.catalog.relations[key.references]
                for key in membership.foreign_keys
                if key.columns == (settings.membership.principal,)
                and key.references in self.catalog.relations
            ),
            None,
        )

    @cached_property
    def principal_key(self) -> str | None:
        """The principal table's key column (what ``{principal}`` stands for)."""
        if self.principal_table is None:
            return None
        key = primary_key(self.principal_table)
        return key[0] if len(key) == 1 else None

    def principal_columns(self, relation: Relation) -> frozenset[str]:
        """Columns of ``relation`` that name a principal: its own key in the principal
        table, and one-column foreign keys to that table. Without such a table (the users
        live elsewhere), the membership's principal column."""
        principals = self.principal_table
        if principals is None:
            membership, members = self.settings.membership, self.membership_table
            if membership is None or members is None or relation.qualified != members.qualified:
                return frozenset()
            return frozenset({membership.principal})
        found = {
            own
            for key in relation.foreign_keys
            if key.references == principals.qualified
            for own, referenced in zip(key.columns, key.referenced_columns, strict=True)
            if referenced == self.principal_key
        }
        if relation.qualified == principals.qualified and self.principal_key:
            found.add(self.principal_key)
        return frozenset(found)

    def context_for(self, relation: Relation, *, new_rows: bool = False) -> TenantContext:
        """The context as ``relation`` sees it: its principal columns, and its own key when
        it is the tenant table. New memberships are never bound by their principal: a
        user adding themselves to any tenant is the attack."""
        key = (relation.qualified, new_rows)
        if key not in self._contexts:
            principal = self.principal_columns(relation)
            membership = self.membership_table
            if new_rows and membership is not None and membership.qualified == key[0]:
                principal = frozenset()
            root = self.tenant_root
            own = frozenset(
                {self.tenant_key} if root is not None and root.qualified == key[0] else ()
            )
            # the shared context where nothing differs: the judge's cache then hits by identity
            self._contexts[key] = (
                interned(
                    dataclasses.replace(
                        self.context, principal_columns=principal, tenant_columns=own
                    )
                )
                if principal or own
                else self.context
            )
        return self._contexts[key]

    def _resolve_table(self, name: str, key: str) -> str:
        candidates = (
            [name] if "." in name else [f"{schema}.{name}" for schema in self.settings.schemas]
        )
        for candidate in candidates:
            if candidate in self.catalog.relations:
                return candidate
        raise ConfigError(
            f"{key} entry {name!r} is not a table in database {self.catalog.database}; "
            f"tables: {listing(table.qualified for table in self.tables())}"
        )

    # -- tables ----------------------------------------------------------------------------------

    def tables(self) -> list[Relation]:
        """The tables of the configured schemas, without the migration version table."""
        return [
            table
            for table in self.catalog.tables(self.settings.schemas)
            if table.name != self.settings.version_table
        ]

    def _find_tenant_tables(self) -> dict[str, str]:
        column = self.settings.tenant_column
        tables = [table for table in self.tables() if table.qualified not in self.global_tables]
        scoped = {table.qualified: f"carries {column}" for table in tables if table.column(column)}
        principals = self.principal_table
        names = {table.qualified for table in tables}
        if principals is not None and principals.qualified in names.difference(scoped):
            scoped[principals.qualified] = "holds the principals, who belong to tenants"
        changed = True
        while changed:
            changed = False
            for table in tables:
                if table.qualified in scoped:
                    continue
                parent = next(
                    (
                        fk.references
                        for fk in table.foreign_keys
                        if fk.references in scoped
                        or (principals is not None and fk.references == principals.qualified)
                    ),
                    None,
                )
                if parent is not None:
                    scoped[table.qualified] = f"references tenant table {parent}"
                    changed = True
        return scoped

    def owned_by_tenants(self, table: str) -> bool:
        """Are the rows of ``table`` some tenant's: a tenant table, or the principals
        (who belong to tenants through their memberships), wherever they are?"""
        principals = self.principal_table
        return table in self.tenant_tables or (
            principals is not None and table == principals.qualified
        )

    def relations_of(self, qualified_names: Iterable[str]) -> list[Relation]:
        return [
            self.catalog.relations[name]
            for name in qualified_names
            if name in self.catalog.relations
        ]

    @cached_property
    def tenant_relations(self) -> list[Relation]:
        return self.relations_of(sorted(self.tenant_tables))

    @cached_property
    def tenant_root(self) -> Relation | None:
        """The table of tenants: its primary key is the tenant column alone, or else the
        one-column key the tenant columns reference (``organizations(id)`` for
        ``organization_id REFERENCES organizations``), the most referenced one."""
        column = self.settings.tenant_column
        tables = self.tables()
        for table in tables:
            if primary_key(table) == (column,):
                return table
        referenced = Counter(
            foreign_key.references
            for table in tables
            for foreign_key in table.foreign_keys
            if foreign_key.columns == (column,)
            and foreign_key.references in self.catalog.relations
            and primary_key(self.catalog.relations[foreign_key.references])
            == foreign_key.referenced_columns
        )
        if not referenced:
            return None
        return self.catalog.relations[referenced.most_common(1)[0][0]]

    @cached_property
    def tenant_key(self) -> str:
        """The tenant table's column that holds the tenant id (the tenant column, or the
        key the tenant columns reference)."""
        root = self.tenant_root
        key = primary_key(root) if root is not None else ()
        return key[0] if len(key) == 1 and key[0] else self.settings.tenant_column

    @cached_property
    def tenant_column_sample(self) -> Column | None:
        """The tenant column of some tenant table: its type is the tenant ids' type."""
        for table in self.tenant_relations:
            found = table.column(self.settings.tenant_column)
            if found is not None:
                return found
        return None

    def carries_tenant_column(self, relation: Relation) -> bool:
        return relation.column(self.settings.tenant_column) is not None

    def is_child(self, relation: Relation) -> bool:
        return relation.kind in ("partition", "inheritance child")

    @cached_property
    def global_relations(self) -> list[Relation]:
        return [table for table in self.tables() if table.qualified not in self.tenant_tables]

    # -- roles -----------------------------------------------------------------------------------

    def _following(self, roles: Iterable[str], edges: Callable[[Role], Iterable[str]]) -> set[str]:
        reached, pending = set(), list(roles)
        while pending:
            current = pending.pop()
            if current in reached:
                continue
            reached.add(current)
            known = self.catalog.roles.get(current)
            if known is not None:
                pending.extend(edges(known))
        return reached

    def becomes(self, role: str) -> set[str]:
        """The role and every role it may SET ROLE to: whose attributes (SUPERUSER,
        BYPASSRLS) it can take on."""
        return self._following([role], lambda known: known.may_set)

    def closure(self, role: str) -> set[str]:
        """Every role whose privileges, ownerships and policies ``role`` has, as itself or
        after a SET ROLE: the roles it becomes, and those they inherit from."""
        return self._following(self.becomes(role), lambda known: known.inherits)

    def reachable_roles(self, role: str) -> list[Role]:
        return [
            self.catalog.roles[name]
            for name in sorted(self.closure(role))
            if name in self.catalog.roles
        ]

    def how_reached(self, role: str, reached: str) -> str:
        if reached in self.becomes(role):
            return f"which {role} can become"
        return f"whose privileges {role} inherits"

    def superuser_among(self, role: str) -> Role | None:
        return next(
            (reached for reached in self.reachable_roles(role) if self.takes_on(role, reached)),
            None,
        )

    def takes_on(self, role: str, reached: Role) -> bool:
        """Does ``role`` get ``reached``'s SUPERUSER attribute (by becoming it)?"""
        return reached.superuser and reached.name in self.becomes(role)

    def rls_bypass(self, role: str, relation: Relation) -> str | None:
        """Why ``role`` (or a role it can become) is not subject to RLS on ``relation``."""
        becomes = self.becomes(role)
        for reached in self.reachable_roles(role):
            via = "" if reached.name == role else f" ({self.how_reached(role, reached.name)})"
            if reached.superuser and reached.name in becomes:
                return f"{reached.name}{via} is a superuser"
            if reached.bypassrls and reached.name in becomes:
                return f"{reached.name}{via} has BYPASSRLS"
            if reached.name == relation.owner and not relation.rls_forced:
                return (
                    f"{reached.name}{via} owns {relation.qualified}, which does not FORCE row "
                    "level security"
                )
        return None

    def unconfined(self, role: str, relation: Relation, command: str) -> str | None:
        """Why ``role`` may run ``command`` on every tenant's rows of ``relation``: it skips
        RLS there, the table has none, or a policy lets it (None: it may not, or is bound)."""
        if not self.has(role, command, relation):
            return None
        reason = self.rls_bypass(role, relation)
        if reason is not None:
            return reason
        if not relation.rls_enabled:
            return f"{relation.qualified} has no row level security"
        isolation = self.isolation(relation, command, role, new_rows=command == "INSERT")
        if not isolation.isolated:
            return f"its policies on {relation.qualified} do not bind {command} ({isolation.why})"
        return None

    def has(self, role: str, privilege: str, relation: Relation) -> bool:
        actors = self.closure(role)
        if self.superuser_among(role) is not None or relation.owner in actors:
            return True
        granted = [
            *relation.grants,
            *(grant for column in relation.columns for grant in column.grants),
        ]
        return any(
            grant.privilege == privilege and (grant.grantee == PUBLIC or grant.grantee in actors)
            for grant in granted
        )

    def can_create_in(self, role: str, schema: str) -> bool:
        found = self.catalog.schemas.get(schema)
        if found is None:
            return False
        actors = self.closure(role)
        return (
            self.superuser_among(role) is not None
            or found.owner in actors
            or any(
                grant.privilege == "CREATE" and (grant.grantee == PUBLIC or grant.grantee in actors)
                for grant in found.grants
            )
        )

    def writes(self, role: str, relation: Relation) -> bool:
        return any(self.has(role, privilege, relation) for privilege in ("INSERT", "UPDATE"))

    def can_execute(self, role: str, function: Function) -> bool:
        actors = self.closure(role)
        if self.superuser_among(role) is not None or function.owner in actors:
            return True
        return any(
            grant.privilege == "EXECUTE" and (grant.grantee == PUBLIC or grant.grantee in actors)
            for grant in function.grants
        )

    # -- policies --------------------------------------------------------------------------------

    def applicable(self, relation: Relation, command: str, role: str) -> list[Policy]:
        actors = self.closure(role)
        return [
            policy
            for policy in relation.policies
            if policy.applies_to(command) and (PUBLIC in policy.roles or actors & set(policy.roles))
        ]

    def isolation(
        self, relation: Relation, command: str, role: str, *, new_rows: bool = False
    ) -> Isolation:
        """Whether the policies keep ``role`` to one tenant for ``command``: the rows it
        may touch (USING) or, with ``new_rows``, the rows it may write (WITH CHECK, or
        USING where a policy has none, as PostgreSQL does). Permissive policies are
        OR-ed, restrictive ones AND-ed: one bound restrictive policy is enough."""
        policies = self.applicable(relation, command, role)
        context = self.context_for(relation, new_rows=new_rows)
        permissive = [p for p in policies if p.permissive and self._term(p, new_rows) is not None]
        restrictive = [
            p for p in policies if not p.permissive and self._term(p, new_rows) is not None
        ]
        if not permissive:
            return Isolation(True, True, "no permissive policy applies, so nothing passes")
        verdicts = tuple(
            (policy, judge(self._term(policy, new_rows), context)) for policy in permissive
        )
        restricted = [p for p in restrictive if judge(self._term(p, new_rows), context).bound]
        if restricted:
            return Isolation(
                True,
                False,
                f"restrictive policy {restricted[0].name} binds it to the tenant",
                (restricted[0],),
                verdicts,
            )
        open_ = tuple(policy for policy, verdict in verdicts if not verdict.bound)
        if not open_:
            return Isolation(
                True, False, "every permissive policy binds it to the tenant", (), verdicts
            )
        reasons = "; ".join(f"{policy.name}: {dict(verdicts)[policy].why}" for policy in open_)
        return Isolation(False, False, reasons, open_, verdicts)

    @staticmethod
    def _term(policy: Policy, new_rows: bool) -> str | None:
        if not new_rows:
            return policy.using
        return policy.check if policy.check is not None else policy.using


def primary_key(relation: Relation) -> tuple[str | None, ...]:
    return next((index.columns for index in relation.indexes if index.primary), ())
