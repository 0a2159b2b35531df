"""Hypothesis runs derandomized, with no example database, when CI is set (its own
"ci" profile, which nothing here overrides), and a "dev" profile explores more."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests.conftest import run_python


def profile_of_a_run(*options: str, ci: bool) -> str:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci:
        env["CI"] = "true"
    result = run_python(
        "-m", "pytest", "--co", "-v", "-p", "no:cacheprovider", "tests/test_urls.py", *options,
        env=env, inherit_env=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("hypothesis profile")]
    return line


@pytest.mark.slow
def test_ci_loads_the_ci_profile() -> None:
    assert profile_of_a_run(ci=True).startswith("hypothesis profile 'ci'")


@pytest.mark.slow
def test_dev_profile_on_request() -> None:
    assert profile_of_a_run("--hypothesis-profile", "dev", ci=False).startswith(
        "hypothesis profile 'dev'"
    )


def test_the_profiles_themselves() -> None:
    ci, dev, default = (settings.get_profile(name) for name in ("ci", "dev", "default"))
    assert ci.derandomize is True
    assert ci.database is None
    assert dev.max_examples > default.max_examples
    assert dev.derandomize is False
