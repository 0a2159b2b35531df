"""pytest-xdist's workers share the controller's server and template, and keep a table's
probes (and the revisions' roundtrips) on one worker, with the results of one process."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

import rlsguard
from rlsguard.cli import check
from rlsguard.errors import ConfigError
from rlsguard.plugin.workers import probe_target
from rlsguard.probes import all_probes
from tests.conftest import OWN_BACKEND, hardened_user_project, run_python

# each item, in the process that runs it, and each process's server and templates
RECORDER = """
import json, os
from rlsguard.plugin.stash import RUN_KEY

def _record(config, **fields):
    run = config.stash[RUN_KEY]
    server = run.server if run.server_started else None
    fields.update(
        process=getattr(config, "workerinput", {}).get("workerid", "controller"),
        backend=server.backend if server else None,
        port=server.url.port if server else None,
        templates=run.built_templates(),
        workers=run.workers,
    )
    with open(os.environ["RECORDS"], "a") as records:
        records.write(json.dumps(fields) + "\\n")

def pytest_runtest_teardown(item):
    _record(item.config, item=item.nodeid, target=getattr(item, "target", None))

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        _record(session.config, item=None, target=None)
"""


def _check(
    project: Path, label: str, *flags: str
) -> tuple[dict[str, str], list[dict[str, Any]], str]:
    """``rlsguard check`` with ``flags`` (``-- `` before pytest's): each item's outcome in
    its JUnit file and its evidence, the records of the processes, and its console."""
    records = project / f"records-{label}.jsonl"
    report = project / f"reports-{label}" / "report.html"
    split = flags.index("--") if "--" in flags else len(flags)
    check_flags, pytest_flags = flags[:split], flags[split + 1 :]
    result = run_python(
        "-m", "rlsguard.cli", "check", "--project", str(project), "--report", str(report),
        "--backend", OWN_BACKEND, "--max-examples", "5", *check_flags,
        "--", "-p", "recorder", *pytest_flags,
        cwd=project,
        env={"PYTHONPATH": str(project), "RECORDS": str(records)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    junit = report.parent / "rlsguard-junit.xml"
    evidence = json.loads((report.parent / "rlsguard-evidence.json").read_text())
    outcomes = {
        f"evidence of {item['nodeid']}": f"{item['kind']} {item['status']}"
        for item in evidence["items"]
    } | {
        f"{case.get('classname')}::{case.get('name')}": next(
            (child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed"
        )
        for case in ElementTree.parse(junit).getroot().iter("testcase")
    }
    logged = [json.loads(line) for line in records.read_text().splitlines()]
    return outcomes, logged, result.stdout


@pytest.mark.timeout(600)
def test_workers_share_one_server_and_template_and_keep_a_tables_probes_together(
    tmp_path: Path,
) -> None:
    project = hardened_user_project(tmp_path / "project")
    (project / "recorder.py").write_text(RECORDER)
    began = time.time()

    alone, records_alone, console = _check(project, "alone")
    assert {record["workers"] for record in records_alone} == {1}
    assert "probes:" in console
    assert "of work on the workers" not in console
    # pytest-xdist's workers, as rlsguard check starts them, and as --tx specs (which
    # stand in for other hosts: execnet gateways, each a python of its own)
    for label, flags in (
        ("workers", ("--workers", "2")),
        ("tx", ("--", "--tx", "2*popen", "--dist", "loadgroup")),
    ):
        together, records, console_of_workers = _check(project, label, *flags)
        assert together == alone, label  # the same items, outcomes and evidence
        assert re.search(
            r"^  probes: +\d+ run: .* \([\d.]+ s of work on the workers\)$",
            console_of_workers,
            re.MULTILINE,
        )
        assert re.search(r"^  migrations: ", console_of_workers, re.MULTILINE), "a line its own"
        _assert_shared_and_grouped(records)
        # each worker cuts big groups of alike tables as the scheduler does (probes/alike.py)
        assert {record["workers"] for record in records} == {2}, label
    # the workers start in the package's folder: Hypothesis's storage is not put there
    package_storage = Path(rlsguard.__file__).parent / ".hypothesis"
    written = [path for path in package_storage.rglob("*") if path.stat().st_mtime >= began]
    assert written == []


def _assert_shared_and_grouped(records: list[dict[str, Any]]) -> None:
    controller = next(record for record in records if record["process"] == "controller")
    ran = [record for record in records if record["item"] is not None]
    assert {record["process"] for record in ran} == {"gw0", "gw1"}
    assert {(record["backend"], record["port"]) for record in ran} == {
        ("shared", controller["port"])
    }, "every worker works on the controller's server"
    templates = controller["templates"]
    assert isinstance(templates, dict)
    head = next(iter(templates.items()))
    assert all(head in record["templates"].items() for record in ran), "and its template"

    workers_by_group: dict[str, set[object]] = defaultdict(set)
    for record in ran:
        item = str(record["item"])
        if record["target"] is not None:
            workers_by_group[f"probes of {record['target']}"].add(record["process"])
        elif "test_revision_roundtrip[" in item:
            workers_by_group["roundtrips"].add(record["process"])
    assert "roundtrips" in workers_by_group
    # users' row security is documents': a proof on documents holds there, so one worker
    # runs both tables' probes and makes it once
    assert (
        workers_by_group["probes of public.users"] == workers_by_group["probes of public.documents"]
    )
    assert len(workers_by_group) > 3
    assert {group: len(workers) for group, workers in workers_by_group.items()} == dict.fromkeys(
        workers_by_group, 1
    )


@pytest.mark.parametrize(
    ("nodeid", "target"),
    [
        ("suite.py::test_probes::rls[public.documents-cross-tenant-read]", "public.documents"),
        ("t.py::test_probes::rls[public.a-b-cross-tenant-read]", "public.a-b"),
        ("t.py::test_probes::rls[public.f(x text)-definer-function-leak]", "public.f(x text)"),
        ("t.py::test_probes::rls[tenant-tables-stateful]", "tenant-tables"),
        ("t.py::test_probes::rls[public.documents-no-such-probe]", None),
        ("t.py::test_isolation::RG101 rls-enabled[public.documents]", None),
    ],
)
def test_a_probe_items_object_is_read_from_its_name(nodeid: str, target: str | None) -> None:
    suffixes = sorted((f"-{probe.name}]" for probe in all_probes()), key=len, reverse=True)
    assert probe_target(nodeid, suffixes) == target


def test_workers_without_pytest_xdist_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(ConfigError, match=r"--workers needs pytest-xdist: pip install"):
        check._workers(2)
    assert check._workers(1) == []
