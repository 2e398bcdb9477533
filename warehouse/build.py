"""Build models in dependency order: render for the target, materialize under a temporary name, test, swap.

Each model is built in one transaction: ``create <schema>.__smw_tmp_<name> as <select>``, comments, data tests on
the temporary relation, then drop the old relation and rename the new one. Readers see the old version until the
commit and the new one after it, never a gap. A blocking test failure rolls the transaction back, so the old
version stays as it was; models downstream of a failed one are skipped and keep their old versions too.

``atomic="run"`` builds everything in a single transaction instead: any failure rolls back the whole run. It holds
locks on replaced tables until the end (PostgreSQL readers of those tables wait, they do not fail).

On PostgreSQL, views that depend on a replaced relation (models or an analyst's own) are recreated in the same
transaction, with their comments and grants, and the replaced relation's grants are carried over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlglot import exp

from warehouse.checks import Check, CheckError, TestResult, checks_for, failing_rows_sql, run_check
from warehouse.header import IDENTIFIER
from warehouse.models import TMP_PREFIX, Model, Project, ProjectError
from warehouse.render import RenderError, render_query
from warehouse.target import Connection, Target

ModelStatus = Literal["success", "error", "test_failed", "skipped", "rolled_back"]
Atomicity = Literal["model", "run"]

EXIT_OK = 0
EXIT_MODEL_ERROR = 1  # a model failed to build (SQL error, missing input, bad column)
EXIT_TESTS_FAILED = 3  # a blocking data test failed; the previous versions were kept


@dataclass
class ModelResult:
    model: str
    materialized: str
    status: ModelStatus
    seconds: float = 0.0
    rows: int | None = None  # tables only
    tests: list[TestResult] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def failed_tests(self) -> list[TestResult]:
        return [t for t in self.tests if t.blocking_failure]

    @property
    def warned_tests(self) -> list[TestResult]:
        return [t for t in self.tests if t.warning]


@dataclass
class BuildResult:
    target: str  # redacted URL
    models: list[ModelResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(m.status == "success" for m in self.models)

    @property
    def exit_code(self) -> int:
        if any(m.status == "error" for m in self.models):
            return EXIT_MODEL_ERROR
        if any(m.status == "test_failed" for m in self.models):
            return EXIT_TESTS_FAILED
        return EXIT_OK if self.ok else EXIT_MODEL_ERROR

    def by_status(self, status: ModelStatus) -> list[ModelResult]:
        return [m for m in self.models if m.status == status]

    def first_problem(self) -> str | None:
        """One line naming the first failure (model error or blocking test), or None when the build is ok."""
        for m in self.models:
            if m.status == "error":
                return m.error
            if m.status == "test_failed":
                failed = m.failed_tests
                return failed[0].message if failed else m.error
        return None

    def summary(self) -> str:
        counts = {s: len(self.by_status(s)) for s in ("success", "error", "test_failed", "skipped", "rolled_back")}
        parts = [f"{counts['success']} built"]
        labels = {
            "error": "failed",
            "test_failed": "blocked by tests",
            "skipped": "skipped",
            "rolled_back": "rolled back",
        }
        parts += [f"{counts[s]} {label}" for s, label in labels.items() if counts[s]]
        warned = sum(len(m.warned_tests) for m in self.models)
        if warned:
            parts.append(f"{warned} test warnings")
        return f"{', '.join(parts)} in {self.seconds:.1f}s on {self.target}"


class BuildError(Exception):
    """A model could not be built; the message names the model and says what to do."""


class _TestsFailed(Exception):
    pass


class _Abort(Exception):
    pass


def build_models(
    target: Target | Connection,
    project: Project,
    select: Sequence[str] | None = None,
    *,
    atomic: Atomicity = "model",
    fail_fast: bool = False,
    progress: Callable[[ModelResult], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> BuildResult:
    """Build the selected models (all by default) and run their data tests.

    Raises ``ProjectError`` before touching the warehouse when a selected model or test cannot be rendered for
    the target. Everything that goes wrong while building is reported in the returned ``BuildResult``.
    ``progress`` is called with each model's result as soon as it is known.
    """
    conn = target.connect() if isinstance(target, Target) else target
    if conn.in_transaction:
        raise ValueError("build_models needs a connection outside a transaction (atomic='run' makes one)")
    try:
        return _Builder(conn, project, project.select(select), atomic, fail_fast, progress, clock).run()
    finally:
        if isinstance(target, Target):
            conn.close()


def render_models(
    project: Project, names: Sequence[str], dialect: str, known_functions: Collection[str] | None = None
) -> dict[str, str]:
    """Render models (and pre-render their tests) for ``dialect``; raise ``ProjectError`` listing every failure."""
    rendered: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        model = project.models[name]
        try:
            rendered[name] = render_query(
                model.ast, dialect, what=f"model {name} ({model.path})", known_functions=known_functions
            )
            for check in checks_for(model):
                what = f"test {check.name} of {name} ({model.path}:{check.spec.line or model.config.line})"
                render_query(
                    _parse(failing_rows_sql(check, model, {})), dialect, what=what, known_functions=known_functions
                )
        except RenderError as exc:
            problems.append(str(exc))
    if problems:
        raise ProjectError(problems)
    return rendered


def _parse(sql: str) -> exp.Expression:
    import sqlglot

    from warehouse.models import SOURCE_DIALECT

    return sqlglot.parse_one(sql, read=SOURCE_DIALECT)


class _Builder:
    def __init__(
        self,
        conn: Connection,
        project: Project,
        selected: list[str],
        atomic: Atomicity,
        fail_fast: bool,
        progress: Callable[[ModelResult], None] | None,
        clock: Callable[[], float],
    ) -> None:
        self.conn = conn
        self.project = project
        self.selected = selected
        self.position = {name: i for i, name in enumerate(selected)}
        self.atomic = atomic
        self.fail_fast = fail_fast
        self.progress = progress
        self.clock = clock
        self.known_functions = conn.function_names()
        self.rendered = render_models(project, selected, conn.dialect, self.known_functions)
        self.results: dict[str, ModelResult] = {}
        self.failed: set[str] = set()

    def run(self) -> BuildResult:
        started = self.clock()
        result = BuildResult(self.conn.target.redacted)
        if self.atomic == "run":
            try:
                with self.conn.transaction():
                    self._build_all()
                    if self.failed:
                        raise _Abort
            except _Abort:
                for r in self.results.values():
                    if r.status == "success":
                        r.status = "rolled_back"
        else:
            self._build_all()
        result.models = [self.results[n] for n in self.selected]
        result.seconds = self.clock() - started
        return result

    def _build_all(self) -> None:
        for name in self.selected:
            model = self.project.models[name]
            if self.failed and (self.fail_fast or self.atomic == "run"):
                self._record(ModelResult(name, model.materialized, "skipped", error="not built: the run stopped"))
                continue
            broken = [d for d in model.depends_on if d in self.failed]
            if broken:
                self.failed.add(name)
                message = f"not built because {broken[0]} failed; the previous version stays in place"
                self._record(ModelResult(name, model.materialized, "skipped", error=message))
                continue
            self._record(self._build_one(model))

    def _record(self, result: ModelResult) -> None:
        self.results[result.model] = result
        if result.status in ("error", "test_failed"):
            self.failed.add(result.model)
        if self.progress:
            self.progress(result)

    def _build_one(self, model: Model) -> ModelResult:
        result = ModelResult(model.name, model.materialized, "success")
        started = self.clock()
        try:
            with self.conn.transaction():
                self._materialize(model, result)
        except _TestsFailed:
            result.status = "test_failed"
            result.error = result.failed_tests[0].message
        except (BuildError, CheckError) as exc:
            result.status = "error"
            result.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the warehouse's own error, reported against the model
            result.status = "error"
            result.error = f"{model.name} failed to build: {_first_line(exc)}"
        finally:
            result.seconds = self.clock() - started
        return result

    # -- one model --------------------------------------------------------------------------------------------------

    def _materialize(self, model: Model, result: ModelResult) -> None:
        conn, schema, table = self.conn, model.schema, model.table
        self._check_inputs(model)
        tmp = f"{schema}.{TMP_PREFIX}{table}"
        kind = "view" if model.materialized == "view" else "table"
        conn.execute(f"create schema if not exists {schema}")
        _drop_relation(conn, schema, TMP_PREFIX + table)
        conn.execute(f"create {kind} {tmp} as\n{self.rendered[model.name]}")
        columns = conn.columns(schema, TMP_PREFIX + table)
        result.warnings.extend(_check_columns(model, columns))
        _write_comments(conn, model, tmp, kind, columns)
        if kind == "table":
            result.rows = int(conn.query(f"select count(*) from {tmp}")[0][0])
            if conn.dialect == "postgres":
                conn.execute(f"analyze {tmp}")  # statistics for the tests now, and for the first readers
        for check, owner in self._checks_gated_by(model):
            if owner.name != model.name and not _exists(conn, owner.name):
                continue  # the test's own model was never built: no rows to check yet
            other = check.other_relation
            if other and other != model.name and not _exists(conn, other):
                spec = check.spec
                message = f"{owner.name}: {check.name} not run: {other} is not in the warehouse yet"
                result.tests.append(
                    TestResult(
                        owner.name, check.name, spec.kind, spec.column, spec.severity, "skipped", message=message
                    )
                )
                result.warnings.append(message)
                continue
            relations = {model.name: tmp}
            result.tests.append(run_check(conn, check, owner, relations, validate=False, clock=self.clock))
        if result.failed_tests:
            raise _TestsFailed
        self._swap(model, tmp, kind)

    def _check_inputs(self, model: Model) -> None:
        for source in model.sources:
            schema, table = source.split(".", 1)
            if self.conn.relation_kind(schema, table) is None:
                raise BuildError(
                    f"{model.name} reads {source}, which does not exist in the warehouse: "
                    f"load it first (smw run) or fix the table name in {model.path}"
                )
        for upstream in model.depends_on:
            built_now = self.results.get(upstream)
            if built_now and built_now.status == "success":
                continue
            dep = self.project.models[upstream]
            if self.conn.relation_kind(dep.schema, dep.table) is None:
                raise BuildError(
                    f"{model.name} reads {upstream}, which is not built yet: build it too (--select +{model.name})"
                )

    def _checks_gated_by(self, model: Model) -> list[tuple[Check, Model]]:
        """Tests to run before ``model`` is swapped in: its own, and relationships that point at it.

        A relationships test runs when the later of its two models is built in this run, so that it compares the
        two versions that will be live together.
        """
        out: list[tuple[Check, Model]] = []
        here = self.position[model.name]
        for check in checks_for(model):
            other = check.other_relation
            if other in self.position and self.position[other] > here:
                continue  # runs when ``other`` is built
            out.append((check, model))
        for owner in self.project.models.values():
            if owner.name == model.name:
                continue
            for check in checks_for(owner):
                if check.other_relation != model.name:
                    continue
                if owner.name in self.position and self.position[owner.name] > here:
                    continue  # runs when the owner is built
                if owner.name in self.failed:
                    continue  # the owner's old version stays; its own build already reported the problem
                out.append((check, owner))
        return out

    def _swap(self, model: Model, tmp: str, kind: str) -> None:
        conn, schema, table = self.conn, model.schema, model.table
        final = f"{schema}.{table}"
        old = conn.relation_kind(schema, table)
        dependents: list[_SavedView] = []
        grants: list[tuple[str, str]] = []
        if old and conn.dialect == "postgres":
            dependents = _pg_dependent_views(conn, final)
            grants = _pg_grants(conn, final)
        if old:
            cascade = " cascade" if dependents else ""
            conn.execute(f"drop {'view' if old == 'view' else 'table'} {final}{cascade}")
        conn.execute(f"alter {kind} {tmp} rename to {table}")
        for privilege, grantee in grants:
            conn.execute(f"grant {privilege} on {final} to {grantee}")
        for view in dependents:
            self._recreate_view(model, view)

    def _recreate_view(self, replaced: Model, view: _SavedView) -> None:
        """Put back a PostgreSQL view dropped with the relation it reads: its old definition, else its model's."""
        conn = self.conn
        attempts = [view.definition]
        as_model = self.project.models.get(view.name)
        if as_model is not None and as_model.materialized == "view":
            attempts.append(
                self.rendered.get(view.name)
                or render_query(
                    as_model.ast, conn.dialect, what=f"model {view.name}", known_functions=self.known_functions
                )
            )
        error: Exception | None = None
        for definition in attempts:
            conn.execute("savepoint smw_view")
            try:
                options = f" with ({', '.join(view.options)})" if view.options else ""
                conn.execute(f"create view {view.name}{options} as {definition}")
            except Exception as exc:  # noqa: BLE001 - try the next definition
                conn.execute("rollback to savepoint smw_view")
                error = exc
                continue
            conn.execute("release savepoint smw_view")
            if view.comment is not None:
                conn.execute(f"comment on view {view.name} is {_literal(view.comment, 'postgres')}")
            for column, comment in view.column_comments:
                conn.execute(f"comment on column {view.name}.{_quote_pg(column)} is {_literal(comment, 'postgres')}")
            for privilege, grantee in view.grants:
                conn.execute(f"grant {privilege} on {view.name} to {grantee}")
            return
        raise BuildError(
            f"rebuilding {replaced.name} drops view {view.name}, which cannot be recreated on the new version "
            f"({_first_line(error) if error else 'unknown error'}): fix or drop that view, then build again"
        )


