"""The catalog's face tracks, people and video fingerprints (mixed into `Catalog`).

A face track is one person on screen in one video for a while (its vector searchable in Milvus under
the track's id); people are the tenant's clusters of tracks, named or not. A fingerprint is a video's
perceptual codes (`vidseek.analyze.dna`), kept whole here for alignment; Milvus holds the per-frame
codes for finding candidates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidseek.errors import NotFoundError, VidseekError

if TYPE_CHECKING:  # NumPy loads when vectors are read or written, not with the catalog
    import numpy as np

FACES_SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    name TEXT,                             -- NULL until someone names them
    centroid BLOB NOT NULL,                -- float32 mean of the members' vectors, L2-normalised
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS people_tenant ON people (tenant);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- also the row's primary key in the Milvus face collection
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    tenant TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    time REAL NOT NULL,                    -- the best detection: its frame is the thumbnail
    box TEXT NOT NULL,                     -- [x0, y0, x1, y1] as fractions of the frame
    count INTEGER NOT NULL,                -- detections merged into the track
    vector BLOB NOT NULL,                  -- float32, L2-normalised
    thumbnail TEXT,                        -- the frame with the box drawn
    crop TEXT,                             -- the face alone (people view)
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    pinned INTEGER NOT NULL DEFAULT 0      -- a person assigned by hand (merge/split): re-clustering keeps it
);
CREATE INDEX IF NOT EXISTS faces_video ON faces (video_id);
CREATE INDEX IF NOT EXISTS faces_person ON faces (person_id);
CREATE TABLE IF NOT EXISTS fingerprints (
    video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    data BLOB NOT NULL
);
"""


@dataclass
class FaceRecord:
    id: int
    video_id: int
    tenant: str
    start: float
    end: float
    time: float
    box: tuple[float, float, float, float]
    count: int
    vector: np.ndarray
    thumbnail: str | None
    crop: str | None
    person_id: int | None


@dataclass
class PersonRecord:
    id: int
    tenant: str
    name: str | None
    centroid: np.ndarray
    faces: int = 0  # face tracks
    videos: int = 0
    cover: FaceRecord | None = None  # the face shown for them

    @property
    def label(self) -> str:
        return self.name or f"person {self.id}"


