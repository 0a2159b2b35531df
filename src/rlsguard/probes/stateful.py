"""One stateful test over all tenant tables together (a Hypothesis RuleBasedStateMachine):
random tenants and the admin insert, update and delete; after every step each tenant
sees exactly what a Python model of the data says it owns, and each admin sees every
row. The whole run is one transaction, rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.drawing import draw
from rlsguard.probes.lazy import hypothesis, st, state_machines
from rlsguard.probes.moves import keys_in, noop_column, present, select_keys, where_key
from rlsguard.probes.plans import TablePlan
from rlsguard.probes.registry import ProbeContext, ProbeFailure, probe
from rlsguard.probes.rows import Example, Row, insert_statement, table_identifier
from rlsguard.probes.transcript import SetupFailed, Step
from rlsguard.probes.values import CannotGenerate
from rlsguard.schema.targets import tenant_tables_together
from rlsguard.server.process import raise_if_interrupted

MAX_STEPS = 12
MAX_RUNS = 20


VIEWS_CHECKED = "each tenant's view, checked after every step: as the model said until here"


def _writable_tables(context: ProbeContext) -> list[str]:
    """Tenant tables rlsguard can make rows for, leaves of the foreign-key graph first
    excluded from deletes when other tables point at them."""
    tables = []
    for relation in context.tenancy.tenant_relations:
        if context.tenancy.is_child(relation):
            continue
        try:
            context.planner.plan(relation.qualified)
        except CannotGenerate:
            continue
        tables.append(relation.qualified)
    return tables


def _referenced(context: ProbeContext) -> set[str]:
    return {
        foreign_key.references
        for relation in context.tenancy.catalog.relations.values()
        for foreign_key in relation.foreign_keys
        if foreign_key.references
    }


@probe(
    "RP120",
    "stateful",
    Severity.ERROR,
    "Across random inserts, updates and deletes by tenants and admins, each tenant sees "
    "exactly its rows and admins see all",
    attacks=(1, 4, 5, 6, 22),
    fixes_from=("RG101", "RG301", "RG302", "RG601"),
    objects=tenant_tables_together,
    own_engine=True,
    premise="rows of two tenants are in one table when every tenant reads",
)
def stateful(context: ProbeContext, _target: str, _example: Example | None) -> None:
    """Random sequences of steps in one transaction: new tenants; tenants and an admin
    insert rows; tenants update and delete rows by key (another tenant's row must not be
    touched).
    After every step each tenant reads exactly the rows a Python model says it owns, and
    each admin reads all of them. Hypothesis shrinks a failing sequence to a short one."""
    machine = _machine(context)
    base = context.profile
    if context.seed is not None:
        machine = hypothesis.seed(context.seed)(machine)
    state_machines.run_state_machine_as_test(
        machine,
        settings=hypothesis.settings(
            base,
            max_examples=min(base.max_examples, MAX_RUNS),
            stateful_step_count=min(base.stateful_step_count, MAX_STEPS),
        ),
    )


def _machine(context: ProbeContext) -> type[state_machines.RuleBasedStateMachine]:
    tenancy = context.tenancy

    def by_principal(table: str) -> bool:
        return bool(tenancy.principal_columns(tenancy.catalog.relations[table]))

    tables = _writable_tables(context)
    deletable = [table for table in tables if table not in _referenced(context)]
    root = context.tenancy.tenant_root

    class TenantsAndRows(state_machines.RuleBasedStateMachine):
        tenants = state_machines.Bundle("tenants")

        def __init__(self) -> None:
            super().__init__()
            self.checked_from = 0
            raise_if_interrupted()
            context.examples += 1
            context.held = False
            context.current = "main"
            context.session.begin()
            self.example: Example | None = None
            self.model: dict[str, list[Row]] = {}
            self.known_tenants: list[Any] = []

        def teardown(self) -> None:
            context.session.end()

        def _example(self, data: st.DataObject) -> Example:
            raise_if_interrupted()
            if self.example is None:
                self.example = Example(context.session, context.planner, data)
            self.example.data = data
            return self.example

        def _remember(self, row: Row) -> None:
            if row.table in context.tenancy.tenant_tables:  # global parents are everyone's
                self.model.setdefault(row.table, []).append(row)

        @state_machines.initialize(target=tenants, data=st.data())
        def first_tenants(self, data: st.DataObject) -> Any:
            return state_machines.multiple(self.new_tenant(data), self.new_tenant(data))

        @state_machines.rule(target=tenants, data=st.data())
        def new_tenant(self, data: st.DataObject) -> Any:
            example = self._example(data)
            tenant = example.new_tenant()
            if root is not None:
                self._remember(example.rows_of(root.qualified, tenant)[0])
            self.known_tenants.append(tenant)
            return tenant

        @state_machines.rule(tenant=tenants, data=st.data(), table=st.sampled_from(tables or ["-"]))
        def tenant_inserts(self, tenant: Any, data: st.DataObject, table: str) -> None:
            self._insert(context.app, tenant, data, table)

        @state_machines.rule(tenant=tenants, data=st.data(), table=st.sampled_from(tables or ["-"]))
        def admin_inserts(self, tenant: Any, data: st.DataObject, table: str) -> None:
            for admin in context.admins[:1]:
                self._insert(admin, tenant, data, table)

        def _insert(self, role: str, tenant: Any, data: st.DataObject, table: str) -> None:
            if table == "-" or (root is not None and table == root.qualified):
                return
            example = self._example(data)
            before = {name: len(rows) for name, rows in example.rows.items()}
            try:
                values = example.values_for(table, tenant)
            except SetupFailed:
                return
            for name, rows in example.rows.items():  # parents made as setup belong to the model too
                for row in rows[before.get(name, 0) :]:
                    self._remember(row)
            plan = context.planner.plan(table)
            if role == context.app:
                context.session.as_role(role, tenant)
            else:
                context.session.as_admin(role)
            outcome = context.session.attempt(*insert_statement(table, values, plan))
            context.session.as_setup()
            if not outcome.failed and outcome.rows:
                self._remember(
                    Row(table, tenant, dict(zip(plan.returning, outcome.rows[0], strict=True)))
                )

        @state_machines.rule(tenant=tenants, data=st.data())
        def tenant_updates(self, tenant: Any, data: st.DataObject) -> None:
            candidates = [row for rows in self.model.values() for row in rows]
            if not candidates:
                return
            row = draw(data, st.sampled_from(candidates), label="row to update")
            plan = context.planner.plan(row.table)
            touched = sql.Identifier(noop_column(plan.relation, context.tenancy))
            condition, values = where_key(plan, row)
            statement = sql.SQL("UPDATE {} SET {touched} = {touched} WHERE {}").format(
                table_identifier(row.table), condition, touched=touched
            )
            if self._as_tenant(tenant, statement, values) and row.tenant != tenant:
                raise self._failure(
                    f"as tenant {tenant}, {context.app} updated a row of another tenant in "
                    f"{row.table}"
                )

        @state_machines.rule(tenant=tenants, data=st.data())
        def tenant_deletes(self, tenant: Any, data: st.DataObject) -> None:
            candidates = [row for table in deletable for row in self.model.get(table, [])]
            if not candidates:
                return
            row = draw(data, st.sampled_from(candidates), label="row to delete")
            plan = context.planner.plan(row.table)
            condition, values = where_key(plan, row)
            statement = sql.SQL("DELETE FROM {} WHERE {}").format(
                table_identifier(row.table), condition
            )
            if not self._as_tenant(tenant, statement, values):
                return
            if row.tenant != tenant:
                raise self._failure(
                    f"as tenant {tenant}, {context.app} deleted a row of another tenant from "
                    f"{row.table}"
                )
            self.model[row.table].remove(row)

        def _as_tenant(self, tenant: Any, statement: sql.Composable, values: list[Any]) -> int:
            """Run ``statement`` as the application for ``tenant``; the rows it touched."""
            context.session.as_role(context.app, tenant)
            outcome = context.session.attempt(statement, values)
            context.session.as_setup()
            return 0 if outcome.failed else outcome.rowcount

        @state_machines.invariant()
        def everyone_sees_exactly_their_rows(self) -> None:
            if self.example is None:
                return
            mark = self._mark()
            views = [self._view(table, remembered) for table, remembered in self.model.items()]
            counted = _seen_as_modelled(context, views, self.known_tenants)
            self._forget(mark)
            if counted:
                return
            for table, remembered in self.model.items():  # read table by table: where, and how
                self._read_each_view(table, remembered)

        def _view(self, table: str, remembered: list[Row]) -> _View:
            rows = present(context, table, remembered)  # a trigger may have kept some out
            if len({row.tenant for row in rows}) >= 2:
                context.witness()
            plan = context.planner.plan(table)
            denied = (
                plan.relation.rls_enabled
                and context.tenancy.isolation(plan.relation, "SELECT", context.app).denied
            )
            return _View(plan, rows, denied, by_principal(table))

        def _read_each_view(self, table: str, remembered: list[Row]) -> None:
            self.checked_from = self._mark()
            view = self._view(table, remembered)
            plan, rows, denied = view.plan, view.rows, view.denied
            if not rows:  # none made: nothing to judge (the rows there before are not)
                self._forget(self.checked_from)
                return
            made = {row.key(plan.key) for row in rows}  # rows there before are not judged
            for tenant in self.known_tenants:
                mark = self._mark()
                context.session.as_role(context.app, tenant)
                seen = set(select_keys(context, plan, rows).rows) & made
                expected = (
                    set() if denied else {row.key(plan.key) for row in rows if row.tenant == tenant}
                )
                # rows owned by principals show to their principal, not the whole tenant
                if seen != expected and not (view.by_principal and seen <= expected):
                    raise self._failure(
                        f"as tenant {tenant}, {context.app} sees {len(seen)} row(s) of "
                        f"{table}; "
                        f"the model says it owns {len(expected)}"
                    )
                self._forget(mark)
            for admin in context.admins:
                mark = self._mark()
                context.session.as_admin(admin)
                seen = set(select_keys(context, plan, rows).rows)
                missing = {row.key(plan.key) for row in rows} - seen
                if missing:
                    raise self._failure(
                        f"admin role {admin} does not see {len(missing)} row(s) of {table}"
                    )
                self._forget(mark)
            context.session.as_setup()
            self._forget(self.checked_from)

        # what each tenant saw after each step is left out of the transcript where it was
        # what the model says: the transcript is the steps and the first divergence
        def _mark(self) -> int:
            return len(context.session.transcript.steps)

        def _forget(self, mark: int) -> None:
            del context.session.transcript.steps[mark:]

        def _made(self) -> Callable[[tuple[Any, ...]], bool]:
            """Rows of the example, or of the model (rows made as the tenants and admins)."""
            recognized = self.example.recognizer() if self.example else (lambda _row: False)
            values = {
                repr(value)
                for rows in self.model.values()
                for row in rows
                for value in row.values.values()
            }
            return lambda row: recognized(row) or all(repr(value) in values for value in row)

        def _failure(self, message: str) -> ProbeFailure:
            failure = ProbeFailure(message)
            context.session.transcript.steps.insert(
                self.checked_from,
                Step("", comment=VIEWS_CHECKED),
            )
            failure.transcript = context.session.transcript.render(
                f"rlsguard rls[tenant-tables-stateful]: {message}", made=self._made()
            )
            return failure

    return TenantsAndRows


@dataclass(frozen=True)
class _View:
    """The rows of one table the model holds, as far as they are there."""

    plan: TablePlan
    rows: list[Row]
    denied: bool  # no policy lets the application read the table
    by_principal: bool  # rows show to their principal, not to the whole tenant


def _seen_as_modelled(context: ProbeContext, views: list[_View], tenants: list[Any]) -> bool:
    """Whether each tenant and admin sees, of the rows made, exactly what the model says:
    one query counts, per table and owning tenant, the made rows the current role sees,
    and runs once as each of them. False when a count differs or the query fails: the
    tables are then read one by one, which says where. Counting by key is exact only
    under a primary key (unique, never NULL)."""
    if not all(view.plan.primary_keyed for view in views):
        return False
    owned = [_by_owner(view.rows) for view in views]
    counted = [(view, owners) for view, owners in zip(views, owned, strict=True) if owners]
    if not counted:
        return True
    query = context.session.text_of(*_count_query(counted))
    for tenant in tenants:
        context.session.as_role(context.app, tenant)
        answer = context.session.attempt(query)
        if answer.failed or not all(
            _as_tenant_should(view, owner, len(rows), tenant, seen)
            for (view, owners), counts in zip(counted, answer.rows[0], strict=True)
            for (owner, rows), seen in zip(owners.items(), counts, strict=True)
        ):
            return False
    for admin in context.admins:
        context.session.as_admin(admin)
        answer = context.session.attempt(query)
        if answer.failed or [list(counts) for counts in answer.rows[0]] != [
            [len(rows) for rows in owners.values()] for _view, owners in counted
        ]:
            return False
    context.session.as_setup()
    return True


def _by_owner(rows: list[Row]) -> dict[Any, list[Row]]:
    owners: dict[Any, list[Row]] = {}
    for row in rows:
        owners.setdefault(row.tenant, []).append(row)
    return owners


def _count_query(
    counted: list[tuple[_View, dict[Any, list[Row]]]],
) -> tuple[sql.Composable, list[Any]]:
    """One array per table: how many of each owner's rows the role sees (found by key, so
    a table that holds many rows more is not read whole)."""
    tables = []
    values: list[Any] = []
    for view, owners in counted:
        counts = []
        for rows in owners.values():
            condition, keys = keys_in(view.plan, rows)
            counts.append(sql.SQL("count(*) FILTER (WHERE {})").format(condition))
            values += keys
        made, keys = keys_in(view.plan, view.rows)
        values += keys  # the placeholders' order: the counts' first, then the WHERE's
        tables.append(
            sql.SQL("(SELECT ARRAY[{}] FROM {} WHERE {})").format(
                sql.SQL(", ").join(counts), table_identifier(view.plan.table), made
            )
        )
    return sql.SQL("SELECT {}").format(sql.SQL(", ").join(tables)), values


def _as_tenant_should(view: _View, owner: Any, made: int, tenant: Any, seen: int) -> bool:
    """What a tenant may see of ``made`` rows of ``owner``'s: all of its own (a principal's
    own rows show to it alone: fewer then), none of another's, none where reads are denied."""
    if view.denied or owner != tenant:
        return seen == 0
    return seen <= made if view.by_principal else seen == made
