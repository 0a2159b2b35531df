"""``rlsguard check``'s first step: the server's start (a local server's ``initdb``) is
set going before the suite's machinery (pytest, Alembic, SQLAlchemy, Hypothesis) is
imported, so the two overlap; whatever was begun is stopped on every way out. A project
folder or config that will be refused begins nothing: ``run_check`` says why."""

from __future__ import annotations

import argparse
import importlib

from rlsguard.config import find_project_root, load_settings
from rlsguard.errors import RlsguardError
from rlsguard.options import command_overrides
from rlsguard.server.process import interruptible, signals_deferred
from rlsguard.server.sources import Provisioning, request_from


def run_check_command(arguments: argparse.Namespace) -> int:
    overrides = command_overrides(arguments)
    request = request_from(
        arguments.backend, arguments.dsn, arguments.pg_image, arguments.pg_version
    )
    with interruptible():
        provisioning = Provisioning(request)
        if _config_loads(arguments, overrides):
            provisioning.begin()
        try:
            # a Ctrl-C raised inside an import can come out as another error (one inside a
            # class's creation is a RuntimeError): it waits for the import to end
            with signals_deferred():
                check = importlib.import_module("rlsguard.cli.check")
            code: int = check.run_check(arguments, overrides, provisioning)
            return code
        finally:
            provisioning.abandon()  # begun and never handed over: refused later on


def _config_loads(arguments: argparse.Namespace, overrides: dict[str, object]) -> bool:
    try:
        load_settings((arguments.project or find_project_root()).resolve(), overrides)
    except RlsguardError:
        return False
    return True
