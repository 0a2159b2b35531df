"""How the probes enter a tenant the way the application does: the settings it sets
(templates over ``{tenant}`` and ``{principal}``, a JSON claims document among them), a
statement it runs (``SELECT set_tenant({tenant})``), and how an admin is entered: by a
role of its own, or by a context (``app.is_admin``, a ``service_role`` claim).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rlsguard.config import PRINCIPAL, TENANT
from rlsguard.schema.tenancy import Tenancy

Statement = tuple[str, dict[str, Any] | tuple[Any, ...]]
SET_CONFIG = "SELECT set_config(%s, %s, true)"


@dataclass(frozen=True)
class Entry:
    app: str
    settings: tuple[tuple[str, str], ...]
    statement: str | None = None
    admin: tuple[tuple[str, str], ...] = ()
    # what a login as the application gets (ALTER DATABASE / ROLE ... SET), least specific first
    defaults: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, tenancy: Tenancy) -> Entry:
        settings = tenancy.settings
        return cls(
            tenancy.app.name,
            settings.entry,
            settings.context_statement,
            settings.admin_context,
            login_defaults(tenancy),
        )

    def fresh(self) -> list[Statement]:
        """A connection that just logged in as the application: the defaults the database
        gives its context settings, nothing else."""
        context = {name for name, _ in (*self.settings, *self.admin)}
        return [(SET_CONFIG, (name, value)) for name, value in self.defaults if name in context]

    @property
    def default_tenant(self) -> str | None:
        """The tenant a fresh login is in, when a default gives the tenant setting one."""
        plain = [name for name, template in self.settings if template == TENANT]
        found = [value for name, value in self.defaults if name in plain and value.strip()]
        return found[-1] if found else None

    @property
    def admin_label(self) -> str:
        """The name the admin context goes by in messages."""
        return f"{self.app} with {', '.join(name for name, _ in self.admin)}"

    @property
    def needs_principal(self) -> bool:
        texts = [template for _, template in self.settings] + [self.statement or ""]
        return any(PRINCIPAL in text for text in texts)

    def enter(
        self, tenant: Any, principal: Any, edits: Mapping[str, Any] | None = None
    ) -> list[Statement]:
        """The statements that put the application in ``tenant`` as ``principal``;
        ``edits`` set claims (dotted paths) in the claims documents, as a user who edits
        their own metadata would."""
        found: list[Statement] = [
            (SET_CONFIG, (name, edited(render(template, tenant, principal), edits or {})))
            for name, template in self.settings
        ] + self._admin_reset()
        if self.statement is not None:
            text = self.statement.replace("%", "%%")
            text = text.replace(TENANT, "%(tenant)s").replace(PRINCIPAL, "%(principal)s")
            found.append((text, {"tenant": _plain(tenant), "principal": _plain(principal)}))
        return found

    def emptied(self) -> list[Statement]:
        """Every setting of the context set to '' (a pooled connection after a reset)."""
        return [(SET_CONFIG, (name, "")) for name, _ in self.settings] + self._admin_reset()

    def _admin_reset(self) -> list[Statement]:
        """The admin's own settings set to '': a setting stays for the whole transaction,
        so whoever acts after the admin must not keep its context."""
        entered = {name for name, _ in self.settings}
        return [(SET_CONFIG, (name, "")) for name, _ in self.admin if name not in entered]

    def as_admin(self) -> list[Statement]:
        return [(SET_CONFIG, (name, render(template, None, None))) for name, template in self.admin]


def login_defaults(tenancy: Tenancy) -> tuple[tuple[str, str], ...]:
    """The settings a login as the application gets, in the order PostgreSQL applies them
    (every role and database, the database, the role, the role in the database)."""
    app = tenancy.app.name

    def rank(database: str, role: str) -> int:
        return (2 if role else 0) + (1 if database else 0)

    applying = [
        default
        for default in tenancy.catalog.defaults
        if default.role in ("", app) and default.database in ("", tenancy.catalog.database)
    ]
    applying.sort(key=lambda default: rank(default.database, default.role))
    return tuple((default.setting, default.value) for default in applying)


def render(template: str, tenant: Any, principal: Any) -> str:
    text = template.replace(TENANT, "" if tenant is None else str(tenant))
    return text.replace(PRINCIPAL, "" if principal is None else str(principal))


def edited(text: str, edits: Mapping[str, Any]) -> str:
    """A claims document with ``edits`` applied (a text that is not one: unchanged)."""
    if not edits:
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if not isinstance(document, dict):
        return text
    for path, value in edits.items():
        *parents, last = path.split(".")
        place = document
        for step in parents:
            nested = place.get(step)
            place[step] = nested = nested if isinstance(nested, dict) else {}
            place = nested
        place[last] = str(value)
    return json.dumps(document)


def _plain(value: Any) -> Any:
    """A value as the statement receives it: text, so any parameter type takes it."""
    return None if value is None else str(value)
