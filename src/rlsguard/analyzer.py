"""Run the static checks over a database: catalog -> tenancy model -> findings.

Against a database it did not create, rlsguard only reads: the catalog is read in a
READ ONLY transaction that is rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import psycopg2

from rlsguard.checks import Check, all_checks
from rlsguard.config import Allowance, Settings
from rlsguard.errors import ConfigError, RlsguardError
from rlsguard.findings import Finding, Outcome, Severity, by_cause, grouped, not_proven
from rlsguard.registration import PROBE_IDS
from rlsguard.schema.catalog import Catalog, DriverConnection, driver_of, read_catalog
from rlsguard.schema.tenancy import Tenancy
from rlsguard.server.driver import LOCK_NOT_AVAILABLE, QUERY_CANCELED

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rlsguard.probes.registry import Probe
    from rlsguard.probes.runner import ProbeResult


@dataclass(frozen=True)
class Inspection:
    """One check applied to one object, and what it found."""

    check: Check
    object: str
    findings: tuple[Finding, ...]

    @property
    def label(self) -> str:
        return self.check.label(self.object)

    @property
    def outcome(self) -> Outcome:
        if not self.findings:
            return Outcome.PASS
        if any(finding.fails for finding in self.findings):
            return Outcome.FAIL
        if all(finding.accepted for finding in self.findings):
            return Outcome.ACCEPTED
        return Outcome.WARNING


@dataclass(frozen=True)
class Analysis:
    tenancy: Tenancy
    inspections: tuple[Inspection, ...]
    probe_results: tuple[ProbeResult, ...] = ()

    @property
    def static_findings(self) -> list[Finding]:
        return [finding for inspection in self.inspections for finding in inspection.findings]

    def related(self, probe: Probe, target: str) -> list[Finding]:
        """The static findings that describe what ``probe`` finds on ``target``."""
        admins = tuple(admin.name for admin in self.tenancy.admins)
        return related_static(
            probe, target, self.static_findings, self.tenancy.app.name, admins=admins
        )

    @property
    def probe_findings(self) -> list[Finding]:
        allowances = self.tenancy.settings.allow
        return [
            linked(finding, self.related(result.probe, result.target)).accept(allowances)
            for result in self.probe_results
            if (finding := result.finding()) is not None
        ]

    @property
    def findings(self) -> list[Finding]:
        return self.static_findings + self.probe_findings

    @property
    def causes(self) -> list[Finding]:
        """The findings, one per cause and object (what a person reads and fixes)."""
        return by_cause(self.findings)

    @property
    def failed(self) -> bool:
        return any(finding.fails for finding in self.findings)

    @property
    def unused_allowances(self) -> tuple[Allowance, ...]:
        found = {(finding.check, finding.object) for finding in self.findings}
        return tuple(
            allowance
            for allowance in self.tenancy.settings.allow
            if (allowance.check, allowance.object) not in found
        )

    @property
    def not_proven_by_a_probe(self) -> list[str]:
        """Tenant tables no probe could act on (empty when no probe ran)."""
        if not self.probe_results:
            return []
        probed = [(result.target, result.status) for result in self.probe_results]
        return not_proven(self.tenancy.tenant_tables, probed)

    def with_probes(self, results: list[ProbeResult]) -> Analysis:
        return replace(self, probe_results=tuple(results))


def analyze(
    catalog: Catalog,
    settings: Settings,
    checks: Iterable[Check] | None = None,
    *,
    lenient: bool = False,
) -> Analysis:
    registered = all_checks()
    known = {item.id for item in registered} | PROBE_IDS
    for allowance in settings.allow:
        if allowance.check not in known:
            raise ConfigError(
                f"allow names check {allowance.check!r}, which does not exist; "
                f"checks: {', '.join(sorted(known))}"
            )
    tenancy = Tenancy(catalog, settings, lenient=lenient)
    found: list[tuple[Check, str, list[Finding]]] = []
    for item in checks if checks is not None else registered:
        for target in item.objects(tenancy):
            findings = [
                Finding(
                    check=item.id,
                    name=item.name,
                    severity=problem.severity or item.severity,
                    object=target,
                    message=problem.message,
                    cause=problem.cause,
                    fix=problem.fix,
                )
                for problem in item.inspect(tenancy, target)
            ]
            found.append((item, target, findings))
    told = iter(grouped([finding for _item, _target, findings in found for finding in findings]))
    inspections = [
        Inspection(item, target, tuple(next(told).accept(settings.allow) for _finding in findings))
        for item, target, findings in found
    ]
    return Analysis(tenancy, tuple(inspections))


def related_static(
    probe: Probe,
    target: str,
    static: Iterable[Finding],
    app: str,
    *,
    admins: tuple[str, ...] = (),
) -> list[Finding]:
    """Findings of the checks whose fixes repair what ``probe`` finds: on ``target``, or on
    the application role (a cause every table shares, such as a default tenant), or on
    an admin role when they name ``target``. RLS off, or an application that skips it,
    explains any probe's failure, and comes first."""
    found = [
        item
        for item in static
        if (item.check in probe.fixes_from or item.check in SKIPPING_RLS)
        and (
            item.object in (target, app)
            or _of_many(target)
            or (item.object in admins and names_object(item.message, target))
        )
        and not item.accepted
    ]
    return sorted(found, key=lambda item: item.check not in SKIPPING_RLS)


