"""What the plugin is handed: ``rlsguard check``'s server, an xdist worker's share of its
controller's session (the workerinput keys), and the project folder the run names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from rlsguard.server.base import Server

SHARED = "rlsguard_shared"  # the keys in a worker's workerinput
WORKERS = "rlsguard_workers"  # set for every worker of a controller that uses rlsguard


class ProvidedServer:
    """Hands an already started server to the plugin (``rlsguard check`` does this)."""

    def __init__(self, server: Server) -> None:
        self.server = server


def provided_server(config: pytest.Config) -> ProvidedServer | None:
    return next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if isinstance(plugin, ProvidedServer)
        ),
        None,
    )


def project_folder(config: pytest.Config) -> Path:
    """``--rlsguard-project``, else pytest's rootdir."""
    folder = config.getoption("rlsguard_project")
    return Path(folder).resolve() if folder else config.rootpath
