"""One SQL connection, SQLite or PostgreSQL, behind the few calls the catalog makes.

The catalog writes one SQL text for both: `?` placeholders, SQLite's type names in its schema,
`ON CONFLICT` upserts and `json_extract(doc, '$.a.b')`. On PostgreSQL this module turns `?` into
`%s`, maps the schema's types (AUTOINCREMENT ids to identity columns, REAL to DOUBLE PRECISION,
BLOB to BYTEA) and defines a `json_extract` function, so no query is written twice.

Usage: `db = connect("postgresql://vidseek@db/vidseek")` or `connect(Path("catalog.sqlite"))`, then
`db.execute(sql, args).fetchall()`, `db.insert(sql, args)` (the new row's id) and
`with db.transaction(): ...`.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vidseek.errors import StoreError

URL_SETTING = "VIDSEEK_CATALOG_URL"
POSTGRES_SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_SECONDS = 10  # libpq waits forever by default for a host that drops packets


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and urlsplit(str(url)).scheme in POSTGRES_SCHEMES


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Row(tuple):
    """A result row read by column name or position, as `sqlite3.Row` is (`dict(zip(row.keys(), row))`).

    A tuple, so unpacking a row costs what it costs for a plain one; each query's rows share a
    subclass that holds the column names (`_pg_rows`)."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key):  # noqa: ANN001 - int, slice or column name
        return tuple.__getitem__(self, self._index[key] if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        return list(self._index)


class SqliteDB:
    """The embedded default: one file, WAL, foreign keys on. One lock serialises statements."""

    dialect = "sqlite"
    shared = False  # one process per data dir (store/lock.py), so nothing is claimed from other servers
    NOW = "((julianday('now') - 2440587.5) * 86400.0)"  # the database's clock, in Unix seconds
    IntegrityError: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: Path, read_only: bool = False):
        self.where = str(path)
        if read_only:
            if not path.is_file():
                raise StoreError(f"no catalog at {path}")
            self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=10)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA foreign_keys=ON")
        self.con.row_factory = sqlite3.Row
        self.lock = threading.RLock()

    def execute(self, sql: str, args: Iterable[Any] = ()) -> Any:
        with self.lock:
            return self.con.execute(sql, tuple(args))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.lock:
            self.con.executemany(sql, rows)

    def insert(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run an INSERT into a table with an `id` column; returns the new row's id."""
        with self.lock:
            return int(self.con.execute(sql, tuple(args)).lastrowid or 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all. IMMEDIATE takes the write lock at once,
        so a read-then-write (claiming a job) can't be overtaken by another process's write."""
        with self.lock:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def script(self, sql: str) -> None:
        with self.lock:
            self.con.executescript(sql)

    def columns(self, table: str) -> set[str]:
        return {r["name"] for r in self.execute(f"PRAGMA table_info({table})")}

    def schema_version(self) -> int:
        return int(self.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self.execute(f"PRAGMA user_version={int(version)}")

    @contextlib.contextmanager
    def migrating(self) -> Iterator[None]:
        yield  # the data dir's lock already keeps every other process out

    def close(self) -> None:
        with self.lock:
            self.con.close()


# SQLite's schema text in PostgreSQL's words. Ids stay 64-bit; REAL would be 4 bytes on PostgreSQL.
_PG_TYPES = [
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
]

# json_extract(doc, '$.a.b') as SQLite has it (the text at that path, or NULL), so queries are shared.
_PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$ SELECT (doc::jsonb) #>> string_to_array(substr(path, 3), '.') $$;
CREATE TABLE IF NOT EXISTS vidseek_schema (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
"""
_MIGRATION_LOCK = 0x76696473  # "vids": the advisory lock servers starting together take in turn


class PostgresDB:
    """A catalog on a PostgreSQL server that several vidseek processes share (psycopg 3, autocommit).

    A lost connection (a server restart) is opened again on the next statement outside a transaction."""

    dialect = "postgresql"
    shared = True
    # The server's clock: job leases compare heartbeats written by different machines, whose clocks differ.
    NOW = "EXTRACT(EPOCH FROM clock_timestamp())::DOUBLE PRECISION"

    def __init__(self, url: str, read_only: bool = False):
        try:
            import psycopg
        except ImportError:
            raise StoreError(f"{URL_SETTING} is a PostgreSQL URL, which needs psycopg: "
                             "pip install 'vidseek[postgres]'") from None
        self._psycopg = psycopg
        self.IntegrityError = psycopg.IntegrityError
        self.url = url
        self.where = redact(url)
        self.read_only = read_only
        self.lock = threading.RLock()
        self._sql: dict[str, str] = {}
        self._in_tx = 0
        self.con = self._connect()

    def _connect(self) -> Any:
        psycopg = self._psycopg
        options = {} if "connect_timeout" in self.url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        if self.read_only:
            options["options"] = "-c default_transaction_read_only=on"
        try:
            con = psycopg.connect(self.url, autocommit=True, **options)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()).removeprefix("connection failed: ") or type(exc).__name__
            raise StoreError(f"{URL_SETTING}: cannot connect to {self.where}: {reason}. Check the host, port, "
                             "user, password and database name, and that the server is running") from None
        con.row_factory = _pg_rows
        return con

    def _q(self, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            out = self._sql[sql] = sql.replace("%", "%%").replace("?", "%s")
        return out

    def _retry(self, call: Any) -> Any:
        with self.lock:
            try:
                return call()
            except self._psycopg.OperationalError:
                if self._in_tx or not self.con.closed and not self.con.broken:
                    raise
                self.con = self._connect()  # the server restarted or dropped us: once more, on a new one
                return call()

    def execute(self, sql: str, args: Iterable[Any] = ()) -> Any:
        q, params = self._q(sql), tuple(args)
        return self._retry(lambda: self.con.execute(q, params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        q, rows = self._q(sql), list(rows)
        if rows:
            self._retry(lambda: self.con.cursor().executemany(q, rows))

    def insert(self, sql: str, args: Iterable[Any] = ()) -> int:
        return int(self.execute(sql + " RETURNING id", args).fetchone()[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            self._in_tx += 1
            try:
                with self.con.transaction():
                    yield
            finally:
                self._in_tx -= 1

    def script(self, sql: str) -> None:
        for pattern, repl in _PG_TYPES:
            sql = pattern.sub(repl, sql)
        with self.lock:
            self.con.execute(sql)

    def columns(self, table: str) -> set[str]:
        rows = self.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = ?", (table,))
        return {r[0] for r in rows}

    def schema_version(self) -> int:
        if "version" not in self.columns("vidseek_schema"):
            return 0
        row = self.execute("SELECT version FROM vidseek_schema WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.execute("INSERT INTO vidseek_schema (id, version) VALUES (1, ?) "
                     "ON CONFLICT (id) DO UPDATE SET version = excluded.version", (int(version),))

    @contextlib.contextmanager
    def migrating(self) -> Iterator[None]:
        """Servers starting at once create and migrate the tables one at a time."""
        with self.transaction():
            self.con.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self.con.execute(_PG_FUNCTIONS)
            yield

    def close(self) -> None:
        with self.lock:
            self.con.close()


def _pg_rows(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def connect(target: str | Path, read_only: bool = False) -> SqliteDB | PostgresDB:
    """A PostgreSQL URL opens a shared server catalog; a path opens (or makes) a SQLite file."""
    if isinstance(target, str) and "://" in target:
        if not is_postgres_url(target):
            raise StoreError(f"{URL_SETTING}={redact(target)!r}: only postgresql://USER:PASSWORD@HOST:PORT/DB "
                             "URLs are supported; unset it for the SQLite catalog in the data dir")
        return PostgresDB(target, read_only=read_only)
    return SqliteDB(Path(target), read_only=read_only)
