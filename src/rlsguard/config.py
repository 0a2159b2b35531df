"""The tenancy config: ``[tool.rlsguard]`` in pyproject.toml, overridden by flags.

Every key has a default, so a project without the table still gets a run. A key that
is unknown, or a value of the wrong type, is an error that names it.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlsguard.errors import ConfigError

INIT_POINTER = "`rlsguard init` proposes a [tool.rlsguard] from the database's catalog and policies"

PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class Allowance:
    """A finding accepted on purpose, with the reason a reviewer agreed to."""

    check: str
    object: str
    reason: str


@dataclass(frozen=True)
class Settings:
    project_root: Path = field(default_factory=Path.cwd)
    alembic_ini: str = "alembic.ini"
    version_table: str = "alembic_version"
    # how long rlsguard's own statements may wait for a lock, and run; each revision of a
    # migration may take migration_timeout in all (PostgreSQL durations; "0" turns one off)
    lock_timeout: str = "5s"
    statement_timeout: str = "2min"
    migration_timeout: str = "10min"
    tenant_column: str = "tenant_id"
    tenant_setting: str = "app.current_tenant_id"
    app_role: str = "app_user"
    admin_roles: tuple[str, ...] = ("uber_admin",)
    schemas: tuple[str, ...] = ("public",)
    global_tables: tuple[str, ...] = ()
    append_only: tuple[str, ...] = ()
    allow: tuple[Allowance, ...] = ()
    until: tuple[RevisionSettings, ...] = ()
    # how the application enters a tenant: settings whose values are templates over
    # {tenant} and {principal} (empty: the tenant setting holds the tenant), and/or a
    # statement it runs
    context: tuple[tuple[str, str], ...] = ()
    context_statement: str | None = None
    principal_table: str | None = None
    membership: Membership | None = None
    admin_context: tuple[tuple[str, str], ...] = ()  # settings that make the app an admin
    # functions that return the tenant or the principal ("tenant" / "principal") when their
    # body does not say so (it reads a session table)
    context_functions: tuple[tuple[str, str], ...] = ()
    trusted_settings: tuple[str, ...] = ()  # set by the application itself, never the user
    untrusted_claims: tuple[str, ...] = ("user_metadata",)  # claim paths the user can edit
    preset: str | None = None
    frameworks: tuple[str, ...] = ()  # the frameworks the report's Controls show (all: empty)
    control_mappings: tuple[str, ...] = ()  # the project's own control mapping files
    # probe each tenant table, even one whose row security is another's (probes/alike.py)
    probe_every_table: bool = False

    @property
    def entry(self) -> tuple[tuple[str, str], ...]:
        """The settings the application sets to enter a tenant, with their templates."""
        if self.context or self.context_statement:
            return self.context
        return ((self.tenant_setting, TENANT),)

    @property
    def alembic_ini_path(self) -> Path:
        return (self.project_root / self.alembic_ini).resolve()

    def as_of(self, revision: str, history: Sequence[str]) -> Settings:
        """The settings for the schema at ``revision``: those of the nearest ``until``
        entry at or after it in ``history`` (revision ids, oldest first), if any."""
        position = {name: index for index, name in enumerate(history)}
        for entry in self.until:
            if entry.revision not in position:
                raise ConfigError(
                    f"[tool.rlsguard.until] names revision {entry.revision!r}, which is not in "
                    f"the migration history; known: {', '.join(history)}"
                )
        if revision not in position:
            return self
        applying = [e for e in self.until if position[e.revision] >= position[revision]]
        if not applying:
            return self
        nearest = min(applying, key=lambda entry: position[entry.revision])
        return dataclasses.replace(self, **dict(nearest.values))


# names and defaults the command line's parser shares with the layers below (this module
# stays light, so ``rlsguard --version`` and ``--help`` load nothing heavy)
BACKENDS = ("auto", "dsn", "docker", "local", "embedded")
DSN_ENV = "RLSGUARD_DATABASE_URL"
PROBE_DSN_ENV = "RLSGUARD_PROBE_DATABASE_URL"
DEFAULT_IMAGE = "postgres:15-alpine"  # the docker backend's
PG_VERSION_ENV = "RLSGUARD_PG_VERSION"
SUPPORTED_MAJORS = (14, 15, 16, 17, 18)


def major_problem(text: str) -> str | None:
    """Why ``text`` names no PostgreSQL major version rlsguard supports (None: it does)."""
    if not text.strip().isdigit():
        return f"a PostgreSQL major version is a number such as 16, not {text!r}"
    if int(text) not in SUPPORTED_MAJORS:
        return (
            f"PostgreSQL {text.strip()} is not one rlsguard supports: choose one of "
            f"{', '.join(map(str, SUPPORTED_MAJORS))}"
        )
    return None


SHRINK_SECONDS = 2.0  # time to shrink each failing probe's example
DEFAULT_REPORT = Path("reports") / "rlsguard-report.html"  # under the project folder


TENANT = "{tenant}"
PRINCIPAL = "{principal}"


@dataclass(frozen=True)
class Membership:
    """The relation that makes a principal (a user) a member of tenants."""

    table: str
    principal: str  # its column naming the principal
    tenant: str  # its column naming the tenant


@dataclass(frozen=True)
class RevisionSettings:
    """``[tool.rlsguard.until.<revision>]``: keys that held up to and including a revision
    (e.g. the roles an application used before a migration created its own)."""

    revision: str
    values: tuple[tuple[str, Any], ...]


_STRING_KEYS = (
    "alembic_ini",
    "version_table",
    "tenant_column",
    "tenant_setting",
    "app_role",
    "context_statement",
    "principal_table",
)
_DURATION_KEYS = ("lock_timeout", "statement_timeout", "migration_timeout")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|min|h|d)?")
_SECONDS_PER = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_LIST_KEYS = (
    "admin_roles",
    "schemas",
    "global_tables",
    "append_only",
    "trusted_settings",
    "untrusted_claims",
    "frameworks",
    "control_mappings",
)
_TEMPLATE_KEYS = ("context", "admin_context")
_SWITCH_KEYS = ("probe_every_table",)
KNOWN_KEYS = (
    *_STRING_KEYS,
    *_DURATION_KEYS,
    *_SWITCH_KEYS,
    *_LIST_KEYS,
    *_TEMPLATE_KEYS,
    "membership",
    "context_functions",
    "preset",
    "allow",
    "until",
)
PRESETS: dict[str, dict[str, Any]] = {
    "platform": {},  # the defaults: one tenant setting, roles app_user and uber_admin
    "supabase": {
        "app_role": "authenticated",
        "admin_roles": ["service_role"],
        "context": {
            "request.jwt.claims": '{"sub": "{principal}", "role": "authenticated"}',
        },
        "principal_table": "auth.users",
        # PostgREST before v10 put each claim in a setting of its own
        "trusted_settings": [
            "request.jwt.claim.sub",
            "request.jwt.claim.role",
            "request.jwt.claim",
        ],
        "untrusted_claims": ["user_metadata"],
    },
}
_PROJECT_KEYS = (
    "alembic_ini",
    "version_table",
    "preset",
    "frameworks",
    "control_mappings",
    *_DURATION_KEYS,
    *_SWITCH_KEYS,
)  # the same at every revision


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder, from ``start`` upwards, that holds a pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PYPROJECT).is_file():
            return folder
    return here


def load_settings(project_root: Path, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read ``[tool.rlsguard]`` from ``project_root/pyproject.toml``, then apply the
    overrides that are not None (flags the user actually gave)."""
    pyproject = project_root / PYPROJECT
    table: dict[str, Any] = {}
    if pyproject.is_file():
        try:
            document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            raise ConfigError(f"{pyproject} is not UTF-8 text ({error.reason})") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{pyproject} is not valid TOML: {error}") from None
        tool = document.get("tool", {})
        found = tool.get("rlsguard", {}) if isinstance(tool, dict) else {}
        if not isinstance(found, dict):
            raise ConfigError(
                f"[tool.rlsguard] in {pyproject} must be a table of keys, got {found!r}"
            )
        table = dict(found)
    where = f"[tool.rlsguard] in {pyproject}"
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    if given:
        table.update(given)
        where = f"{where} (or a flag)"
        if isinstance(table.get("until"), dict):  # a flag holds at every revision
            table["until"] = {
                revision: {key: value for key, value in keys.items() if key not in given}
                if isinstance(keys, dict)
                else keys
                for revision, keys in table["until"].items()
            }
    return settings_from_table(table, project_root, where)


