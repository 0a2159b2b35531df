"""The pytest side of the evidence: records every rlsguard item, adds the summary matrix,
the revision timeline and the gate's comparison to the HTML report, pins the environment,
and writes the JSON evidence beside the report."""

from __future__ import annotations

import hashlib
import html
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_html import extras
from pytest_metadata.plugin import metadata_key

from rlsguard.analyzer import check_remediation, probe_remediation
from rlsguard.checks.server import missing_fixes
from rlsguard.errors import RlsguardError
from rlsguard.findings import Outcome
from rlsguard.plugin.items import IsolationItem, ProbeItem, Unanalyzable
from rlsguard.plugin.selection import Selection, is_migration_test
from rlsguard.plugin.stash import INTERRUPTED
from rlsguard.report.controls.assessment import Assessment, assess, controls_html
from rlsguard.report.controls.mapping import frameworks_for
from rlsguard.report.evidence import environment
from rlsguard.report.evidence.baseline import Baseline, Difference
from rlsguard.report.evidence.history import EVIDENCE_NAME, append_record, beside
from rlsguard.report.evidence.html import (
    difference_html,
    environment_html,
    record_html,
    timeline_html,
)
from rlsguard.report.evidence.keeping import KeptEvidence
from rlsguard.report.evidence.matrix import Matrix
from rlsguard.report.evidence.records import ItemRecord, status_counts, status_of
from rlsguard.report.evidence.signing import signing_key
from rlsguard.report.evidence.style import STYLE
from rlsguard.report.evidence.timeline import RevisionStep, timeline
from rlsguard.report.oscal import OSCAL_NAME, assessment_results
from rlsguard.report.pdf import find_chromium, no_chromium, print_pdf
from rlsguard.report.verdict import verdict_html
from rlsguard.run import Run
from rlsguard.server.urls import redacted

PYTEST_INTERNALS = ("Packages", "Plugins")  # pytest-metadata's: nothing an auditor needs
RECORD = "rlsguard_record"


ERROR_LINE = re.compile(r"^(E\s+)?[\w.]*(Error|Exception): ")


def collection_error(report: pytest.CollectReport) -> str:
    """A failed collection's message: the exception's whole message (it may list several
    problems), else the last line of what pytest shows."""
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if ERROR_LINE.match(line)), None)
    if start is not None:
        return ERROR_LINE.sub("", "\n".join(lines[start:]), count=1)
    return lines[-1].strip() if lines else "a collection error"


def interrupt_reason(value: BaseException) -> str | None:
    """Why pytest stopped early, if more is known than "interrupted": the message of a
    ``pytest.exit`` (a lost server) or of a collection error."""
    interrupted = isinstance(value, pytest.Session.Interrupted)
    said = str(value) if interrupted else getattr(value, "msg", "")
    reason = str(said or "").removeprefix("rlsguard: ")
    return None if reason in ("", INTERRUPTED) else reason


