"""``rlsguard check``'s first step: the server's start (a local server's ``initdb``) is
set going before the suite's machinery (pytest, Alembic, SQLAlchemy, Hypothesis) is
imported, so the two overlap; whatever was begun is stopped on every way out."""

from __future__ import annotations

import argparse
import importlib

from rlsguard.options import command_overrides
from rlsguard.server.process import interruptible
from rlsguard.server.sources import Provisioning, request_from


def run_check_command(arguments: argparse.Namespace) -> int:
    request = request_from(
        arguments.backend, arguments.dsn, arguments.pg_image, arguments.pg_version
    )
    with interruptible():
        provisioning = Provisioning(request).begin()
        try:
            check = importlib.import_module("rlsguard.cli.check")
            code: int = check.run_check(arguments, command_overrides(arguments), provisioning)
            return code
        finally:
            provisioning.abandon()  # begun and never handed over: a refused config
