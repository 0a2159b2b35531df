"""Wires rlsguard's pytest plugin to this repository.

The plugin itself is loaded through its ``pytest11`` entry point and reads
``[tool.rlsguard]`` from pyproject.toml, which names ``alembic.ini`` and so the
platform's migrations; ``pythonpath = ["migrations"]`` makes the platform's models
importable as ``platform_models``. Here: the Hypothesis profiles and pytester.
"""

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester", "tests.corpus.harness"]

# "ci" is Hypothesis's own profile, loaded automatically when CI is set: derandomized,
# no example database, no deadline. "dev" explores more: --hypothesis-profile dev.
settings.register_profile(
    "dev",
    parent=settings.get_profile("default"),
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
