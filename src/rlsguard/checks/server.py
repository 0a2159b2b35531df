"""The server itself: a PostgreSQL release with a known row security bug breaks
isolation whatever the schema says."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rlsguard.checks.registry import Problem, check
from rlsguard.findings import Severity
from rlsguard.schema.tenancy import Tenancy

FIXES_FILE = Path(__file__).with_name("server_fixes.toml")
SERVER = "server"


@dataclass(frozen=True)
class SecurityFix:
    cve: str
    title: str
    summary: str
    fixed: dict[int, tuple[int, int]]  # affected major -> first fixed (major, minor)

    def first_fixed(self, major: int) -> str:
        return "{}.{}".format(*self.fixed[major])

    def affects(self, major: int, minor: int) -> bool:
        first_fixed = self.fixed.get(major)
        return first_fixed is not None and (major, minor) < first_fixed


@cache
def security_fixes(path: Path = FIXES_FILE) -> tuple[SecurityFix, ...]:
    data = tomllib.loads(path.read_text())
    return tuple(
        SecurityFix(
            cve=item["cve"],
            title=item["title"],
            summary=item["summary"],
            fixed={int(major): release(text) for major, text in item["fixed"].items()},
        )
        for item in data["fix"]
    )


def release(text: str) -> tuple[int, int]:
    """``"15.4"`` -> (15, 4)."""
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def release_of(version_num: int) -> tuple[int, int]:
    """``server_version_num`` 150004 -> (15, 4) (PostgreSQL 10 and later)."""
    return version_num // 10000, version_num % 10000


def the_server(tenancy: Tenancy) -> list[str]:
    """The server, when it is one the user pointed rlsguard at: a server rlsguard
    started for the run holds no one's data, and its release is only in the evidence."""
    return [] if tenancy.catalog.throwaway_server else [SERVER]


def missing_fixes(version_num: int) -> list[SecurityFix]:
    """The row security fixes a server of ``server_version_num`` lacks."""
    major, minor = release_of(version_num)
    return [fix for fix in security_fixes() if fix.affects(major, minor)]


@check(
    "RG701",
    "server-rls-fixes",
    Severity.ERROR,
    "The server has every fix of PostgreSQL's known row security bugs",
    attacks=(24,),
    objects=the_server,
)
def server_rls_fixes(tenancy: Tenancy, _server: str) -> Iterator[Problem]:
    """What leaks: whatever the bug lets through, on a schema whose policies are right.
    A few PostgreSQL releases apply row security wrongly (the table of them is
    ``rlsguard/checks/server_fixes.toml``, from PostgreSQL's security pages): MERGE that
    skipped the UPDATE policies (CVE-2023-39418, 15.0-15.3), policies applied for the
    wrong role after SET ROLE or in a SECURITY DEFINER function (CVE-2023-2455,
    CVE-2024-10976), statistics that sample rows a policy hides (CVE-2025-8713).

    How it is used: ``MERGE INTO documents d USING (SELECT ...) s ON d.document_id =
    s.document_id WHEN MATCHED THEN UPDATE SET title = 'x'`` on a 15.3 server changes
    another tenant's row.

    It judges the servers rlsguard is pointed at (``scan``, ``check --dsn``). A server
    rlsguard starts for the run holds nobody's data and is not judged; the evidence names
    the fixes its release lacks.

    Fix: update the server to the minor release named (a minor update keeps the data
    folder as it is: install the new binaries and restart).

        SELECT version();  -- after the update
    """
    major, minor = release_of(tenancy.catalog.server_version_num)
    for fix in missing_fixes(tenancy.catalog.server_version_num):
        first = fix.first_fixed(major)
        yield Problem(
            f"the server, PostgreSQL {major}.{minor}, has {fix.cve} ({fix.title}): "
            f"{fix.summary} Update to {first} or later.",
            cause=fix.cve,
            fix=f"-- install PostgreSQL {first} or later and restart",
        )
