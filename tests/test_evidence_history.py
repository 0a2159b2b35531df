"""The history of complete runs is a hash chain that ``rlsguard evidence verify`` checks:
an edited report, an edited record and a removed record are each named; an incomplete run
never replaces the last complete evidence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rlsguard.errors import ConfigError
from rlsguard.report.evidence.history import (
    EVIDENCE_NAME,
    HISTORY_NAME,
    NoHistory,
    append_record,
    beside,
    verify,
)
from rlsguard.report.evidence.keeping import KeptEvidence
from rlsguard.report.evidence.signing import SIGNING_KEY_ENV, public_key, signing_key
from rlsguard.server import Server
from tests.conftest import run_python
from tests.test_cli import FAST, HARDENED_PROJECT, dsn_of, rlsguard

REPORT = "rlsguard-report.html"


def a_run(folder: Path, number: int, *, failed: int = 0) -> dict[str, Any]:
    """What a complete run leaves: its report, its evidence, and its record."""
    evidence = {
        "complete": True,
        "environment": {
            "Git commit": f"c{number}",
            "Schema fingerprint (SHA-256)": f"f{number}",
            "Finished (UTC)": f"2026-12-01T10:0{number}:00Z",
        },
        "summary": {"pass": 10 + number, **({"fail": failed} if failed else {})},
    }
    (folder / REPORT).write_text(f"<html>run {number}</html>")
    (folder / EVIDENCE_NAME).write_text(json.dumps(evidence))
    return append_record(folder, evidence, [folder / REPORT, folder / EVIDENCE_NAME])


@pytest.fixture
def three_runs(tmp_path: Path) -> Path:
    for number in (1, 2, 3):
        a_run(tmp_path, number, failed=1 if number == 2 else 0)
    return tmp_path


def records_of(folder: Path) -> list[str]:
    return (folder / HISTORY_NAME).read_text().splitlines()


def rewrite(folder: Path, lines: list[str]) -> None:
    (folder / HISTORY_NAME).write_text("\n".join(lines) + "\n")


def test_an_untouched_history_holds(three_runs: Path) -> None:
    assert verify(three_runs, EVIDENCE_NAME) == (3, None)
    second = json.loads(records_of(three_runs)[1])
    assert (second["sequence"], second["verdict"], second["commit"]) == (1, "fail", "c2")


def test_an_edited_report_is_named(three_runs: Path) -> None:
    (three_runs / REPORT).write_text("<html>run 3, with a FAIL taken out</html>")
    held, problem = verify(three_runs, EVIDENCE_NAME)
    assert held == 2
    assert problem == (
        f"{REPORT} is not the file record 3 (2026-12-01T10:03:00Z) holds: it was edited or "
        "replaced after that run"
    )


def edited(number: int, old: str, new: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        return [line.replace(old, new) if i == number - 1 else line for i, line in enumerate(lines)]

    return edit


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            edited(2, '"verdict": "fail"', '"verdict": "pass"'),
            (2, "record 3 (2026-12-01T10:03:00Z) does not follow record 2: record 2 was "
                "edited after record 3 was written"),
        ),
        (
            lambda lines: [lines[0], lines[2]],
            (1, "record 2 says it is record 3: a record before it was removed, or it was edited"),
        ),
        (  # the last record has no successor: its evidence must agree with it
            edited(3, '"commit": "c3"', '"commit": "c9"'),
            (2, "record 3 says commit 'c9', the evidence it holds says 'c3': the record was "
                "edited"),
        ),
    ],
    ids=["an-edited-record", "a-removed-record", "an-edited-last-record"],
)  # fmt: skip
def test_a_changed_history_is_named(
    three_runs: Path, change: Callable[[list[str]], list[str]], expected: tuple[int, str]
) -> None:
    rewrite(three_runs, change(records_of(three_runs)))
    assert verify(three_runs, EVIDENCE_NAME) == expected


def test_a_removed_last_record_leaves_files_no_record_holds(three_runs: Path) -> None:
    rewrite(three_runs, records_of(three_runs)[:2])
    held, problem = verify(three_runs, EVIDENCE_NAME)
    assert held == 1
    assert problem == (  # files are checked in name order
        f"{EVIDENCE_NAME} is not the file record 2 (2026-12-01T10:02:00Z) holds: it was "
        "edited or replaced after that run"
    )


def test_no_history_is_no_verdict(tmp_path: Path) -> None:
    with pytest.raises(NoHistory, match="no complete run wrote evidence there"):
        verify(tmp_path, EVIDENCE_NAME)


def test_the_command_says_it_with_its_exit_code(three_runs: Path, tmp_path: Path) -> None:
    def command(folder: Path) -> tuple[int, str]:
        done = run_python("-m", "rlsguard.cli", "evidence", "verify", str(folder), cwd=folder)
        return done.returncode, done.stdout + done.stderr

    code, said = command(three_runs)
    assert (code, said.split(":")[0]) == (0, "rlsguard"), said
    assert "the evidence holds: 3 record(s)" in said
    (three_runs / EVIDENCE_NAME).write_text("{}")
    code, said = command(three_runs)
    assert code == 1, said
    assert "the evidence does NOT hold: rlsguard-evidence.json is not the file record 3" in said
    empty = tmp_path / "empty"
    empty.mkdir()
    code, said = command(empty)
    assert code == 2, said
    assert f"rlsguard: error: no {HISTORY_NAME} in {empty}" in said


def outputs(folder: Path) -> list[Path]:
    return [folder / REPORT, folder / EVIDENCE_NAME, folder / "rlsguard-junit.xml"]


def test_an_incomplete_run_goes_beside_the_last_complete_one(tmp_path: Path) -> None:
    a_run(tmp_path, 1)
    (tmp_path / "rlsguard-junit.xml").write_text("<testsuites>complete</testsuites>")
    kept = KeptEvidence(outputs(tmp_path), tmp_path / EVIDENCE_NAME)
    kept.set_aside()
    for path in outputs(tmp_path):  # the interrupted run writes its own files
        path.write_text('{"complete": false}')
    kept.settle(complete=False)
    assert (tmp_path / REPORT).read_text() == "<html>run 1</html>"
    assert json.loads((tmp_path / EVIDENCE_NAME).read_text())["complete"] is True
    assert (tmp_path / "rlsguard-junit.xml").read_text() == "<testsuites>complete</testsuites>"
    for path in outputs(tmp_path):
        assert beside(path).read_text() == '{"complete": false}'
    assert verify(tmp_path, EVIDENCE_NAME) == (1, None)  # still the complete run's files

    kept = KeptEvidence(outputs(tmp_path), tmp_path / EVIDENCE_NAME)
    kept.set_aside()
    a_run(tmp_path, 2)  # a complete run replaces it, and the incomplete files go
    kept.settle(complete=True)
    assert not any(beside(path).exists() for path in outputs(tmp_path))
    assert (tmp_path / REPORT).read_text() == "<html>run 2</html>"


def test_a_run_that_never_started_says_so_beside_the_last_complete_one(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.rlsguard]\nmigration_timeout = 3\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    a_run(reports, 1)
    done = run_python("-m", "rlsguard.cli", "check", "--project", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "migration_timeout in " in done.stderr
    said = json.loads(beside(reports / EVIDENCE_NAME).read_text())
    assert said["complete"] is False
    assert said["incomplete"].startswith("the run did not start: migration_timeout in ")
    assert verify(reports, EVIDENCE_NAME) == (1, None)  # the complete run's files, untouched


def pem_pair(folder: Path, name: str) -> tuple[str, Path]:
    """A fresh Ed25519 key: its private PEM text, and the path of its public PEM file."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = folder / f"{name}.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_signed_records_hold_only_for_their_key(tmp_path: Path) -> None:
    runs, keys = tmp_path / "runs", tmp_path / "keys"
    runs.mkdir()
    keys.mkdir()
    private, public = pem_pair(keys, "ours")
    _other_private, other_public = pem_pair(keys, "theirs")
    (keys / "ours.pem").write_text(private)
    for number, given in ((1, private), (2, str(keys / "ours.pem"))):  # PEM text, or a path
        evidence = {
            "environment": {"Finished (UTC)": f"t{number}"},
            "summary": {"pass": number},
        }
        (runs / EVIDENCE_NAME).write_text(json.dumps(evidence))
        append_record(runs, evidence, [runs / EVIDENCE_NAME], signing_key({SIGNING_KEY_ENV: given}))
    assert verify(runs, EVIDENCE_NAME, public_key(public)) == (2, None)
    held, problem = verify(runs, EVIDENCE_NAME, public_key(other_public))
    assert held == 0
    assert problem is not None
    assert problem.startswith("record 1 is signed by key ")
    # a record rewritten with a consistent chain and files still breaks its signature
    lines = records_of(runs)
    last = json.loads(lines[-1])
    last["counts"] = {"pass": 99}
    rewrite(runs, [lines[0], json.dumps(last, sort_keys=True)])
    held, problem = verify(runs, EVIDENCE_NAME, public_key(public))
    assert (held, problem) == (1, "record 2 (t2) does not match its signature: it was edited")


