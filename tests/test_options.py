"""One option table: what `rlsguard check` is given reaches the pytest run it starts, as
the same values, and every command and pytest takes the options the table says."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsguard.cli.commands import build_parser
from rlsguard.options import (
    CHECK,
    OPTIONS,
    PYTEST,
    SCAN,
    bridge,
    command_overrides,
    tenancy_overrides,
)

GIVEN = [
    "check",
    "--project", "/somewhere",
    "--dsn", "postgresql://u:p@127.0.0.1:5/db",
    "--revision", "r2",
    "--max-examples", "5",
    "--shrink-seconds", "0.5",
    "--seed", "3",
    "--fail-on", "any",
    "--app-role", "web",
    "--admin-role", "support",
    "--admin-role", "ops",
    "--schema", "crm",
]  # fmt: skip


def test_check_hands_its_options_to_pytest_as_the_same_values(pytester: pytest.Pytester) -> None:
    arguments = build_parser().parse_args(GIVEN)
    config = pytester.parseconfig(*bridge(arguments))
    assert config.getoption("rlsguard_project") == Path("/somewhere")
    assert config.getoption("rlsguard_dsn") == "postgresql://u:p@127.0.0.1:5/db"
    assert config.getoption("rlsguard_revision") == "r2"
    assert config.getoption("rlsguard_max_examples") == 5
    assert config.getoption("rlsguard_shrink_seconds") == 0.5
    assert config.getoption("hypothesis_seed") == "3"
    assert config.getoption("rlsguard_fail_on") == "any"
    from_pytest = tenancy_overrides(lambda option: config.getoption(option.pytest_key))
    assert from_pytest == command_overrides(arguments)
    assert from_pytest == {"app_role": "web", "admin_roles": ["support", "ops"], "schemas": ["crm"]}


def test_options_not_given_are_not_handed_on() -> None:
    handed = bridge(build_parser().parse_args(["check"]))
    assert not any(flag.startswith(("--rlsguard-dsn", "--rlsguard-app-role")) for flag in handed)
    assert "--rlsguard-shrink-seconds=2.0" in handed  # a default is a value too


def option_flags(parser: object) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [CHECK, SCAN])
def test_each_command_takes_the_options_the_table_gives_it(command: str) -> None:
    subcommands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    flags = option_flags(subcommands[command])
    for option in OPTIONS:
        assert (f"--{option.flag}" in flags) == (command in option.commands), option.flag


def test_pytest_takes_the_options_the_table_gives_it(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    for option in OPTIONS:
        known = True
        try:
            config.getoption(option.pytest_key)
        except ValueError:
            known = False
        assert known == (PYTEST in option.commands), option.flag


def test_a_bad_value_is_refused_the_same_way_by_both(pytester: pytest.Pytester) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["check", "--max-examples", "0"])
    with pytest.raises(pytest.UsageError, match="must be at least 1"):
        pytester.parseconfig("--rlsguard-max-examples=0")
    with pytest.raises(pytest.UsageError, match="a whole number is wanted, not 'two'"):
        pytester.parseconfig("--rlsguard-probe-processes=two")
