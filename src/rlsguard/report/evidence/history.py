"""The evidence's history: every complete run appends one record to
``rlsguard-history.jsonl`` beside its report, holding the SHA-256 of the files it wrote and
of the record before it. An edited report, an edited record or a removed one then shows,
and ``verify`` names the first record that does not hold.

A chain shows what changed after a later record was written; the last record and the
files it names are held together by their hashes and by the evidence agreeing with the
record. Someone who rewrites the files, the last record and its hashes consistently is
not caught by a chain: that takes a signature kept elsewhere."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlsguard.report.evidence.signing import SIGNATURE, signature_problem, signed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

HISTORY_NAME = "rlsguard-history.jsonl"
EVIDENCE_NAME = "rlsguard-evidence.json"  # beside the HTML report, unless told otherwise
INCOMPLETE = ".incomplete"  # rlsguard-report.html -> rlsguard-report.incomplete.html
# what a record says of its run, and where the evidence JSON says the same
AGREEING = {
    "commit": ("environment", "Git commit"),
    "fingerprint": ("environment", "Schema fingerprint (SHA-256)"),
    "time": ("environment", "Finished (UTC)"),
}


class NoHistory(Exception):
    """The folder holds no history to verify."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def beside(path: Path) -> Path:
    """Where an incomplete run's file goes, so it never replaces a complete run's."""
    return path.with_name(f"{path.stem}{INCOMPLETE}{path.suffix}")


def verdict_of(evidence: dict[str, Any]) -> str:
    return "fail" if evidence.get("summary", {}).get("fail") else "pass"


def append_record(
    folder: Path,
    evidence: dict[str, Any],
    files: list[Path],
    key: Ed25519PrivateKey | None = None,
) -> dict[str, Any]:
    """One record for a complete run whose evidence and files are already written, signed
    when a key is given."""
    history = folder / HISTORY_NAME
    lines = _lines(history)
    record: dict[str, Any] = {
        "rlsguard_history": 1,
        "sequence": len(lines),
        **{key: evidence[part].get(name) for key, (part, name) in AGREEING.items()},
        "verdict": verdict_of(evidence),
        "counts": evidence.get("summary", {}),
        "files": {path.name: digest(path.read_bytes()) for path in files if path.is_file()},
        "previous": digest(lines[-1].encode()) if lines else None,
    }
    if key is not None:
        record = signed(record, key)
    with history.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(record, sort_keys=True) + "\n")
    return record


def verify(
    folder: Path, evidence_name: str, key: Ed25519PublicKey | None = None
) -> tuple[int, str | None]:
    """(records that hold, the first problem); NoHistory when there is nothing to verify.
    With a public key, every record must be signed by it."""
    lines = _lines(folder / HISTORY_NAME)
    if not lines:
        raise NoHistory(f"no {HISTORY_NAME} in {folder}: no complete run wrote evidence there")
    before: str | None = None
    record: dict[str, Any] = {}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return number - 1, f"record {number} is not JSON: it was edited"
        problem = _follows(number, record, before)
        if problem is None and key is not None:
            problem = signature_problem(number, record, key)
        if problem is not None:
            return number - 1, problem
        before = line
    problem = _files_hold(folder, len(lines), record, evidence_name)
    return (len(lines) - 1, problem) if problem else (len(lines), None)


def signers(folder: Path) -> list[str]:
    """The key ids the history's records are signed with, in order of first use."""
    keys = []
    for line in _lines(folder / HISTORY_NAME):
        try:
            signature = json.loads(line).get(SIGNATURE)
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(signature, dict):
            keys.append(str(signature.get("key")))
    return list(dict.fromkeys(keys))


def _follows(number: int, record: Any, before: str | None) -> str | None:
    if not isinstance(record, dict):
        return f"record {number} is not a record: it was edited"
    sequence = record.get("sequence")
    if sequence != number - 1:
        said = sequence + 1 if isinstance(sequence, int) else "?"
        return (
            f"record {number} says it is record {said}: a record before it was removed, "
            "or it was edited"
        )
    expected = digest(before.encode()) if before is not None else None
    if record.get("previous") != expected:
        return (
            f"record {number} ({record.get('time')}) does not follow record {number - 1}: "
            f"record {number - 1} was edited after record {number} was written"
        )
    return None


def _files_hold(
    folder: Path, number: int, record: dict[str, Any], evidence_name: str
) -> str | None:
    """The last run's files are still the ones it wrote, and its evidence says what the
    record says."""
    for name, expected in sorted(record.get("files", {}).items()):
        path = folder / name
        if path.is_file() and digest(path.read_bytes()) != expected:
            return (
                f"{name} is not the file record {number} ({record.get('time')}) holds: it was "
                "edited or replaced after that run"
            )
    path = folder / evidence_name
    if evidence_name not in record.get("files", {}) or not path.is_file():
        return None
    evidence = json.loads(path.read_text(encoding="utf-8"))
    said = {key: evidence[part].get(name) for key, (part, name) in AGREEING.items()}
    said.update(verdict=verdict_of(evidence), counts=evidence.get("summary", {}))
    for key, value in said.items():
        if record.get(key) != value:
            return (
                f"record {number} says {key} {record.get(key)!r}, the evidence it holds says "
                f"{value!r}: the record was edited"
            )
    return None


def _lines(history: Path) -> list[str]:
    if not history.is_file():
        return []
    return [line for line in history.read_text(encoding="utf-8").splitlines() if line.strip()]
