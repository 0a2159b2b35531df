"""``rlsguard check --base REF``: the schema as of another git ref's migrations, built in a
temporary worktree on the same server, and its findings as the gate's baseline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rlsguard.config import Allowance, load_settings
from rlsguard.errors import ConfigError, RlsguardError
from rlsguard.findings import Outcome
from rlsguard.history.git import GitFailed, git
from rlsguard.history.migrate import HEAD
from rlsguard.probes.runner import ProbeResult
from rlsguard.report.evidence.baseline import Baseline
from rlsguard.run import Run
from rlsguard.server import Server
from rlsguard.server.scratch import BASE_PREFIX, make_scratch_dir


def _git(folder: Path, *arguments: str) -> str:
    try:
        return git(folder, *arguments)
    except GitFailed as error:
        raise ConfigError(f"git {' '.join(arguments)}: {error}") from None


@contextmanager
def checkout_of(project_root: Path, ref: str) -> Iterator[Path]:
    """The project folder as of ``ref``, in a detached worktree that is removed afterwards."""
    try:
        top = Path(_git(project_root, "rev-parse", "--show-toplevel"))
    except ConfigError:
        raise ConfigError(
            f"--base needs the project in a git checkout; {project_root} is not"
        ) from None
    try:
        git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitFailed:
        raise ConfigError(f"--base {ref} is not a commit of the repository at {top}") from None
    folder = make_scratch_dir(BASE_PREFIX)  # sweeps the folders of runs that were killed
    tree = folder / "tree"
    try:
        _git(top, "worktree", "prune")  # and forgets their worktrees
        _git(top, "worktree", "add", "--detach", "--quiet", str(tree), ref)
        yield tree / project_root.resolve().relative_to(top.resolve())
    finally:
        subprocess.run(
            ["git", "-C", str(top), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)
        _forget_modules_under(folder)


def _forget_modules_under(folder: Path) -> None:
    """The base's migrations imported helper modules (models, ...) of the same names as the
    project's own: drop them so the checks of the project itself import its versions."""
    prefix = str(folder)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(prefix):
            del sys.modules[name]
    sys.path[:] = [entry for entry in sys.path if not entry.startswith(prefix)]


def probe_findings(
    results: list[ProbeResult], allow: tuple[Allowance, ...]
) -> list[dict[str, Any]]:
    """The base's probe findings, leaving out the probes that could not act there: the
    base did not have what it could not check, so the same finding now is "added"."""
    return [
        found.accept(allow).to_json()
        for result in results
        if result.status is not Outcome.CANNOT and (found := result.finding()) is not None
    ]


def build_baseline(
    project_root: Path, ref: str, server: Server, overrides: dict[str, object], **probing: Any
) -> Baseline:
    """Findings (static checks and probes) of the base schema at its head, with the
    base's own ``[tool.rlsguard]``; ``probing``: Run's seed, max_examples, shrink_seconds."""
    with checkout_of(project_root, ref) as base_root:
        settings = load_settings(base_root, overrides)
        base = Run(settings=settings, given_server=server, **probing)
        try:
            revision = base.resolve(HEAD)
            analysis = base.analysis()
            findings = [finding.to_json() for finding in analysis.findings]
            findings += probe_findings(base.prober().run_all(), settings.allow)
        except RlsguardError as error:
            raise RlsguardError(
                f"the schema as of --base {ref} could not be analysed: {error}"
            ) from None
        finally:
            base.close()
    return Baseline(ref, revision, {(item["check"], item["object"]): item for item in findings})
