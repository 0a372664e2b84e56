"""The face stage of indexing: detect faces on the sampled frames, merge them into tracks (a person
on screen for a while), save what the results show (the frame with the box drawn, the face alone),
and file each track under a person, incrementally.

    sink = FaceSink(model, thumbs)          # fed by the pipeline's frame pass
    for frame in frames: sink.add(frame)
    rows = sink.finish()                    # dicts for Catalog.add_faces
    people = assign_people(catalog, tenant) # new tracks join known people or form new ones
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.analyze.faces import SAME_PERSON, FaceScanner
from vidseek.index.people import assign
from vidseek.records import Frame
from vidseek.store.catalog import Catalog

if TYPE_CHECKING:  # NumPy loads with the first vectors, not on import (a no-op re-index never needs it)
    import numpy as np

log = logging.getLogger(__name__)

_CROP_SIDE = 160  # pixels of a saved face crop (the people view)
_BOX_COLOR = (255, 196, 0)


class FaceSink:
    """Scans one video's frames as they pass (`FaceScanner`: detect every few seconds and at cuts,
    follow faces by their boxes, one descriptor per track); `finish()` saves the tracks' pictures.

    Only a small JPEG thumbnail and face crops of the frames that had faces are kept until `finish()`."""

    def __init__(self, model: Any, folder: Path, thumb_size: int = 320, frame_interval: float = 1.0):
        self.model = model
        self.scanner = FaceScanner(model, frame_interval=frame_interval)
        self.folder = folder
        self.thumb_size = thumb_size
        self._pictures: dict[float, tuple[bytes, tuple[int, int], list[tuple[tuple[int, ...], bytes]]]] = {}

    @property
    def version(self) -> str:
        return self.scanner.version

    def add(self, frame: Frame) -> None:
        boxes = self.scanner.add(frame.time, frame.image)
        if not boxes:
            return
        h, w = frame.image.shape[:2]
        self._pictures[frame.time] = (_jpeg(frame.image, self.thumb_size), (w, h),
                                      [(tuple(b), _jpeg(_crop(frame.image, b), _CROP_SIDE)) for b in boxes])

    def finish(self) -> list[dict]:
        """The video's face tracks as rows for `Catalog.add_faces` (pictures saved under `folder`)."""
        tracks = self.scanner.finish()
        for old in self.folder.glob("face-*.jpg"):  # an earlier run's pictures (a face-only update)
            old.unlink(missing_ok=True)
        rows = []
        for i, t in enumerate(tracks):
            picture = self._pictures.get(t.time)
            if picture is None:  # a track's best view is always a scanned frame; be safe anyway
                continue
            thumb, (w, h), crops = picture
            crop = next((c for b, c in crops if b == tuple(t.box)), crops[0][1])
            box = (t.box[0] / w, t.box[1] / h, t.box[2] / w, t.box[3] / h)
            self.folder.mkdir(parents=True, exist_ok=True)
            frame_path = self.folder / f"face-{i:04d}.jpg"
            crop_path = self.folder / f"face-{i:04d}-crop.jpg"
            _save_with_box(thumb, box, frame_path)
            crop_path.write_bytes(crop)
            rows.append({"start": t.start, "end": t.end, "time": t.time, "box": box, "count": t.count,
                         "vector": t.vector, "thumbnail": str(frame_path), "crop": str(crop_path)})
        self._pictures.clear()
        return rows


def _crop(image: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.3) -> np.ndarray:
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = image.shape[:2]
    return image[max(0, int(y0 - my)) : min(h, int(y1 + my)), max(0, int(x0 - mx)) : min(w, int(x1 + mx))]


def _jpeg(image: np.ndarray, side: int) -> bytes:
    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((side, side))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=82)
    return out.getvalue()


def _save_with_box(jpeg: bytes, box: tuple[float, float, float, float], path: Path) -> None:
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(jpeg)) as picture:
        picture = picture.convert("RGB")
        w, h = picture.size
        width = max(2, round(max(w, h) / 160))
        ImageDraw.Draw(picture).rectangle((box[0] * w, box[1] * h, box[2] * w, box[3] * h), outline=_BOX_COLOR,
                                          width=width)
        tmp = path.with_suffix(".tmp")
        picture.save(tmp, "JPEG", quality=85)
        tmp.replace(path)


def assign_people(catalog: Catalog, tenant: str, video_id: int | None = None, cutoff: float = SAME_PERSON) -> int:
    """File face tracks that have no person yet (the tenant's, or one video's while it is indexed):
    each joins the nearest known person if close enough, the rest form new people among themselves.
    Returns how many new people were made."""
    import numpy as np

    new = catalog.faces(tenant, unassigned=True, video_id=video_id, done_only=video_id is None)
    if not new:
        return 0
    people = catalog.people(tenant, with_faces=False)
    vectors = np.stack([f.vector for f in new])
    centroids = np.stack([p.centroid for p in people]) if people else np.zeros((0, vectors.shape[1]), np.float32)
    counts = np.array([max(p.faces, 1) for p in people], dtype=np.int64)
    result = assign(vectors, centroids, counts, cutoff)
    made = 0
    ids = {}
    for k in range(len(people), len(result.centroids)):
        ids[k] = catalog.add_person(tenant, result.centroids[k])
        made += 1
    for k, p in enumerate(people):
        ids[k] = p.id
        if result.counts[k] != counts[k]:
            catalog.set_centroid(p.id, result.centroids[k])
    by_person: dict[int, list[int]] = {}
    for face, label in zip(new, result.labels):
        by_person.setdefault(ids[int(label)], []).append(face.id)
    for person_id, face_ids in by_person.items():
        catalog.set_person_of(face_ids, person_id)
    log.debug("faces: %d new tracks, %d new people", len(new), made)
    return made
