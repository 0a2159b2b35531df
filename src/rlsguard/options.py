"""Every option rlsguard takes, in one table: the flags of ``rlsguard check`` and
``rlsguard scan``, the ``--rlsguard-...`` options of the pytest plugin, which of them
override a ``[tool.rlsguard]`` key, and how ``rlsguard check`` hands them to the pytest
run it starts (the bridge)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlsguard.config import (
    BACKENDS,
    DEFAULT_IMAGE,
    DSN_ENV,
    PG_VERSION_ENV,
    PROBE_DSN_ENV,
    SHRINK_SECONDS,
    SUPPORTED_MAJORS,
    major_problem,
)

CHECK, SCAN, PYTEST = "check", "scan", "pytest"
FAIL_ON = ("new", "any")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is wanted, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def supported_major(text: str) -> int:
    """A PostgreSQL major version rlsguard supports, as a flag gives it."""
    problem = major_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return int(text)


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


@dataclass(frozen=True)
class Option:
    """``--<flag>`` for the ``rlsguard`` commands named in ``commands``, ``--rlsguard-<flag>``
    for pytest when ``pytest`` is among them."""

    flag: str
    help: str
    commands: tuple[str, ...]
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    repeatable: bool = False
    config_key: str | None = None  # the [tool.rlsguard] key it overrides
    # how `rlsguard check` passes it on to pytest: None, or a flag pytest knows
    bridge_flag: str | None = None
    help_for: tuple[tuple[str, str], ...] = ()  # (command, help) where it means more there
    switch: bool = False  # a flag that takes no value

    @property
    def key(self) -> str:
        """Where argparse puts its value for the ``rlsguard`` commands."""
        return self.flag.replace("-", "_")

    @property
    def pytest_flag(self) -> str:
        return f"--rlsguard-{self.flag}"

    @property
    def pytest_key(self) -> str:
        return f"rlsguard_{self.key}"

    def arguments(self, command: str) -> dict[str, Any]:
        """The keyword arguments of ``add_argument``/``addoption`` (without the flag)."""
        if self.switch:
            return {"action": "store_true", "default": False, "help": self.help}
        found: dict[str, Any] = {
            "action": "append" if self.repeatable else "store",
            "default": self.default,
            "help": dict(self.help_for).get(command, self.help),
        }
        for name in ("type", "choices", "metavar"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name)
        return found


def _tenancy(flag: str, help: str, key: str, *, repeatable: bool = False) -> Option:
    """A ``[tool.rlsguard]`` key that every command and pytest can override."""
    return Option(
        flag,
        f"{help} (overrides [tool.rlsguard] {key})",
        (CHECK, SCAN, PYTEST),
        metavar=flag.rsplit("-", 1)[-1].upper(),
        repeatable=repeatable,
        config_key=key,
    )


OPTIONS = (
    Option("project", "project folder whose pyproject.toml holds [tool.rlsguard] (default: the "
           "nearest pyproject.toml)", (CHECK, SCAN, PYTEST), type=Path, metavar="DIR",
           help_for=((PYTEST, "project folder whose pyproject.toml holds [tool.rlsguard] "
                      "(default: pytest's rootdir)"),)),
    Option("dsn", f"a PostgreSQL server to use instead of starting one, as a superuser's URL "
           f"(or {DSN_ENV})", (CHECK, SCAN, PYTEST), metavar="URL",
           help_for=((SCAN, f"the database to scan, as a superuser's URL (or {DSN_ENV})"),)),
    Option("probe-dsn", "the same database as a login that is not a superuser, for the probes "
           f"to act through (or {PROBE_DSN_ENV}; docs/probes.md: A login for probes)", (SCAN,),
           metavar="URL"),
    Option("backend", "where the server comes from (default auto: DSN, Docker, local binaries, "
           "embedded)", (CHECK, PYTEST), choices=BACKENDS),
    Option("pg-version", "the PostgreSQL major version of the server to start or expect "
           f"({SUPPORTED_MAJORS[0]}-{SUPPORTED_MAJORS[-1]}; or {PG_VERSION_ENV}; default: the "
           "first server found)", (CHECK, PYTEST), type=supported_major, metavar="N"),
    Option("pg-image", f"Docker image for the docker backend (default {DEFAULT_IMAGE}, or "
           "postgres:N-alpine with --pg-version N)",
           (CHECK, PYTEST), metavar="IMAGE"),
    Option("revision", "check the schema as of this revision (default head)", (CHECK, PYTEST),
           metavar="REV"),
    Option("max-examples", "Hypothesis examples per probe (default: the profile's)",
           (CHECK, SCAN, PYTEST), type=positive_int, metavar="N"),
    Option("shrink-seconds", f"time to shrink each failing probe's example (default "
           f"{SHRINK_SECONDS:g})", (CHECK, SCAN, PYTEST), type=non_negative_float,
           default=SHRINK_SECONDS, metavar="S"),
    Option("seed", "Hypothesis seed for the probes", (CHECK, SCAN), type=int, metavar="N",
           bridge_flag="--hypothesis-seed"),
    Option("workers", "run the checks in N pytest-xdist worker processes that share one server "
           "and template, a table's probes on one worker (default 1: this process; needs "
           "pytest-xdist, the parallel extra)", (CHECK,), type=positive_int, metavar="N"),
    Option("probe-processes", "probe in N processes at once, this one and N - 1 forked from "
           "it, on one database, a table's probes in one of them (default: 2 on Linux with two "
           "cores or more, else 1; 1 where processes cannot fork)", (CHECK, PYTEST),
           type=positive_int, metavar="N"),
    Option("fail-on", "with a baseline (--base): fail on new error-level findings only "
           "(default) or on any error at head", (CHECK, PYTEST), choices=FAIL_ON,
           default=FAIL_ON[0]),
    Option("evidence", "where to write the JSON evidence (default: rlsguard-evidence.json "
           "beside the HTML report)", (PYTEST,), metavar="PATH"),
    Option("pdf", "also print the HTML report to PDF beside it (rlsguard-report.pdf), through a "
           "headless Chromium", (CHECK, PYTEST), switch=True),
    Option("baseline", "findings of the base schema (written by rlsguard check --base): "
           "findings it already had do not fail the run unless fail-on is any", (PYTEST,),
           metavar="FILE"),
    _tenancy("tenant-column", "column that names a row's tenant", "tenant_column"),
    _tenancy("tenant-setting", "setting the application puts the tenant in", "tenant_setting"),
    _tenancy("app-role", "role the application connects as", "app_role"),
    _tenancy("admin-role", "role meant to see every tenant (repeatable; '' for none)",
             "admin_roles", repeatable=True),
    _tenancy("schema", "schema to analyze (repeatable)", "schemas", repeatable=True),
    _tenancy("preset", "tenancy preset: platform or supabase", "preset"),
)  # fmt: skip


def options_of(command: str) -> list[Option]:
    return [option for option in OPTIONS if command in option.commands]


def add_command_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of ``rlsguard <command>``; tenancy keys in a group of their own."""
    tenancy = parser.add_argument_group("tenancy config (overrides [tool.rlsguard])")
    for option in options_of(command):
        (tenancy if option.config_key else parser).add_argument(
            f"--{option.flag}", dest=option.key, **option.arguments(command)
        )