def _check_columns(model: Model, columns: list[str]) -> list[str]:
    bad = [c for c in columns if not IDENTIFIER.match(c)]
    if bad:
        raise BuildError(
            f"{model.name} produces column {bad[0]!r}, which is not lower-case snake_case: give it an alias "
            f"({model.path})"
        )
    missing_grain = [c for c in model.config.grain if c not in columns]
    if missing_grain:
        raise BuildError(f"{model.name}: grain column {missing_grain[0]} is not in the result ({model.path})")
    documented = [c.name for c in model.config.columns]
    missing = [c for c in documented if c not in columns]
    if missing:
        spec = model.config.column(missing[0])
        raise BuildError(
            f"{model.path}:{spec.line if spec else '?'}: {model.name} documents column {missing[0]}, "
            "which the SELECT does not produce"
        )
    undocumented = [c for c in columns if (s := model.config.column(c)) is None or not s.description]
    if undocumented:
        return [f"{len(undocumented)} columns have no description: {', '.join(undocumented)}"]
    return []


def _write_comments(conn: Connection, model: Model, relation: str, kind: str, columns: list[str]) -> None:
    conn.execute(f"comment on {kind} {relation} is {_literal(model.description, conn.dialect)}")
    for spec in model.config.columns:
        if spec.description and spec.name in columns:
            conn.execute(f"comment on column {relation}.{spec.name} is {_literal(spec.description, conn.dialect)}")


