"""The catalog: one SQLite file listing videos, their segments and which routes are done.

Milvus holds the searchable rows; the catalog is the source of truth for "is this video done",
so a crash between the two never reports a half-indexed video as indexed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so stale rows can't attach to a new video
    path TEXT UNIQUE NOT NULL,
    library TEXT NOT NULL DEFAULT 'default',
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    content_hash TEXT NOT NULL,
    duration REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL,                  -- indexing | done | failed
    error TEXT,
    routes TEXT NOT NULL DEFAULT '{}',     -- {route: {"state": done|unavailable|failed, "version", "rows", "note"}}
    description TEXT,
    added_at REAL NOT NULL,
    indexed_at REAL
);
CREATE TABLE IF NOT EXISTS segments (
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    thumbnail TEXT,
    PRIMARY KEY (video_id, idx)
);
"""


@dataclass
class VideoRecord:
    id: int
    path: str
    library: str
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

    def route_state(self, route: str) -> str | None:
        return self.routes.get(route, {}).get("state")


@dataclass
class SegmentRecord:
    video_id: int
    idx: int
    start: float
    end: float
    thumbnail: str | None


class Catalog:
    """Small typed wrapper over the SQLite catalog. Usage: `Catalog(path).get_by_path("/a.mp4")`."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # videos -------------------------------------------------------------------------------
    def get_by_path(self, path: str) -> VideoRecord | None:
        row = self.db.execute("SELECT * FROM videos WHERE path = ?", (path,)).fetchone()
        return _video(row) if row else None

    def get(self, video_id: int) -> VideoRecord | None:
        row = self.db.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
        return _video(row) if row else None

    def videos(self, status: str | None = None) -> list[VideoRecord]:
        if status:
            rows = self.db.execute("SELECT * FROM videos WHERE status = ? ORDER BY path", (status,))
        else:
            rows = self.db.execute("SELECT * FROM videos ORDER BY path")
        return [_video(r) for r in rows]

    def videos_by_ids(self, ids: Iterable[int]) -> dict[int, VideoRecord]:
        ids = list(set(ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT * FROM videos WHERE id IN ({marks})", ids)
        return {r["id"]: _video(r) for r in rows}

    def start_video(self, path: str, size: int, mtime: float, content_hash: str, library: str) -> VideoRecord:
        """Insert or reset a video to 'indexing' and return it (its id is kept if it existed)."""
        now = time.time()
        self.db.execute(
            """INSERT INTO videos (path, library, size, mtime, content_hash, status, added_at)
               VALUES (?, ?, ?, ?, ?, 'indexing', ?)
               ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime,
                 content_hash=excluded.content_hash, status='indexing', error=NULL""",
            (path, library, size, mtime, content_hash, now),
        )
        rec = self.get_by_path(path)
        assert rec is not None
        return rec

    def set_duration(self, video_id: int, duration: float) -> None:
        self.db.execute("UPDATE videos SET duration = ? WHERE id = ?", (duration, video_id))

    def finish_video(self, video_id: int, routes: dict[str, dict]) -> None:
        self.db.execute(
            "UPDATE videos SET status='done', error=NULL, routes=?, indexed_at=? WHERE id=?",
            (json.dumps(routes), time.time(), video_id),
        )

    def fail_video(self, video_id: int, error: str) -> None:
        self.db.execute("UPDATE videos SET status='failed', error=? WHERE id=?", (error, video_id))

    def set_description(self, video_id: int, text: str | None) -> None:
        self.db.execute("UPDATE videos SET description = ? WHERE id = ?", (text, video_id))

    def touch(self, video_id: int, mtime: float) -> None:
        self.db.execute("UPDATE videos SET mtime = ? WHERE id = ?", (mtime, video_id))

    def delete_video(self, video_id: int) -> None:
        self.db.execute("DELETE FROM videos WHERE id = ?", (video_id,))

    # segments -----------------------------------------------------------------------------
    def replace_segments(self, video_id: int, segments: Iterable[SegmentRecord]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM segments WHERE video_id = ?", (video_id,))
            self.db.executemany(
                "INSERT INTO segments (video_id, idx, start, end, thumbnail) VALUES (?, ?, ?, ?, ?)",
                [(video_id, s.idx, s.start, s.end, s.thumbnail) for s in segments],
            )

    def has_route(self, route: str) -> bool:
        """True if some indexed video has rows for `route` (so searching it can find anything)."""
        row = self.db.execute(
            "SELECT 1 FROM videos WHERE status = 'done' AND json_extract(routes, ?) = 'done' "
            "AND json_extract(routes, ?) > 0 LIMIT 1",
            (f"$.{route}.state", f"$.{route}.rows"),
        ).fetchone()
        return row is not None

    def segments_for(self, video_ids: Iterable[int]) -> dict[int, list[SegmentRecord]]:
        """Shots of many videos in one query (search touches up to a few hundred videos)."""
        ids = sorted(set(video_ids))
        out: dict[int, list[SegmentRecord]] = {i: [] for i in ids}
        for chunk in (ids[i : i + 900] for i in range(0, len(ids), 900)):  # SQLite's parameter limit
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT * FROM segments WHERE video_id IN ({marks}) ORDER BY video_id, start", chunk
            )
            for r in rows:
                out[r["video_id"]].append(SegmentRecord(r["video_id"], r["idx"], r["start"], r["end"], r["thumbnail"]))
        return out

    def done_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM videos WHERE status = 'done'").fetchone()[0]

    def segment_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]

def _video(row: sqlite3.Row) -> VideoRecord:
    return VideoRecord(
        id=row["id"],
        path=row["path"],
        library=row["library"],
        size=row["size"],
        mtime=row["mtime"],
        content_hash=row["content_hash"],
        duration=row["duration"],
        status=row["status"],
        error=row["error"],
        routes=json.loads(row["routes"] or "{}"),
        description=row["description"],
        added_at=row["added_at"],
        indexed_at=row["indexed_at"],
    )