class EvidenceCollector:
    def __init__(self, config: pytest.Config, run: Run, baseline: Baseline | None) -> None:
        """Raises RlsguardError for a control mapping, a signing key or a PDF the run
        could not honour, before anything runs."""
        settings = run.settings
        self.config = config
        self.run = run
        self.baseline = baseline
        self.mapping = frameworks_for(
            settings.project_root, settings.control_mappings, settings.frameworks
        )
        self.frameworks = self.mapping.shown
        self.signing_key = signing_key()
        self.browser = find_chromium() if config.getoption("rlsguard_pdf") else None
        if config.getoption("rlsguard_pdf") and self.browser is None:
            raise no_chromium()
        self.records: list[ItemRecord] = []
        self.started = environment.utc_now()
        self.finished: str | None = None
        self.facts: dict[str, Any] = {}
        self.steps: list[RevisionStep] = []
        self.difference: Difference | None = None
        self.tenant_tables: list[str] = []
        self.incomplete: str | None = None  # why the session ended early, or ran a part
        self.selection = Selection(config)
        self.collection_failed: str | None = None
        self.kept = KeptEvidence(*_outputs(config))
        if self.kept.outputs and not _is_xdist_worker(config):
            self.kept.set_aside()

    # -- recording ------------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item) -> Iterator[None]:
        """Where the item is (a pytest-xdist worker, or this process): the record rides
        on the report, which xdist sends to the controller."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            record = self._record(item, report)
            if record is not None:
                report.user_properties.append((RECORD, record.to_json()))
                if record.status not in (Outcome.PASS, Outcome.CANNOT):
                    _add_html_extra(report, record)
                if hasattr(report, "wasxfail"):  # its reason, not pytest's source lines
                    report.longrepr = str(report.wasxfail)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Where the report is written (the xdist controller, or this process)."""
        for key, value in report.user_properties:
            if key == RECORD and isinstance(value, dict):
                self.records.append(ItemRecord(**value))

    def _record(self, item: pytest.Item, report: pytest.TestReport) -> ItemRecord | None:
        findings = _property(item, "rlsguard_findings") or []
        wasxfail = hasattr(report, "wasxfail")
        reason = str(getattr(report, "wasxfail", "")) or _skip_reason(report)
        status = status_of(report.outcome, wasxfail, findings, reason)
        common: dict[str, Any] = {
            "nodeid": item.nodeid,
            "status": status,
            "findings": findings,
            "duration": report.duration,
        }
        if isinstance(item, IsolationItem):
            inspection = item.inspection
            return ItemRecord(
                kind="check",
                check=inspection.check.id,
                name=inspection.check.name,
                object=inspection.object,
                severity=inspection.check.severity.value,
                message="; ".join(f["message"] for f in findings) or None,
                reason=reason or None,
                remediation=(
                    check_remediation(inspection.check, inspection.findings) if findings else None
                ),
                **common,
            )
        if isinstance(item, ProbeItem):
            probe = _property(item, "rlsguard_probe") or {}
            finding = findings[0] if findings else {}
            return ItemRecord(
                kind="probe",
                check=item.probe.id,
                name=item.probe.name,
                object=item.target,
                severity=finding.get("severity", item.probe.severity.value),
                message=finding.get("message"),
                reason=reason or None,
                evidence=finding.get("evidence"),
                remediation=probe_remediation(item.probe, item.related) if findings else None,
                seed=probe.get("seed"),
                examples=probe.get("examples"),
                witnessed=probe.get("witnessed"),
                rejected=probe.get("rejected"),
                rows_shared_with=list(probe.get("rows_shared_with", [])),
                proven_on=probe.get("proven_on"),
                alike_in=probe.get("alike_in"),
                **common,
            )
        if isinstance(item, Unanalyzable):  # counted as what it stands in for, failed
            message = str(report.longrepr) if report.failed else None
            return ItemRecord(kind=item.kind, name=item.name, message=message, **common)
        if is_migration_test(item):
            message = str(report.longrepr) if report.failed else None
            return ItemRecord(
                kind="migration", name=item.name, message=message, reason=reason or None, **common
            )
        return None

    # -- the report -----------------------------------------------------------------------------

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        """pytest-html puts the test id into the page unescaped; object names are in it."""
        for index, cell in enumerate(cells):
            if cell.startswith('<td class="col-testId">'):
                cells[index] = f'<td class="col-testId">{html.escape(report.nodeid)}</td>'

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"rlsguard isolation evidence: {self.run.settings.project_root.name}"

    @pytest.hookimpl(tryfirst=True)  # before the terminal prints the metadata in its header
    def pytest_sessionstart(self) -> None:
        metadata = self.config.stash.get(metadata_key, None)
        if metadata is not None:
            cleaned = environment.redacted_facts(metadata)
            metadata.clear()
            metadata.update(cleaned)

    def pytest_html_results_summary(self, prefix: list[str]) -> None:
        """The environment first, built here with every value escaped; pytest-html's own
        table (values put into the page as HTML) is left empty."""
        metadata = self.config.stash.get(metadata_key, None)
        facts = {
            key: value
            for key, value in (environment.redacted_facts(metadata) if metadata else {}).items()
            if key not in PYTEST_INTERNALS
        }
        matrix = Matrix.build(self.records, self.tenant_tables)
        top = verdict_html(
            self.records,
            {key: str(value) for key, value in facts.items()},
            incomplete=self.incomplete,
            allow=self.run.settings.allow,
            unprobed_tables=matrix.not_proven_by_a_probe(self.tenant_tables),
        )
        prefix.insert(0, STYLE + top)  # the verdict first, then the details
        if self.frameworks and self.records:
            assessments = self._assessments()
            prefix.append(controls_html(assessments, self.mapping.left_out))
        if any(record.kind != "migration" for record in self.records):
            prefix.append(matrix.to_html(self.tenant_tables))
        if self.difference is not None and self.baseline is not None:
            prefix.append(difference_html(self.difference, self.baseline))
        if self.steps:
            prefix.append(timeline_html(self.steps))
        if metadata:
            prefix.append(environment_html(facts))
            metadata.clear()

    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """One rendering per item: an rlsguard item's record says what it found (the extra
        above), so pytest's traceback and captured logs are dropped; a failed migration
        keeps only rlsguard's message (the statement and the error), a probe that could
        not act its reason."""
        properties = getattr(report, "user_properties", ())  # a collection report has none
        record = next((value for key, value in properties if key == RECORD), None)
        if not isinstance(record, dict):
            return
        kept = []
        if record["kind"] == "migration" and report.failed:
            kept = [html.escape(report.longreprtext)]
        elif record["status"] == Outcome.CANNOT and record.get("reason"):
            kept = [html.escape(f"could not act: {record['reason']}")]
        data[:] = kept

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The timeline is read at the end where checks or probes run (not on a worker):
        then the roundtrip walk analyses each revision on its way, for it."""
        self.run.analyses_along_the_walk = not _is_xdist_worker(self.config) and any(
            isinstance(item, (IsolationItem, ProbeItem, Unanalyzable)) for item in session.items
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.collection_failed is None:
            self.collection_failed = collection_error(report)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C, SIGTERM, ``pytest.exit`` (a lost server), or pytest stopping after a
        collection error (said as that error): before sessionfinish."""
        reason = interrupt_reason(excinfo.value) or INTERRUPTED
        if self.collection_failed is not None and reason.endswith("during collection"):
            reason = f"could not collect the checks: {self.collection_failed.rstrip('.')}"
        self.incomplete = reason

    @pytest.hookimpl(tryfirst=True)  # before pytest-html writes the report
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.finished = environment.utc_now()
        if _is_xdist_worker(self.config):
            return
        self.incomplete = self.incomplete or self.selection.reason(session)
        self.facts["Run"] = f"INCOMPLETE: {self.incomplete}" if self.incomplete else "complete"
        if self.run.server_started:  # named even when the schema could not be built on it
            self.facts["PostgreSQL server"] = self.run.server.describe()
            lacking = missing_fixes(self.run.server.version_num)
            if lacking:
                self.facts["Row security fixes this release lacks"] = ", ".join(
                    f"{fix.cve} (fixed in {fix.first_fixed(self.run.server.major)})"
                    for fix in lacking
                )
        if any(record.kind != "migration" for record in self.records):
            self._pin_the_schema()  # a schema that could not be built too (Unanalyzable)
        if self.baseline is not None:
            now = [f for record in self.records for f in record.findings]
            ran = {
                (record.check or "", record.object or "")
                for record in self.records
                if record.status is not Outcome.CANNOT
            }
            self.difference = Difference.between(self.baseline, now, ran)
        self.facts.update({"Started (UTC)": self.started, "Finished (UTC)": self.finished})
        url = environment.ci_run_url()
        if url:
            self.facts["CI run"] = redacted(url)
        for key, value in self.facts.items():
            add_environment(self.config, key, value)

    def incomplete_note(self) -> str | None:
        """For pytest's console: where an incomplete run's evidence goes, and why."""
        if self.incomplete is None or not self.kept.outputs or _is_xdist_worker(self.config):
            return None
        written = ", ".join(str(beside(path)) for path in self.kept.outputs[:2])
        return (
            f"{self.incomplete}. When pytest ends, the report and evidence of this run are "
            f"moved beside the last complete run's ({written}), whatever the lines about "
            "generated files say; they never replace it and add nothing to the history."
        )

    def _pin_the_schema(self) -> None:
        run = self.run
        try:
            revision = run.resolve(run.revision)
            applied = run.project.up_to(revision)
            self.tenant_tables = sorted(run.analysis().tenancy.tenant_tables)
            fingerprint = run.fingerprint(run.template(revision)).sha256()
        except Exception as error:  # evidence of a broken schema, or a bug: said, not raised
            self.facts["Schema"] = f"could not be pinned: {str(error).splitlines()[0]}"
        else:
            self.facts.update(
                {
                    "Alembic head": revision,
                    "Revisions applied": ", ".join(applied),
                    "Schema fingerprint (SHA-256)": fingerprint,
                    **environment.git_facts(run.settings.project_root),
                    **environment.hypothesis_facts(run.seed, run.max_examples),
                    "Tenancy config": environment.tenancy_rows(run.settings_at(revision)),
                }
            )
        # after the head's analysis, which it reuses; for a broken schema too, it says
        # what the history reached and where it broke
        self._read_the_timeline()

    def _read_the_timeline(self) -> None:
        try:
            self.steps = timeline(self.run)
        except Exception as error:  # a bug: said, not raised
            self.facts["Timeline"] = f"could not be read: {str(error).splitlines()[0]}"

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """After pytest-html wrote the HTML: the JSON evidence, with the HTML's SHA-256;
        then a complete run's record in the history, or an incomplete run's files moved
        beside the last complete run's (KeptEvidence)."""
        if not self.kept.outputs or _is_xdist_worker(config):
            return
        path = self.kept.evidence
        html_path = config.getoption("htmlpath", None)
        report = Path(html_path) if html_path else None
        complete = self.incomplete is None
        shown = report if complete or report is None else beside(report)
        document = self.document(report, shown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, default=str))
        oscal = self.oscal(shown.name if shown else None)
        path.with_name(OSCAL_NAME).write_text(json.dumps(oscal, indent=2))
        if report is not None:
            self._print_pdf(report, complete)
        self.kept.settle(complete)
        if complete:
            append_record(path.parent, document, self.kept.outputs, self.signing_key)

    def _print_pdf(self, report: Path, complete: bool) -> None:
        """The PDF when asked for; a complete run without one removes the PDF of an
        earlier run, which would no longer agree with the report beside it."""
        pdf = report.with_suffix(".pdf")
        if self.browser is None:
            if complete:
                pdf.unlink(missing_ok=True)
            return
        try:
            print_pdf(self.browser, report, pdf)
        except RlsguardError as error:
            print(f"rlsguard: error: no PDF: {error}", file=sys.stderr)

    def _assessments(self) -> list[Assessment]:
        return assess(self.frameworks, self.records, complete=self.incomplete is None)

    def oscal(self, report_name: str | None) -> dict[str, Any]:
        facts = {**environment.version_facts(), **self.facts}
        return assessment_results(
            title=f"rlsguard isolation evidence: {self.run.settings.project_root.name}",
            version=facts["rlsguard"],
            started=self.started,
            finished=self.finished or environment.utc_now(),
            facts={key: value for key, value in facts.items() if isinstance(value, str)},
            records=self.records,
            assessments=self._assessments(),
            report_name=report_name,
        )

    def document(self, report: Path | None, shown: Path | None = None) -> dict[str, Any]:
        """``shown``: where the report ends up (beside the complete one, for an incomplete
        run), when that is not where it was written."""
        digest = None
        if report is not None and report.is_file():
            digest = hashlib.sha256(report.read_bytes()).hexdigest()
        report = shown or report
        matrix = Matrix.build(self.records, self.tenant_tables)
        return {
            "rlsguard_evidence": 1,
            "complete": self.incomplete is None,
            "incomplete": self.incomplete,
            "environment": {**environment.version_facts(), **self.facts},
            "report": {"path": str(report) if report else None, "sha256": digest},
            "summary": status_counts(self.records),
            "matrix": matrix.to_json(),
            "not_proven_by_a_probe": matrix.not_proven_by_a_probe(self.tenant_tables),
            "controls": [a.to_json() for a in self._assessments()],
            "findings": [f for record in self.records for f in record.findings],
            "items": [record.to_json() for record in self.records],
            "timeline": [step.to_json() for step in self.steps],
            "gate": (
                {
                    "base": self.baseline.ref,
                    "base_revision": self.baseline.revision,
                    **self.difference.to_json(),
                    "new_errors": self.difference.new_errors,
                }
                if self.difference is not None and self.baseline is not None
                else None
            ),
        }


