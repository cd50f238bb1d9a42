"""The store: one database (SQLite by default, PostgreSQL by URL) plus an assetstore folder.

Owns: opening and initialising a repository, the engine settings (SQLite in WAL mode with
foreign keys on; PostgreSQL by URL), and ``transaction()``: every change runs in one
database transaction whose assetstore files are made durable before the commit and removed
if it rolls back, so a failed multi-object ingest leaves nothing behind.  Must not hold
domain queries (those live in ``objects``, ``auth``, ``registry``...).

A repository folder holds ``repository.sqlite`` and ``assetstore/``.  With ``--db-url`` the
database lives on a server and ``--assetstore`` names the folder.  A database of schema
version 1 (before Configurable Entities) is upgraded to version 2 when it is opened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy import event

from aip.errors import InputFileError, StoreError
from aip.repository import tables as T
from aip.repository.assetstore import Assetstore, Journal

#: A result row / result of any width (SQLAlchemy 2.1 types rows by their column tuple).
AnyRow: TypeAlias = sa.Row[*tuple[Any, ...]]
AnyResult: TypeAlias = sa.CursorResult[*tuple[Any, ...]]

DB_FILE = "repository.sqlite"
ASSETSTORE_DIR = "assetstore"


def utc_now() -> dt.datetime:
    """The current time, UTC, whole seconds (the AIP's LASTMODDATE has no fraction)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_uuid() -> str:
    """A random UUID, as DSpace gives a new object (lower-case, hyphenated)."""
    return str(uuid.uuid4())


def redact_url(url: str) -> str:
    """A database URL with any password replaced, safe for messages and logs."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


@dataclass
class Tx:
    """One open transaction: the connection, the assetstore, and what to do at the end."""

    conn: sa.Connection
    assetstore: Assetstore
    now: dt.datetime
    journal: Journal
    dialect: str
    delete_on_commit: list[str] = field(default_factory=list)
    cache: dict[Any, Any] = field(default_factory=dict)
    uuids: Callable[[], str] = new_uuid

    def execute(self, stmt: Any, params: Any = None) -> AnyResult:
        return self.conn.execute(stmt, params) if params is not None else self.conn.execute(stmt)

    def scalar(self, stmt: Any) -> Any:
        return self.conn.execute(stmt).scalar()

    def scalar_params(self, stmt: Any, params: dict[str, Any]) -> Any:
        """``scalar`` of a prebuilt statement with bound parameters."""
        return self.conn.execute(stmt, params).scalar()

    def insert_rows(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` (each with the same keys) into ``table`` in one statement.

        On SQLite, when no named column needs its values converted and no other column has
        a default SQLAlchemy would fill in (``_driver_insert``), the driver runs the
        statement itself: SQLAlchemy's own work per statement costs more than SQLite's
        for the rows of one item, and a restore runs several such statements per item.
        """
        if not rows:
            return
        sql = _driver_insert(table, tuple(rows[0])) if self.dialect == "sqlite" else None
        if sql is None:
            self.conn.execute(_insert(table, returning=False), list(rows))
        else:
            self._driver_executemany(sql, rows)

    def insert_ids(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` into ``table``, whose ``id`` the database gives; their ids, in the
        order of ``rows``.

        SQLite: one ``executemany`` (by the driver itself when ``insert_rows`` would) and
        ``last_insert_rowid()``.  The rows of one statement get consecutive ids (a row
        inserted without one gets one more than the largest in the table,
        https://www.sqlite.org/autoinc.html; aipsync never gives these tables an id near
        the largest possible, where SQLite would pick one at random), and no other
        connection writes between them (SQLite has one writer, and a transaction keeps the
        write lock from its first write to its end).  SQLAlchemy's ``RETURNING`` with the
        rows' order kept sends SQLite one statement per row.  PostgreSQL: ``INSERT ...
        RETURNING`` in batches, the rows' order kept (SQLAlchemy's "insertmanyvalues").
        """
        if not rows:
            return []
        if self.dialect == "sqlite":
            sql = _driver_insert(table, tuple(rows[0]))
            if sql is None:
                self.conn.execute(_insert(table, returning=False), list(rows))
                last = int(self.conn.execute(_LAST_ROWID).scalar_one())
            else:
                self._driver_executemany(sql, rows)
                last = int(self._driver().execute("SELECT last_insert_rowid()").fetchone()[0])
            return list(range(last - len(rows) + 1, last + 1))
        if len(rows) == 1:
            return [pk(self.conn.execute(_insert(table, returning=False), dict(rows[0])))]
        result = self.conn.execute(_insert(table, returning=True), list(rows))
        return [int(row[0]) for row in result]

    def _driver(self) -> sqlite3.Connection:
        """SQLite's own connection under this transaction's."""
        driver = self.conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        return driver

    def _driver_executemany(self, sql: str, rows: Sequence[dict[str, Any]]) -> None:
        """Run an INSERT of ``_driver_insert`` on SQLite's own connection, in this
        transaction.

        The connection's cursor events fire around it as around SQLAlchemy's own statements
        (``before_cursor_execute``, ``after_cursor_execute``, without an execution
        context), so what listens to them still sees every INSERT: the write flag of the
        transaction (``_note_writes``), the crash tests' fault points.  Its errors are
        SQLAlchemy's, as if SQLAlchemy had run it (the transaction turns them into
        ``StoreError``).
        """
        events = self.conn.dispatch
        params = list(rows)
        cursor = self._driver().cursor()
        try:
            events.before_cursor_execute(self.conn, cursor, sql, params, None, True)
            cursor.executemany(sql, params)
            events.after_cursor_execute(self.conn, cursor, sql, params, None, True)
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
        finally:
            cursor.close()

    def sync_sequences(self, *tables: sa.Table) -> None:
        """After inserts with explicit ids, move PostgreSQL's id sequences past them.

        SQLite needs nothing: its next rowid is always max(rowid) + 1.
        """
        if self.dialect != "postgresql":
            return
        for table in tables:
            self.conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)")


_LAST_ROWID = sa.select(sa.func.last_insert_rowid())


#: Column types whose values SQLite's driver stores as SQLAlchemy would, unconverted
#: (``Text`` and ``BigInteger`` are among them; ``Boolean``, ``Date``, ``DateTime`` are not).
_PLAIN_TYPES = (sa.Integer, sa.String)


@functools.lru_cache(maxsize=64)
def _driver_insert(table: sa.Table, names: tuple[str, ...]) -> str | None:
    """SQLite INSERT text of ``names`` into ``table`` with named parameters, for the driver
    to run itself; None when a named column's values would need converting or another
    column has a default SQLAlchemy fills in."""
    columns = [table.c[name] for name in names]
    if not all(isinstance(c.type, _PLAIN_TYPES) for c in columns):
        return None
    if any(c.default is not None for c in table.columns if c.name not in names):
        return None
    quoted = ", ".join(f'"{name}"' for name in names)
    params = ", ".join(f":{name}" for name in names)
    return f'INSERT INTO "{table.name}" ({quoted}) VALUES ({params})'


@functools.lru_cache(maxsize=32)
def _insert(table: sa.Table, *, returning: bool) -> sa.Insert:
    """``insert_ids``'s statement for ``table``, built once (a restore runs it per item)."""
    stmt = sa.insert(table)
    return stmt.returning(table.c.id, sort_by_parameter_order=True) if returning else stmt


def pk(result: AnyResult) -> int:
    """The integer primary key an INSERT produced."""
    key = result.inserted_primary_key
    if key is None:
        raise StoreError("insert returned no primary key")
    return int(key[0])


class Repository:
    """An embedded repository: database engine + assetstore + clock."""

    def __init__(self, engine: sa.Engine, assetstore: Assetstore, *,
                 clock: Callable[[], dt.datetime] = utc_now, location: str = "",
                 uuids: Callable[[], str] = new_uuid) -> None:
        self.engine = engine
        self.assetstore = assetstore
        self.clock = clock
        self.location = location
        self.uuids = uuids

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path | None = None, *, db_url: str | None = None,
             assetstore: Path | None = None, create: bool = False,
             clock: Callable[[], dt.datetime] = utc_now,
             uuids: Callable[[], str] = new_uuid) -> Repository:
        """Open (or, with ``create``, make) a repository.

        Raises:
            StoreError: no repository there (and not ``create``), or the database is
                unreachable.
        """
        if db_url is None:
            if folder is None:
                raise StoreError("no repository given: use --repo DIR (or AIPSYNC_REPO), "
                                 "or --db-url URL --assetstore DIR")
            folder = Path(folder)
            if create:
                folder.mkdir(parents=True, exist_ok=True)
            elif not (folder / DB_FILE).is_file():
                raise StoreError(f"{folder}: not an aipsync repository "
                                 "(run 'aipsync --repo DIR repo init' first)")
            db_url = f"sqlite:///{(folder / DB_FILE).resolve()}"
            assetstore = assetstore or folder / ASSETSTORE_DIR
            location = str(folder)
        else:
            if assetstore is None:
                if folder is None:
                    raise StoreError("--db-url needs --assetstore DIR (or --repo DIR)")
                assetstore = Path(folder) / ASSETSTORE_DIR
            location = redact_url(db_url)
        engine = make_engine(db_url)
        repo = cls(engine, Assetstore(Path(assetstore)), clock=clock, location=location,
                   uuids=uuids)
        try:
            exists = sa.inspect(engine).has_table(T.repository_info.name)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open database {redact_url(db_url)}: "
                             f"{exc.orig.__class__.__name__}") from exc
        if not exists and not create:
            raise StoreError(f"{location}: not an aipsync repository "
                             "(run 'aipsync repo init' first)")
        if exists:
            repo._check_version()
            repo.recover()
        return repo

    def _check_version(self) -> None:
        with self.engine.connect() as conn:
            version = conn.execute(
                sa.select(T.repository_info.c.value)
                .where(T.repository_info.c.key == "schema_version")).scalar()
        if version is None:
            raise StoreError(f"{self.location}: repository was never initialised "
                             "(run 'aipsync repo init')")
        if int(version) == 1:
            self._upgrade_from_1()
        elif int(version) != T.SCHEMA_VERSION:
            raise StoreError(f"{self.location}: repository schema version {version}, "
                             f"this aipsync reads version {T.SCHEMA_VERSION}")

    def _upgrade_from_1(self) -> None:
        """Version 1 -> 2: the entity tables, and a UUID for every item (one transaction).

        Another process may have upgraded meanwhile: the version is read again under the
        write lock.
        """
        with self.transaction() as tx:
            version = tx.scalar(sa.select(T.repository_info.c.value)
                                .where(T.repository_info.c.key == "schema_version"))
            if int(version) != 1:
                return
            conn = tx.conn
            if "uuid" not in {c["name"] for c in sa.inspect(conn).get_columns("item")}:
                conn.exec_driver_sql("ALTER TABLE item ADD COLUMN uuid VARCHAR(36)")
                conn.exec_driver_sql("CREATE UNIQUE INDEX uq_item_uuid ON item (uuid)")
            T.meta.create_all(conn, tables=[T.entity_type, T.relationship_type,
                                            T.relationship, T.relationship_pending])
            ids = list(tx.execute(sa.select(T.item.c.id).where(T.item.c.uuid.is_(None))
                                  ).scalars())
            for start in range(0, len(ids), 500):
                tx.execute(sa.update(T.item).where(T.item.c.id == sa.bindparam("iid"))
                           .values(uuid=sa.bindparam("u")),
                           [{"iid": iid, "u": self.uuids()} for iid in ids[start:start + 500]])
            tx.execute(sa.update(T.repository_info)
                       .where(T.repository_info.c.key == "schema_version")
                       .values(value=str(T.SCHEMA_VERSION)))

    def is_initialised(self) -> bool:
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(T.repository_info.name):
                return False
            return conn.execute(
                sa.select(T.repository_info.c.value)
                .where(T.repository_info.c.key == "schema_version")).scalar() is not None

    def create_schema(self) -> None:
        T.meta.create_all(self.engine)

    def recover(self) -> None:
        """Remove files of transactions whose process died (crash journals).

        A journal still locked by a live writer is left alone: opening a repository while
        another process writes to it must not touch that process's files.
        """
        for path in self.assetstore.pending_journals():
            claimed = Journal.claim(path)
            if claimed is None:
                continue
            keys, fd = claimed
            try:
                referenced: set[str] = set()
                with self.engine.connect() as conn:
                    for start in range(0, len(keys), 500):
                        chunk = keys[start:start + 500]
                        referenced.update(conn.execute(
                            sa.select(T.bitstream.c.store_key)
                            .where(T.bitstream.c.store_key.in_(chunk))).scalars())
                self.assetstore.delete((k for k in keys if k not in referenced),
                                       with_temp=True)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            finally:
                os.close(fd)

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """One database transaction; assetstore files follow its fate.

        On a clean exit, new files are fsynced, then the database commits, then files of
        deleted bitstreams are removed.  On an exception, the database rolls back and every
        file written in the transaction is deleted.
        """
        journal = self.assetstore.journal()
        conn = self.engine.connect().execution_options(aipsync_write=write)
        tx: Tx | None = None
        try:
            with conn.begin():
                conn.info[_CHANGED] = False
                tx = Tx(conn=conn, assetstore=self.assetstore, now=self.clock(),
                        journal=journal, dialect=self.engine.dialect.name, uuids=self.uuids)
                try:
                    yield tx
                    if conn.info.get(_CHANGED):
                        _next_generation(conn)
                    self.assetstore.sync_journal(journal)
                except BaseException:
                    self.assetstore.delete(journal.keys())
                    raise
            self.assetstore.delete(tx.delete_on_commit)
        except sa.exc.IntegrityError as exc:
            raise StoreError(f"the change conflicts with existing data: "
                             f"{_short_db_error(exc)}") from exc
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database error: {_short_db_error(exc)}") from exc
        finally:
            journal.close()
            conn.close()


    def generation(self) -> int:
        """The repository's change counter: every transaction that changed a row moved it
        on.  Equal counters mean equal content (a backup that saw one need not export)."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(T.repository_info.c.value)
                                 .where(T.repository_info.c.key == _GENERATION)).scalar()
        return int(value) if value is not None else 0


#: ``repository_info`` key of the change counter, and the connection flag that says a
#: transaction changed something (set by a cursor event, read before its commit).
_GENERATION = "generation"
_CHANGED = "aipsync_changed"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _next_generation(conn: sa.Connection) -> None:
    info = T.repository_info
    current = conn.execute(sa.select(info.c.value).where(info.c.key == _GENERATION)).scalar()
    if current is None:
        conn.execute(sa.insert(info).values(key=_GENERATION, value="1"))
    else:
        conn.execute(sa.update(info).where(info.c.key == _GENERATION)
                     .values(value=str(int(current) + 1)))


def _note_writes(conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
    """Cursor event: a statement that changes rows marks its transaction as changing."""
    if statement.lstrip()[:7].upper().startswith(_WRITES):
        conn.info[_CHANGED] = True


def _short_db_error(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()
    return text[0] if text else type(exc.orig).__name__


def make_engine(db_url: str) -> sa.Engine:
    """An engine with aipsync's settings for SQLite (WAL, foreign keys) or PostgreSQL."""
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            parent = Path(url.database).parent
            if not parent.is_dir():
                raise InputFileError(path=str(parent), detail="no such folder")
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # Only transaction(write=True) takes the write lock up front; everything else
            # (schema checks on open, read transactions) must not wait for a writer.
            write = conn.get_execution_options().get("aipsync_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        event.listen(engine, "after_cursor_execute", _note_writes)
        return engine
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, pool_pre_ping=True)
    event.listen(engine, "after_cursor_execute", _note_writes)
    return engine