def _of_many(target: str) -> bool:
    """A probe of many objects at once ("tenant-tables"): its failure names the one."""
    return "." not in target and "(" not in target


def names_object(message: str, name: str) -> bool:
    """Does ``message`` name ``name`` (a table, function or role) as a whole word?"""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w(])", message) is not None


def related_to(finding: Finding, related: Iterable[Finding]) -> list[Finding]:
    """The static findings behind a probe's failure: for a probe of many objects, those
    on an object (or the role) its failure names."""
    found = list(related)
    if not _of_many(finding.object):
        return found
    return [item for item in found if names_object(finding.message, item.object)]


def explaining(related: Iterable[Finding]) -> list[Finding]:
    """The findings that explain a probe's failure on their own: RLS skipped, when it
    is (the policies do not matter then), else all of them."""
    found = list(related)
    skipping = [item for item in found if item.check in SKIPPING_RLS]
    return skipping or found


# RLS off on the table, the application its owner, a superuser, BYPASSRLS or able to
# become one: what any probe finds then follows from it
SKIPPING_RLS = ("RG101", "RG102", "RG201", "RG202", "RG203")


FOUND_STATICALLY = "found statically by"
LINK_NOTE = re.compile(rf"\((?:cause: (?P<cause>.+), )?{FOUND_STATICALLY} (?P<check>\w+)\)$")


def linked(finding: Finding, related: list[Finding]) -> Finding:
    """A probe's failure, pointing at the static finding of its cause."""
    related = related_to(finding, related)
    if finding.severity is not Severity.ERROR or not related:
        return finding
    named = explaining(related)[0]
    named = next((item for item in explaining(related) if item.cause), named)
    cause = f"cause: {named.cause}, " if named.cause else ""
    return replace(
        finding,
        message=f"{finding.message} ({cause}{FOUND_STATICALLY} {named.check})",
        fix=named.fix,
    )


FIX_HEADING = re.compile(r"^Fix(?: (\([^)\n]*\)))?:", re.MULTILINE)  # "Fix:", "Fix (when):"


def split_fix(doc: str) -> tuple[str, str]:
    """A rule's doc before its fix, and the fix ("" when it has none), its SQL still
    indented as written."""
    found = FIX_HEADING.search(doc)
    if found is None:
        return doc, ""
    fix = doc[found.end() :].lstrip(" ").strip("\n").rstrip()
    return doc[: found.start()], f"{found.group(1)} {fix}" if found.group(1) else fix


def link_of(message: str) -> tuple[str | None, str] | None:
    """(cause, check) of the static finding a linked probe message points at, if any."""
    found = LINK_NOTE.search(message)
    return (found["cause"], found["check"]) if found else None


def fix_section(doc: str) -> str:
    return split_fix(doc)[1] or doc.strip()


