"""Errors rlsguard reports to a person: each message says what went wrong and how to fix it."""


class RlsguardError(Exception):
    """A failure to show as a message, without a traceback."""


class ConfigError(RlsguardError):
    """The ``[tool.rlsguard]`` table or a command-line flag is invalid."""


class ProvisionError(RlsguardError):
    """No PostgreSQL server could be provided or reached."""


class BackendUnavailable(ProvisionError):
    """One way of providing a server does not work on this machine; ``auto`` tries the next."""


class ServerGone(RlsguardError):
    """The connection to the server was lost: nothing after it can be judged, and nothing
    before it is a finding because of it."""

    def __init__(self, said: str) -> None:
        super().__init__(f"the server went away ({said}); the run is incomplete")


class DatabaseRefusalError(RlsguardError):
    """The database refused or cut short a statement of rlsguard's own."""


class MigrationError(RlsguardError):
    """An Alembic revision failed to apply."""

    def __init__(self, revision: str, direction: str, reason: str) -> None:
        self.revision = revision
        self.direction = direction
        self.reason = reason
        super().__init__(f"{direction} of revision {revision} failed: {reason}")


class RlsguardWarning(UserWarning):
    """Something in a test run that the person running it should know about."""


class IsolationWarning(RlsguardWarning):
    """A warning-level finding: reported, does not fail the run."""
