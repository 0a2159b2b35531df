"""A migration author's path: a correct new revision (a tenant table with RLS enabled and
forced, its policies and grants, and its model) moves the head the tests derive and
passes ``rlsguard check``; the same revision without RLS, or without its model, fails
and says what to fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rlsguard.server import Server
from tests.conftest import HEAD_REVISION, REVISIONS, migration, revisions_of
from tests.test_cli import FAST, dsn_of, rlsguard

pytestmark = pytest.mark.slow

# a revision id no real revision will take, so the test holds whatever lands next
NEW = "pr_add_invoices"
OWN_TENANT = "tenant_id = NULLIF(current_setting('app.current_tenant_id', true), '')::uuid"
TABLE = [
    "CREATE TABLE invoices (invoice_id uuid DEFAULT gen_random_uuid() NOT NULL, "
    "tenant_id uuid NOT NULL, amount numeric(12, 2) NOT NULL, "
    "CONSTRAINT pk_invoices PRIMARY KEY (invoice_id), "
    "CONSTRAINT fk_invoices_tenant_id_tenants FOREIGN KEY (tenant_id) "
    "REFERENCES tenants (tenant_id) ON DELETE CASCADE)",
    "CREATE INDEX ix_invoices_tenant_id ON invoices (tenant_id)",
]
ISOLATION = [
    "ALTER TABLE invoices ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE invoices FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation_invoices ON invoices TO app_user "
    f"USING ({OWN_TENANT}) WITH CHECK ({OWN_TENANT})",
    "CREATE POLICY uber_admin_bypass_invoices ON invoices TO uber_admin "
    "USING (true) WITH CHECK (true)",
]
GRANTS = [
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO {role}"
    for role in ("app_user", "uber_admin")
]
CORRECT = migration(NEW, HEAD_REVISION, TABLE + ISOLATION + GRANTS, ["DROP TABLE invoices"])
WITHOUT_RLS = migration(NEW, HEAD_REVISION, TABLE + GRANTS, ["DROP TABLE invoices"])
INVOICE_MODEL = """

from decimal import Decimal

from sqlalchemy import Numeric


class Invoice(Base):
    __tablename__ = "invoices"

    invoice_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.tenant_id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
"""


@pytest.fixture
def with_new_revision(project_copy: Callable[..., Path]) -> Callable[[str, bool], Path]:
    """A copy of the project with revision 009 written as ``text``, and its model
    added to the copy's platform_models.py when ``with_model``."""

    def make(text: str, with_model: bool) -> Path:
        copy = project_copy()
        (copy / "migrations" / "versions" / f"{NEW}.py").write_text(text)
        if with_model:
            models = copy / "migrations" / "platform_models.py"
            models.write_text(models.read_text() + INVOICE_MODEL)
        return copy

    return make


def check(copy: Path, server: Server, *pytest_arguments: str) -> tuple[int, str]:
    return rlsguard("check", "--dsn", dsn_of(server), *FAST, *pytest_arguments, cwd=copy)


def test_the_derived_history_follows_a_new_head(
    with_new_revision: Callable[[str, bool], Path],
) -> None:
    copy = with_new_revision(CORRECT, True)
    assert revisions_of(copy) == (*REVISIONS, NEW)
    assert revisions_of(copy)[-1] == NEW


def test_a_correct_new_tenant_table_passes_every_check(
    with_new_revision: Callable[[str, bool], Path], rlsguard_server: Server
) -> None:
    code, output = check(with_new_revision(CORRECT, True), rlsguard_server, "-v")
    assert code == 0, output[-4000:]
    assert f"suite.py::test_revision_roundtrip[{NEW}] PASSED" in output
    assert "suite.py::test_models_match_migrations PASSED" in output
    assert "suite.py::test_isolation::RG101 rls-enabled[public.invoices] PASSED" in output
    assert "suite.py::test_probes::rls[public.invoices-cross-tenant-read] PASSED" in output
    assert "rlsguard: PASS: every check holds" in output


def test_the_same_table_without_rls_fails(
    with_new_revision: Callable[[str, bool], Path], rlsguard_server: Server
) -> None:
    code, output = check(with_new_revision(WITHOUT_RLS, True), rlsguard_server, "-v")
    assert code == 1, output[-4000:]
    assert "FAILED suite.py::test_isolation::RG101 rls-enabled[public.invoices]" in output
    assert "suite.py::test_models_match_migrations PASSED" in output
    assert "1. RG101 rls-enabled on public.invoices\n" in output  # the one cause to fix
    assert "ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY;" in output


def test_a_table_without_its_model_names_the_model_file(
    with_new_revision: Callable[[str, bool], Path], rlsguard_server: Server
) -> None:
    copy = with_new_revision(CORRECT, False)
    code, output = check(copy, rlsguard_server, "--", "-k", "test_models_match_migrations")
    assert code == 1, output[-4000:]
    assert (
        "models and migrations differ: remove_table invoices: the migrations create this "
        "table and no model declares it: add its model to migrations/platform_models.py, "
        "or drop it in a migration"
    ) in output, output[-4000:]
