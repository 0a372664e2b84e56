"""The catalog: tenants, their libraries, videos, shots, keys and jobs, in SQLite or PostgreSQL.

Milvus holds the searchable rows; the catalog is the source of truth for "is this video done",
so a crash between the two never reports a half-indexed video as indexed. Every read that a
tenant can reach takes the tenant as an argument: there is no unscoped lookup by id for them.

The embedded default is one SQLite file in the data dir. `VIDSEEK_CATALOG_URL=postgresql://...`
puts it on a PostgreSQL server instead, which several `vidseek serve` processes share: they claim
indexing jobs from it (`claim_job`) and take over the jobs of one that died (`requeue_stale`).
The same SQL runs on both (`vidseek.store.sql`).

The connection is shared by the server's threads; one lock serialises statements (SQLite does
the same internally) so a transaction of one thread never interleaves with another's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.errors import ConflictError, NotFoundError, StoreError, VidseekError
from vidseek.store.faces import FACES_SCHEMA, FacesMixin
from vidseek.store.shots import ShotCache, Shots
from vidseek.store.sql import PostgresDB, Row, SqliteDB, connect

if TYPE_CHECKING:
    from vidseek.settings import Settings

# 3: jobs have an owner (the server running it), a heartbeat and a cancel flag
SCHEMA_VERSION = 3
DEFAULT_TENANT = "default"
DEFAULT_LIBRARY = "default"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # tenant and library names: safe in Milvus filters and URLs
_NAME = re.compile(NAME_PATTERN)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    name TEXT PRIMARY KEY,
    roots TEXT NOT NULL DEFAULT '[]',      -- server folders this tenant may index; [] = the server's
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    key_hash TEXT UNIQUE NOT NULL,         -- sha256 of the key; the key itself is never stored
    prefix TEXT NOT NULL,                  -- first characters, to recognise a key in listings
    label TEXT,
    created_at REAL NOT NULL,
    last_used_at REAL
);
CREATE TABLE IF NOT EXISTS sessions (     -- the web page's logins: an opaque id in a cookie, never the key
    id_hash TEXT PRIMARY KEY,              -- sha256 of the session id
    key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,  -- revoking the key ends it
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS libraries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',   -- per-library overrides: frame_rate, routes, ...
    created_at REAL NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so stale rows can't attach to a new video
    tenant TEXT NOT NULL,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    source TEXT,                           -- how the tenant sees it: root/rel/path or upload/name
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    content_hash TEXT NOT NULL,
    duration REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL,                  -- indexing | done | failed
    error TEXT,
    routes TEXT NOT NULL DEFAULT '{}',     -- {route: {"state": done|unavailable|failed, "version", "rows", "note"}}
    description TEXT,
    added_at REAL NOT NULL,
    indexed_at REAL,
    embedding TEXT,                        -- text model tag of every text row's vector; NULL = some have none
    UNIQUE (library_id, path)
);
CREATE INDEX IF NOT EXISTS videos_tenant ON videos (tenant, status);
CREATE TABLE IF NOT EXISTS segments (
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,                   -- quoted: END is a keyword of PostgreSQL
    thumbnail TEXT,
    PRIMARY KEY (video_id, idx)
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    source TEXT,
    name TEXT NOT NULL,
    state TEXT NOT NULL,                   -- queued | running | done | failed | cancelled
    video_id INTEGER,
    stage TEXT,
    percent REAL NOT NULL DEFAULT 0,
    eta_seconds REAL,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    owner TEXT,                            -- the server process running it (host:pid:nonce)
    heartbeat_at REAL,                     -- its owner's last sign of life while running
    cancel_requested INTEGER NOT NULL DEFAULT 0  -- set by any server; the owner stops the job
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS meta (         -- facts about the catalog as a whole, e.g. which store it goes with
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def catalog_target(settings: Settings) -> Path | str:
    """Where the settings' catalog is: `catalog_url` (PostgreSQL), or `catalog.sqlite` in the data dir."""
    return settings.catalog_url or settings.data_dir / "catalog.sqlite"