def test_with_a_public_key_an_unsigned_record_does_not_hold(three_runs: Path) -> None:
    _private, public = pem_pair(three_runs, "ours")
    assert verify(three_runs, EVIDENCE_NAME) == (3, None)  # the chain alone holds
    held, problem = verify(three_runs, EVIDENCE_NAME, public_key(public))
    assert (held, problem) == (0, "record 1 (2026-12-01T10:01:00Z) is not signed")


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("/nowhere/key.pem", "is neither PEM text nor a readable file"),
        (
            "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
            "not an unencrypted PEM",
        ),
        ("rsa", "holds a RSAPrivateKey, not an Ed25519 key"),
    ],
    ids=["missing-file", "not-a-key", "not-ed25519"],
)
def test_a_signing_key_that_cannot_sign_is_refused(tmp_path: Path, given: str, said: str) -> None:
    if given == "rsa":
        given = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
    with pytest.raises(ConfigError, match=said):
        signing_key({SIGNING_KEY_ENV: given})
    assert signing_key({}) is None


@pytest.mark.slow
def test_a_signed_check_run_verifies_with_its_public_key(
    tmp_path: Path, rlsguard_server: Server
) -> None:
    """The whole way: ``rlsguard check`` signs with the key the environment names (a path
    relative to where it was started); the command checks it, and says so; without the
    key it says the signatures were not checked."""
    private, public = pem_pair(tmp_path, "ci")
    (tmp_path / "ci.pem").write_text(private)
    folder = tmp_path / "reports"
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), "--report", str(folder / REPORT), *FAST,
        "--project", str(HARDENED_PROJECT), cwd=tmp_path, env={SIGNING_KEY_ENV: "ci.pem"},
    )  # fmt: skip
    assert code == 0, output
    assert "signature" in json.loads(records_of(folder)[-1])

    def command(*extra: str) -> tuple[int, str]:
        done = run_python(
            "-m", "rlsguard.cli", "evidence", "verify", str(folder), *extra, cwd=tmp_path
        )
        return done.returncode, done.stdout + done.stderr

    code, said = command("--public-key", str(public))
    assert code == 0, said
    assert "each signed by key " in said
    code, said = command()
    assert code == 0, said
    assert "signatures not checked (give --public-key)" in said
    _other, theirs = pem_pair(tmp_path, "theirs")
    code, said = command("--public-key", str(theirs))
    assert code == 1, said
    code, said = command("--public-key", str(tmp_path / "missing.pem"))
    assert code == 2, said
    assert "cannot read the public key" in said
