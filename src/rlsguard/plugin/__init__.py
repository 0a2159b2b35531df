"""rlsguard's pytest plugin (the ``pytest11`` entry point ``rlsguard.plugin``).

pytest registers this module: its hooks and fixtures are the ones of ``hooks`` and
``fixtures``. The items (``items``) and the evidence recorder (``evidence``) are
registered by the hooks.
"""

from __future__ import annotations

from rlsguard.errors import IsolationWarning, RlsguardWarning
from rlsguard.plugin.fixtures import (
    rlsguard_clone,
    rlsguard_connection,
    rlsguard_database_at,
    rlsguard_database_url,
    rlsguard_empty_database,
    rlsguard_engine,
    rlsguard_migrations,
    rlsguard_run,
    rlsguard_server,
    rlsguard_settings,
)
from rlsguard.plugin.hooks import (
    ProvidedServer,
    pytest_addoption,
    pytest_configure,
    pytest_fixture_setup,
    pytest_generate_tests,
    pytest_pycollect_makeitem,
    pytest_pyfunc_call,
    pytest_runtest_call,
    pytest_runtest_protocol,
    pytest_terminal_summary,
    pytest_unconfigure,
)

__all__ = [
    "IsolationWarning",
    "ProvidedServer",
    "RlsguardWarning",
    "pytest_addoption",
    "pytest_configure",
    "pytest_fixture_setup",
    "pytest_generate_tests",
    "pytest_pycollect_makeitem",
    "pytest_pyfunc_call",
    "pytest_runtest_call",
    "pytest_runtest_protocol",
    "pytest_terminal_summary",
    "pytest_unconfigure",
    "rlsguard_clone",
    "rlsguard_connection",
    "rlsguard_database_at",
    "rlsguard_database_url",
    "rlsguard_empty_database",
    "rlsguard_engine",
    "rlsguard_migrations",
    "rlsguard_run",
    "rlsguard_server",
    "rlsguard_settings",
]
