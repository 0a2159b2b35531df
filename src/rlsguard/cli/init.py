"""``rlsguard init``: propose a ``[tool.rlsguard]`` from a database's catalog and policies
(``--dsn``), or from the project's migrations built in a throwaway server; print it, and
with ``--write`` add it to pyproject.toml (never over a table that is there)."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from rlsguard.analyzer import read_only_catalog
from rlsguard.cli.exits import EXIT_FAILED, EXIT_OK
from rlsguard.config import (
    DSN_ENV,
    INIT_POINTER,
    PYPROJECT,
    Settings,
    find_project_root,
    settings_from_table,
)
from rlsguard.errors import ConfigError
from rlsguard.run import Run
from rlsguard.schema.catalog import Catalog
from rlsguard.schema.proposal import Proposal, propose, wrapped
from rlsguard.schema.tenancy import Tenancy
from rlsguard.server import request_from
from rlsguard.server.databases import connected
from rlsguard.server.external import ExternalServer
from rlsguard.server.urls import parse_dsn, with_timeouts


def run_init(arguments: argparse.Namespace) -> int:
    project_root = (arguments.project or find_project_root()).resolve()
    catalog = _catalog(arguments, project_root)
    proposal = propose(catalog, arguments.schema)
    verdict, fits = _verdict(catalog, proposal, project_root)
    print(proposal.toml() + verdict, end="")
    if not fits:
        if arguments.write:
            print("# not written: rlsguard cannot use it as it is")
        return EXIT_FAILED
    if arguments.write:
        _write(project_root / PYPROJECT, proposal.toml() + verdict)
        print(f"# written to {project_root / PYPROJECT}")
    return EXIT_OK


def _catalog(arguments: argparse.Namespace, project_root: Path) -> Catalog:
    dsn = arguments.dsn or os.environ.get(DSN_ENV)
    settings = Settings(project_root=project_root)
    if dsn:
        with ExternalServer(parse_dsn(dsn)) as server:
            url = with_timeouts(server.url, settings.lock_timeout, settings.statement_timeout)
            with connected(url) as connection:
                return read_only_catalog(connection)
    request = request_from("auto", None, None, arguments.pg_version).validated()
    run = Run(settings=_project_settings(project_root), request=request)
    try:
        with connected(run.url(run.template())) as connection:
            return read_only_catalog(connection)
    finally:
        run.close()


def _project_settings(project_root: Path) -> Settings:
    """The keys that say how to build the schema (alembic_ini, version_table, timeouts);
    the tenancy keys are what init proposes, so a table that is wrong is no obstacle."""
    table = _existing_table(project_root / PYPROJECT) or {}
    kept = ("alembic_ini", "version_table", "lock_timeout", "statement_timeout",
            "migration_timeout")  # fmt: skip
    chosen = {key: value for key, value in table.items() if key in kept}
    return settings_from_table(chosen, project_root, f"[tool.rlsguard] in {PYPROJECT}")


def _verdict(catalog: Catalog, proposal: Proposal, project_root: Path) -> tuple[str, bool]:
    """Whether rlsguard can use the proposal as it is, and the tables it then sees as the
    tenants' and as global (TOML comments)."""
    try:
        settings = settings_from_table(proposal.table, project_root, "the proposal")
        tenancy = Tenancy(catalog, settings)
    except ConfigError as error:
        said = str(error).split(f"; {INIT_POINTER}")[0].split(f"\n{INIT_POINTER}")[0]
        lines = "\n".join(f"#   {line}" for line in said.splitlines())
        return f"# rlsguard cannot use this as it is:\n{lines}\n", False
    tenants = ", ".join(sorted(tenancy.tenant_tables)) or "none"
    root = tenancy.tenant_root.qualified if tenancy.tenant_root else None
    global_names = [table.qualified for table in tenancy.global_relations]
    shared = ", ".join(name for name in global_names if name != root) or "none"
    if root is None:
        root = "none found"
    elif root in global_names:  # keyed by its own id: the tenant checks and probes skip it
        root += (
            f" (keyed by {tenancy.tenant_key}, not by the tenant column: checked as a global "
            "table, not probed)"
        )
    text = (
        "rlsguard can use this as it is. "
        f"Tenant tables ({len(tenancy.tenant_tables)}): {tenants}. The tenants: {root}. "
        f"Other global tables (every tenant's, not probed): {shared}."
    )
    return "".join(f"# {line}\n" for line in wrapped(text)), True


def _existing_table(pyproject: Path) -> dict[str, object] | None:
    if not pyproject.is_file():
        return None
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{pyproject} cannot be read as TOML: {error}") from None
    found = document.get("tool", {}).get("rlsguard")
    return found if isinstance(found, dict) else None


def _write(pyproject: Path, table: str) -> None:
    if _existing_table(pyproject) is not None:
        raise ConfigError(
            f"{pyproject} already has [tool.rlsguard]; nothing was written (merge the proposal "
            "by hand, or remove the table and run again)"
        )
    before = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    separator = "\n" * max(0, 2 - (len(before) - len(before.rstrip("\n")))) if before else ""
    pyproject.write_text(before + separator + table, encoding="utf-8")
