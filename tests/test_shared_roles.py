"""Roles belong to the server, not to a database: a migration check that downgrades (and
so takes back what a revision did to a role) must not change what the probes meet."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import HARDENED_PROJECT, OWN_BACKEND, hardened_user_project, run_python

BYPASS = """from alembic import op

revision = "0002_bypass"
down_revision = "0001_hardened"


def upgrade():
    op.execute("ALTER ROLE hardened_app BYPASSRLS")


def downgrade():
    op.execute("ALTER ROLE hardened_app NOBYPASSRLS")
"""


def test_the_probes_meet_the_roles_the_migrations_leave_after_the_downgrade_checks(
    tmp_path: Path,
) -> None:
    """The head gives the application BYPASSRLS; the migration checks (run before the
    probes) downgrade to base, which takes it back on the whole server. The probes must
    still judge the head's roles: they find the leak instead of passing."""
    project = hardened_user_project(tmp_path / "project")
    (project / "versions").mkdir()
    (project / "versions" / "0002_bypass.py").write_text(BYPASS)
    migrations = HARDENED_PROJECT / "migrations"
    (project / "alembic.ini").write_text(
        f"[alembic]\nscript_location = {migrations}\npath_separator = os\n"
        f"version_locations = {migrations / 'versions'}:{project / 'versions'}\n"
    )
    pyproject = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        pyproject.replace(str(HARDENED_PROJECT / "alembic.ini"), str(project / "alembic.ini"))
    )
    report = tmp_path / "reports" / "report.html"
    result = run_python(
        "-m", "rlsguard.cli", "check", "-q", "--project", str(project), "--report", str(report),
        "--backend", OWN_BACKEND, "--max-examples", "5",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    evidence = json.loads((report.parent / "rlsguard-evidence.json").read_text())
    status = {item["nodeid"].split("::")[-1]: item["status"] for item in evidence["items"]}
    assert status["test_downgrade_to_base_leaves_nothing"] == "pass"
    assert status["rls[public.documents-cross-tenant-read]"] == "fail", status
    assert status["RG202 app-no-bypassrls[hardened_app]"] == "fail"
