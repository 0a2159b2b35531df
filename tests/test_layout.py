"""The shape of src/rlsguard: the layers import-linter holds it to (and that it would
catch a break of them), the size of the package root and of modules, and the README's
overview of the tree."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from rlsguard.cli import commands
from tests.conftest import PROJECT

PACKAGE = PROJECT / "src" / "rlsguard"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
README = (PROJECT / "docs" / "development.md").read_text()  # the module overview


def lint_imports(project: Path, source: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the contracts of ``project``'s pyproject.toml, on the package
    found under ``source``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    done = lint_imports(PROJECT, PROJECT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the project's contracts and package to break."""
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PACKAGE, tmp_path / "src" / "rlsguard", ignore=shutil.ignore_patterns("*.pyc"))
    return tmp_path


def add_import(module: Path, statement: str) -> None:
    text = module.read_text()
    module.write_text(text.replace("\nfrom ", f"\n{statement}\nfrom ", 1))


@pytest.mark.parametrize(
    ("importer", "statement", "broken"),
    [
        # the catalog reads the database; it must not reach up to the run that uses it
        ("schema/catalog.py", "import rlsguard.run", "rlsguard is layered"),
        # probes and checks are siblings that stay apart
        ("checks/rls.py", "import rlsguard.probes.moves", "rlsguard is layered"),
        # a circle inside one package
        ("probes/rows.py", "import rlsguard.probes.runner", "no import circles"),
    ],
)
def test_the_contracts_catch_a_broken_layout(
    package_copy: Path, importer: str, statement: str, broken: str
) -> None:
    add_import(package_copy / "src" / "rlsguard" / importer, statement)
    done = lint_imports(package_copy, package_copy / "src")
    assert done.returncode == 1, done.stdout
    assert f"{broken}" in done.stdout
    assert re.search(rf"{re.escape(broken)}[^\n]* BROKEN", done.stdout), done.stdout


def modules_in(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob("*.py") if path.name != "__init__.py"}


def test_the_package_root_holds_at_most_ten_modules() -> None:
    assert len({*modules_in(PACKAGE), "__init__"}) <= 10


def test_no_module_is_longer_than_500_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): length
        for path in PACKAGE.rglob("*.py")
        if (length := len(path.read_text().splitlines())) > 500
    }
    assert long == {}


def overview() -> list[tuple[int, str, set[str]]]:
    """The README's module overview: (layer, where, modules named) per row."""
    block = README.split("<!-- module-overview -->\n", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in block.splitlines()[2:]:
        layer, where, _what, modules = (cell.strip() for cell in line.strip("|").split("|"))
        named = set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", modules)))
        rows.append((int(layer), where.strip("`"), named))
    return rows


def test_the_readme_overview_names_every_module_and_package() -> None:
    rows = overview()
    listed = {where for _layer, where, _modules in rows}
    packages = {
        str(path.parent.relative_to(PACKAGE)) + "/"
        for path in PACKAGE.rglob("__init__.py")
        if path.parent != PACKAGE
    }
    assert listed == packages | {f"{name}.py" for name in modules_in(PACKAGE)}
    for _layer, where, modules in rows:
        if where.endswith("/"):
            assert modules == modules_in(PACKAGE / where), where


def test_the_readme_overview_lists_the_contracts_layers_in_order() -> None:
    contracts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")["layers"]
    expected = [{name.strip() for name in layer.split("|")} for layer in layers]
    found: dict[int, set[str]] = {}
    for layer, where, _modules in overview():
        top = where.split("/")[0].removesuffix(".py")
        found.setdefault(layer, set()).add(top)
    assert [found[layer] for layer in sorted(found)] == expected


def test_the_public_entry_points_stay_where_other_projects_find_them() -> None:
    scripts = entry_points(group="console_scripts", name="rlsguard")
    assert [point.value for point in scripts] == ["rlsguard.cli:main"]
    assert next(iter(scripts)).load() is commands.main
    plugins = entry_points(group="pytest11", name="rlsguard")
    assert [point.value for point in plugins] == ["rlsguard.plugin"]
    plugin = next(iter(plugins)).load()
    assert callable(plugin.pytest_addoption)
    assert callable(plugin.rlsguard_connection)
    suite = importlib.import_module("rlsguard.suite")
    assert {name for name in suite.__all__ if name.startswith("test_")} == set(suite.__all__)
    assert all(hasattr(suite, name) for name in suite.__all__)
