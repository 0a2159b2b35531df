"""The docs of the rules resolve: docs/attacks.md is the catalogue the registries cite,
``rlsguard explain`` takes ids and names and says what a rule proves, how to reproduce it
and how to fix it, and ``rlsguard checks`` fits its width and pipes as plain text."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from rich.console import Console

from rlsguard.analyzer import fix_section
from rlsguard.checks import all_checks
from rlsguard.cli.commands import main
from rlsguard.probes import all_probes
from rlsguard.registration import PROBE_IDS, Rule
from rlsguard.report.rules import (
    ATTACKS_DOC,
    close_to,
    explain,
    explanation,
    named,
    print_checks,
)
from tests.conftest import PROJECT, run_python

RULES: list[Rule] = [*all_checks(), *all_probes()]
BY_ID = {rule.id: rule for rule in RULES}
ATTACKS = (PROJECT / ATTACKS_DOC).read_text()
PAGES = {"checks.md": "RG", "probes.md": "RP"}  # docs/ pages with each family's table
BOX_DRAWING = re.compile("[\u2500-\u257f]")


def attack_rows() -> dict[int, str]:
    """docs/attacks.md's table: its last cell (the rules that catch it), by number."""
    rows = re.findall(r"^\| (\d+) \|.*\| ([^|]+) \|$", ATTACKS, flags=re.MULTILINE)
    return {int(number): caught_by for number, caught_by in rows}


def cited() -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for rule in RULES:
        for number in rule.attacks:
            found.setdefault(number, set()).add(rule.id)
    return found


def test_every_attack_a_rule_cites_has_a_row_listing_exactly_its_rules() -> None:
    rows = attack_rows()
    assert list(rows) == sorted(rows)
    assert set(rows) == set(cited())
    for number, caught_by in rows.items():
        listed = re.findall(r"\[(R[GP]\d{3})\]", caught_by)
        assert sorted(listed) == sorted(cited()[number]), f"row {number}"


def test_the_rules_an_attack_row_lists_link_to_their_table_under_their_names() -> None:
    references = dict(re.findall(r"^\[(\w+)\]: (\S+)$", ATTACKS, flags=re.MULTILINE))
    for caught_by in attack_rows().values():
        for rule_id, reference, name in re.findall(
            r"\[(R[GP]\d{3})\]\[(\w+)\] `([a-z-]+)`", caught_by
        ):
            assert name == BY_ID[rule_id].name, rule_id
            file, _, anchor = references[reference].partition("#")
            assert PAGES.get(file) == rule_id[:2], reference
            page = (PROJECT / "docs" / file).read_text()
            headings = {github_anchor(line) for line in re.findall(r"^#+ (.+)$", page, re.M)}
            assert anchor in headings, reference
            assert re.search(rf"^\| {rule_id} \| {name} \|", page, re.MULTILINE), rule_id


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_probe_ids_a_static_scan_knows_are_the_registered_probes() -> None:
    assert {probe.id for probe in all_probes()} == PROBE_IDS


def test_only_configured_rules_cite_no_attack() -> None:
    assert [rule.id for rule in RULES if not rule.attacks] == ["RG405"]
    assert "RG405 `append-only`" in ATTACKS


def test_nothing_points_at_the_catalogue_under_its_old_name() -> None:
    old = "ATTACKS" + ".md"
    files = [
        PROJECT / "README.md",
        *(PROJECT / "docs").glob("*.md"),
        *(PROJECT / "src").rglob("*.py"),
        *(PROJECT / "tests").rglob("*.py"),
    ]
    assert [str(path) for path in files if old in path.read_text()] == []


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_rule_explains_every_section(rule: Rule) -> None:
    sections = explanation(rule).sections()
    assert list(sections) == ["What it proves", "How to reproduce", "How to fix"]
    assert all(text.strip() for text in sections.values()), sections
    told = explain(rule)
    assert told.startswith(f"{rule.id} {rule.name} ({rule.severity.value}, ")
    assert all(f"\n{title}:\n{text}\n" in told for title, text in sections.items())


def test_a_probe_fix_is_its_checks_unless_its_doc_has_its_own() -> None:
    moves = BY_ID["RP105"]
    assert explanation(moves).fix == f"Fix (RG302):\n{fix_section(BY_ID['RG302'].doc)}"
    own = replace(moves, doc=f"{moves.doc}\n\nFix: give the column a default.\n\n    ALTER x;")
    told = explanation(own)
    assert told.fix == "give the column a default.\n\n    ALTER x;"
    assert "Fix:" not in told.reproduce
    assert "give the column" not in told.reproduce


def test_a_fix_keeps_its_sql_indented_as_written() -> None:
    fix = explanation(BY_ID["RG302"]).fix
    assert fix.startswith("    ALTER POLICY documents_tenant ON documents WITH CHECK\n        (")


