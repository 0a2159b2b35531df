"""Judging probes in lanes (probes/lanes.py): this process is the first lane, the others
are forked from it, so they start with the analysis, the plans and the imports it already
has; each opens connections of its own, sends back the judgements made without
contention, and leaves with ``os._exit`` (nothing of this process's is closed or run
twice). A judgement that does not come back (contention, an error, a lane that died, an
interrupt) is the caller's to make alone, as it would have without lanes."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import os
import random
import signal
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import Any

import hypothesis
from sqlalchemy.engine import URL

from rlsguard.probes.alike import AlikeTables
from rlsguard.probes.lanes import Lane, RoleWatch, Split, WatchedCursor, split
from rlsguard.probes.login import probe_connections
from rlsguard.probes.registry import AUTHORITY, PROBES, Probe
from rlsguard.probes.runner import ProbeResult, ProbeRunner
from rlsguard.schema.targets import tenant_tables
from rlsguard.schema.tenancy import Tenancy

# why a lane left a judgement to the caller (with the rest of its group)
RAISED = "raised"
LOCKED = "met another process's lock"
ROLES_CHANGED = "met a change of roles"
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
GROUP_NUMBER = struct.Struct("<I")


@dataclass(frozen=True)
class ProberRecipe:
    """What a ProbeRunner is made of but its connections, which each lane opens itself."""

    tenancy: Tenancy
    database_url: URL
    probe_url: URL | None
    profile: hypothesis.settings
    fixed_seed: int | None
    shrink_seconds: float
    unavailable: str | None
    left_out: dict[str, str]
    spread_over: int = 1

    def runner(self, lane: Lane | None = None, alike: AlikeTables | None = None) -> ProbeRunner:
        """``alike``: the alike tables, spread over ``lane.count`` lanes, when the caller
        has them."""
        lane = lane or Lane()
        watched = WatchedCursor if lane.count > 1 else None
        runner = ProbeRunner(
            self.tenancy,
            probe_connections(self.database_url, self.probe_url, cursor_factory=watched),
            self.profile,
            fixed_seed=self.fixed_seed,
            shrink_seconds=self.shrink_seconds,
            unavailable=self.unavailable,
            left_out=self.left_out,
            spread_over=max(self.spread_over, lane.count),
            alike=alike,
        )
        runner.planner.lane = lane
        return runner


def judge_in_lanes(
    recipe: ProberRecipe,
    pairs: Sequence[tuple[Probe, str]],
    count: int,
    judged: dict[int, ProbeResult],
) -> bool:
    """Puts in ``judged`` the judgements of ``pairs`` (by index) that ``count`` lanes made
    without contention, as they come (those that lock a table are never among them); False
    when there were too few groups of pairs to share out, and no lane was forked."""
    lanes = Lanes(recipe, pairs, count)
    if not lanes.worth_forking:
        return False
    try:
        lanes.start()
        lanes.finish(judged)
    finally:
        lanes.close()
    return True


class Lanes:
    """Lanes started in two steps: ``start`` forks the other lanes, which begin to claim
    groups at once; ``finish`` makes this process a lane too, until no group is left, and
    collects what the others sent. With ``watch``, the forked lanes keep only judgements no
    role change touched (this process may migrate meanwhile: RoleWatch)."""

    def __init__(
        self,
        recipe: ProberRecipe,
        pairs: Sequence[tuple[Probe, str]],
        count: int,
        watch: RoleWatch | None = None,
    ) -> None:
        self.recipe = recipe
        self.pairs = pairs
        self.count = count
        self.watch = watch
        self.alike = AlikeTables(recipe.tenancy, tenant_tables(recipe.tenancy), spread_over=count)
        self.plan = split(pairs, self.alike)
        self._stack = contextlib.ExitStack()
        self._work: _Work | None = None
        self._readers: list[Connection] = []
        self.left: dict[int, str] = {}  # pairs a lane judged and left to the caller: why
        self.received: dict[int, ProbeResult] = {}  # judgements the lanes sent before finish

    @property
    def worth_forking(self) -> bool:
        return self.count > 1 and len(self.plan.groups) > 1

    def start(self) -> None:
        queue = self._stack.enter_context(_queue(len(self.plan.groups)))
        self._work = _Work(self.recipe, self.pairs, self.plan, queue, self.alike, self.watch)
        self._readers = self._stack.enter_context(_forked(self._work, self.count))

    def drain(self) -> None:
        """Takes what the lanes sent so far, so none of them waits on a full pipe while
        this process does something else."""
        _receive(self._readers, self.received, self.left, block=False)

    def finish(self, judged: dict[int, ProbeResult]) -> None:
        """This process judges the groups left, then waits for every other lane."""
        assert self._work is not None, "start() first"
        judged.update(self.received)
        own = _Lane(self._work, Lane(0, self.count), watch=None)
        try:
            for index in self._work.claimed():
                found = own.judge(index)
                if found is not None:
                    judged[index] = found
                _receive(self._readers, judged, self.left, block=False)
        finally:
            own.close()
            self.left.update(own.left)
        _receive(self._readers, judged, self.left, block=True)

    def close(self) -> None:
        """Ends the forked lanes (killed, unless they are done) and reaps them."""
        self._stack.close()


@dataclass(frozen=True)
class _Work:
    """What the lanes share out: the pairs, by index, in groups, and the queue of the
    groups' numbers, from which each lane claims the next group it judges; the alike
    tables the groups were made of, which every lane's runner uses."""

    recipe: ProberRecipe
    pairs: Sequence[tuple[Probe, str]]
    plan: Split
    queue: int
    alike: AlikeTables
    watch: RoleWatch | None = None

    @property
    def group(self) -> dict[int, str]:
        return self.plan.group

    def claimed(self) -> Iterator[int]:
        """The pairs of each group this lane claims, until none is left. Reading a file
        whose offset the lanes share takes each number once, whoever reads it, and a
        lane that dies leaves the rest to the others."""
        while len(number := os.read(self.queue, GROUP_NUMBER.size)) == GROUP_NUMBER.size:
            yield from self.plan.groups[GROUP_NUMBER.unpack(number)[0]]


