"""The ``rlsguard`` command (console script ``rlsguard.cli:main``): ``commands`` parses
and dispatches, ``check`` runs the main job through pytest, ``base_ref`` builds the
gate's baseline from another git ref, ``exits`` names the exit statuses."""

from __future__ import annotations

from rlsguard.cli.commands import main

__all__ = ["main"]
