"""The README's two commands are real: .ci/run runs the test command verbatim, and
the documented options, fixtures, checks and probes are the ones that exist."""

from __future__ import annotations

import argparse
import re

from rlsguard import plugin
from rlsguard.checks import all_checks
from rlsguard.cli.commands import build_parser
from rlsguard.options import CHECK, OPTIONS, PYTEST, SCAN, Option
from rlsguard.probes import all_probes
from tests.conftest import PROJECT, documentation

README = (PROJECT / "README.md").read_text()
DOCS = documentation()  # the README and docs/: tables and usages may be on any page


def command_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```sh\n(.+)\n```", README)
    assert match, f"no command after <!-- {marker} --> in README.md"
    return match.group(1)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (PROJECT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == command_after("test-command")


def test_the_main_command_installs_and_runs_rlsguard_check() -> None:
    main = command_after("main-command")
    assert "pip install" in main
    assert main.endswith(".venv/bin/rlsguard check")


def documented_usages() -> dict[str, set[str]]:
    """The flags the README's usage block shows, per subcommand."""
    block = re.search(r"```\n(rlsguard check .+?)```", DOCS, flags=re.DOTALL)
    assert block
    usages: dict[str, set[str]] = {}
    command = ""
    for line in block.group(1).splitlines():
        if line.startswith("rlsguard "):
            command = line.split()[1]
            usages[command] = set()
        usages[command] |= set(re.findall(r"--[a-z-]+", line))
    return usages


def test_documented_options_are_exactly_the_real_ones() -> None:
    subcommands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    documented = documented_usages()
    assert set(documented) == set(subcommands)

    def options_of(parser: argparse.ArgumentParser) -> set[str]:
        """Its options and those of its own subcommands (``evidence verify``)."""
        found = {option for action in parser._actions for option in action.option_strings}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for nested in action.choices.values():
                    found |= options_of(nested)
        return found

    for name, parser in subcommands.items():
        known = options_of(parser)
        real = {option for option in known if option.startswith("--") and option != "--help"}
        assert documented[name] == real, name


def test_documented_fixtures_exist() -> None:
    documented = set(re.findall(r"\| `(rlsguard_[a-z_]+)` \|", DOCS))
    assert documented
    assert all(callable(getattr(plugin, name, None)) for name in documented)


def rule_rows(prefix: str) -> dict[str, list[str]]:
    """The docs' table rows whose first cell is a rule id starting with ``prefix``."""
    rows = re.findall(rf"^\| ({prefix}\d+) \|(.+)\|$", DOCS, flags=re.MULTILINE)
    return {rule_id: [cell.strip() for cell in rest.split("|")] for rule_id, rest in rows}


def test_the_check_table_is_the_registry() -> None:
    rows = rule_rows("RG")
    checks = all_checks()
    assert sorted(rows) == [check.id for check in checks]
    for check in checks:
        name, severity, catches = rows[check.id]
        assert name == check.name, check.id
        assert severity.split()[0] == check.severity.value, check.id
        attacks = re.search(r"\(([\d, ]+)\)$", catches)
        assert (tuple(int(n) for n in attacks.group(1).split(",")) if attacks else ()) == (
            check.attacks
        ), check.id


def test_the_probe_table_is_the_registry() -> None:
    rows = rule_rows("RP")
    probes = all_probes()
    assert sorted(rows) == [probe.id for probe in probes]
    for probe in probes:
        assert rows[probe.id][0] == probe.name, probe.id


def option_rows() -> list[str]:
    """The options table (docs/configuration.md) as it must read: one row per entry of OPTIONS."""

    def shown(flag: str, option: Option) -> str:
        value = option.metavar or ("{" + ",".join(option.choices) + "}" if option.choices else "")
        return f"`{flag} {value}`" if value else f"`{flag}`"

    rows = ["| `rlsguard check` | `rlsguard scan` | pytest | what |", "|---|---|---|---|"]
    for option in OPTIONS:
        commands = [
            shown(f"--{option.flag}", option) if command in option.commands else ""
            for command in (CHECK, SCAN)
        ]
        pytest_flag = shown(option.pytest_flag, option) if PYTEST in option.commands else ""
        if option.bridge_flag and not pytest_flag:
            pytest_flag = shown(option.bridge_flag, option)
        help = option.help.replace("|", "/")
        rows.append(f"| {commands[0]} | {commands[1]} | {pytest_flag} | {help} |")
    return rows


def test_the_options_table_is_the_option_table() -> None:
    block = DOCS.split("<!-- options -->\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines() == option_rows(), "\n".join(option_rows())
