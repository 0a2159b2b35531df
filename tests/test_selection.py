"""A run of some of the checks (``-k``, ``--deselect``, node ids, ``-x``) never stands as
the evidence of all of them: it is marked incomplete, never says PASS, satisfies no
control, and leaves the last complete run's evidence as it was. A run that chose only
among other tests, or named a file whole, is complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlsguard.report.evidence.history import EVIDENCE_NAME, beside, verify
from rlsguard.server import Server
from tests.conftest import copy_project, hardened_user_project, run_python
from tests.test_cli import FAST, dsn_of, rlsguard


def _evidence(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _statuses(document: dict[str, Any]) -> set[str]:
    return {control["status"] for control in document["controls"]}


@pytest.fixture
def checked_once(tmp_path: Path, rlsguard_server: Server) -> Path:
    """A project with one complete run's evidence in its reports folder."""
    project = hardened_user_project(tmp_path / "project")
    code, output = rlsguard("check", "-q", "--dsn", dsn_of(rlsguard_server), *FAST, cwd=project)
    assert code == 0, output
    complete = _evidence(project / "reports" / EVIDENCE_NAME)
    assert complete["complete"] is True
    assert "satisfied" in _statuses(complete)
    return project


@pytest.mark.parametrize(
    ("chosen", "said"),
    [
        (("--workers", "1", "--", "-k", "no-context"), "deselected (-k 'no-context')"),
        (("--workers", "2", "--", "-k", "no-context"), "deselected (-k 'no-context')"),
        (
            ("--", "--deselect", "suite.py::test_single_head"),
            "1 of rlsguard's items were deselected (--deselect suite.py::test_single_head)",
        ),
        (("--", "--collect-only"), "pytest only collected the items (--collect-only)"),
    ],
    ids=["-k", "-k on workers", "--deselect", "--collect-only"],
)
def test_a_selection_is_incomplete_and_keeps_the_complete_evidence(
    checked_once: Path, rlsguard_server: Server, chosen: tuple[str, ...], said: str
) -> None:
    reports = checked_once / "reports"
    before = (reports / EVIDENCE_NAME).read_text()
    code, output = rlsguard(
        "check", "-q", "--dsn", dsn_of(rlsguard_server), *FAST, *chosen, cwd=checked_once
    )
    assert code == 2, output  # every chosen check holds, and that is not every check
    verdict = next(line for line in output.splitlines() if line.startswith("rlsguard: "))
    ran = "no check ran" if "--collect-only" in chosen else "every check that ran holds"
    assert verdict.startswith(f"rlsguard: INCOMPLETE: {ran}"), output
    assert said in verdict
    assert "but not every check ran" in verdict or "no check ran" in verdict
    assert f"report (incomplete): {beside(reports / 'rlsguard-report.html')}" in verdict
    assert "PASS" not in output
    partial = _evidence(beside(reports / EVIDENCE_NAME))
    assert partial["complete"] is False
    assert said in partial["incomplete"]
    assert _statuses(partial) <= {"partly tested", "not tested"}  # none satisfied
    assert "INCOMPLETE" in beside(reports / "rlsguard-report.html").read_text()
    assert (reports / EVIDENCE_NAME).read_text() == before
    assert verify(reports, EVIDENCE_NAME) == (1, None)  # the history has the complete run only


def test_a_stop_at_the_first_failure_is_incomplete(tmp_path: Path, rlsguard_server: Server) -> None:
    """``-x`` on the shipped schema, which leaks: the failures found are said, and the
    run says it stopped before the rest."""
    project = copy_project(tmp_path / "project")
    code, output = rlsguard(
        "check", "-q", "--dsn", dsn_of(rlsguard_server), "--revision",
        "004_add_tenant_configs_table", *FAST, "--", "-x", cwd=project,
    )  # fmt: skip
    assert code == 1, output
    verdict = next(line for line in output.splitlines() if line.startswith("rlsguard: "))
    assert verdict.startswith("rlsguard: FAIL: 1 cause(s) to fix"), output
    assert "pytest stopped before every item ran (stopping after 1 failures)" in verdict
    partial = _evidence(beside(project / "reports" / EVIDENCE_NAME))
    assert partial["complete"] is False
    assert not (project / "reports" / EVIDENCE_NAME).exists()  # no complete run yet
    page = beside(project / "reports" / "rlsguard-report.html").read_text()
    assert "Verdict: FAIL</h2>" in page  # what was found comes first
    assert "This run is INCOMPLETE: " in page


def test_arguments_pytest_refuses_run_nothing_and_point_at_no_old_report(
    checked_once: Path, rlsguard_server: Server
) -> None:
    """``--lf`` needs pytest's cache, which ``rlsguard check`` runs without."""
    reports = checked_once / "reports"
    before = (reports / EVIDENCE_NAME).read_text()
    code, output = rlsguard(
        "check", "-q", "--dsn", dsn_of(rlsguard_server), *FAST, "--", "--lf", cwd=checked_once
    )
    assert code == 2, output
    assert "unrecognized arguments: --lf" in output
    said = beside(reports / EVIDENCE_NAME)
    assert (
        "rlsguard: error: pytest refused the arguments given after -- (its message is above); "
        f"nothing ran (said in {said})"
    ) in output
    assert "rlsguard-report.html" not in output
    assert _evidence(said)["incomplete"].startswith("the run did not start: pytest refused")
    assert (reports / EVIDENCE_NAME).read_text() == before


@pytest.mark.parametrize(
    ("arguments", "incomplete"),
    [
        (("tests",), None),
        (("tests", "-k", "mine"), "deselected (-k 'mine')"),
        (("tests", "-k", "mine or probes"), "deselected (-k 'mine or probes')"),
        (("tests", "-k", "not mine"), None),  # only the project's own test is left out
        (("tests/test_isolation.py::test_single_head",), "named by node id"),
        (("tests/test_isolation.py::test_single_head", "tests/test_isolation.py"), None),
        (("tests/test_isolation.py::test_single_head", "tests"), None),
    ],
)
def test_plain_pytest_marks_only_a_choice_among_rlsguards_items(
    tmp_path: Path, rlsguard_server: Server, arguments: tuple[str, ...], incomplete: str | None
) -> None:
    project = hardened_user_project(tmp_path / "project")
    (project / "tests").mkdir()
    (project / "tests" / "test_isolation.py").write_text(
        "from rlsguard.suite import *  # noqa: F403\n"
    )
    (project / "tests" / "test_mine.py").write_text("def test_mine() -> None:\n    pass\n")
    result = run_python(
        "-m", "pytest", "-p", "no:cacheprovider", "-q", "--html", "reports/r.html",
        "--rlsguard-dsn", dsn_of(rlsguard_server), "--rlsguard-max-examples", "3",
        *arguments, cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    reports = project / "reports"
    if incomplete is None:
        assert _evidence(reports / EVIDENCE_NAME)["complete"] is True
        assert not beside(reports / EVIDENCE_NAME).exists()
        assert "evidence is incomplete" not in result.stdout
        return
    said = _evidence(beside(reports / EVIDENCE_NAME))
    assert said["complete"] is False
    assert incomplete in said["incomplete"]
    assert not (reports / EVIDENCE_NAME).exists()
    assert "rlsguard: the evidence is incomplete" in result.stdout
    assert str(beside(Path("reports/r.html"))) in result.stdout
