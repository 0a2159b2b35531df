"""rlsguard: prove that a PostgreSQL schema keeps its tenants apart."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rlsguard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