def open_catalog(settings: Settings, read_only: bool = False) -> Catalog:
    """The catalog the settings name (`catalog_target`).

    `read_only`: a view of a catalog another process (a running server) owns: nothing is created or
    migrated, and any write fails."""
    return Catalog(catalog_target(settings), read_only=read_only)


def read_paths(target: Path | str, video_ids: Iterable[int], shots: Iterable[tuple[int, int]] = ()
               ) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    """Files and shot thumbnails as paths, read-only from a catalog another process (a server) owns:
    what the CLI prints for a server-backed search on this machine's data dir. Nothing when that
    catalog can't be read."""
    ids = sorted({int(v) for v in video_ids})
    pairs = sorted({(int(v), int(i)) for v, i in shots})
    if not (ids or pairs):
        return {}, {}
    try:
        catalog = Catalog(target, read_only=True)
    except VidseekError:
        return {}, {}
    try:
        files = {}
        for chunk in (ids[i : i + 900] for i in range(0, len(ids), 900)):
            marks = ",".join("?" * len(chunk))
            files.update({int(r[0]): r[1] for r in catalog._all(f"SELECT id, path FROM videos WHERE id IN ({marks})",
                                                                chunk)})
        thumbs = {}
        for v, i in pairs:
            row = catalog._one("SELECT thumbnail FROM segments WHERE video_id = ? AND idx = ?", (v, i))
            if row and row[0]:
                thumbs[(v, i)] = row[0]
        return files, thumbs
    except Exception:  # noqa: BLE001 - a catalog being migrated or locked: the paths are a nicety
        return {}, {}
    finally:
        catalog.close()


def check_name(kind: str, name: str) -> str:
    """Tenant and library names: lowercase letters, digits, - and _, at most 64 characters."""
    if not _NAME.match(name or ""):
        raise VidseekError(
            f"invalid {kind} name {name!r}: use lowercase letters, digits, '-' and '_' (at most 64, "
            "starting with a letter or digit)"
        )
    return name


@dataclass
class LibraryRecord:
    id: int
    tenant: str
    name: str
    settings: dict[str, Any]
    created_at: float


@dataclass
class VideoRecord:
    id: int
    tenant: str
    library_id: int
    path: str
    source: str | None
    size: int
    mtime: float
    content_hash: str
    duration: float
    status: str
    error: str | None
    routes: dict[str, dict] = field(default_factory=dict)
    description: str | None = None
    added_at: float = 0.0
    indexed_at: float | None = None
    embedding: str | None = None  # tag of the text model that embedded all its text rows (None: not all)

    def route_state(self, route: str) -> str | None:
        return self.routes.get(route, {}).get("state")

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass
class SegmentRecord:
    video_id: int
    idx: int
    start: float
    end: float
    thumbnail: str | None


@dataclass
class JobRecord:
    id: int
    tenant: str
    library_id: int
    path: str
    source: str | None
    name: str
    state: str
    video_id: int | None
    stage: str | None
    percent: float
    eta_seconds: float | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    stages: dict[str, float] | None = None  # live percent per stage while running (not stored)
    owner: str | None = None  # the server process running it
    heartbeat_at: float | None = None
    cancel_requested: int = 0

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


@dataclass
class KeyRecord:
    id: int
    tenant: str
    prefix: str
    label: str | None
    created_at: float
    last_used_at: float | None


