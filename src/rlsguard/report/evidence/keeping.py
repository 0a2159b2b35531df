"""An incomplete run never replaces the last complete evidence: the files a run writes
(HTML report, JSON evidence, JUnit) are set aside when it starts if they hold a complete
run, and put back if the new run ends incomplete; its own files then go beside them,
named ``*.incomplete.*``. A complete run removes the incomplete files an earlier one left."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from rlsguard.report.evidence.environment import utc_now, version_facts
from rlsguard.report.evidence.history import beside


class KeptEvidence:
    def __init__(self, outputs: list[Path], evidence: Path) -> None:
        self.outputs = outputs
        self.evidence = evidence
        self._aside: Path | None = None

    def set_aside(self) -> None:
        """Copies of the last complete run's files, if that is what the folder holds."""
        if not _complete(self.evidence):
            return
        self._aside = Path(tempfile.mkdtemp(prefix="rlsguard-kept-"))
        for number, path in enumerate(self.outputs):
            if path.is_file():
                shutil.copy2(path, self._aside / str(number))

    def settle(self, complete: bool) -> None:
        """After the run wrote its files: a complete run's stay (and old incomplete ones
        go); an incomplete run's move beside, and the complete ones come back."""
        try:
            for number, path in enumerate(self.outputs):
                if complete:
                    beside(path).unlink(missing_ok=True)
                    continue
                if path.is_file():
                    path.replace(beside(path))
                kept = self._aside / str(number) if self._aside else None
                if kept is not None and kept.is_file():
                    shutil.copy2(kept, path)
        finally:
            if self._aside is not None:
                shutil.rmtree(self._aside, ignore_errors=True)
                self._aside = None


def mark_not_started(evidence: Path, reason: str) -> Path:
    """A run that stopped before its checks started (a config error, no server, Ctrl-C at
    start-up) leaves the last complete evidence alone and says so beside it."""
    written = beside(evidence)
    written.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "rlsguard_evidence": 1,
        "complete": False,
        "incomplete": f"the run did not start: {reason}",
        "environment": {**version_facts(), "Finished (UTC)": utc_now()},
        "summary": {},
        "findings": [],
        "items": [],
    }
    written.write_text(json.dumps(document, indent=2))
    return written


def _complete(evidence: Path) -> bool:
    try:
        return json.loads(evidence.read_text(encoding="utf-8")).get("complete") is True
    except (OSError, ValueError, AttributeError):
        return False
