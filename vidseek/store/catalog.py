"""The catalog: one SQLite file listing tenants, their libraries, videos, shots, keys and jobs.

Milvus holds the searchable rows; the catalog is the source of truth for "is this video done",
so a crash between the two never reports a half-indexed video as indexed. Every read that a
tenant can reach takes the tenant as an argument: there is no unscoped lookup by id for them.

The connection is shared by the server's threads; one lock serialises statements (SQLite does
the same internally) so a transaction of one thread never interleaves with another's.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidseek.errors import ConflictError, NotFoundError, StoreError, VidseekError
from vidseek.store.faces import FACES_SCHEMA, FacesMixin
from vidseek.store.shots import ShotCache, Shots

SCHEMA_VERSION = 2
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
    end REAL NOT NULL,
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
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
"""


def read_paths(db: Path, video_ids: Iterable[int], shots: Iterable[tuple[int, int]] = ()
               ) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    """Files and shot thumbnails as paths, read-only from a catalog another process (a server) owns:
    what the CLI prints for a server-backed search on this machine's data dir."""
    ids = sorted({int(v) for v in video_ids})
    pairs = sorted({(int(v), int(i)) for v, i in shots})
    if not db.is_file() or not (ids or pairs):
        return {}, {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        files = {int(r[0]): r[1] for r in con.execute(
            f"SELECT id, path FROM videos WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else {}
        thumbs = {}
        for v, i in pairs:
            row = con.execute("SELECT thumbnail FROM segments WHERE video_id = ? AND idx = ?", (v, i)).fetchone()
            if row and row[0]:
                thumbs[(v, i)] = row[0]
        return files, thumbs
    except sqlite3.Error:
        return {}, {}
    finally:
        con.close()


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
    """Small typed wrapper over the SQLite catalog. Usage: `Catalog(path).videos(tenant="default")`."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self.db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._shots = ShotCache()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._check_version()
        self.db.executescript(_SCHEMA + FACES_SCHEMA)
        self._add_columns()
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @classmethod
    def reader(cls, path: Path) -> Catalog:
        """A read-only view of a catalog another process (a running server) owns: nothing is created or
        migrated, and any write fails. Usage: `Catalog.reader(data_dir / "catalog.sqlite").videos("default")`."""
        if not path.is_file():
            raise StoreError(f"no catalog at {path}")
        self = cls.__new__(cls)
        self.path = path
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                                  timeout=10)
        self.db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._shots = ShotCache()
        self._check_version()
        return self

    def _add_columns(self) -> None:
        """Columns newer than a catalog's tables; the values they would hold are computed later."""
        cols = {r["name"] for r in self.db.execute("PRAGMA table_info(videos)")}
        if "embedding" not in cols:  # from before semantic search: `vidseek index` embeds the stored rows
            self.db.execute("ALTER TABLE videos ADD COLUMN embedding TEXT")

    def _check_version(self) -> None:
        cols = {r["name"] for r in self.db.execute("PRAGMA table_info(videos)")}
        if cols and "tenant" not in cols:
            raise StoreError(
                f"{self.path} was made by vidseek 0.1 (before libraries and tenants); move that data dir "
                "away (or pick another --data-dir) and index again"
            )

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.db.execute(sql, tuple(args)).fetchall()

    def _one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self.db.execute(sql, tuple(args)).fetchone()

    def _run(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Execute a write; returns the last inserted row id."""
        with self._lock:
            return self.db.execute(sql, tuple(args)).lastrowid or 0

    # tenants and keys ---------------------------------------------------------------------
    def ensure_tenant(self, name: str) -> None:
        check_name("tenant", name)
        self._run("INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (name, time.time()))

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
        kid = self._run("INSERT INTO api_keys (tenant, key_hash, prefix, label, created_at) VALUES (?, ?, ?, ?, ?)",
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
        with self._lock:
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
        with self._lock:
            return self.db.execute("DELETE FROM api_keys WHERE id = ?", (key_id,)).rowcount > 0

    # libraries ----------------------------------------------------------------------------
    def create_library(self, tenant: str, name: str, settings: dict[str, Any] | None = None) -> LibraryRecord:
        self.ensure_tenant(tenant)
        check_name("library", name)
        try:
            lid = self._run("INSERT INTO libraries (tenant, name, settings, created_at) VALUES (?, ?, ?, ?)",
                            (tenant, name, json.dumps(settings or {}), time.time()))
        except sqlite3.IntegrityError:
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
                 source=COALESCE(excluded.source, source)""",
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
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM segments WHERE video_id = ?", (video_id,))
            self.db.executemany("INSERT INTO segments (video_id, idx, start, end, thumbnail) VALUES (?, ?, ?, ?, ?)",
                                rows)

    def has_route(self, route: str, tenant: str) -> bool:
        """True if some indexed video of the tenant has rows for `route` (so searching it can find anything)."""
        row = self._one(
            "SELECT 1 FROM videos WHERE tenant = ? AND status = 'done' AND json_extract(routes, ?) = 'done' "
            "AND json_extract(routes, ?) > 0 LIMIT 1",
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
            for r in self._all(f"SELECT * FROM segments WHERE video_id IN ({marks}) ORDER BY video_id, start", chunk):
                out[r["video_id"]].append(SegmentRecord(r["video_id"], r["idx"], r["start"], r["end"], r["thumbnail"]))
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
        jid = self._run(
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

    def next_job(self) -> JobRecord | None:
        row = self._one("SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1")
        return _job(row) if row else None

    def update_job(self, job_id: int, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._run(f"UPDATE jobs SET {cols} WHERE id = ?", [*fields.values(), job_id])

    def requeue_running(self) -> int:
        """Jobs left 'running' by a crashed server run again from the start (indexing is idempotent)."""
        with self._lock:
            sql = "UPDATE jobs SET state='queued', percent=0, stage=NULL WHERE state='running'"
            return self.db.execute(sql).rowcount


def _library(row: sqlite3.Row) -> LibraryRecord:
    return LibraryRecord(id=row["id"], tenant=row["tenant"], name=row["name"], settings=json.loads(row["settings"]),
                         created_at=row["created_at"])


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(**dict(row))


def _video(row: sqlite3.Row) -> VideoRecord:
    data = dict(row)
    data["routes"] = json.loads(data["routes"] or "{}")
    return VideoRecord(**data)