def _vec(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(blob, dtype=np.float32).copy()


def _blob(vector: Any) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def _face(r: Any) -> FaceRecord:
    return FaceRecord(r["id"], r["video_id"], r["tenant"], r["start"], r["end"], r["time"],
                      tuple(json.loads(r["box"])), r["count"], _vec(r["vector"]), r["thumbnail"], r["crop"],
                      r["person_id"])


class FacesMixin:
    """Face, people and fingerprint tables; `Catalog` provides `_all`, `_one`, `_run`, `_insert`, `db`."""

    db: Any  # vidseek.store.sql.SqliteDB | PostgresDB

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[Any]: ...  # pragma: no cover
    def _one(self, sql: str, args: Iterable[Any] = ()) -> Any: ...  # pragma: no cover
    def _run(self, sql: str, args: Iterable[Any] = ()) -> int: ...  # pragma: no cover
    def _insert(self, sql: str, args: Iterable[Any] = ()) -> int: ...  # pragma: no cover

    # face tracks --------------------------------------------------------------------------
    def add_faces(self, video_id: int, tenant: str, tracks: Sequence[dict]) -> list[int]:
        """Store one video's face tracks (replacing any it had); returns their ids in order.

        Each dict: start, end, time, box (fractions), count, vector, thumbnail, crop."""
        ids = []
        with self.db.transaction():
            self.db.execute("DELETE FROM faces WHERE video_id = ?", (video_id,))
            for t in tracks:
                ids.append(self.db.insert(
                    'INSERT INTO faces (video_id, tenant, start, "end", time, box, count, vector, thumbnail, crop) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (video_id, tenant, float(t["start"]), float(t["end"]), float(t["time"]),
                     json.dumps([round(float(b), 4) for b in t["box"]]), int(t["count"]),
                     _blob(t["vector"]), t.get("thumbnail"), t.get("crop"))))
        return ids

    def delete_faces(self, video_id: int) -> None:
        self._run("DELETE FROM faces WHERE video_id = ?", (video_id,))

    def faces(self, tenant: str, ids: Iterable[int] | None = None, person_id: int | None = None,
              video_id: int | None = None, unassigned: bool = False, done_only: bool = True) -> list[FaceRecord]:
        """The tenant's face tracks of finished videos (`done_only=False`: also of the one being indexed),
        optionally only some ids, one person's, one video's, or those without a person."""
        sql = "SELECT f.* FROM faces f JOIN videos v ON v.id = f.video_id WHERE f.tenant = ?"
        if done_only:
            sql += " AND v.status = 'done'"
        args: list[Any] = [tenant]
        if person_id is not None:
            sql += " AND f.person_id = ?"
            args.append(person_id)
        if video_id is not None:
            sql += " AND f.video_id = ?"
            args.append(video_id)
        if unassigned:
            sql += " AND f.person_id IS NULL"
        if ids is None:
            return [_face(r) for r in self._all(sql + " ORDER BY f.id", args)]
        wanted = sorted({int(i) for i in ids})
        out: list[FaceRecord] = []
        for chunk in (wanted[i : i + 900] for i in range(0, len(wanted), 900)):
            marks = ",".join("?" * len(chunk))
            out += [_face(r) for r in self._all(f"{sql} AND f.id IN ({marks})", [*args, *chunk])]
        return out

    def face_count(self, tenant: str) -> int:
        return self._one("SELECT COUNT(*) FROM faces WHERE tenant = ?", (tenant,))[0]

    # people -------------------------------------------------------------------------------
    def add_person(self, tenant: str, centroid: np.ndarray, name: str | None = None) -> int:
        return self._insert("INSERT INTO people (tenant, name, centroid, created_at) VALUES (?, ?, ?, ?)",
                         (tenant, name, _blob(centroid), time.time()))

    def set_person_of(self, face_ids: Iterable[int], person_id: int | None, pinned: bool = False) -> None:
        rows = [(person_id, int(pinned), int(i)) for i in face_ids]
        with self.db.transaction():
            self.db.executemany("UPDATE faces SET person_id = ?, pinned = ? WHERE id = ?", rows)

    def set_centroid(self, person_id: int, centroid: np.ndarray) -> None:
        self._run("UPDATE people SET centroid = ? WHERE id = ?",
                  (_blob(centroid), person_id))

    def people(self, tenant: str, with_faces: bool = True) -> list[PersonRecord]:
        """The tenant's people with counts of face tracks and videos (finished videos only), most seen first."""
        rows = self._all(
            "SELECT p.id, p.tenant, p.name, p.centroid, COUNT(v.id) AS n, COUNT(DISTINCT v.id) AS nv "
            "FROM people p LEFT JOIN faces f ON f.person_id = p.id "
            "LEFT JOIN videos v ON v.id = f.video_id AND v.status = 'done' "
            "WHERE p.tenant = ? GROUP BY p.id ORDER BY n DESC, p.id", (tenant,))
        out = [PersonRecord(r["id"], r["tenant"], r["name"], _vec(r["centroid"]), r["n"], r["nv"]) for r in rows]
        if with_faces:  # each person's longest-seen face (most detections) is their cover
            covers = self._all(
                "SELECT f.* FROM faces f WHERE f.tenant = ? AND f.person_id IS NOT NULL AND f.id = "
                "(SELECT f2.id FROM faces f2 WHERE f2.person_id = f.person_id ORDER BY f2.count DESC, f2.id LIMIT 1)",
                (tenant,))
            by_person = {r["person_id"]: _face(r) for r in covers}
            for p in out:
                p.cover = by_person.get(p.id)
        return out

    def person(self, tenant: str, person_id: int) -> PersonRecord:
        for p in self.people(tenant):
            if p.id == person_id:
                return p
        raise NotFoundError(f"no person {person_id} in this library; `vidseek people` lists them")

    def name_person(self, tenant: str, person_id: int, name: str | None) -> None:
        name = (name or "").strip() or None
        if name is not None and len(name) > 100:
            raise VidseekError("a person's name has at most 100 characters")
        if not self._one("SELECT 1 FROM people WHERE id = ? AND tenant = ?", (person_id, tenant)):
            raise NotFoundError(f"no person {person_id} in this library; `vidseek people` lists them")
        self._run("UPDATE people SET name = ? WHERE id = ?", (name, person_id))

    def delete_person(self, person_id: int) -> None:
        self._run("DELETE FROM people WHERE id = ?", (person_id,))

    def drop_empty_people(self, tenant: str) -> int:
        """Forget unnamed people left with no face (their videos were removed)."""
        return self._run("DELETE FROM people WHERE tenant = ? AND name IS NULL AND id NOT IN "
                         "(SELECT person_id FROM faces WHERE person_id IS NOT NULL)", (tenant,))

    def people_named(self, tenant: str) -> dict[str, int]:
        """Named people of the tenant: name -> id."""
        return {r["name"]: r["id"] for r in self._all(
            "SELECT id, name FROM people WHERE tenant = ? AND name IS NOT NULL", (tenant,))}

    # fingerprints -------------------------------------------------------------------------
    def set_fingerprint(self, video_id: int, version: str, data: bytes) -> None:
        self._run("INSERT INTO fingerprints (video_id, version, data) VALUES (?, ?, ?) ON CONFLICT (video_id) "
                  "DO UPDATE SET version = excluded.version, data = excluded.data",
                  (video_id, version, data))

    def fingerprints(self, tenant: str, video_ids: Iterable[int] | None = None) -> dict[int, tuple[str, bytes]]:
        """Fingerprints of the tenant's finished videos (optionally only some): video id -> (version, data)."""
        sql = ("SELECT fp.video_id, fp.version, fp.data FROM fingerprints fp JOIN videos v ON v.id = fp.video_id "
               "WHERE v.tenant = ? AND v.status = 'done'")
        if video_ids is None:
            return {r[0]: (r[1], r[2]) for r in self._all(sql, (tenant,))}
        wanted = sorted({int(i) for i in video_ids})
        out: dict[int, tuple[str, bytes]] = {}
        for chunk in (wanted[i : i + 900] for i in range(0, len(wanted), 900)):
            marks = ",".join("?" * len(chunk))
            out.update({r[0]: (r[1], r[2]) for r in self._all(f"{sql} AND fp.video_id IN ({marks})",
                                                              [tenant, *chunk])})
        return out
