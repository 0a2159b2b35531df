"""``rlsguard server list`` and ``rlsguard server fetch N``: which PostgreSQL servers this
machine can start, by major version, and getting the ones it cannot."""

from __future__ import annotations

import argparse
import sys

from rlsguard.cli.exits import EXIT_OK, EXIT_UNABLE
from rlsguard.config import SUPPORTED_MAJORS
from rlsguard.errors import BackendUnavailable, ProvisionError
from rlsguard.server.embedded import installed_wheels
from rlsguard.server.fetched import cached_binaries, fetch
from rlsguard.server.local import Binaries, discover_local_binaries


def every_binaries() -> list[tuple[str, Binaries]]:
    """Every server binaries folder, by backend, in the order rlsguard tries them."""
    try:
        local = discover_local_binaries()
    except ProvisionError:  # a PG_BINDIR that holds no server: shown by the local backend
        local = []
    found = [("local", binaries) for binaries in local]
    found += [("embedded", binaries) for _wheel, binaries in installed_wheels()]
    found += [("embedded", binaries) for binaries in cached_binaries()]
    return found


def run_server(arguments: argparse.Namespace) -> int:
    if arguments.action == "list":
        return _list()
    return _fetch(arguments.majors)


def _list() -> int:
    found = every_binaries()
    for backend, binaries in found:
        print(f"{backend:<9} {binaries.label()}")
    majors = {binaries.major() for _backend, binaries in found}
    missing = [str(major) for major in SUPPORTED_MAJORS if major not in majors]
    if missing:
        print(
            f"not here: PostgreSQL {', '.join(missing)} (rlsguard server fetch {' '.join(missing)})"
        )
    return EXIT_OK if found else EXIT_UNABLE


def _fetch(majors: list[int]) -> int:
    status = EXIT_OK
    for major in majors:
        try:
            binaries = fetch(major)
        except BackendUnavailable as error:
            print(f"rlsguard: error: PostgreSQL {major}: {error}", file=sys.stderr)
            status = EXIT_UNABLE
            continue
        print(f"PostgreSQL {binaries.release()}: {binaries.bindir}")
    return status
