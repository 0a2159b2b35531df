"""Every fix rlsguard prints is SQL written for the schema at hand, and it repairs what
it was written for: run on the broken schema its finding came from, the finding is
gone. The corpus's broken schemas, and each tenancy model broken the same few ways
(a table without RLS, an open policy, a policy open when the context is unset)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Connection

from rlsguard.analyzer import (
    UNEXPLAINED,
    analyze,
    check_remediation,
    fix_section,
    probe_remediation,
    scan,
)
from rlsguard.checks import all_checks
from rlsguard.findings import Finding, Severity
from rlsguard.probes import all_probes
from rlsguard.run import Run
from rlsguard.schema.catalog import read_catalog
from rlsguard.schema.tenancy import Tenancy
from rlsguard.server.databases import connected
from tests.corpus.cases import BROKEN, Case
from tests.corpus.doors import DOORS_BROKEN
from tests.corpus.harness import BuildCase, BuiltCase, run_probe
from tests.corpus.models import CORRECT_MODELS

# a primary key, or a key other tables reference: changing it changes every reference, so
# rlsguard writes no fix and says so (the check's general example, to adapt)
KEYS_REFERENCED = {"RG401", "RG403"}
CASES = [case for case in [*BROKEN, *DOORS_BROKEN] if case.expect]  # some break probes only


def _after_fix(connection: Connection, built: BuiltCase, fix: str) -> list[Finding]:
    """The findings with ``fix`` applied, in a transaction rolled back afterwards."""
    with connection.begin() as transaction:
        cursor = connection.connection.cursor()
        cursor.execute(fix)
        found = analyze(read_catalog(connection), built.settings).findings
        transaction.rollback()
    return found


def unrepaired(built: BuiltCase) -> list[str]:
    """Each finding of the schema whose fix is missing, fails, or leaves it in place."""
    with connected(built.url) as connection:
        findings = scan(connection, built.settings).findings
        assert findings, "the schema was meant to be broken"
        problems = []
        for finding in findings:
            if not finding.fix and finding.check not in KEYS_REFERENCED:
                problems.append(f"no fix: {finding}")
            if not finding.fix:
                continue
            try:
                after = _after_fix(connection, built, finding.fix)
            except Exception as error:  # the SQL error is the finding
                problems.append(f"fails: {finding}\n{finding.fix}\n{error}")
                continue
            same = [f for f in after if (f.check, f.object) == (finding.check, finding.object)]
            before = [f for f in findings if (f.check, f.object) == (finding.check, finding.object)]
            if any(f.message == finding.message for f in same) or len(same) >= len(before):
                problems.append(f"still there: {finding}\n{finding.fix}")
            had = {(f.check, f.object) for f in findings}
            brought = [str(f) for f in after if f.fails and (f.check, f.object) not in had]
            if brought:  # a fix that needs another one to pass is half a fix
                problems.append(f"brings: {finding}\n{finding.fix}\n{brought}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_fix_repairs_its_finding(case_database: BuildCase, case: Case) -> None:
    built = case_database(case)
    assert unrepaired(built) == []


def _breakages(built: BuiltCase) -> list[str]:
    """A model's correct schema broken three ways on its first tenant table with a policy."""
    with connected(built.url) as connection:
        catalog = read_catalog(connection)
        connection.rollback()
    tenancy = Tenancy(catalog, built.settings)
    table = next(r for r in tenancy.tenant_relations if r.policies and r.kind == "table")
    app = "{app}"  # the broken case's own role
    setting = tenancy.settings.entry[0][0] if tenancy.settings.entry else "app.tenant"
    name = table.qualified
    return [
        f"ALTER TABLE {name} DISABLE ROW LEVEL SECURITY",
        f"CREATE POLICY opened ON {name} FOR SELECT TO {app} USING (true)",
        f"CREATE POLICY unset ON {name} FOR SELECT TO {app} "
        f"USING (current_setting('{setting}', true) IS NULL)",
    ]


@pytest.mark.parametrize("model", CORRECT_MODELS, ids=[model.name for model in CORRECT_MODELS])
def test_fixes_repair_every_tenancy_model(case_database: BuildCase, model: Case) -> None:
    correct = case_database(model)
    problems = {}
    for breakage in _breakages(correct):
        broken = Case(f"{model.name}-broken", f"{model.sql};\n{breakage}", base=model.base)
        problems[breakage] = unrepaired(case_database(replace(broken, settings=model.settings)))
    assert problems == {breakage: [] for breakage in problems}


def test_a_probe_failure_no_static_finding_explains_says_so() -> None:
    read = next(probe for probe in all_probes() if probe.id == "RP101")
    alone = probe_remediation(read, [])
    assert alone.startswith(UNEXPLAINED)
    assert f"Where {', '.join(read.fixes_from)} would look" in alone
    explained = Finding("RG101", "rls-enabled", Severity.ERROR, "public.notes", "off", fix="X;")
    assert probe_remediation(read, [explained]) == "Fix (RG101):\nX;"


def test_one_missing_rls_is_one_cause_with_one_fix_for_every_probe(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """Every probe that RLS switched off lets through names RG101 and shows its fix, not
    the policy fixes of its own checks (the table has no policy to alter)."""
    built = case_database(next(case for case in BROKEN if case.name == "rls-disabled"))
    with connected(built.url) as connection:
        analysis = scan(connection, built.settings)
    (rls_off,) = analysis.findings
    assert rls_off.check == "RG101"
    for probe_id in ("RP101", "RP102", "RP103", "RP104"):
        result = run_probe(rlsguard_run, built, probe_id, "public.documents", built.url)
        (finding,) = analysis.with_probes([result]).probe_findings
        assert finding.message.endswith("(found statically by RG101)"), finding.message
        related = analysis.related(result.probe, "public.documents")
        assert probe_remediation(result.probe, related) == f"Fix (RG101):\n{rls_off.fix}"


APP_OWNS_EVERYTHING = Case(
    "app-owns-every-table",
    """
    CREATE TABLE tenants (id uuid PRIMARY KEY);
    CREATE TABLE notes (
        id uuid PRIMARY KEY,
        org uuid NOT NULL REFERENCES tenants,
        body text NOT NULL
    );
    ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY notes_org ON notes TO {app}
        USING (org = nullif(current_setting('app.org', true), '')::uuid);
    ALTER TABLE tenants OWNER TO {app};
    ALTER TABLE notes OWNER TO {app};
    """,
    base="",
    settings={"tenant_column": "org", "tenant_setting": "app.org", "admin_roles": ()},
)


def test_fixes_hold_when_the_application_owns_every_table(case_database: BuildCase) -> None:
    """No other owner to hand the tables to: the fix makes one (and may run twice)."""
    built = case_database(APP_OWNS_EVERYTHING)
    assert unrepaired(built) == []
    with connected(built.url) as connection:
        fixes = [finding.fix or "" for finding in scan(connection, built.settings).findings]
    assert any("CREATE ROLE tenant_data_owner NOLOGIN" in fix for fix in fixes), fixes


def test_a_fix_rlsguard_cannot_write_says_so_before_the_general_example() -> None:
    unique = next(check for check in all_checks() if check.id == "RG401")
    keyed = Finding("RG401", "unique-tenant-scoped", Severity.WARNING, "crm.orgs", "m")
    said = check_remediation(unique, [keyed])
    assert said.startswith("Fix (RG401):\n\nrlsguard cannot write this fix for crm.orgs; ")
    assert said.endswith(fix_section(unique.doc))
