"""The config checked against the database: every key that names something the database
does not have (a role, a schema, a column, a setting no policy reads, a table), all in one
error that points at ``rlsguard init``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rlsguard.config import INIT_POINTER, Settings
from rlsguard.errors import ConfigError
from rlsguard.schema.catalog import Catalog, Relation

_SETTING_READ = re.compile(r"current_setting\(\s*'([^']+)'")


def listing(names: Iterable[str], limit: int = 25) -> str:
    ordered = sorted(set(names))
    shown = ", ".join(ordered[:limit])
    return shown + (f" (and {len(ordered) - limit} more)" if len(ordered) > limit else "") or "none"


class ConfigChecks:
    """What ``Tenancy`` checks its config with, before it builds anything on it."""

    catalog: Catalog
    settings: Settings
    lenient: bool

    def tables(self) -> list[Relation]:
        raise NotImplementedError

    def _resolve_table(self, name: str, key: str) -> str:
        raise NotImplementedError

    def _validate(self) -> None:
        """Everything the config names that the database does not have, in one error."""
        problems = [*self._missing_names(), *self._missing_tables()]
        if problems:
            hint = INIT_POINTER
            listed = "\n".join(f"- {problem}" for problem in problems)
            raise ConfigError(
                f"{problems[0]}; {hint}"
                if len(problems) == 1
                else f"the config does not fit the database ({len(problems)} problems):\n"
                f"{listed}\n{hint}"
            )

    def _missing_names(self) -> list[str]:
        catalog, settings = self.catalog, self.settings
        where = f"database {catalog.database}"
        problems = [
            f"schema {schema!r} (schemas in [tool.rlsguard]) does not exist in {where}; "
            f"it has: {listing(catalog.schemas)}"
            for schema in settings.schemas
            if schema not in catalog.schemas
        ]
        user_roles = [name for name in catalog.roles if not name.startswith("pg_")]
        problems += [
            f"{key} {name!r} does not exist in {where}; roles there: {listing(user_roles)}"
            for key, name in [
                ("app_role", settings.app_role),
                *(("admin_roles", role) for role in settings.admin_roles),
            ]
            if name not in catalog.roles
        ]
        tables = self.tables()
        # an earlier revision (lenient) may have only tables the tenants share so far
        tenantless = not any(table.column(settings.tenant_column) for table in tables)
        if tables and tenantless and not self.lenient:
            problems.append(
                f"tenant_column {settings.tenant_column!r} is in no table of schema(s) "
                f"{', '.join(settings.schemas)} in {where}; columns found in several tables: "
                f"{listing(shared_columns(tables))}"
            )
        read = self._settings_read()
        entered = dict(settings.entry)
        if read and settings.tenant_setting in entered and settings.tenant_setting not in read:
            problems.append(
                f"tenant_setting {settings.tenant_setting!r} is read by no policy or function in "
                f"{where}; they read: {listing(read)}"
            )
        return problems

    def _missing_tables(self) -> list[str]:
        settings = self.settings
        named = [
            *(("global_tables", name) for name in settings.global_tables),
            *(("append_only", name) for name in settings.append_only),
            *((("principal_table", settings.principal_table),) if settings.principal_table else ()),
            *((("membership", settings.membership.table),) if settings.membership else ()),
        ]
        problems = []
        for key, name in named:
            try:
                self._resolve_table(name, key)
            except ConfigError as error:
                if key not in ("global_tables", "append_only") or not self.lenient:
                    problems.append(str(error))
        membership = settings.membership
        if membership is not None and not problems:
            table = self.catalog.relations[self._resolve_table(membership.table, "membership")]
            problems += [
                f"membership.{key} {name!r} is not a column of {table.qualified}; its "
                f"columns: {listing(column.name for column in table.columns)}"
                for key, name in (
                    ("principal", membership.principal),
                    ("tenant", membership.tenant),
                )
                if table.column(name) is None
            ]
        return problems

    def _settings_read(self) -> set[str]:
        texts = [
            text
            for relation in self.catalog.relations.values()
            for policy in relation.policies
            for text in (policy.using, policy.check)
            if text
        ]
        texts += [function.source for function in self.catalog.functions.values()]
        return {match for text in texts for match in _SETTING_READ.findall(text)}


def shared_columns(tables: list[Relation]) -> list[str]:
    counts: dict[str, int] = {}
    for table in tables:
        for column in table.columns:
            counts[column.name] = counts.get(column.name, 0) + 1
    return [name for name, count in counts.items() if count > 1]
