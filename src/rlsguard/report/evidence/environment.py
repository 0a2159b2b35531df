"""The facts that pin a run's evidence: what was checked, with what, when, where."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import hypothesis

from rlsguard import __version__
from rlsguard.config import Settings
from rlsguard.history.git import GitFailed, git
from rlsguard.server.urls import redacted


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def git_facts(folder: Path) -> dict[str, str]:
    """Commit, branch and whether the tree was dirty; empty outside a git checkout."""

    try:
        commit = git(folder, "rev-parse", "HEAD", timeout=10)
        branch = git(folder, "rev-parse", "--abbrev-ref", "HEAD", timeout=10)
        status = git(folder, "status", "--porcelain", "--untracked-files=no", timeout=10)
    except GitFailed:
        return {}
    return {
        "Git commit": commit,
        "Git branch": branch,
        "Git tree": "dirty (uncommitted changes)" if status else "clean",
    }


def ci_run_url(environ: dict[str, str] | None = None) -> str | None:
    """The CI run's URL, from the variables the usual CI systems set."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    for name in ("CI_JOB_URL", "BUILD_URL", "CIRCLE_BUILD_URL", "BUILDKITE_BUILD_URL"):
        if env.get(name):
            return env[name]
    return None


def hypothesis_facts(seed: int | None, max_examples: int | None) -> dict[str, str]:
    current = hypothesis.settings()
    examples = max_examples or current.max_examples
    if seed is not None:
        how = f"seed {seed} for every probe"
    elif current.derandomize:
        how = "derandomized (the same examples every run)"
    else:
        how = "a random seed per probe (shown on each failing row)"
    return {
        "Hypothesis": (
            f"profile {hypothesis.settings.get_current_profile_name()}, {how}, "
            f"up to {examples} examples per property"
        )
    }


def version_facts() -> dict[str, str]:
    return {"rlsguard": __version__}


def tenancy_config(settings: Settings) -> dict[str, Any]:
    """The tenancy config in force, as the evidence states it."""
    keys = ("tenant_column", "tenant_setting", "app_role", "admin_roles", "schemas")
    data = {key: getattr(settings, key) for key in keys}
    if settings.context or settings.context_statement:
        del data["tenant_setting"]  # derived from the context, which says it in full
    data["global_tables"] = list(settings.global_tables)
    data["append_only"] = list(settings.append_only)
    data["allow"] = [vars(item) for item in settings.allow]
    data["probe_every_table"] = settings.probe_every_table  # or proofs shared by alike tables
    # how the application enters a tenant, and who the admins are: what the proof assumed
    data["context"] = dict(settings.entry)
    model = {
        "context_statement": settings.context_statement,
        "context_functions": dict(settings.context_functions) or None,
        "principal_table": settings.principal_table,
        "membership": vars(settings.membership) if settings.membership else None,
        "admin_context": dict(settings.admin_context) or None,
        "trusted_settings": list(settings.trusted_settings) or None,
        "untrusted_claims": list(settings.untrusted_claims),
        "preset": settings.preset,
    }
    data.update({key: value for key, value in model.items() if value is not None})
    return data


def tenancy_rows(settings: Settings) -> dict[str, str]:
    """The tenancy config in force as rows a person reads (one key each), not a JSON blob."""
    return {key: _said(value) for key, value in tenancy_config(settings).items()}


def _said(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as the config writes it
    if isinstance(value, dict) and {"check", "object", "reason"} <= set(value):
        return f"{value['check']} {value['object']} ({value['reason']})"
    if isinstance(value, dict):
        return "; ".join(f"{key} = {_said(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_said(item) for item in value) or "none"
    return str(value)


def redacted_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """Every text in ``facts`` (and in the tables inside it) redacted."""
    return {
        key: redacted_facts(value) if isinstance(value, dict) else redacted(str(value))
        for key, value in facts.items()
    }