@contextlib.contextmanager
def _queue(groups: int) -> Iterator[int]:
    """A file of the numbers 0 to ``groups`` - 1, open at its start (its descriptor)."""
    with tempfile.TemporaryFile() as queue:
        queue.write(b"".join(GROUP_NUMBER.pack(number) for number in range(groups)))
        queue.flush()
        os.lseek(queue.fileno(), 0, os.SEEK_SET)
        yield queue.fileno()


class _Lane:
    """A lane's runner, and the groups whose judgements it does not vouch for."""

    def __init__(self, work: _Work, lane: Lane, watch: RoleWatch | None) -> None:
        self.pairs = work.pairs
        self.group = work.group
        self.runner = work.recipe.runner(lane, work.alike)
        self.untrusted: dict[str, str] = {}  # group: why its judgements are not vouched for
        self.left: dict[int, str] = {}  # pairs judged and not vouched for: why
        self._roles = self.runner.sessions[AUTHORITY].connection if watch else None
        self.watch = watch
        self._last_seen: tuple[str, str] | None = None  # at the end of the last judgement kept
        self._company: dict[str, list[Probe]] = {}
        for probe, target in work.pairs:
            self._company.setdefault(target, []).append(probe)

    def judge(self, index: int) -> ProbeResult | None:
        """The pair's judgement, or None when contention may have touched it or it raised
        (or an earlier judgement of its group did, which it may rest on): the caller
        judges it alone, where an error is said in its own item."""
        probe, target = self.pairs[index]
        before = WatchedCursor.contended
        roles = self._roles_seen()
        group = self.group[index]
        try:
            result: ProbeResult | None = self.runner.run(
                probe, target, company=self._company[target]
            )
        except Exception:  # raised again where it is judged alone
            self.untrusted.setdefault(group, RAISED)
            result = None
        if WatchedCursor.contended != before:
            self.untrusted.setdefault(group, LOCKED)
        elif not self._roles_kept(roles):
            self.untrusted.setdefault(group, ROLES_CHANGED)
        if group in self.untrusted:
            self.left[index] = self.untrusted[group]
            return None
        return result

    def _roles_seen(self) -> tuple[str, str] | None:
        """The roles as the judgement begins: as the last one kept ended (a change since
        then shows in this one's rows at its end), or read now."""
        if self.watch is None or self._roles is None:
            return None
        return self._last_seen or self.watch.seen(self._roles)

    def _roles_kept(self, before: tuple[str, str] | None) -> bool:
        """Were the roles as analysed when the judgement began, and are they unchanged?"""
        if self.watch is None:
            return True
        if before is None or self._roles is None or not self.watch.as_analysed(before):
            return False
        kept = self.watch.rows(self._roles) == before[1]
        self._last_seen = before if kept else None
        return kept

    def close(self) -> None:
        for session in self.runner.sessions.values():
            session.connection.close()


