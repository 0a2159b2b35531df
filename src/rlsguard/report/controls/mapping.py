"""The mapping from controls to evidence: the one shipped (``mapping.toml``), a project's
own files in the same format, and the frameworks a report shows."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rlsguard.checks import all_checks
from rlsguard.errors import ConfigError
from rlsguard.probes import all_probes

SHIPPED = Path(__file__).with_name("mapping.toml")
# the migration tests of rlsguard.suite, by name without "test_"
MIGRATION_EVIDENCE = (
    "single_head",
    "upgrade_from_empty_to_head",
    "revision_roundtrip",
    "downgrade_to_base_leaves_nothing",
    "models_match_migrations",
)
_FRAMEWORK_KEYS = {"name", "key", "source", "control"}
_CONTROL_KEYS = {"id", "title", "rationale", "evidence"}


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    rationale: str
    evidence: tuple[str, ...]  # rule ids and migration test names


@dataclass(frozen=True)
class Framework:
    name: str
    key: str  # a short token: soc2, nist80053
    source: str
    controls: tuple[Control, ...]


def known_evidence() -> set[str]:
    return {rule.id for rule in [*all_checks(), *all_probes()]} | set(MIGRATION_EVIDENCE)


def read_mapping(path: Path) -> list[Framework]:
    """The frameworks a mapping file declares; every evidence id must exist."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the control mapping {path}: {error.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"the control mapping {path} is not valid TOML: {error}") from None
    frameworks = document.get("framework")
    if set(document) != {"framework"} or not isinstance(frameworks, list):
        raise ConfigError(f"the control mapping {path} must hold [[framework]] tables only")
    known = known_evidence()
    return [
        _framework(table, f"{path}: framework {n + 1}", known) for n, table in enumerate(frameworks)
    ]


def _framework(table: Any, where: str, known: set[str]) -> Framework:
    _expect_keys(table, _FRAMEWORK_KEYS, {"name", "key", "control"}, where)
    controls = table["control"]
    if not isinstance(controls, list) or not controls:
        raise ConfigError(f"{where} needs at least one [[framework.control]]")
    where = f"{where} ({table['name']})"
    return Framework(
        name=_text(table["name"], "name", where),
        key=_text(table["key"], "key", where),
        source=_text(table.get("source", ""), "source", where),
        controls=tuple(
            _control(control, f"{where}, control {n + 1}", known)
            for n, control in enumerate(controls)
        ),
    )


def _control(table: Any, where: str, known: set[str]) -> Control:
    _expect_keys(table, _CONTROL_KEYS, _CONTROL_KEYS, where)
    evidence = table["evidence"]
    if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
        raise ConfigError(f"{where}: evidence must be a list of check and probe ids")
    unknown = [item for item in evidence if item not in known]
    if unknown:
        raise ConfigError(
            f"{where} ({table['id']}) names evidence rlsguard does not have: "
            f"{', '.join(unknown)}; known: checks RG..., probes RP... (rlsguard checks), "
            f"and the migration tests {', '.join(MIGRATION_EVIDENCE)}"
        )
    return Control(
        id=_text(table["id"], "id", where),
        title=_text(table["title"], "title", where),
        rationale=_text(table["rationale"], "rationale", where),
        evidence=tuple(evidence),
    )


def _expect_keys(table: Any, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown, missing = sorted(set(table) - allowed), sorted(required - set(table))
    if unknown or missing:
        said = [
            f"unknown {', '.join(unknown)}" if unknown else "",
            f"missing {', '.join(missing)}" if missing else "",
        ]
        raise ConfigError(
            f"{where}: {'; '.join(filter(None, said))} (keys: {', '.join(sorted(allowed))})"
        )


def _text(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, got {value!r}")
    return value


def merged(groups: Iterable[Sequence[Framework]]) -> list[Framework]:
    """Frameworks of several files in order; a later file's control with the id of an
    earlier one's (same framework name) replaces it, new ones are added."""
    by_name: dict[str, Framework] = {}
    for frameworks in groups:
        for framework in frameworks:
            earlier = by_name.get(framework.name)
            if earlier is None:
                by_name[framework.name] = framework
                continue
            controls = {control.id: control for control in earlier.controls}
            controls.update({control.id: control for control in framework.controls})
            by_name[framework.name] = replace(
                earlier,
                source=framework.source or earlier.source,
                controls=tuple(controls.values()),
            )
    return list(by_name.values())


@dataclass(frozen=True)
class ControlMapping:
    shown: list[Framework]
    left_out: list[str]  # names of the frameworks `frameworks` did not pick


def frameworks_for(
    root: Path, mapping_files: Sequence[str], chosen: Sequence[str]
) -> ControlMapping:
    """The shipped mapping and the project's files (relative to ``root``), limited to the
    ``chosen`` frameworks (by name or key, any case; none chosen: all of them)."""
    everything = merged([read_mapping(SHIPPED), *(read_mapping(root / f) for f in mapping_files)])
    if not chosen:
        return ControlMapping(everything, [])
    names = _by_word(everything)
    unknown = [word for word in chosen if word.strip().lower() not in names]
    if unknown:
        known = ", ".join(f"{f.name} ({f.key})" for f in everything)
        raise ConfigError(
            f"frameworks in [tool.rlsguard] names {', '.join(map(repr, unknown))}, which no "
            f"control mapping has; known (name or key): {known}"
        )
    wanted = {names[word.strip().lower()].name for word in chosen}
    return ControlMapping(
        [framework for framework in everything if framework.name in wanted],
        [framework.name for framework in everything if framework.name not in wanted],
    )


def _by_word(frameworks: Sequence[Framework]) -> Mapping[str, Framework]:
    return {
        word.lower(): framework
        for framework in frameworks
        for word in (framework.name, framework.key)
    }