def check_remediation(check: Check, findings: Iterable[Finding] = ()) -> str:
    """The fix written for each finding's object where the check renders one, else the
    check's own example."""
    findings = list(findings)
    rendered = list(dict.fromkeys(finding.fix for finding in findings if finding.fix))
    unwritten = sorted({finding.object for finding in findings if not finding.fix})
    if not unwritten:
        return f"Fix ({check.id}):\n" + "\n\n".join(_once(rendered) or [fix_section(check.doc)])
    cannot = (
        f"rlsguard cannot write this fix for {', '.join(unwritten)}; the check's general "
        f"example (`rlsguard explain {check.id}`), to adapt:"
    )
    return "\n\n".join(
        [f"Fix ({check.id}):", *_once(rendered), f"{cannot}\n{fix_section(check.doc)}"]
    )


def _once(fixes: list[str]) -> list[str]:
    """Fixes of one object with the statements an earlier one already has left out (each
    privilege's fix takes the table from an owning application the same way)."""
    seen: set[str] = set()
    kept = []
    for fix in fixes:
        lines = []
        for line in fix.splitlines():
            statement = not line.startswith(" ") and line.endswith(";")
            if statement and line in seen:
                continue
            seen.add(line)
            lines.append(line)
        if lines:
            kept.append("\n".join(lines))
    return kept


def probe_remediation(probe: Probe, related: Iterable[Finding] = ()) -> str:
    """A probe finds what static checks describe: the fixes of the static findings on the
    same object (written for it). With none, the failure is one the catalog does not
    explain: it says so, and where the probe's checks would look."""
    found = explaining(related)
    if found:
        return _fixes(list(dict.fromkeys(item.check for item in found)), found)
    chosen = list(probe.fixes_from)
    fixes = probe_fix_docs(probe)
    return (
        f"{UNEXPLAINED}\n\nWhere {', '.join(chosen) or 'the checks'} would look:\n\n{fixes}"
        if fixes
        else UNEXPLAINED
    )


def probe_fix_docs(probe: Probe) -> str:
    """The fixes the checks behind ``probe`` describe, as their docs give them."""
    return _fixes(list(probe.fixes_from), [])


def _fixes(chosen: list[str], found: list[Finding]) -> str:
    checks = {check.id: check for check in all_checks()}
    return "\n\n".join(
        check_remediation(checks[id], [item for item in found if item.check == id])
        for id in chosen
        if id in checks
    )


UNEXPLAINED = (
    "No static finding explains this failure: the catalog shows nothing that lets these "
    "rows through, so the cause is in what the checks cannot read (a function body, a "
    "trigger, the data). The probe's transcript (in the report, or with -v) is the "
    "evidence to start from."
)


def read_only_catalog(connection: Connection | DriverConnection) -> Catalog:
    """The catalog, read in a READ ONLY transaction that is then rolled back (a
    transaction the connection was in is rolled back first)."""
    if not isinstance(connection, DriverConnection) and connection.in_transaction():
        connection.rollback()
    driver = driver_of(connection)
    driver.rollback()
    autocommit = driver.autocommit
    driver.autocommit = False
    try:
        with driver.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
        return read_catalog(driver)
    except psycopg2.OperationalError as error:
        if error.pgcode not in (LOCK_NOT_AVAILABLE, QUERY_CANCELED):
            raise
        waited = "a lock another session holds" if error.pgcode == LOCK_NOT_AVAILABLE else "its end"
        raise RlsguardError(
            f"the catalog of {driver.info.dbname} could not be read: it waited "
            f"for {waited} longer than lock_timeout/statement_timeout allow "
            f"({str(error).strip().splitlines()[0]}); try again when the database is "
            "less busy, or raise them in [tool.rlsguard]"
        ) from None
    finally:
        if not driver.closed:
            driver.rollback()
            driver.autocommit = autocommit


def scan(
    connection: Connection | DriverConnection, settings: Settings, *, lenient: bool = False
) -> Analysis:
    """``lenient``: tables named in the config that do not exist (yet) are left out, for
    analysing earlier revisions of a history."""
    return analyze(read_only_catalog(connection), settings, lenient=lenient)


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "accepted": 0}
    for finding in findings:
        if finding.accepted:
            counts["accepted"] += 1
        else:
            counts[Severity(finding.severity).value] += 1
    return counts