def add_environment(config: pytest.Config, key: str, value: Any) -> None:
    """An entry in pytest-html's environment table (kept by pytest-metadata)."""
    if metadata_key in config.stash:
        shown = environment.redacted_facts(value) if isinstance(value, dict) else redacted(value)
        config.stash[metadata_key][key] = shown


def _outputs(config: pytest.Config) -> tuple[list[Path], Path]:
    """The files this run writes (report, evidence, JUnit), and the evidence among them;
    none when it writes no evidence."""
    html_path = config.getoption("htmlpath", None)
    target = config.getoption("rlsguard_evidence", None)
    evidence = Path(target) if target else Path(html_path or ".").parent / EVIDENCE_NAME
    if not html_path and not target:
        return [], evidence
    junit = getattr(config.option, "xmlpath", None)
    pdf = config.getoption("rlsguard_pdf") and html_path
    written = [
        Path(html_path) if html_path else None,
        Path(html_path).with_suffix(".pdf") if pdf else None,
        evidence,
        evidence.with_name(OSCAL_NAME),
        Path(junit) if junit else None,
    ]
    return [path for path in written if path is not None], evidence


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _property(item: pytest.Item, name: str) -> Any:
    return next((value for key, value in item.user_properties if key == name), None)


def _skip_reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return ""


def _add_html_extra(report: pytest.TestReport, record: ItemRecord) -> None:
    existing = list(getattr(report, "extras", []))
    report.extras = [*existing, extras.html(record_html(record))]  # type: ignore[attr-defined]
