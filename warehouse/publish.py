"""Make the new marts visible to BI tools atomically, or not at all.

**DuckDB** allows one writer or many readers per file, so BI tools never open the warehouse itself: they open a
published copy (``data/serviceminder_marts.duckdb``) that holds the ``marts`` and ``reports`` schemas as plain tables.
``publish_duckdb`` writes a new copy to a temporary file beside it and swaps it in with ``os.replace``: a BI session
that has the old file open keeps reading the old data, new sessions open the new file, and the nightly writer never
waits for a reader. The copy is made read-only (mode 0444).

**PostgreSQL** BI tools read ``marts`` and ``reports`` directly. The nightly run builds them into side schemas
(``marts__smw_next``; ``side_project``), and ``swap_schemas`` renames the side schemas into place in one transaction,
with the old schemas' grants and the views other people built on them carried over. The swap first locks every
relation readers may be reading (``_lock_what_readers_read``), so queries already under way finish on the old marts.
Readers never see a gap or a mix of old and new marts, and they wait for nothing but that short transaction.

``grant_reader`` makes a PostgreSQL role that can read ``marts`` and ``reports`` and nothing else.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2.errors
from sqlglot import exp

from warehouse.header import ModelConfig, TestSpec
from warehouse.models import SOURCE_DIALECT, TMP_PREFIX, Model, Project
from warehouse.target import Connection

log = logging.getLogger(__name__)

PUBLISHED_SCHEMAS = ("marts", "reports")
NEXT_SUFFIX = "__smw_next"
OLD_SUFFIX = "__smw_old"
OLD_SCHEMA_LOCK_TIMEOUT = "10s"
SWAP_WAIT_SECONDS = 60.0  # the swap waits this long in all for BI queries still reading the marts
SWAP_ATTEMPT_MAX_MS = 250  # one try at locking them all; also capped below the server's deadlock_timeout
SWAP_RETRY_PAUSE_SECONDS = 0.05
NOT_FOR_READERS = ("raw", "meta", "staging")


class PublishError(Exception):
    """The new marts could not be published; the previous ones are still in place."""


@dataclass
class Published:
    """What BI tools now see."""

    location: str  # the DuckDB file, or the PostgreSQL schemas
    tables: dict[str, int] = field(default_factory=dict)  # schema.table -> rows


# -- DuckDB: a read-only copy, swapped in with os.replace ------------------------------------------------------------


def publish_duckdb(conn: Connection, path: Path, schemas: Iterable[str] = PUBLISHED_SCHEMAS) -> Published:
    """Copy ``schemas`` of the warehouse behind ``conn`` into a new file and atomically replace ``path`` with it."""
    if conn.dialect != "duckdb":
        raise ValueError("publish_duckdb needs a DuckDB warehouse connection")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    alias = "smw_publish"
    published = Published(str(path))
    _remove(tmp, tmp.with_name(tmp.name + ".wal"))
    conn.execute(f"attach {_sql_string(str(tmp))} as {alias}")
    try:
        for schema in schemas:
            relations = conn.query(
                "select table_name from information_schema.tables where table_catalog = current_database() "
                "and table_schema = %s order by table_name",
                (schema,),
            )
            conn.execute(f"create schema {alias}.{schema}")
            for (name,) in relations:
                if name.startswith(TMP_PREFIX):
                    continue
                # views become tables: the copy must not need anything outside itself
                conn.execute(f"create table {alias}.{schema}.{name} as select * from {schema}.{name}")
                _copy_duckdb_comments(conn, alias, schema, name)
                published.tables[f"{schema}.{name}"] = int(
                    conn.query(f"select count(*) from {alias}.{schema}.{name}")[0][0]
                )
        conn.execute(f"checkpoint {alias}")
    except BaseException:
        conn.execute(f"detach {alias}")
        _remove(tmp, tmp.with_name(tmp.name + ".wal"))
        raise
    conn.execute(f"detach {alias}")
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)  # atomic: readers of the old file keep it; new readers get this one
    _fsync_dir(path.parent)
    stale_wal = path.with_name(path.name + ".wal")
    if stale_wal.exists():
        # only a read-write session on the old copy leaves one, and it would be replayed into the new copy
        log.warning("removed %s, left by a tool that wrote to the published copy: open it read-only", stale_wal)
        _remove(stale_wal)
    return published


def _copy_duckdb_comments(conn: Connection, alias: str, schema: str, name: str) -> None:
    rows = conn.query(
        "select comment from duckdb_tables() where database_name = current_database() and schema_name = %s "
        "and table_name = %s union all select comment from duckdb_views() where database_name = current_database() "
        "and schema_name = %s and view_name = %s",
        (schema, name, schema, name),
    )
    comment = rows[0][0] if rows else None
    if comment:
        conn.execute(f"comment on table {alias}.{schema}.{name} is {_sql_string(comment)}")
    for column, column_comment in conn.query(
        "select column_name, comment from duckdb_columns() where database_name = current_database() "
        "and schema_name = %s and table_name = %s and comment is not null",
        (schema, name),
    ):
        if column_comment:
            conn.execute(f"comment on column {alias}.{schema}.{name}.{column} is {_sql_string(column_comment)}")


def _remove(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- PostgreSQL: build beside the live schemas, then swap them in one transaction -----------------------------------


def side_schema(schema: str) -> str:
    return schema + NEXT_SUFFIX


def side_project(project: Project, schemas: Collection[str] = PUBLISHED_SCHEMAS) -> Project:
    """The same project with the models of ``schemas`` moved to their side schemas (``marts`` → ``marts__smw_next``).

    Every reference moves with them: the models' SQL, their dependencies and the relationships tests, so that the
    side schemas are built and tested exactly as the live ones would be.
    """
    mapping = {s: side_schema(s) for s in schemas}

    def rename(name: str | None) -> str | None:
        if name is None or "." not in name:
            return name
        schema, table = name.split(".", 1)
        return f"{mapping[schema]}.{table}" if schema in mapping else name

    def move_tables(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db in mapping and not node.args.get("catalog"):
            node = node.copy()
            node.set("db", exp.to_identifier(mapping[node.db]))
        return node

    def test(spec: TestSpec) -> TestSpec:
        changes: dict[str, object] = {}
        if spec.to:
            changes["to"] = rename(spec.to)
        if spec.expression:
            condition = exp.condition(spec.expression, dialect=SOURCE_DIALECT)
            changes["expression"] = condition.transform(move_tables).sql(SOURCE_DIALECT)
        return dataclasses.replace(spec, **changes) if changes else spec

    def config(c: ModelConfig) -> ModelConfig:
        columns = tuple(
            dataclasses.replace(col, tests=tuple(test(t) for t in col.tests)) if col.tests else col for col in c.columns
        )
        return dataclasses.replace(c, columns=columns, tests=tuple(test(t) for t in c.tests))

    models: dict[str, Model] = {}
    depth: dict[str, int] = {}
    for name, model in project.models.items():
        schema = mapping.get(model.schema, model.schema)
        moved = dataclasses.replace(
            model,
            name=f"{schema}.{model.table}",
            schema=schema,
            config=config(model.config),
            ast=model.ast.transform(move_tables),
            depends_on=tuple(sorted(str(rename(d)) for d in model.depends_on)),
        )
        models[moved.name] = moved
        depth[moved.name] = project.depth[name]
    return Project(project.models_dir, models, depth)


def live_name(text: str, schemas: Collection[str] = PUBLISHED_SCHEMAS) -> str:
    """Messages about side-schema models, told with the names users know (``marts__smw_next.x`` → ``marts.x``)."""
    for schema in schemas:
        text = text.replace(side_schema(schema) + ".", schema + ".")
    return text


def prepare_side_schemas(conn: Connection, schemas: Collection[str] = PUBLISHED_SCHEMAS) -> None:
    """Empty side schemas to build into; whatever an interrupted run left there is dropped first."""
    drop_old_schemas(conn, schemas)
    for schema in schemas:
        conn.execute(f"drop schema if exists {side_schema(schema)} cascade")
        conn.execute(f"create schema {side_schema(schema)}")


def discard_side_schemas(conn: Connection, schemas: Collection[str] = PUBLISHED_SCHEMAS) -> None:
    for schema in schemas:
        conn.execute(f"drop schema if exists {side_schema(schema)} cascade")


def swap_schemas(
    conn: Connection,
    project: Project,
    schemas: Collection[str] = PUBLISHED_SCHEMAS,
    *,
    token: str = "",
    wait_seconds: float = SWAP_WAIT_SECONDS,
) -> Published:
    """Rename the side schemas into place in one transaction; then drop the previous ones (best effort).

    Carried over to the new schemas: the grants on the schemas and their tables (and SELECT on new tables for every
    role that could use the schema), and views outside the models that read the old tables, recreated from their
    definitions with their comments and grants. A view that no longer fits the new marts stops the swap: nothing
    changes, and the error names it. Queries still reading the marts are waited for, up to ``wait_seconds``.
    """
    token = token or secrets.token_hex(4)
    model_names = {name for m in project.models.values() for name in (m.name, live_name(m.name, schemas))}
    published = Published(", ".join(schemas))
    with conn.transaction():
        live = [s for s in schemas if _schema_exists(conn, s)]
        views = [v for v in _pg_dependent_views(conn, live) if v.plain_name not in model_names]
        _lock_what_readers_read(conn, _pg_relations(conn, live) + [v.name for v in views], wait_seconds=wait_seconds)
        schema_grants = {s: _pg_schema_grants(conn, s) for s in live}
        table_grants = {s: _pg_table_grants(conn, s) for s in live}
        for view in reversed(views):
            conn.execute(f"drop view if exists {view.name} cascade")
        for schema in schemas:
            if schema in live:
                conn.execute(f"alter schema {schema} rename to {schema}{OLD_SUFFIX}_{token}")
            conn.execute(f"alter schema {side_schema(schema)} rename to {schema}")
        for schema in live:
            _apply_grants(conn, schema, schema_grants[schema], table_grants[schema])
        for view in views:
            _recreate_view(conn, view)
        for schema in schemas:
            for (name,) in conn.query(
                "select table_name from information_schema.tables where table_schema = %s order by 1", (schema,)
            ):
                published.tables[f"{schema}.{name}"] = int(conn.query(f"select count(*) from {schema}.{name}")[0][0])
    drop_old_schemas(conn, schemas)
    return published


def _lock_what_readers_read(
    conn: Connection,
    relations: list[str],
    *,
    wait_seconds: float = SWAP_WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Hold every relation BI queries may be reading (ACCESS EXCLUSIVE) until the swap commits.

    Renaming a schema locks none of its tables. Without these locks, a query that has already opened one old mart
    could look up its next table after the swap commits and join old and new data.

    Each try is bounded below the server's deadlock_timeout. A BI query may hold one mart while waiting for another
    that this try holds; the try gives up first and releases everything, so PostgreSQL never cancels that query as
    a deadlock. The swap then tries again until ``wait_seconds`` have passed.
    """
    if not relations:
        return
    deadlock_ms = int(conn.query("select setting::int from pg_settings where name = 'deadlock_timeout'")[0][0])
    attempt_ms = max(10, min(SWAP_ATTEMPT_MAX_MS, deadlock_ms // 4))
    deadline = clock() + wait_seconds
    waited = False
    while True:
        conn.execute("savepoint smw_lock")
        try:
            conn.execute(f"set local lock_timeout = {attempt_ms}")
            conn.execute(f"set local statement_timeout = {attempt_ms}")
            conn.execute(f"lock table {', '.join(relations)} in access exclusive mode")
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled):
            conn.execute("rollback to savepoint smw_lock")  # releases the locks this try took
            if clock() >= deadline:
                raise PublishError(
                    f"queries kept reading the marts for {wait_seconds:.0f} s, so the new marts could not be swapped "
                    "in; the previous marts were kept: run again when they are done (see pg_stat_activity), or raise "
                    "nightly.publish_wait"
                ) from None
            if not waited:
                log.info("waiting for queries that are reading the marts to finish before swapping in the new ones")
                waited = True
            sleep(SWAP_RETRY_PAUSE_SECONDS)
            continue
        conn.execute("release savepoint smw_lock")
        conn.execute("set local statement_timeout = default")
        conn.execute(f"set local lock_timeout = '{OLD_SCHEMA_LOCK_TIMEOUT}'")  # nothing should wait now; never hang
        return


def _pg_relations(conn: Connection, schemas: list[str]) -> list[str]:
    if not schemas:
        return []
    rows = conn.query(
        "select quote_ident(n.nspname) || '.' || quote_ident(c.relname) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p') "
        "order by 1",
        (schemas,),
    )
    return [r[0] for r in rows]


def drop_old_schemas(conn: Connection, schemas: Collection[str] = PUBLISHED_SCHEMAS) -> list[str]:
    """Drop previous marts schemas; one that a BI query still reads is left for the next run. Returns those left."""
    left = []
    for (name,) in conn.query(
        "select nspname from pg_namespace where " + " or ".join(["starts_with(nspname, %s)"] * len(schemas)),
        [f"{s}{OLD_SUFFIX}" for s in schemas],
    ):
        try:
            with conn.transaction():
                conn.execute(f"set local lock_timeout = '{OLD_SCHEMA_LOCK_TIMEOUT}'")
                conn.execute(f'drop schema "{name}" cascade')
        except Exception as exc:  # noqa: BLE001 - a reader holds it: try again next run
            log.warning("the previous marts schema %s is still in use and is dropped next run (%s)", name, exc)
            left.append(name)
    return left


def _schema_exists(conn: Connection, schema: str) -> bool:
    return bool(conn.query("select 1 from pg_namespace where nspname = %s", (schema,)))


@dataclass
class _View:
    name: str  # quoted schema.name
    plain_name: str  # schema.name, as models are named
    definition: str
    options: list[str]
    comment: str | None
    column_comments: list[tuple[str, str]]
    grants: list[tuple[str, str]]


_DEPENDENT_VIEWS = """
with recursive deps(oid, depth) as (
    select r.ev_class, 1
    from pg_depend d join pg_rewrite r on r.oid = d.objid
    join pg_class t on t.oid = d.refobjid join pg_namespace tn on tn.oid = t.relnamespace
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
      and tn.nspname = any(%s) and r.ev_class <> d.refobjid
  union
    select r.ev_class, deps.depth + 1
    from deps join pg_depend d on d.refobjid = deps.oid join pg_rewrite r on r.oid = d.objid
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass and r.ev_class <> deps.oid
)
select c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), n.nspname || '.' || c.relname, c.relkind,
       max(deps.depth), pg_get_viewdef(c.oid), c.reloptions, obj_description(c.oid, 'pg_class')
from deps join pg_class c on c.oid = deps.oid join pg_namespace n on n.oid = c.relnamespace
group by c.oid, n.nspname, c.relname, c.relkind, c.reloptions
order by max(deps.depth), 2
"""

_COLUMN_COMMENTS = """
select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a
where a.attrelid = %s and a.attnum > 0 and not a.attisdropped and col_description(a.attrelid, a.attnum) is not null
order by a.attnum
"""

_GRANTEE = "case when a.grantee = 0 then 'public' else quote_ident(r.rolname) end"


def _pg_dependent_views(conn: Connection, schemas: list[str]) -> list[_View]:
    if not schemas:
        return []
    views = []
    for oid, name, plain, relkind, _depth, definition, options, comment in conn.query(_DEPENDENT_VIEWS, (schemas,)):
        if relkind != "v":
            raise PublishError(
                f"{name} (a materialized view or similar) reads the marts, so they cannot be swapped; drop it, or "
                "make it a model in sql_models/"
            )
        grants = conn.query(
            f"select a.privilege_type, {_GRANTEE} from pg_class c cross join lateral aclexplode(c.relacl) a "
            "left join pg_roles r on r.oid = a.grantee where c.oid = %s and a.grantee <> c.relowner order by 2, 1",
            (oid,),
        )
        column_comments = [(r[0], r[1]) for r in conn.query(_COLUMN_COMMENTS, (oid,))]
        grant_list = [(g[0], g[1]) for g in grants]
        views.append(_View(name, plain, definition, list(options or []), comment, column_comments, grant_list))
    return views


def _recreate_view(conn: Connection, view: _View) -> None:
    options = f" with ({', '.join(view.options)})" if view.options else ""
    try:
        conn.execute("savepoint smw_view")
        conn.execute(f"create view {view.name}{options} as {view.definition}")
        conn.execute("release savepoint smw_view")
    except Exception as exc:
        conn.execute("rollback to savepoint smw_view")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PublishError(
            f"the view {view.name} reads the marts and does not fit the new ones ({first}); the previous marts "
            "were kept: fix or drop that view, then run again"
        ) from None
    if view.comment is not None:
        conn.execute(f"comment on view {view.name} is {_sql_string(view.comment)}")
    for column, comment in view.column_comments:
        conn.execute(f'comment on column {view.name}."{column}" is {_sql_string(comment)}')
    for privilege, grantee in view.grants:
        conn.execute(f"grant {privilege} on {view.name} to {grantee}")


def _pg_schema_grants(conn: Connection, schema: str) -> list[tuple[str, str]]:
    rows = conn.query(
        f"select a.privilege_type, {_GRANTEE} from pg_namespace n cross join lateral aclexplode(n.nspacl) a "
        "left join pg_roles r on r.oid = a.grantee where n.nspname = %s and a.grantee <> n.nspowner order by 2, 1",
        (schema,),
    )
    return [(r[0], r[1]) for r in rows]


def _pg_table_grants(conn: Connection, schema: str) -> dict[str, list[tuple[str, str]]]:
    rows = conn.query(
        f"select c.relname, a.privilege_type, {_GRANTEE} from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace cross join lateral aclexplode(c.relacl) a "
        "left join pg_roles r on r.oid = a.grantee where n.nspname = %s and a.grantee <> c.relowner "
        "and c.relkind in ('r', 'v', 'p') order by 1, 3, 2",
        (schema,),
    )
    out: dict[str, list[tuple[str, str]]] = {}
    for table, privilege, grantee in rows:
        out.setdefault(table, []).append((privilege, grantee))
    return out


def _apply_grants(
    conn: Connection, schema: str, schema_grants: list[tuple[str, str]], table_grants: Mapping[str, list]
) -> None:
    for privilege, grantee in schema_grants:
        conn.execute(f"grant {privilege} on schema {schema} to {grantee}")
    readers = sorted({grantee for privilege, grantee in schema_grants if privilege == "USAGE"})
    for (table,) in conn.query(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind in ('r', 'v', 'p')",
        (schema,),
    ):
        relation = f'{schema}."{table}"'
        grants = table_grants.get(table)
        if grants is None:  # a new model: every role that could use the schema may read it
            grants = [("SELECT", role) for role in readers]
        for privilege, grantee in grants:
            conn.execute(f"grant {privilege} on {relation} to {grantee}")


# -- PostgreSQL: a reader role ----------------------------------------------------------------------------------------


class GrantError(Exception):
    """The reader role could not be set up; the message says why and what to do."""


def grant_reader(
    conn: Connection,
    role: str,
    *,
    password: str | None = None,
    login: bool = True,
    schemas: Collection[str] = PUBLISHED_SCHEMAS,
) -> list[str]:
    """Create or update ``role`` so that it can read ``schemas`` (marts, reports) and nothing else.

    Returns the schemas it may read. The grants survive every nightly swap (``swap_schemas`` carries them over).
    """
    if conn.dialect != "postgres":
        raise GrantError(
            "DuckDB has no roles: point BI tools at the published read-only copy (see `smw status` for its path)"
        )
    if not role or len(role) > 63:
        raise GrantError("give a role name of 1 to 63 characters")
    quoted = '"' + role.replace('"', '""') + '"'
    current = conn.query("select current_user")[0][0]
    if role == current:
        raise GrantError(f"{role} is the role this command connects as; name a separate role for BI tools")
    existing = conn.query("select rolsuper from pg_roles where rolname = %s", (role,))
    if existing and existing[0][0]:
        raise GrantError(f"{role} is a superuser and can read everything; name a separate role for BI tools")
    login_clause = "login" if login else "nologin"
    other = conn.query(
        "select nspname from pg_namespace where nspname not like 'pg\\_%%' and nspname <> 'information_schema' "
        "and not (nspname = any(%s))",
        (list(schemas),),
    )
    with conn.transaction():
        if existing:
            conn.execute(f"alter role {quoted} {login_clause} nocreatedb nocreaterole noreplication nobypassrls")
        else:
            conn.execute(f"create role {quoted} {login_clause}")
        if password is not None:
            conn.execute(f"alter role {quoted} password %s", (password,))
        for schema in schemas:
            conn.execute(f"create schema if not exists {schema}")
            conn.execute(f"grant usage on schema {schema} to {quoted}")
            conn.execute(f"grant select on all tables in schema {schema} to {quoted}")
        for (schema,) in other:
            if schema == "public":
                continue  # PUBLIC's own usage of public is not this role's to revoke
            conn.execute(f'revoke all on all tables in schema "{schema}" from {quoted}')
            conn.execute(f'revoke all on schema "{schema}" from {quoted}')
        conn.execute(f"alter role {quoted} set search_path = {', '.join(schemas)}")
        conn.execute(f"alter role {quoted} set default_transaction_read_only = on")
    return list(schemas)
