"""Probing in lanes (probes/lanes.py, probes/forked.py): processes forked from the run's
that probe one database at once judge as one process alone does; what contention touched,
what locks a table and what a lane that died did not send back is left to be judged alone."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg2
import pytest
from hypothesis import settings

from rlsguard.analyzer import scan
from rlsguard.findings import Outcome
from rlsguard.plugin import lanes as plugin_lanes
from rlsguard.plugin.lanes import FACT, _count, processes_by_default
from rlsguard.probes import all_probes, forked
from rlsguard.probes.alike import AlikeTables
from rlsguard.probes.forked import ProberRecipe, judge_in_lanes
from rlsguard.probes.lanes import Lane, RoleWatch, Split, WatchedCursor, split
from rlsguard.probes.login import roles_acted_as
from rlsguard.probes.registry import PROBES, Probe
from rlsguard.probes.runner import ProbeResult, ProbeRunner
from rlsguard.report.evidence.history import EVIDENCE_NAME
from rlsguard.run import Run
from rlsguard.schema.targets import tenant_tables
from rlsguard.server.databases import connected
from rlsguard.server.urls import psycopg2_params
from tests.conftest import (
    OWN_BACKEND,
    VERSIONS,
    copy_project,
    lanes_of,
    migration,
    run_python,
)
from tests.corpus.cases import BROKEN, CORRECT, UNSEEN, Case
from tests.corpus.harness import BuildCase

CASES = {case.name: case for case in (*CORRECT, *BROKEN)}


def test_each_lane_numbers_its_rows_apart_from_the_others() -> None:
    assert [Lane().number(serial) for serial in range(1, 5)] == [1, 2, 3, 4]
    for count in (2, 3):
        numbers = [Lane(index, count).number(serial) for index in range(count) for serial in
                   range(1, 200)]  # fmt: skip
        assert len(set(numbers)) == len(numbers)


class _Alike:
    """Tables a and b are alike (b's proofs are made on a); the others stand alone."""

    def model_of(self, table: str, *, foreign_keys: bool = False) -> str | None:  # noqa: ARG002
        return "t.a" if table == "t.b" else None


def test_groups_go_heaviest_first_and_table_locks_wait_for_the_end() -> None:
    truncate, read, stateful = PROBES["RP114"], PROBES["RP101"], PROBES["RP120"]
    assert [probe.id for probe in all_probes() if probe.locks_table] == ["RP114", "RP127"]
    pairs: list[tuple[Probe, str]] = [
        (read, "t.a"), (read, "t.b"), (read, "t.c"), (truncate, "t.a"), (truncate, "t.c"),
        (stateful, "t.c"), (read, "t.d"),
    ]  # fmt: skip
    plan = split(pairs, _Alike())  # type: ignore[arg-type]
    assert plan.after == [3, 4]
    # c: a probe and the state machine; a: its own probe and b's, carried (a few examples)
    assert plan.groups == [[2, 5], [0, 1], [6]]
    assert plan.group[1] == plan.group[0] == "t.a"


def test_a_watched_cursor_counts_statements_another_session_held_up(rlsguard_run: Run) -> None:
    params = psycopg2_params(rlsguard_run.url(rlsguard_run.empty_database("watched")))
    holder = psycopg2.connect(**params)
    waiter = psycopg2.connect(**params, cursor_factory=WatchedCursor)
    try:
        with holder.cursor() as cursor:
            cursor.execute("CREATE TABLE held (id int)")
            holder.commit()
            cursor.execute("LOCK TABLE held")
        before = WatchedCursor.contended
        with waiter.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert WatchedCursor.contended == before
            cursor.execute("SET lock_timeout = '50ms'")
            with pytest.raises(psycopg2.errors.LockNotAvailable):
                cursor.execute("SELECT * FROM held")
        assert WatchedCursor.contended == before + 1
        waiter.rollback()
        with waiter.cursor() as cursor, pytest.raises(psycopg2.errors.UndefinedTable):
            cursor.execute("SELECT * FROM no_such_table")
        assert WatchedCursor.contended == before + 1  # a refusal of another kind: not counted
    finally:
        holder.close()
        waiter.close()


@dataclass
class Lanes:
    recipe: ProberRecipe
    pairs: list[tuple[Probe, str]]

    def alone(self) -> list[ProbeResult]:
        runner = self.recipe.runner()
        try:
            return [runner.run(probe, target, company=self.company(target))
                    for probe, target in self.pairs]  # fmt: skip
        finally:
            for session in runner.sessions.values():
                session.connection.close()

    def company(self, target: str) -> list[Probe]:
        return [probe for probe, other in self.pairs if other == target]

    def plan(self, count: int = 2) -> Split:
        tenancy = self.recipe.tenancy
        return split(self.pairs, AlikeTables(tenancy, tenant_tables(tenancy), spread_over=count))

    def in_groups(self) -> set[int]:
        return {index for group in self.plan().groups for index in group}


@pytest.fixture
def lanes_for(rlsguard_run: Run, case_database: BuildCase) -> Callable[..., Lanes]:
    def make(case: Case, examples: int = 10) -> Lanes:
        built = case_database(case)
        with connected(built.url) as connection:
            tenancy = scan(connection, built.settings).tenancy
        login = rlsguard_run.probe_login()
        left_out = login.admit(roles_acted_as(tenancy))
        profile = settings(settings(), max_examples=examples)
        recipe = ProberRecipe(tenancy, built.url, login.url_for(built.url), profile, None, 0.5,
                              None, left_out)  # fmt: skip
        return Lanes(recipe, ProbeRunner.targets_of(tenancy))

    return make


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unseen-schema", "unseen-schema-open-policy", "hardened"])
def test_lanes_judge_as_one_process_alone(
    lanes_for: Callable[..., Lanes], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Integer tenant ids and unique columns (unseen-schema), failures that shrink, the
    platform's shape: the same verdicts, the forked lane's among them."""
    lanes = lanes_for(CASES[name])
    alone = lanes.alone()
    received = sent_back(monkeypatch)
    judged = judged_in_lanes(lanes)
    assert received, "nothing came back from the forked lane"
    assert set(judged) - set(received), "this process judged nothing"
    assert set(judged) == lanes.in_groups()  # no contention here: all but the table locks'
    assert not set(judged) & set(lanes.plan().after)
    differ = {lanes.pairs[index][0].label(lanes.pairs[index][1]): (result.status, alone[index].status)
              for index, result in judged.items() if result.status is not alone[index].status}  # fmt: skip
    assert differ == {}
    if name == "unseen-schema-open-policy":
        assert any(result.status is Outcome.FAIL for result in judged.values())
    assert lanes_of(os.getpid()) == []


ONE_WRITER_AT_A_TIME = """
CREATE FUNCTION one_writer_at_a_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(4242) THEN
        RAISE EXCEPTION 'another writer holds the lock' USING ERRCODE = 'lock_not_available';
    END IF;
    PERFORM pg_sleep(0.002);
    RETURN NEW;
END $$;
CREATE TRIGGER one_writer BEFORE INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION one_writer_at_a_time();
"""


@pytest.mark.slow
def test_judgements_contention_touched_are_left_to_be_made_alone(
    lanes_for: Callable[..., Lanes],
) -> None:
    """Alone, the trigger never refuses (a session holds its own lock); in lanes, a
    tenant made while the other lane's example holds the lock is refused with 55P03: what
    that touched does not come back, and judged alone it is what one process says."""
    lanes = lanes_for(replace(CASES["hardened"], name="one-writer", sql=ONE_WRITER_AT_A_TIME))
    alone = lanes.alone()
    judged = judged_in_lanes(lanes)
    assert set(judged) < lanes.in_groups(), "no contention: the lanes never met"
    for index, result in judged.items():
        assert result.status is alone[index].status, lanes.pairs[index]
    plain = _by_label(lanes_for(CASES["hardened"]).alone())
    with_trigger = _by_label(alone)
    assert {label: with_trigger[label] for label in plain} == plain  # alone, it never refuses


def _by_label(results: list[ProbeResult]) -> dict[str, Outcome]:
    """Statuses by label, the case's role names (made anew for each build) made alike."""
    return {re.sub(r"rg_[0-9a-f]+_", "rg_", result.label): result.status for result in results}


@pytest.mark.slow
def test_what_a_lane_that_died_did_not_send_is_left_to_be_made_alone(
    lanes_for: Callable[..., Lanes], monkeypatch: pytest.MonkeyPatch
) -> None:
    lanes = lanes_for(CASES["hardened"], examples=3)
    parent, judge = os.getpid(), forked._Lane.judge

    def dies_in_a_fork(lane: forked._Lane, index: int) -> ProbeResult | None:
        if os.getpid() != parent:
            os._exit(3)
        return judge(lane, index)

    monkeypatch.setattr(forked._Lane, "judge", dies_in_a_fork)
    judged = judged_in_lanes(lanes)
    missing = lanes.in_groups() - set(judged)
    assert missing in [set(), *(set(group) for group in lanes.plan().groups)]  # what it claimed
    assert lanes_of(os.getpid()) == []


@pytest.mark.slow
def test_a_judgement_that_raises_is_left_to_its_own_item(
    lanes_for: Callable[..., Lanes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In either process: it and the rest of its group are left to be judged alone (where
    the error is said, in its own item), and the lanes go on with the other groups."""
    lanes = lanes_for(CASES["hardened"], examples=3)
    broken = next(pair for pair in lanes.pairs if pair[0].id == "RP104")
    run = ProbeRunner.run

    def raises_once(runner: ProbeRunner, probe: Probe, target: str, **options: Any) -> ProbeResult:
        if (probe, target) == broken:
            raise RuntimeError("a bug in a probe")
        return run(runner, probe, target, **options)

    monkeypatch.setattr(ProbeRunner, "run", raises_once)
    judged = judged_in_lanes(lanes)
    plan = lanes.plan()
    at = lanes.pairs.index(broken)
    left = {index for index in lanes.in_groups() if plan.group[index] == plan.group[at]}
    left = {index for index in left if index >= at}  # a group's pairs are judged in order
    assert at in left
    assert set(judged) == lanes.in_groups() - left


def _superuser(url: Any) -> Any:
    connection = psycopg2.connect(**psycopg2_params(url))
    connection.autocommit = True
    return connection


def _state_of(roles: list[str], connection: Any) -> str:
    seen = RoleWatch(roles, "").seen(connection)
    assert seen is not None
    return seen[0]


def test_a_role_watch_sees_a_role_changed_even_when_put_back(rlsguard_run: Run) -> None:
    role = f"rg_watched_{os.getpid()}"
    connection = _superuser(rlsguard_run.url("postgres"))
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {role}")
        watch = RoleWatch([role], _state_of([role], connection))
        before = watch.seen(connection)
        assert watch.as_analysed(before)
        assert before == watch.seen(connection)
        with connection.cursor() as cursor:  # not a flag ROLE_STATE reads: the rows tell
            cursor.execute(f"ALTER ROLE {role} CONNECTION LIMIT 3")
            cursor.execute(f"ALTER ROLE {role} CONNECTION LIMIT -1")
        after = watch.seen(connection)
        assert after != before
        assert watch.as_analysed(after)
        with connection.cursor() as cursor:  # a role of its own: not what the probes rest on
            cursor.execute(f"CREATE ROLE {role}_other; ALTER ROLE {role}_other BYPASSRLS")
        assert watch.seen(connection) == after
        with connection.cursor() as cursor:  # given to the watched role: what it may do
            cursor.execute(f"GRANT {role}_other TO {role}")
        assert watch.seen(connection) != after
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER ROLE {role} BYPASSRLS")
        assert not watch.as_analysed(watch.seen(connection))
        assert not watch.as_analysed(None)  # unreadable (not a superuser): never trusted
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP ROLE IF EXISTS {role}; DROP ROLE IF EXISTS {role}_other")
        connection.close()


def test_a_lane_reads_the_roles_once_a_judgement_and_sees_a_change_between_two(
    rlsguard_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A judgement begins with the roles as the last one kept ended and reads only the
    rows' versions at its end: a change between two judgements counts against the second."""
    role = f"rg_between_{os.getpid()}"
    connection = _superuser(rlsguard_run.url("postgres"))
    reads: list[str] = []
    read = RoleWatch._read

    def counted(watch: RoleWatch, on: Any, query: str) -> Any:
        reads.append("state and rows" if "rolbypassrls" in query else "rows")
        return read(watch, on, query)

    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {role}")
        watch = RoleWatch([role], _state_of([role], connection))
        assert watch.rows(connection) == watch.seen(connection)[1]  # type: ignore[index]
        monkeypatch.setattr(RoleWatch, "_read", counted)
        lane = object.__new__(forked._Lane)
        lane.watch, lane._roles, lane._last_seen = watch, connection, None
        first = lane._roles_seen()
        assert lane._roles_kept(first)
        second = lane._roles_seen()
        assert second == first
        assert reads == ["state and rows", "rows"]  # the second judgement read nothing yet
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER ROLE {role} CONNECTION LIMIT 3")
        assert not lane._roles_kept(second)
        third = lane._roles_seen()
        assert third is not None
        assert third != first
        assert lane._roles_kept(third)
        assert reads == ["state and rows", "rows", "rows", "state and rows", "rows"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP ROLE IF EXISTS {role}")
        connection.close()


@pytest.mark.slow
def test_a_lane_forked_early_keeps_no_judgement_a_change_of_roles_touched(
    lanes_for: Callable[..., Lanes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the run's process migrates, a forked lane's judgement during which a role
    changed (and was put back) does not come back, nor does the rest of its group; with
    the roles left alone its judgements do."""
    lanes = lanes_for(CASES["hardened"], examples=3)
    tenancy, url = lanes.recipe.tenancy, lanes.recipe.database_url
    roles = [tenancy.app.name, *(admin.name for admin in tenancy.admins)]
    with contextlib.closing(_superuser(url)) as connection:
        watch = RoleWatch(roles, _state_of(roles, connection))
    parent, run, changing = os.getpid(), ProbeRunner.run, [True]

    def changes_roles(
        runner: ProbeRunner, probe: Probe, target: str, **options: Any
    ) -> ProbeResult:
        result = run(runner, probe, target, **options)
        if os.getpid() != parent and changing[0]:  # as a migration check would, meanwhile
            with contextlib.closing(_superuser(url)) as connection, connection.cursor() as cursor:
                cursor.execute(f"ALTER ROLE {tenancy.app.name} CONNECTION LIMIT 5")
                cursor.execute(f"ALTER ROLE {tenancy.app.name} CONNECTION LIMIT -1")
        return result

    monkeypatch.setattr(ProbeRunner, "run", changes_roles)
    for changing[0] in (True, False):
        received = sent_back(monkeypatch)
        judged: dict[int, ProbeResult] = {}
        early = forked.Lanes(lanes.recipe, lanes.pairs, 2, watch)
        try:
            early.start()
            time.sleep(2)  # the forked lane claims its first groups alone
            early.drain()  # as between the items before the probes
            drained = dict(early.received)
            early.finish(judged)
            assert drained.items() <= judged.items()
        finally:
            early.close()
        missing = lanes.in_groups() - set(judged)
        if changing[0]:
            assert received == [], "a touched judgement came back"
            assert missing
            groups = [set(group) for group in lanes.plan().groups if set(group) & missing]
            assert set().union(*groups) == missing  # whole groups, judged alone afterwards
            assert early.left == dict.fromkeys(missing, forked.ROLES_CHANGED)  # and why
        else:
            assert received
            assert not missing
    assert lanes_of(os.getpid()) == []


def judged_in_lanes(lanes: Lanes) -> dict[int, ProbeResult]:
    judged: dict[int, ProbeResult] = {}
    assert judge_in_lanes(lanes.recipe, lanes.pairs, 2, judged), "no lane was forked"
    return judged


def sent_back(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The indices whose judgements will come back through the forked lanes' pipes."""
    received: list[int] = []
    receive = forked._receive

    def counted(
        readers: list[Any], judged: dict[int, ProbeResult], left: dict[int, str], *, block: bool
    ) -> None:
        before = set(judged)
        receive(readers, judged, left, block=block)
        received.extend(set(judged) - before)

    monkeypatch.setattr(forked, "_receive", counted)
    return received


ORGS = UNSEEN.replace("{app}", "orgs_app").replace("{admin}", "orgs_admin")
ROLES = """DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orgs_app') THEN
        CREATE ROLE orgs_app; CREATE ROLE orgs_admin;
    END IF;
END $$"""
OPEN_CONTACTS = (
    "CREATE POLICY contacts_all ON crm.contacts FOR SELECT TO orgs_app USING (org_id > 0)"
)


def orgs_project(folder: Path) -> Path:
    """An Alembic project of another shape than the platform's: integer org ids in two
    schemas, and an open policy on crm.contacts."""
    copy_project(folder)
    shutil.rmtree(folder / VERSIONS)
    (folder / VERSIONS).mkdir()
    env_py = folder / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace("target_metadata = Base.metadata", "target_metadata = None")
    )
    upgrade = [ROLES, ORGS, OPEN_CONTACTS]
    downgrade = ["DROP SCHEMA crm, billing CASCADE"]  # the roles are the server's: kept
    (folder / VERSIONS / "o1.py").write_text(migration("o1", None, upgrade, downgrade))  # type: ignore[arg-type]
    (folder / "pyproject.toml").write_text(
        '[tool.rlsguard]\nalembic_ini = "alembic.ini"\ntenant_column = "org_id"\n'
        'tenant_setting = "app.org"\nschemas = ["crm", "billing"]\napp_role = "orgs_app"\n'
        'admin_roles = ["orgs_admin"]\n'
    )
    return folder


def checked(project: Path, folder: Path, *flags: str) -> dict[str, Any]:
    folder.mkdir()
    result = run_python("-m", "rlsguard.cli", "check", "-q", "--project", str(project),
                        "--backend", OWN_BACKEND, "--report", str(folder), *flags, cwd=project)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr  # the open policy fails
    evidence: dict[str, Any] = json.loads((folder / EVIDENCE_NAME).read_text())
    return evidence


@pytest.mark.slow
def test_check_probes_in_two_processes_as_in_one(tmp_path: Path) -> None:
    project = orgs_project(tmp_path / "orgs")
    one = checked(project, tmp_path / "one", "--probe-processes", "1", "--max-examples", "20")
    two = checked(project, tmp_path / "two", "--probe-processes", "2", "--max-examples", "20")
    probes_one, probes_two = (
        {item["nodeid"]: item["status"] for item in run["items"] if item["kind"] == "probe"}
        for run in (one, two)
    )
    assert probes_two == probes_one
    assert probes_one["suite.py::test_probes::rls[crm.contacts-cross-tenant-read]"] == "fail"
    assert one["environment"][FACT] == "1 (the run's process)"
    locking = sum(1 for node in probes_two if node.endswith(("-truncate]", "-attach-trigger]")))
    assert locking > 0
    assert two["environment"][FACT] == (
        "2 (the run's process and 1 forked from it at the session's first item, while it ran "
        "the migration checks, on one database); left to the run's process, judged alone "
        f"afterwards: {locking} probe items that lock a table, and, with the rest of their "
        "table's group, 0 that met a change of roles, 0 another process's lock and 0 an error"
    )


class _Config:
    """What ``plugin/lanes.py`` reads of pytest's config."""

    def __init__(self, **options: object) -> None:
        self.options = {"maxfail": 0, "rlsguard_probe_processes": None, **options}
        self.option = SimpleNamespace(dist="no")
        self.pluginmanager = SimpleNamespace(hasplugin=lambda _name: False)

    def getoption(self, name: str, default: object = None) -> object:
        return self.options.get(name, default)


class _Reached(Exception):
    pass


def test_lanes_start_at_the_first_item_only_if_rlsguards_own_checks_lead_to_the_probes() -> None:
    """A test of the user's own before the probes (it may migrate, or change roles): the
    lanes wait for the first probe item; rlsguard's migration and static checks: they do
    not (they get as far as the probes' recipe)."""

    def ours() -> None: ...

    def theirs() -> None: ...

    ours.__module__ = "rlsguard.suite"

    class Probe_: ...

    class Static: ...

    def recipe() -> None:
        raise _Reached

    config = SimpleNamespace(stash={plugin_lanes.RUN_KEY: SimpleNamespace(probe_recipe=recipe)})
    lanes = plugin_lanes.ProbeLanes(_Config(), 2)  # type: ignore[arg-type]
    for items, starts in (
        ([ours, theirs, Probe_], False),
        ([theirs, Static, Probe_], False),
        ([ours, Static], False),  # no probe
        ([ours, Static, Static, Probe_, theirs], True),  # after the first probe: not waited for
    ):
        made = [kind() if isinstance(kind, type) else SimpleNamespace(function=kind)
                for kind in items]  # fmt: skip
        session = SimpleNamespace(items=made)
        for item in made:
            item.session, item.config = session, config  # type: ignore[union-attr]
        if starts:
            with pytest.raises(_Reached):
                lanes.start_early(made[0], Probe_, Static)  # type: ignore[arg-type]
        else:
            assert not lanes.start_early(made[0], Probe_, Static)  # type: ignore[arg-type]
    assert not plugin_lanes.ProbeLanes(_Config(), 1).start_early(made[0], Probe_, Static)  # type: ignore[arg-type]


def test_an_error_before_the_probes_leaves_the_lanes_to_the_first_probe_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not an error of pytest's own (its session would end): the first probe item meets
    it again and says it."""

    def ours() -> None: ...

    ours.__module__ = "rlsguard.suite"

    class Probe_: ...

    def recipe() -> None:
        raise RuntimeError("the server went away")

    monkeypatch.setattr(plugin_lanes, "threading", SimpleNamespace(active_count=lambda: 1))
    config = _Config(rlsguard_probe_processes=2)
    config.stash = {plugin_lanes.RUN_KEY: SimpleNamespace(probe_recipe=recipe)}  # type: ignore[attr-defined]
    made = [SimpleNamespace(function=ours, config=config), Probe_()]
    session = SimpleNamespace(items=made)
    for item in made:
        item.session, item.config = session, config  # type: ignore[attr-defined]
    plugin_lanes.before_first_item(made[0], Probe_, type(None))  # type: ignore[arg-type]
    assert plugin_lanes.LANES_KEY not in config.stash  # type: ignore[attr-defined]


def test_lanes_forked_early_and_set_aside_are_said() -> None:
    """The roles could not be put back as analysed (or the probes could not start): the
    forked process's work is set aside, and the evidence does not call the run one process's."""
    evidence = SimpleNamespace(facts={})
    config = _Config()
    config.pluginmanager = SimpleNamespace(get_plugin=lambda _name: evidence)  # type: ignore[assignment]
    lanes = plugin_lanes.ProbeLanes(config, 2)  # type: ignore[arg-type]
    lanes._tell([], shared=False)
    assert evidence.facts[FACT] == "1 (the run's process)"
    lanes._early = object()  # type: ignore[assignment]
    lanes._tell([], shared=False)
    assert evidence.facts[FACT] == (
        "1 (the run's process; the process forked at the session's first item was stopped, "
        "and what it judged set aside: the probes could not start as analysed)"
    )


def test_one_process_where_a_fork_would_not_pay_or_not_be_safe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads = [1]  # under pytest-xdist this process runs execnet's thread too: counted apart
    monkeypatch.setattr(plugin_lanes, "threading", SimpleNamespace(active_count=lambda: threads[0]))
    assert processes_by_default() == min(len(os.sched_getaffinity(0)), 2)
    assert _count(_Config()) == processes_by_default()  # type: ignore[arg-type]
    assert _count(_Config(rlsguard_probe_processes=3)) == 3  # type: ignore[arg-type]
    assert _count(_Config(maxfail=1, rlsguard_probe_processes=3)) == 1  # type: ignore[arg-type]
    threads[0] = 2
    assert _count(_Config(rlsguard_probe_processes=3)) == 1  # type: ignore[arg-type]
    threads[0] = 1
    worker = _Config(rlsguard_probe_processes=3)
    worker.workerinput = {}  # type: ignore[attr-defined]
    assert _count(worker) == 1  # type: ignore[arg-type]
