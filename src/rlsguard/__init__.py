"""rlsguard: prove that a PostgreSQL schema keeps its tenants apart."""

# the one place the version is written (pyproject.toml reads it: [tool.setuptools.dynamic])
__version__ = "0.1.0"

__all__ = ["__version__"]