@contextlib.contextmanager
def _forked(work: _Work, count: int) -> Iterator[list[Connection]]:
    """The lanes but this process's, forked: yields the ends their judgements come
    through; the processes are ended (killed, if the caller did not wait for them to
    finish) and reaped on the way out."""
    parent = os.getpid()
    children: list[int] = []
    readers: list[Connection] = []
    enabled = gc.isenabled()
    try:
        for number in range(1, count):
            reader, writer = Pipe(duplex=False)
            gc.disable()  # no collection between the fork and the child's freeze
            pid = os.fork()
            if pid == 0:
                reader.close()
                _lane_process(parent, work, Lane(number, count), writer)
            if enabled:
                gc.enable()
            writer.close()
            children.append(pid)
            readers.append(reader)
        yield readers
    finally:
        if enabled:
            gc.enable()
        for reader in readers:
            reader.close()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # done by now, unless the caller was interrupted
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _receive(
    readers: list[Connection],
    judged: dict[int, ProbeResult],
    left: dict[int, str],
    *,
    block: bool,
) -> None:
    """What the lanes sent (until every lane has finished, with ``block``): judgements,
    and why they left a pair to the caller."""
    while readers:
        ready = wait(readers, timeout=None if block else 0)
        if not ready:
            return
        for reader in ready:
            assert isinstance(reader, Connection)
            try:
                index, probe_id, fields = reader.recv()
            except (EOFError, OSError):
                readers.remove(reader)
                continue
            if probe_id is None:
                left[index] = fields
            else:
                judged[index] = ProbeResult(probe=PROBES[probe_id], **fields)


def _lane_process(parent: int, work: _Work, lane: Lane, writer: Connection) -> None:
    """A forked lane: judges the groups it claims and sends back the judgements; never
    returns."""
    code = 1
    try:
        gc.freeze()  # what it inherited is never collected here: no finalizer of the parent's
        gc.enable()
        _detach(parent)
        own = _Lane(work, lane, work.watch)
        for index in work.claimed():
            result = own.judge(index)
            if result is not None:
                writer.send((index, result.probe.id, _shipped(result)))
            else:
                writer.send((index, None, own.left[index]))
        code = 0
    except BaseException:  # the parent judges what did not come back
        pass
    finally:
        os._exit(code)


def _shipped(result: ProbeResult) -> dict[str, Any]:
    """A judgement but its probe (named by id: a probe holds functions, not sent)."""
    return {
        item.name: getattr(result, item.name)
        for item in dataclasses.fields(result)
        if item.name != "probe"
    }


def _detach(parent: int) -> None:
    """Signals as a lane wants them (Ctrl-C is the parent's, which ends its lanes; SIGTERM
    ends it at once, as does the parent's death), its output nowhere, its own random seeds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)
    nowhere = os.open(os.devnull, os.O_WRONLY)
    os.dup2(nowhere, 1)
    os.dup2(nowhere, 2)
    random.seed()
