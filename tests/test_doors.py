"""The doors around RLS on shapes beyond the corpus: a definer helper behind a membership
policy, bodies that bind the tenant in ways a text search cannot see (a PL/pgSQL
variable, a CTE, SELECT INTO, an unnamed parameter), and fixes written for another
schema's names."""

from __future__ import annotations

import pytest

from rlsguard.analyzer import Analysis, check_remediation, probe_remediation, scan
from rlsguard.checks import all_checks
from rlsguard.findings import Outcome, Severity
from rlsguard.run import Run
from rlsguard.server.databases import connected
from tests.conftest import execute
from tests.corpus.cases import BOUND, UNSEEN, UNSEEN_SETTINGS, case
from tests.corpus.doors import DOORS_BROKEN
from tests.corpus.harness import BuildCase, run_probe
from tests.corpus.models import MEMBERS

pytestmark = pytest.mark.slow

MY_ORGS_HELPER = """
CREATE FUNCTION my_org_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT m.org_id FROM public.memberships AS m WHERE m.user_id = public.app_user_id() $$;
ALTER POLICY projects_member ON projects
    USING (org_id IN (SELECT my_org_ids())) WITH CHECK (org_id IN (SELECT my_org_ids()));
"""


def scanned(case_database: BuildCase, built_case: object) -> tuple[Analysis, object]:
    built = case_database(built_case)
    with connected(built.url) as connection:
        return scan(connection, built.settings), built


def findings_of(analysis: Analysis, check: str) -> list[str]:
    return [f.message for f in analysis.findings if f.check == check]


def test_a_definer_helper_for_a_membership_policy_is_no_door(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    helper = case(MEMBERS.name + "-definer-helper", MEMBERS.sql + MY_ORGS_HELPER, base="")
    helper = type(helper)(helper.name, helper.sql, helper.expect, "", MEMBERS.settings)
    analysis, built = scanned(case_database, helper)
    assert [str(f) for f in analysis.findings if f.severity is Severity.ERROR] == []
    result = run_probe(rlsguard_run, built, "RP112", "public.my_org_ids()", built.url)
    assert result.status is Outcome.PASS, result.message
    assert result.witnessed > 0
    # the same helper returning every membership, whoever asks, is a door
    execute(
        built.url,
        "CREATE OR REPLACE FUNCTION my_org_ids() RETURNS SETOF uuid LANGUAGE sql STABLE "
        "SECURITY DEFINER SET search_path = pg_catalog, public "
        "AS $$ SELECT m.org_id FROM public.memberships AS m $$",
    )
    with connected(built.url) as connection:
        opened = scan(connection, built.settings)
    assert findings_of(opened, "RG503") == [
        "public.my_org_ids() is SECURITY DEFINER and runs as postgres (postgres is a "
        "superuser); it reads public.memberships without restricting it to the caller's "
        "tenant (`SELECT m.org_id FROM public.memberships AS m`)"
    ]


BOUND_BODIES = f"""
CREATE FUNCTION titles_by_variable() RETURNS SETOF text LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    mine uuid;
BEGIN
    SELECT nullif(current_setting('app.current_tenant_id', true), '')::uuid INTO mine;
    RETURN QUERY SELECT title FROM public.documents WHERE tenant_id = mine;
END $$;
CREATE FUNCTION titles_through_a_cte() RETURNS SETOF text LANGUAGE sql STABLE
    SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH documents AS (SELECT title FROM public.documents WHERE {BOUND})
    SELECT title FROM documents $$;
CREATE FUNCTION count_for(uuid) RETURNS bigint LANGUAGE sql STABLE
    SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ SELECT count(*) FROM public.documents WHERE tenant_id = $1 $$;
CREATE FUNCTION enter(tenant uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET app.current_tenant_id = '00000000-0000-0000-0000-000000000001';
END $$;
"""


def test_bodies_are_judged_by_what_binds_them(case_database: BuildCase) -> None:
    analysis, _built = scanned(case_database, case("bodies", BOUND_BODIES))
    found = {(f.check, f.object): f.message for f in analysis.findings}
    assert set(found) == {
        ("RG503", "public.count_for(uuid)"),
        ("RG509", "public.enter(tenant uuid)"),
    }
    assert (
        "restricted by $1, which the caller chooses" in found[("RG503", "public.count_for(uuid)")]
    )
    assert (
        "sets app.current_tenant_id for the rest of the session"
        in found[("RG509", "public.enter(tenant uuid)")]
    )


def test_fixes_are_written_for_the_schema_at_hand(case_database: BuildCase) -> None:
    door = case(
        "unseen-definer",
        """
        CREATE FUNCTION crm.contact_emails(p_org integer) RETURNS SETOF text LANGUAGE sql
            STABLE SECURITY DEFINER SET search_path = pg_catalog, crm
            AS $$ SELECT email FROM crm.contacts WHERE org_id = p_org $$;
        CREATE VIEW crm.my_contacts WITH (security_barrier = true) AS
            SELECT * FROM crm.contacts
            WHERE org_id = nullif(current_setting('app.org', true), '')::integer;
        GRANT SELECT, INSERT ON crm.my_contacts TO {app};
        CREATE FUNCTION crm.my_contact_rows() RETURNS SETOF crm.contacts LANGUAGE plpgsql
            STABLE SECURITY DEFINER SET search_path = pg_catalog, crm AS $$
        DECLARE
            mine integer := nullif(current_setting('app.org', true), '')::integer;
        BEGIN
            RETURN QUERY SELECT * FROM crm.contacts WHERE org_id = mine;
        END $$;
        """,
        base=UNSEEN,
        **UNSEEN_SETTINGS,
    )
    analysis, _built = scanned(case_database, door)
    checks = {check.id: check for check in all_checks()}
    by_check = {f.check: f for f in analysis.findings}
    # a body returning another schema's row type is read (and bound) all the same
    assert {(f.check, f.object) for f in analysis.findings} == {
        ("RG503", "crm.contact_emails(p_org integer)"),
        ("RG508", "crm.my_contacts"),
    }
    definer = check_remediation(checks["RG503"], [by_check["RG503"]])
    assert "org_id = nullif(current_setting('app.org', true), '')::integer" in definer
    assert "ALTER FUNCTION crm.contact_emails(p_org integer) SECURITY INVOKER;" in definer
    assert "documents" not in definer
    assert "app.current_tenant_id" not in definer
    assert by_check["RG508"].to_json()["fix"] == (
        "ALTER VIEW crm.my_contacts SET (check_option = cascaded);"
    )  # what the scan JSON carries
    view = check_remediation(checks["RG508"], [by_check["RG508"]])
    assert view == "Fix (RG508):\nALTER VIEW crm.my_contacts SET (check_option = cascaded);"


def test_a_probe_failure_names_its_static_finding_and_its_fix(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    writable = next(c for c in DOORS_BROKEN if c.name == "view-writable-without-check-option")
    analysis, built = scanned(case_database, writable)
    result = run_probe(rlsguard_run, built, "RP123", "public.my_documents", built.url)
    probed = analysis.with_probes([result])
    (finding,) = probed.probe_findings
    assert finding.message.endswith("(found statically by RG508)")
    assert finding.fix == "ALTER VIEW public.my_documents SET (check_option = cascaded);"
    related = analysis.related(result.probe, "public.my_documents")
    assert probe_remediation(result.probe, related) == f"Fix (RG508):\n{finding.fix}"