def _exists(conn: Connection, relation: str) -> bool:
    schema, name = relation.split(".", 1)
    return conn.relation_kind(schema, name) is not None


def _drop_relation(conn: Connection, schema: str, name: str) -> None:
    kind = conn.relation_kind(schema, name)
    if kind:
        conn.execute(f"drop {kind} {schema}.{name}")


def _literal(text: str, dialect: str) -> str:
    return exp.Literal.string(text).sql(dialect)


def _quote_pg(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- PostgreSQL: dependent views and grants -----------------------------------------------------------------------


@dataclass
class _SavedView:
    name: str  # quoted, schema-qualified
    definition: str
    options: list[str]
    comment: str | None
    column_comments: list[tuple[str, str]]
    grants: list[tuple[str, str]]


_PG_DEPENDENT_VIEWS = """
with recursive deps(oid, depth) as (
    select r.ev_class, 1
    from pg_depend d join pg_rewrite r on r.oid = d.objid
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
      and d.refobjid = %s::regclass and r.ev_class <> d.refobjid
  union
    select r.ev_class, deps.depth + 1
    from deps join pg_depend d on d.refobjid = deps.oid join pg_rewrite r on r.oid = d.objid
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass and r.ev_class <> deps.oid
)
select c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind, max(deps.depth),
       pg_get_viewdef(c.oid), c.reloptions, obj_description(c.oid, 'pg_class')
from deps join pg_class c on c.oid = deps.oid join pg_namespace n on n.oid = c.relnamespace
group by c.oid, n.nspname, c.relname, c.relkind, c.reloptions
order by max(deps.depth), 2
"""

_PG_GRANTS = """
select a.privilege_type, case when a.grantee = 0 then 'public' else quote_ident(r.rolname) end
from pg_class c cross join lateral aclexplode(c.relacl) a left join pg_roles r on r.oid = a.grantee
where c.oid = %s::regclass and a.grantee <> c.relowner
order by 2, 1
"""

_PG_COLUMN_COMMENTS = """
select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a
where a.attrelid = %s and a.attnum > 0 and not a.attisdropped and col_description(a.attrelid, a.attnum) is not null
order by a.attnum
"""


def _pg_grants(conn: Connection, relation: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in conn.query(_PG_GRANTS, (relation,))]


def _pg_dependent_views(conn: Connection, relation: str) -> list[_SavedView]:
    saved = []
    for oid, name, relkind, _depth, definition, options, comment in conn.query(_PG_DEPENDENT_VIEWS, (relation,)):
        if relkind != "v":
            raise BuildError(
                f"{name} (a materialized view or similar) depends on {relation}; drop it before building, "
                "or make it a model"
            )
        column_comments = [(r[0], r[1]) for r in conn.query(_PG_COLUMN_COMMENTS, (oid,))]
        saved.append(
            _SavedView(name, definition, list(options or []), comment, column_comments, _pg_grants(conn, name))
        )
    return saved