def add_pytest_options(parser: Any) -> None:
    """The options of the pytest plugin (``parser`` is pytest's)."""
    group = parser.getgroup("rlsguard", "rlsguard: PostgreSQL tenant isolation")
    for option in options_of(PYTEST):
        group.addoption(option.pytest_flag, dest=option.pytest_key, **option.arguments(PYTEST))


def tenancy_overrides(value_of: Callable[[Option], Any]) -> dict[str, Any]:
    """``[tool.rlsguard]`` keys a flag was given for: ``value_of`` reads an option's value
    (from argparse's namespace or pytest's config)."""
    overrides = {}
    for option in OPTIONS:
        if option.config_key is None:
            continue
        value = value_of(option)
        if value is not None:
            overrides[option.config_key] = value
    return overrides


def command_overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    return tenancy_overrides(lambda option: getattr(arguments, option.key, None))


def bridge(arguments: argparse.Namespace) -> list[str]:
    """The pytest arguments that carry ``rlsguard check``'s options to its pytest run."""
    found: list[str] = []
    for option in options_of(CHECK):
        value = getattr(arguments, option.key, None)
        flag = option.bridge_flag or (option.pytest_flag if PYTEST in option.commands else None)
        if value is None or flag is None:
            continue
        if option.switch:
            found.extend([flag] if value else [])
            continue
        for item in value if option.repeatable else [value]:
            found.append(f"{flag}={item}")
    return found
