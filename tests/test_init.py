"""``rlsguard init``: the config it proposes makes the correct schema of each tenancy model
pass unchanged, and ``--write`` adds it to pyproject.toml without ever overwriting one."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsguard.analyzer import Analysis, scan
from rlsguard.cli.commands import main
from rlsguard.config import Settings, settings_from_table
from rlsguard.errors import ConfigError
from rlsguard.findings import Outcome, Severity
from rlsguard.run import Run
from rlsguard.schema.catalog import Catalog
from rlsguard.schema.proposal import propose
from rlsguard.server.databases import connected
from tests.corpus.cases import CORRECT, Case
from tests.corpus.harness import BuildCase, BuiltCase, run_all_probes
from tests.corpus.models import CORRECT_MODELS, MEMBERS

pytestmark = pytest.mark.slow

MODELS = [*CORRECT_MODELS, CORRECT[0]]


def catalog_of(built: BuiltCase) -> Catalog:
    with connected(built.url) as connection:
        return scan(connection, built.settings, lenient=True).tenancy.catalog


@pytest.mark.parametrize("case", MODELS, ids=[case.name for case in MODELS])
def test_the_proposed_config_makes_the_correct_schema_pass_unchanged(
    rlsguard_run: Run, case_database: BuildCase, case: Case, tmp_path: Path
) -> None:
    built = case_database(case)
    proposal = propose(catalog_of(built))
    settings = settings_from_table(proposal.table, tmp_path, "the proposal")
    proposed = BuiltCase(built.url, built.names, settings)
    with connected(built.url) as connection:
        analysis: Analysis = scan(connection, settings)
    assert [str(f) for f in analysis.findings if f.severity is Severity.ERROR] == [], (
        proposal.toml()
    )
    assert analysis.tenancy.tenant_tables.keys() == scan_tables(built)
    results = run_all_probes(rlsguard_run, proposed, 10)
    failing = [
        f"{r.label}: {r.status} {r.message}"
        for r in results
        if r.status is not Outcome.PASS
        and not (r.status is Outcome.WARNING and r.probe.id == "RP107")
    ]
    assert failing == [], proposal.toml()


def scan_tables(built: BuiltCase) -> set[str]:
    """The tenant tables under the case's own (hand-written) config."""
    with connected(built.url) as connection:
        return set(scan(connection, built.settings).tenancy.tenant_tables)


def test_init_prints_the_proposal_and_writes_it_only_where_there_is_none(
    case_database: BuildCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = case_database(MEMBERS)
    dsn = built.url.render_as_string(hide_password=False)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "someone-else"\n')
    assert main(["init", "--dsn", dsn, "--project", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert 'membership = { "table" = "public.memberships"' in printed or (
        'membership = { "table" = "memberships"' in printed
    )
    assert "# the policies look the tenant up in" in printed
    assert "# rlsguard can use this as it is. Tenant tables (" in printed
    verdict = " ".join(
        line.removeprefix("# ")
        for line in printed[printed.index("# rlsguard can use this as it is.") :].splitlines()
    )
    # the tenants table, keyed by id, is named once, with why it is not probed
    assert "The tenants: public.orgs (keyed by id, not by the tenant column: checked as a " in (
        verdict
    )
    assert verdict.count("public.orgs") == 1, verdict
    assert pyproject.read_text() == '[project]\nname = "someone-else"\n'  # not without --write
    assert main(["init", "--dsn", dsn, "--project", str(tmp_path), "--write"]) == 0
    written = pyproject.read_text()
    assert written.startswith('[project]\nname = "someone-else"\n\n[tool.rlsguard]\n')
    assert main(["init", "--dsn", dsn, "--project", str(tmp_path), "--write"]) == 2
    assert "already has [tool.rlsguard]" in capsys.readouterr().err
    assert pyproject.read_text() == written


def test_without_a_config_one_message_says_everything_missing_and_suggests_init(
    case_database: BuildCase, tmp_path: Path
) -> None:
    """The four keys a new project needs, learnt in one run rather than four."""
    built = case_database(MEMBERS)
    with connected(built.url) as connection, pytest.raises(ConfigError) as raised:
        scan(connection, Settings(project_root=tmp_path, app_role="web", admin_roles=("ops",)))
    said = str(raised.value)
    for missing in ("app_role 'web'", "admin_roles 'ops'", "tenant_column 'tenant_id'"):
        assert missing in said
    assert "problems" in said
    assert "`rlsguard init` proposes" in said