def test_a_fix_with_a_condition_keeps_it_and_nothing_before() -> None:
    invoker = BY_ID["RG501"]
    assert "Fix (PostgreSQL 15+):" in invoker.doc
    fix = explanation(invoker).fix
    assert fix.startswith("(PostgreSQL 15+) let the view check RLS as the caller.\n\n    ALTER")
    assert fix_section(invoker.doc) == fix
    assert "What leaks" not in fix
    assert "Fix" not in explanation(invoker).reproduce


def test_a_check_explains_from_its_doc_and_a_probe_adds_its_premise_and_seed() -> None:
    unset = explanation(BY_ID["RG305"])
    assert unset.proves.startswith("With the tenant setting unset or empty")
    assert "What leaks: every tenant's rows" in unset.proves
    assert unset.reproduce.startswith("query before (or without) setting the tenant")
    assert "current_setting(x, true) IS NULL" not in unset.fix
    read = explanation(BY_ID["RP101"])
    assert "Premise (an example counts only when it held): rows the probe made" in read.proves
    assert read.reproduce.startswith("Rows of several tenants; as one of them, SELECT")
    assert "\n    rlsguard check --seed N -- -k <table>-cross-tenant-read\n" in read.reproduce
    assert "Premise" not in explain(BY_ID["RG305"])


@pytest.mark.parametrize(
    ("word", "ids"),
    [
        ("rls-enabled", ["RG101"]),
        ("RLS-Enabled", ["RG101"]),
        ("rp101", ["RP101"]),
        ("RP101", ["RP101"]),
        ("cross-tenant-read", ["RP101"]),
        (" rg305 ", ["RG305"]),
        ("admin-bypass", ["RG601", "RP109"]),  # a check and a probe share the name
        ("rls", []),
    ],
)
def test_a_rule_is_named_by_its_id_or_name_in_any_case(word: str, ids: list[str]) -> None:
    assert [rule.id for rule in named(RULES, word)] == ids


def test_close_matches_of_a_misspelt_word() -> None:
    assert close_to(RULES, "rls-enabeld") == ["RG101 rls-enabled"]
    near = close_to(RULES, "RP10")
    assert near
    assert all(match.startswith("RP1") for match in near)
    assert close_to(RULES, "nothing-like-it") == []


def test_explain_takes_names_and_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "rls-enabled"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RG101 rls-enabled (error, check)\nAttacks (docs/attacks.md): 1, 16, 21")
    assert main(["explain", "Cross-Tenant-Read"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RP101 cross-tenant-read (error, probe)")
    assert "\nHow to fix:\nFix (RG101):\n" in out
    assert main(["explain", "admin-bypass"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RG601 admin-bypass (error, check)")
    assert "\nRP109 admin-bypass (error, probe)" in out


def test_explain_refuses_an_unknown_word_with_close_matches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "cross-tenant-raed"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        "rlsguard: error: no check or probe has the id or name 'cross-tenant-raed'; "
        "close matches: RP101 cross-tenant-read, "
    )
    assert "`rlsguard checks` lists them all" in captured.err
    assert main(["explain", "RG999x"]) == 2
    assert "close matches" not in capsys.readouterr().err


def checks_lines(out: str) -> list[str]:
    lines = out.splitlines()
    for rule in RULES:
        assert any(line.startswith(f"{rule.id} ") and rule.name in line for line in lines), rule.id
    return lines


@pytest.mark.parametrize("columns", ["100", "72"])
def test_checks_piped_is_plain_text_as_wide_as_columns(
    columns: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert main(["checks"]) == 0
    lines = checks_lines(capsys.readouterr().out)
    assert max(len(line) for line in lines) <= int(columns)
    assert not BOX_DRAWING.search("\n".join(lines))
    assert "\x1b[" not in "\n".join(lines)
    assert all(line == line.rstrip() for line in lines)


def test_checks_through_a_pipe_without_columns_fits_100() -> None:
    done = run_python("-m", "rlsguard.cli", "checks", env={"COLUMNS": ""})
    assert done.returncode == 0, done.stderr
    lines = checks_lines(done.stdout)
    assert max(len(line) for line in lines) <= 100
    assert not BOX_DRAWING.search(done.stdout)
    assert (
        lines[-1] == f"attacks: rows of {ATTACKS_DOC}; `rlsguard explain ID|NAME` tells one in full"
    )


def test_checks_on_a_terminal_is_a_table_as_wide_as_the_terminal() -> None:
    screen = io.StringIO()
    print_checks(RULES, Console(file=screen, force_terminal=True, color_system=None, width=100))
    lines = screen.getvalue().splitlines()
    assert BOX_DRAWING.search(lines[0])
    assert max(len(line) for line in lines) <= 100
    assert any(line.startswith("│ RG101 │ rls-enabled") for line in lines)