class Catalog(FacesMixin):
    """Small typed wrapper over the catalog. Usage: `Catalog(path).videos(tenant="default")`, or
    `Catalog("postgresql://vidseek:PASSWORD@db/vidseek")` for a catalog several servers share."""

    def __init__(self, target: Path | str, read_only: bool = False):
        self.db: SqliteDB | PostgresDB = connect(target, read_only=read_only)
        self.path = target
        self._lock = self.db.lock
        self._shots = ShotCache()
        if read_only:
            self._check_version()
            return
        try:
            with self.db.migrating():
                self._check_version()
                self.db.script(_SCHEMA + FACES_SCHEMA)
                self._add_columns()
                self.db.set_schema_version(SCHEMA_VERSION)
        except BaseException:
            self.db.close()
            raise

    @classmethod
    def reader(cls, path: Path) -> Catalog:
        """A read-only view of a SQLite catalog another process (a running server) owns: nothing is created
        or migrated, and any write fails. Usage: `Catalog.reader(data_dir / "catalog.sqlite").videos("default")`."""
        return cls(path, read_only=True)

    @property
    def shared(self) -> bool:
        """Several server processes may use this catalog at once (PostgreSQL)."""
        return self.db.shared

    def _add_columns(self) -> None:
        """The schema migrations: columns newer than a catalog's tables, added in place. The values they
        would hold are computed later (or start empty)."""
        cols = self.db.columns("videos")
        if "embedding" not in cols:  # from before semantic search: `vidseek index` embeds the stored rows
            self.db.execute("ALTER TABLE videos ADD COLUMN embedding TEXT")
        cols = self.db.columns("jobs")  # 3: shared job queue
        for col, kind in (("owner", "TEXT"), ("heartbeat_at", "REAL"),
                          ("cancel_requested", "INTEGER NOT NULL DEFAULT 0")):
            if col not in cols:
                kind = "DOUBLE PRECISION" if kind == "REAL" and self.db.dialect != "sqlite" else kind
                self.db.execute(f"ALTER TABLE jobs ADD COLUMN {col} {kind}")

    def _check_version(self) -> None:
        cols = self.db.columns("videos")
        if cols and "tenant" not in cols:
            raise StoreError(
                f"{self.db.where} was made by vidseek 0.1 (before libraries and tenants); move that data dir "
                "away (or pick another --data-dir) and index again"
            )
        found = self.db.schema_version()
        if found > SCHEMA_VERSION:
            raise StoreError(f"the catalog at {self.db.where} has schema {found}, newer than this vidseek's "
                             f"{SCHEMA_VERSION}: upgrade vidseek on this machine (pip install -U vidseek)")

    def close(self) -> None:
        self.db.close()

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        with self._lock:
            return self.db.execute(sql, args).fetchone()

    def _run(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Execute a write; returns the number of rows it changed."""
        with self._lock:
            return self.db.execute(sql, args).rowcount

    def _insert(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Insert one row into a table with an `id`; returns that id."""
        return self.db.insert(sql, args)

    def pair_with_store(self, store: str) -> None:
        """A shared catalog lists videos whose rows are in one Milvus: record which on first use, and refuse
        a process that would index into another (a Milvus Lite file of its own beside a server's catalog)."""
        self._run("INSERT INTO meta (key, value) VALUES ('store', ?) ON CONFLICT DO NOTHING", (store,))
        known = self._one("SELECT value FROM meta WHERE key = 'store'")["value"]
        if known != store and (known.startswith("lite:") or store.startswith("lite:")):
            where = known.removeprefix("lite:")
            raise StoreError(
                f"VIDSEEK_CATALOG_URL: the catalog at {self.db.where} goes with the Milvus store {where}, and this "
                f"process would use {store.removeprefix('lite:')}. Milvus Lite serves one process: run one server "
                "on that data dir, or give every server VIDSEEK_MILVUS_URI of one Milvus server (and a fresh "
                "catalog database)")

    # tenants and keys ---------------------------------------------------------------------
    def ensure_tenant(self, name: str) -> None:
        check_name("tenant", name)
        self._run("INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, time.time()))

    def tenants(self) -> list[str]:
        return [r["name"] for r in self._all("SELECT name FROM tenants ORDER BY name")]

    def tenant_roots(self, tenant: str) -> list[str]:
        row = self._one("SELECT roots FROM tenants WHERE name = ?", (tenant,))
        return json.loads(row["roots"]) if row else []

    def set_tenant_roots(self, tenant: str, roots: list[str]) -> None:
        self.ensure_tenant(tenant)
        self._run("UPDATE tenants SET roots = ? WHERE name = ?", (json.dumps(roots), tenant))

    def add_key(self, tenant: str, key_hash: str, prefix: str, label: str | None) -> KeyRecord:
        self.ensure_tenant(tenant)
        kid = self._insert("INSERT INTO api_keys (tenant, key_hash, prefix, label, created_at) VALUES (?, ?, ?, ?, ?)",
                        (tenant, key_hash, prefix, label, time.time()))
        return self.keys(key_id=kid)[0]

    def keys(self, key_id: int | None = None) -> list[KeyRecord]:
        sql = "SELECT id, tenant, prefix, label, created_at, last_used_at FROM api_keys"
        rows = self._all(sql + " WHERE id = ?", (key_id,)) if key_id is not None else self._all(sql + " ORDER BY id")
        return [KeyRecord(**dict(r)) for r in rows]

    def key_count(self) -> int:
        return self._one("SELECT COUNT(*) FROM api_keys")[0]

    def tenant_for_key(self, key_hash: str) -> str | None:
        row = self._one("SELECT id, tenant, last_used_at FROM api_keys WHERE key_hash = ?", (key_hash,))
        if row is None:
            return None
        now = time.time()
        if not row["last_used_at"] or now - row["last_used_at"] > 60:  # don't write on every request
            self._run("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, row["id"]))
        return row["tenant"]

    def key_id_for(self, key_hash: str) -> int | None:
        row = self._one("SELECT id FROM api_keys WHERE key_hash = ?", (key_hash,))
        return row["id"] if row else None

    def add_session(self, id_hash: str, key_id: int, lifetime: float) -> None:
        now = time.time()
        with self.db.transaction():
            self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            self.db.execute("INSERT INTO sessions (id_hash, key_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                            (id_hash, key_id, now, now + lifetime))

    def tenant_for_session(self, id_hash: str) -> str | None:
        row = self._one("SELECT k.tenant FROM sessions s JOIN api_keys k ON k.id = s.key_id "
                        "WHERE s.id_hash = ? AND s.expires_at > ?", (id_hash, time.time()))
        return row["tenant"] if row else None

    def end_session(self, id_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def revoke_key(self, key_id: int) -> bool:
        return self._run("DELETE FROM api_keys WHERE id = ?", (key_id,)) > 0

    # libraries ----------------------------------------------------------------------------
    def create_library(self, tenant: str, name: str, settings: dict[str, Any] | None = None) -> LibraryRecord:
        self.ensure_tenant(tenant)
        check_name("library", name)
        try:
            lid = self._insert("INSERT INTO libraries (tenant, name, settings, created_at) VALUES (?, ?, ?, ?)",
                            (tenant, name, json.dumps(settings or {}), time.time()))
        except self.db.IntegrityError:
            raise ConflictError(f"a library named {name!r} already exists") from None
        return self.library(tenant, lid)

    def libraries(self, tenant: str) -> list[LibraryRecord]:
        return [_library(r) for r in self._all("SELECT * FROM libraries WHERE tenant = ? ORDER BY name", (tenant,))]

    def library(self, tenant: str, library_id: int) -> LibraryRecord:
        row = self._one("SELECT * FROM libraries WHERE id = ? AND tenant = ?", (library_id, tenant))
        if row is None:
            raise NotFoundError(f"library {library_id} not found")
        return _library(row)

    def library_named(self, tenant: str, name: str, create: bool = False) -> LibraryRecord:
        row = self._one("SELECT * FROM libraries WHERE tenant = ? AND name = ?", (tenant, name))
        if row is not None:
            return _library(row)
        if create:
            return self.create_library(tenant, name)
        raise NotFoundError(f"library {name!r} not found")

    def delete_library(self, tenant: str, library_id: int) -> None:
        self._run("DELETE FROM libraries WHERE id = ? AND tenant = ?", (library_id, tenant))

    # videos -------------------------------------------------------------------------------
    def get_by_path(self, library_id: int, path: str) -> VideoRecord | None:
        row = self._one("SELECT * FROM videos WHERE library_id = ? AND path = ?", (library_id, path))
        return _video(row) if row else None

    def get(self, video_id: int, tenant: str) -> VideoRecord | None:
        row = self._one("SELECT * FROM videos WHERE id = ? AND tenant = ?", (video_id, tenant))
        return _video(row) if row else None

    def videos(self, tenant: str, library_id: int | None = None, status: str | None = None) -> list[VideoRecord]:
        sql, args = "SELECT * FROM videos WHERE tenant = ?", [tenant]
        if library_id is not None:
            sql, args = sql + " AND library_id = ?", [*args, library_id]
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        return [_video(r) for r in self._all(sql + " ORDER BY path", args)]

    def videos_by_ids(self, ids: Iterable[int], tenant: str) -> dict[int, VideoRecord]:
        ids = list(set(ids))
        out: dict[int, VideoRecord] = {}
        for chunk in (ids[i : i + 900] for i in range(0, len(ids), 900)):  # SQLite's parameter limit
            marks = ",".join("?" * len(chunk))
            for r in self._all(f"SELECT * FROM videos WHERE tenant = ? AND id IN ({marks})", [tenant, *chunk]):
                out[r["id"]] = _video(r)
        return out

    def start_video(self, library: LibraryRecord, path: str, size: int, mtime: float, content_hash: str,
                    source: str | None = None) -> VideoRecord:
        """Insert or reset a video to 'indexing' and return it (its id is kept if it existed)."""
        self._run(
            """INSERT INTO videos (tenant, library_id, path, source, size, mtime, content_hash, status, added_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'indexing', ?)
               ON CONFLICT(library_id, path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime,
                 content_hash=excluded.content_hash, status='indexing', error=NULL,
                 source=COALESCE(excluded.source, videos.source)""",
            (library.tenant, library.id, path, source, size, mtime, content_hash, time.time()),
        )
        rec = self.get_by_path(library.id, path)
        assert rec is not None
        return rec

    def set_duration(self, video_id: int, duration: float) -> None:
        self._run("UPDATE videos SET duration = ? WHERE id = ?", (duration, video_id))

    def finish_video(self, video_id: int, routes: dict[str, dict], embedding: str | None = None) -> None:
        self._run("UPDATE videos SET status='done', error=NULL, routes=?, indexed_at=?, embedding=? WHERE id=?",
                  (json.dumps(routes), time.time(), embedding, video_id))

    def set_embedding(self, video_id: int, tag: str | None) -> None:
        self._run("UPDATE videos SET embedding = ? WHERE id = ?", (tag, video_id))

    def has_embedding(self, tenant: str, tag: str) -> bool:
        """True if some indexed video of the tenant has text vectors from `tag` (one row read, not a count)."""
        row = self._one("SELECT 1 FROM videos WHERE tenant = ? AND status = 'done' AND embedding = ? LIMIT 1",
                        (tenant, tag))
        return row is not None

    def fail_video(self, video_id: int, error: str) -> None:
        self._run("UPDATE videos SET status='failed', error=? WHERE id=?", (error, video_id))

    def set_description(self, video_id: int, text: str | None) -> None:
        self._run("UPDATE videos SET description = ? WHERE id = ?", (text, video_id))

    def touch(self, video_id: int, mtime: float) -> None:
        self._run("UPDATE videos SET mtime = ? WHERE id = ?", (mtime, video_id))

    def delete_video(self, video_id: int) -> None:
        self._run("DELETE FROM videos WHERE id = ?", (video_id,))
        self._shots.forget(video_id)

    # segments -----------------------------------------------------------------------------
    def replace_segments(self, video_id: int, segments: Iterable[SegmentRecord]) -> None:
        rows = [(video_id, s.idx, s.start, s.end, s.thumbnail) for s in segments]
        self._shots.forget(video_id)
        with self.db.transaction():
            self.db.execute("DELETE FROM segments WHERE video_id = ?", (video_id,))
            self.db.executemany('INSERT INTO segments (video_id, idx, start, "end", thumbnail) VALUES (?, ?, ?, ?, ?)',
                                rows)

    def has_route(self, route: str, tenant: str) -> bool:
        """True if some indexed video of the tenant has rows for `route` (so searching it can find anything)."""
        row = self._one(
            "SELECT 1 FROM videos WHERE tenant = ? AND status = 'done' AND json_extract(routes, ?) = 'done' "
            "AND CAST(json_extract(routes, ?) AS REAL) > 0 LIMIT 1",
            (tenant, f"$.{route}.state", f"$.{route}.rows"),
        )
        return row is not None

    def route_problem(self, route: str, tenant: str) -> str | None:
        """Why the route is missing from the tenant's newest indexed video that lacks it (its stored note)."""
        row = self._one(
            "SELECT json_extract(routes, ?) AS note FROM videos WHERE tenant = ? AND status = 'done' "
            "AND json_extract(routes, ?) IN ('unavailable', 'failed') ORDER BY indexed_at DESC LIMIT 1",
            (f"$.{route}.note", tenant, f"$.{route}.state"),
        )
        return row["note"] if row is not None else None

    def segments_for(self, video_ids: Iterable[int]) -> dict[int, list[SegmentRecord]]:
        """Shots of many videos in one query (search touches up to a few hundred videos).

        Callers pass ids they got from a tenant-scoped lookup."""
        ids = sorted(set(video_ids))
        out: dict[int, list[SegmentRecord]] = {i: [] for i in ids}
        for chunk in (ids[i : i + 900] for i in range(0, len(ids), 900)):
            marks = ",".join("?" * len(chunk))
            sql = (f'SELECT video_id, idx, start, "end", thumbnail FROM segments WHERE video_id IN ({marks}) '
                   "ORDER BY video_id, start")
            for vid, idx, start, end, thumbnail in self._all(sql, chunk):  # unpacked: thousands of rows a search
                out[vid].append(SegmentRecord(vid, idx, start, end, thumbnail))
        return out

    def shots_for(self, videos: Iterable[VideoRecord]) -> dict[int, Shots]:
        """Compact shot boundaries of many videos (what search needs), cached per `indexed_at`."""
        out: dict[int, Shots] = {}
        missing: dict[int, float | None] = {}
        for v in videos:
            cached = self._shots.get(v.id, v.indexed_at)
            if cached is not None:
                out[v.id] = cached
            else:
                missing[v.id] = v.indexed_at
        for vid, records in self.segments_for(missing).items():
            shots = Shots(vid, records)
            self._shots.put(shots, missing[vid])
            out[vid] = shots
        return out

    def done_count(self, tenant: str | None = None) -> int:
        if tenant is None:
            return self._one("SELECT COUNT(*) FROM videos WHERE status = 'done'")[0]
        return self._one("SELECT COUNT(*) FROM videos WHERE tenant = ? AND status = 'done'", (tenant,))[0]

    def segment_count(self, tenant: str) -> int:
        return self._one("SELECT COUNT(*) FROM segments s JOIN videos v ON v.id = s.video_id WHERE v.tenant = ?",
                         (tenant,))[0]

    # jobs ---------------------------------------------------------------------------------
    def add_job(self, library: LibraryRecord, path: str, source: str | None) -> JobRecord:
        """Queue a file for indexing; an active job for the same file is returned instead of a second one."""
        row = self._one("SELECT * FROM jobs WHERE library_id = ? AND path = ? AND state IN ('queued', 'running')",
                        (library.id, path))
        if row is not None:
            return _job(row)
        jid = self._insert(
            "INSERT INTO jobs (tenant, library_id, path, source, name, state, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'queued', ?)",
            (library.tenant, library.id, path, source, Path(path).name, time.time()),
        )
        return self.job(jid)

    def job(self, job_id: int, tenant: str | None = None) -> JobRecord:
        """A job by id; with `tenant`, another tenant's job is 'not found'."""
        row = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None or (tenant is not None and row["tenant"] != tenant):
            raise NotFoundError(f"job {job_id} not found")
        return _job(row)

    def jobs(self, tenant: str, library_id: int | None = None, state: str | None = None,
             limit: int = 200) -> list[JobRecord]:
        sql, args = "SELECT * FROM jobs WHERE tenant = ?", [tenant]
        if library_id is not None:
            sql, args = sql + " AND library_id = ?", [*args, library_id]
        if state:
            sql, args = sql + " AND state = ?", [*args, state]
        return [_job(r) for r in self._all(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])]

    def claim_job(self, owner: str) -> JobRecord | None:
        """Take the oldest queued job and mark it running for `owner`, or None when none is queued.

        Each job goes to one claimant, however many servers ask at once: PostgreSQL skips rows another
        transaction holds (FOR UPDATE SKIP LOCKED); SQLite takes its write lock for the read and write."""
        now = self.db.NOW  # heartbeats are the database's time: servers' clocks may disagree
        claim = (f"UPDATE jobs SET state='running', owner=?, started_at={now}, heartbeat_at={now}, error=NULL, "
                 "cancel_requested=0 WHERE id = ? AND state = 'queued'")
        with self.db.transaction():
            lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
            row = self.db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1" + lock).fetchone()
            if row is None or not self.db.execute(claim, (owner, row["id"])).rowcount:
                return None
        return self.job(row["id"])

    def heartbeat(self, job_id: int, owner: str, **progress: Any) -> bool:
        """The owner is alive and still has the job (with its progress for other servers to show).

        Returns False when the job is no longer this owner's or someone asked to cancel it: stop it."""
        sets = "".join(f", {k} = ?" for k in progress)
        changed = self._run(f"UPDATE jobs SET heartbeat_at = {self.db.NOW}{sets} WHERE id = ? AND owner = ? "
                            "AND state = 'running' AND cancel_requested = 0", [*progress.values(), job_id, owner])
        return changed > 0

    def cancel_queued(self, job_id: int) -> bool:
        """Cancel a job that no server has claimed yet; False if one has (or it ended)."""
        return self._run("UPDATE jobs SET state='cancelled', finished_at=? WHERE id = ? AND state = 'queued'",
                         (time.time(), job_id)) > 0

    def request_cancel(self, job_id: int) -> None:
        """Ask the server running the job to stop it (it reads this with its next heartbeat)."""
        self._run("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", (job_id,))

    def update_job(self, job_id: int, held_by: str | None = None, **fields: Any) -> bool:
        """Set fields of a job; with `held_by`, only while that owner still holds it. True if it changed."""
        cols = ", ".join(f"{k} = ?" for k in fields)
        if held_by is None:
            return self._run(f"UPDATE jobs SET {cols} WHERE id = ?", [*fields.values(), job_id]) > 0
        return self._run(f"UPDATE jobs SET {cols} WHERE id = ? AND owner = ?",
                         [*fields.values(), job_id, held_by]) > 0

    def requeue_running(self) -> int:
        """Jobs left 'running' by a crashed server run again from the start (indexing is idempotent).

        Only for a catalog one process owns: on a shared one, `requeue_stale` leaves live servers' jobs alone."""
        return self._run("UPDATE jobs SET state='queued', percent=0, stage=NULL, owner=NULL, cancel_requested=0 "
                         "WHERE state='running'")

    def requeue_stale(self, lease_seconds: float) -> int:
        """Running jobs whose owner has sent no heartbeat for `lease_seconds` (it died) are queued again."""
        stale = f"state='running' AND (heartbeat_at IS NULL OR heartbeat_at < {self.db.NOW} - ?)"
        with self.db.transaction():  # a job someone asked to stop stays stopped
            self.db.execute(f"UPDATE jobs SET state='cancelled', finished_at=?, owner=NULL WHERE {stale} "
                            "AND cancel_requested = 1", (time.time(), lease_seconds))
            return self.db.execute("UPDATE jobs SET state='queued', percent=0, stage=NULL, owner=NULL "
                                   f"WHERE {stale}", (lease_seconds,)).rowcount


def _library(row: Row) -> LibraryRecord:
    return LibraryRecord(id=row["id"], tenant=row["tenant"], name=row["name"], settings=json.loads(row["settings"]),
                         created_at=row["created_at"])


def _job(row: Row) -> JobRecord:
    return JobRecord(**dict(zip(row.keys(), row)))


def _video(row: Row) -> VideoRecord:
    data = dict(zip(row.keys(), row))
    data["routes"] = json.loads(data["routes"] or "{}")
    return VideoRecord(**data)