def settings_from_table(table: Mapping[str, Any], project_root: Path, where: str) -> Settings:
    table = _with_preset(table, where)
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(_with_a_guess, unknown))} in {where}; "
            f"known keys: {', '.join(KNOWN_KEYS)}; {INIT_POINTER}"
        )
    values: dict[str, Any] = {"project_root": project_root, **_values(table, where)}
    if "preset" in table:
        values["preset"] = table["preset"]
    if "until" in table:
        values["until"] = _until(table["until"], where)
    return Settings(**values)


def _with_a_guess(key: str) -> str:
    """``key`` quoted, and the known key it may be a typo of."""
    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    return f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key)


def _values(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in _STRING_KEYS:
        if key in table:
            values[key] = _string(table[key], key, where)
    for key in _DURATION_KEYS:
        if key in table:
            values[key] = _duration(table[key], key, where)
    for key in _SWITCH_KEYS:
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{key} in {where} must be true or false, got {table[key]!r}")
            values[key] = table[key]
    for key in _LIST_KEYS:
        if key in table:
            given = table[key]
            none = key == "admin_roles" and given in ("", [""], ("",))  # `--admin-role ''`
            values[key] = () if none else _strings(given, key, where)
    if values.get("schemas") == ():
        raise ConfigError(f"schemas in {where} must name at least one schema")
    if "allow" in table:
        values["allow"] = _allowances(table["allow"], where)
    return {**values, **_model_values(table, where)}


def _model_values(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The keys that say how the application enters a tenant."""
    values: dict[str, Any] = {}
    for key in _TEMPLATE_KEYS:
        if key in table:
            values[key] = _templates(table[key], key, where)
    if "membership" in table:
        values["membership"] = _membership(table["membership"], where)
    if "context_functions" in table:
        values["context_functions"] = _context_functions(table["context_functions"], where)
    if "context" in values and "tenant_setting" not in table:
        values["tenant_setting"] = _tenant_setting_of(values["context"])
    statement = table.get("context_statement")
    if statement is not None and TENANT not in statement and PRINCIPAL not in statement:
        raise ConfigError(
            f"context_statement in {where} must use {TENANT} or {PRINCIPAL}, got {statement!r}"
        )
    return values


def _with_preset(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The preset's keys under the table's own: a key the table sets wins."""
    name = table.get("preset")
    if name is None:
        return dict(table)
    if name not in PRESETS:
        raise ConfigError(f"preset in {where} must be one of {', '.join(PRESETS)}, got {name!r}")
    return {**PRESETS[name], **table}


def _templates(value: Any, key: str, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            f"{key} in {where} must be a table of settings to values, e.g. "
            f'{{"app.tenant_id" = "{TENANT}"}}; got {value!r}'
        )
    return tuple(
        (_string(name, key, where), _string(text, f"{key}.{name}", where))
        for name, text in value.items()
    )


def _context_functions(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or any(
        kind not in ("tenant", "principal") for kind in value.values()
    ):
        raise ConfigError(
            f'context_functions in {where} must map function names to "tenant" or '
            f'"principal", e.g. {{current_tenant = "tenant"}}; got {value!r}'
        )
    return tuple((_string(name, "context_functions", where), kind) for name, kind in value.items())


def _tenant_setting_of(context: tuple[tuple[str, str], ...]) -> str:
    """The setting that carries the tenant (else the principal) in a context."""
    for needle in (TENANT, PRINCIPAL):
        for name, template in context:
            if needle in template:
                return name
    return context[0][0]


def _membership(value: Any, where: str) -> Membership:
    fields = [item.name for item in dataclasses.fields(Membership)]
    if not isinstance(value, dict) or sorted(value) != sorted(fields):
        raise ConfigError(
            f"membership in {where} must have exactly the keys {', '.join(fields)} (the "
            f"table, its principal column and its tenant column); got {value!r}"
        )
    return Membership(
        **{name: _string(value[name], f"membership.{name}", where) for name in fields}
    )


def _until(value: Any, where: str) -> tuple[RevisionSettings, ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"until in {where} must be a table of revision ids to tables of keys")
    allowed = [key for key in KNOWN_KEYS if key not in (*_PROJECT_KEYS, "until")]
    entries = []
    for revision, keys in value.items():
        place = f"until.{revision!r} in {where}"
        if not isinstance(keys, dict):
            raise ConfigError(f"{place} must be a table of keys, got {keys!r}")
        unknown = sorted(set(keys) - set(allowed))
        if unknown:
            raise ConfigError(
                f"{place} cannot set {', '.join(map(repr, unknown))}; it can set: "
                f"{', '.join(allowed)}"
            )
        entries.append(RevisionSettings(revision, tuple(sorted(_values(keys, place).items()))))
    return tuple(entries)


def _string(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} in {where} must be a non-empty string, got {value!r}")
    return value.strip()


def duration_seconds(duration: str) -> float | None:
    """A duration of the config in seconds (no unit: milliseconds, as PostgreSQL reads it);
    None for "0", which turns the limit off."""
    match = _DURATION.fullmatch(duration.strip())
    if match is None:
        raise ConfigError(f"{duration!r} is not a PostgreSQL duration such as '5s' or '2min'")
    return float(match[1]) * _SECONDS_PER[match[2] or "ms"] or None


def _duration(value: Any, key: str, where: str) -> str:
    text = _string(str(value) if isinstance(value, int) else value, key, where)
    duration = _DURATION.fullmatch(text)
    if not duration:
        raise ConfigError(
            f"{key} in {where} must be a PostgreSQL duration such as '5s', '500ms' or '2min' "
            f"('0' turns it off), got {value!r}"
        )
    if duration[2] is None and float(duration[1]) != 0:
        raise ConfigError(
            f"{key} in {where} needs a unit, such as '{duration[1]}s' or '{duration[1]}min': "
            f"{value!r} alone would be {duration[1]} milliseconds"
        )
    return text


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key} in {where} must be a list of strings, got {value!r}")
    return tuple(_string(item, key, where) for item in value)


def _allowances(value: Any, where: str) -> tuple[Allowance, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"allow in {where} must be a list of {{check, object, reason}} tables")
    fields = [item.name for item in dataclasses.fields(Allowance)]
    allowances = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, dict) or sorted(item) != sorted(fields):
            raise ConfigError(
                f"allow entry {position} in {where} must have exactly the keys "
                f"{', '.join(fields)}; got {item!r}"
            )
        allowances.append(
            Allowance(
                **{name: _string(item[name], f"allow[{position}].{name}", where) for name in fields}
            )
        )
    return tuple(allowances)
