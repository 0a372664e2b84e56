"""A video's shot boundaries in compact arrays, and a per-process cache of them.

Every search turns hits of up to a few hundred videos into moments, and each needs its video's
shots (to snap moments to cuts, tell whole-video hits from timed ones, pick a thumbnail). Reading
~20k shot rows from SQLite per search cost ~90 ms of Python at 100k segments and serialised
concurrent searches; shots only change when a video is (re)indexed, so they are cached here,
keyed by the video's `indexed_at`, in arrays of 8-byte floats (~20 bytes a shot).
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidseek.store.catalog import SegmentRecord


SNAP_SLACK = 0.5  # seconds


class Shots:
    """Shots of one video, sorted by start. Usage: `shots.snap(12.3, 14.0)`, `shots.at(13.1)`."""

    __slots__ = ("video_id", "starts", "ends", "idx", "_thumbs")

    def __init__(self, video_id: int, records: Sequence[SegmentRecord]):
        records = sorted(records, key=lambda r: r.start)
        self.video_id = video_id
        self.starts = array("d", (r.start for r in records))
        self.ends = array("d", (r.end for r in records))
        self.idx = array("i", (r.idx for r in records))
        self._thumbs = _compact_thumbnails(records)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def first_start(self) -> float:
        return self.starts[0]

    @property
    def last_end(self) -> float:
        return self.ends[-1]

    def snap(self, start: float, end: float) -> tuple[float, float]:
        """Widen [start, end] to the boundaries of the shots that contain it.

        A range that only grazes a shot (less than SNAP_SLACK seconds of it, as ASR word times
        often do across a cut) does not pull that whole shot in."""
        if not self.starts:
            return start, end
        i = max(0, bisect_right(self.starts, start + 1e-6) - 1)
        j = max(0, bisect_right(self.starts, max(start, end - 1e-6)) - 1)
        if i < j and self.ends[i] - start < SNAP_SLACK:
            i += 1
        if j > i and end - self.starts[j] < SNAP_SLACK:
            j -= 1
        return min(start, self.starts[i]), max(end, self.ends[j])

    def at(self, t: float) -> int | None:
        """Position of the shot playing at `t` (the last one past the end), None without shots."""
        if not self.starts:
            return None
        i = max(0, bisect_right(self.starts, t) - 1)
        return i if self.starts[i] <= t < self.ends[i] else len(self.starts) - 1

    def thumbnail(self, position: int) -> str | None:
        """The thumbnail file of the shot at `position`."""
        if isinstance(self._thumbs, str):
            return f"{self._thumbs}{os.sep}{self.idx[position]:05d}.jpg"
        return self._thumbs[position] if self._thumbs is not None else None


def _compact_thumbnails(records: Sequence[SegmentRecord]) -> str | list[str | None] | None:
    """One folder when thumbnails follow the indexer's `<folder>/<idx:05d>.jpg` layout, else the list."""
    paths = [r.thumbnail for r in records]
    if not any(paths):
        return None
    # string operations: a Path per shot cost ~30 ms a search for the videos not cached yet
    folder = os.path.dirname(paths[0]) if paths[0] else None
    if folder and all(p == f"{folder}{os.sep}{r.idx:05d}.jpg" for p, r in zip(paths, records)):
        return folder
    return paths


class ShotCache:
    """Least-recently-used `Shots` per video, valid while the video's `indexed_at` is unchanged."""

    def __init__(self, max_shots: int = 5_000_000):
        self.max_shots = max_shots
        self._items: OrderedDict[int, tuple[float | None, Shots]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, video_id: int, version: float | None) -> Shots | None:
        with self._lock:
            item = self._items.get(video_id)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(video_id)
            return item[1]

    def put(self, shots: Shots, version: float | None) -> None:
        with self._lock:
            old = self._items.pop(shots.video_id, None)
            self._size -= len(old[1]) if old else 0
            self._items[shots.video_id] = (version, shots)
            self._size += len(shots)
            while self._size > self.max_shots and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= len(dropped)

    def forget(self, video_id: int) -> None:
        with self._lock:
            old = self._items.pop(video_id, None)
            self._size -= len(old[1]) if old else 0
