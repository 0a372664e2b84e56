"""Faces on screen: dlib's HOG detector, 5-point alignment and ResNet descriptor, merged into tracks.

Every face becomes a 128-d vector, L2-normalised so that a dot product is the cosine similarity;
two faces are the same person when it reaches `SAME_PERSON`. Detections on consecutive frames
that belong together (same place, or same vector) are merged into a `FaceTrack`: a moment when
one person is on screen, with the mean vector and the best view of them.

    model = FaceModel()                          # lazy: dlib loads on the first call
    faces = model.detect(frame.image)            # [Face(box=(x0, y0, x1, y1), score=1.3, vector=...)]
    tracks = track_faces([(f.time, model.detect(f.image)) for f in frames])

The descriptor is the expensive part (~120 ms a face here: the dlib-bin wheel has no BLAS), so
indexing should use `FaceScanner`, which detects every `every` seconds (and at cuts), follows a
face by its box in between, and computes one descriptor per track, from its best view:

    scanner = FaceScanner(model)
    frames = scanner.tap(frames)                 # consume the frames, then:
    tracks = scanner.finish()

Models: dlib's frontal HOG detector (`get_frontal_face_detector`), the 5-point landmark predictor
and `dlib_face_recognition_resnet_model_v1`, the files of the face-recognition-models package. The
68-point landmark model in that package is never loaded: its training data is licensed for
non-commercial use only. The MMOD CNN detector in the package is not used either: 1.7 s for a
640x360 frame on this CPU, 45x the HOG detector.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.analyze.base import Model
from vidseek.errors import ModelUnavailableError

if TYPE_CHECKING:
    import numpy as np

    from vidseek.records import Frame
    from vidseek.settings import Settings

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the image given; x1, y1 exclusive

MODEL_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HINT = 'pip install "vidseek[faces]" (dlib-bin and face-recognition-models)'

# Video frames are shrunk so their long side is at most this before detection (never enlarged).
# HOG's window finds faces of ~75 px and up in the image it scans, so 640 finds faces from ~1/9 of
# the long side (~105 px on a 960-wide frame, a fifth of a 16:9 frame's height) in ~35 ms a frame;
# 960 reaches ~75 px faces in ~85 ms, and upsample=1 (640 scanned at 1280) ~55 px faces in ~150 ms
# (one core of this machine, 16:9 frames).
DEFAULT_MAX_SIDE = 640
# A query photo: detected at up to this size, then enlarged 2x (and 4x) while no face is found,
# up to PHOTO_MAX_PIXELS scanned (~1 s). A user gives one photo, so it is worth trying hard.
PHOTO_MAX_SIDE = 1280
PHOTO_MAX_PIXELS = 6_000_000
PHOTO_PAD = 0.1  # a tight crop gets a grey border: the detector needs some context round the face
PHOTO_SURE_SCORE = 0.5  # below this (a drawing, a blurred face) an enlarged scan is tried as well
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # the aligned face chip the ResNet was trained on (dlib's defaults)

# Same person when cosine >= SAME_PERSON, on normalised vectors. dlib documents a Euclidean
# distance of 0.6 between raw descriptors (99.38 % on LFW). Raw descriptors are not unit length:
# measured here their norm is 1.32-1.56 (mean 1.46), so 0.6 raw is 0.6 / 1.46 = 0.41 on unit
# vectors, i.e. cosine 1 - 0.41^2 / 2 = 0.915; pairs of real faces at raw distance 0.6 +- 0.02 had
# cosine 0.916. On the shared clips (116 faces of 6 people, 2 fps, faces 55-300 px), same-person
# pairs had cosine min 0.878, 1st percentile 0.911, median 0.970; different people max 0.924,
# 99th percentile 0.908, median 0.841. 0.92 leaves 6 of 4858 different-person pairs above and
# 29 of 1697 same-person pairs below (mostly one motion-blurred frame); mean vectors of tracks
# separate further (own track >= 0.935, other people <= 0.922).
SAME_PERSON = 0.92
# similarity_score: a logistic in cosine, 0.5 at SAME_PERSON, this wide: cosine 0.91 -> 0.27,
# 0.90 -> 0.12, 0.93 -> 0.73, 0.95 -> 0.95, 0.97 (a typical same-person pair) -> 0.99.
SCORE_WIDTH = 0.01

# FaceScanner: detect at least this often (seconds), and on every cut in between. Measured on the
# 210 s of shared clips (load ~1.5 per core): 12 ms per second of video at 4, 18 at 2, 31 at 1;
# model.detect on every 1 fps frame, a descriptor per face, took 64 (120-150 on clips with a face).
DEFAULT_EVERY = 4.0
# A cut, for tracking: the 16x16 colour layout changes by more than this between sampled frames
# (0..1: mean channel change x4, as in media.segments). A box continues a track without a new
# descriptor only within a shot. At 1 fps, camera moves and dancing measured 0.1-0.5 here, hard cuts
# 0.6-1.0; a cut missed costs nothing unless another person stands where the last one stood.
CUT_DISTANCE = 0.5
# A cut triggers a scan only this long (seconds) after the last one; a cut sooner is scanned when the
# gap has passed. Quick cuts (montages, a dance edit) otherwise scanned nearly every frame.
CUT_SCAN_GAP = 2.0
# After this many scans in a row found no face, the periodic scan waits twice as long (a cut still
# triggers one): long stretches without people (screen recordings, landscapes, the synthetic bench
# video) cost half, and a person who walks into a shot is found within 2 x `every` seconds.
EMPTY_SCANS_TO_SLOW = 2
# FaceScanner: a track followed by its box alone is closed after this long and a new one started,
# so an unnoticed change of person costs at most this; same-person pieces are merged back by vector.
MAX_TRACK_SECONDS = 60.0


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face: box in pixels of the image given, detector confidence, unit 128-d vector.

    `score` is the HOG detector's SVM margin: 0 is its default threshold, ~1-3 a clear frontal face."""

    box: Box
    score: float
    vector: np.ndarray = field(repr=False)  # float32 (128,), L2-normalised


@dataclass(eq=False)
class FaceTrack:
    """One person on screen from `start` to `end` (seconds); `box` and `time` are its best detection's.

    `end` is one frame interval after the last detection (the moment it was last seen lasts until the
    next frame looked at), or the time of the first frame looked at without it, if earlier."""

    start: float
    end: float
    vector: np.ndarray = field(repr=False)  # mean of the members' vectors, re-normalised
    box: Box
    time: float
    count: int  # detections merged
    score: float = 0.0  # detector score of the best detection
    vectors: int = 1  # face vectors averaged into `vector` (people.assign's `members`)


def similarity_score(cos: float) -> float:
    """Calibrated 0..1 score of a cosine between two face vectors: 0.5 at SAME_PERSON.

    Below 0.5 means "not the same person": a search should drop such matches, so that a person
    who is not in the library gets no result. `similarity_score(0.97)` -> 0.99."""
    return float(1.0 / (1.0 + math.exp(-(float(cos) - SAME_PERSON) / SCORE_WIDTH)))


def model_folder() -> Path:
    """Where face-recognition-models keeps its .dat files, found without importing the package
    (its __init__ imports pkg_resources, which warns). Raises ModelUnavailableError if absent."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelUnavailableError(f"faces need the face-recognition-models package: {INSTALL_HINT}")
    return Path(locations[0]) / "models"


class FaceModel(Model):
    """dlib face detection and description behind the vidseek `Model` interface.

    model = FaceModel(settings)                  # or FaceModel(upsample=1) for faces down to ~55 px
    faces = model.detect(frame_rgb)              # video frames: shrunk to max_side for detection
    faces = model.detect_photo(photo_rgb)        # a query photo: tries harder to find small faces

    dlib's detector and networks are not thread safe: each is used under its own lock, so one
    thread may detect (dlib releases the GIL there) while another describes (it holds the GIL).
    """

    version_without_load = True

    task = "face"
    name = "dlib-resnet-v1"
    dim = 128

    def __init__(self, settings: Settings | None = None, max_side: int = DEFAULT_MAX_SIDE, upsample: int = 0):
        if settings is None:
            from vidseek.settings import Settings

            settings = Settings()
        super().__init__(type(self).name, settings)
        if max_side < 80:
            raise ValueError(f"max_side must be at least 80 (the detector's window), got {max_side}")
        if upsample not in (0, 1, 2):
            raise ValueError(f"upsample must be 0, 1 or 2, got {upsample}")
        self.max_side = max_side
        self.upsample = upsample
        self._detect_lock = threading.Lock()
        self._describe_lock = threading.Lock()
        self._dlib: Any = None
        self._detector: Any = None
        self._landmarks: Any = None
        self._encoder: Any = None

    @property
    def version(self) -> str:
        up = f"/up{self.upsample}" if self.upsample else ""
        return f"{self.name}/hog/5pt/{self.max_side}{up}"

    def _load(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise ModelUnavailableError(f"faces need dlib: {INSTALL_HINT}; {exc}") from exc
        folder = model_folder()
        paths = [folder / LANDMARKS_FILE, folder / DESCRIPTOR_FILE]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise ModelUnavailableError(f"{', '.join(missing)} not found in {folder}: {INSTALL_HINT}")
        try:
            self._landmarks = dlib.shape_predictor(str(paths[0]))
            self._encoder = dlib.face_recognition_model_v1(str(paths[1]))
        except RuntimeError as exc:  # a truncated or foreign file
            raise ModelUnavailableError(f"cannot read the face models in {folder} ({exc}): {INSTALL_HINT}") from exc
        self._detector = dlib.get_frontal_face_detector()
        self._dlib = dlib

    # ------------------------------------------------------------------ public

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces of a video frame (RGB uint8, H x W x 3), each with its vector, largest first."""
        image = _rgb(image)
        found = self._locate(image, self.max_side, self.upsample)
        return self._faces(image, found)

    def detect_photo(self, image: np.ndarray) -> list[Face]:
        """Faces of a query photo, best first (big and clearly a face), trying harder than `detect`:
        the photo is scanned at up to PHOTO_MAX_SIDE with a border, then enlarged 2x (and 4x) while
        no face, or only an unsure one, is found, which reaches faces of ~40 px (~20 px in small photos)."""
        import numpy as np

        image = _rgb(image)
        work, scale = _fit(image, PHOTO_MAX_SIDE)
        pad = round(PHOTO_PAD * max(work.shape[:2]))
        padded = np.pad(work, ((pad, pad), (pad, pad), (0, 0)), constant_values=128)
        found = self._scan(padded, 0, scale, (pad, pad), image.shape)
        for upsample in (1, 2):
            if any(f.score >= PHOTO_SURE_SCORE for f in found):
                break
            if padded.shape[0] * padded.shape[1] * 4**upsample > PHOTO_MAX_PIXELS:
                break
            found = _union(found, self._scan(padded, upsample, scale, (pad, pad), image.shape))
        found.sort(key=lambda f: -_quality(f.box, f.score))
        return self._faces(image, found)

    # ------------------------------------------------------------------ parts (FaceScanner uses them)

    def _locate(self, image: np.ndarray, max_side: int, upsample: int) -> list[_Found]:
        """Boxes and scores (no vectors) in `image` coordinates, largest first. The shrunk frame is
        scanned in grey: HOG on one channel found the same faces as on three in the shared clips
        (40 of 40, and one more) in ~0.75x the time (25 against 33 ms a 640 px frame)."""
        work, scale = _fit(image, max_side)
        return self._scan(_grey(work), upsample, scale, (0, 0), image.shape)

    def _scan(self, work: np.ndarray, upsample: int, scale: float, offset: tuple[int, int],
              shape: tuple[int, ...]) -> list[_Found]:
        self.load()
        with self._detect_lock:
            rects, scores, _ = self._detector.run(work, upsample, 0.0)
        height, width = shape[:2]
        out = []
        for rect, score in zip(rects, scores):
            left, top = (rect.left() - offset[0]) * scale, (rect.top() - offset[1]) * scale
            right, bottom = (rect.right() + 1 - offset[0]) * scale, (rect.bottom() + 1 - offset[1]) * scale
            box = (max(0, round(left)), max(0, round(top)), min(width, round(right)), min(height, round(bottom)))
            if box[2] > box[0] and box[3] > box[1]:
                out.append(_Found(box, float(score), (left, top, right, bottom)))
        out.sort(key=lambda f: -_area(f.box))
        return out

    def _chip(self, image: np.ndarray, found: _Found) -> np.ndarray:
        """The aligned 150x150 face chip of one detection (5 landmarks), from the full-size image."""
        import numpy as np

        self.load()
        left, top, right, bottom = (round(v) for v in found.rect)
        with self._describe_lock:
            shape = self._landmarks(image, self._dlib.rectangle(left, top, right - 1, bottom - 1))
            return np.asarray(self._dlib.get_face_chip(image, shape, CHIP_SIZE, CHIP_PADDING))

    def _describe(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """Unit float32 vectors (n, 128) of aligned chips."""
        import numpy as np

        if not chips:
            return np.zeros((0, self.dim), np.float32)
        self.load()
        with self._describe_lock:
            raw = self._encoder.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        vectors = np.asarray([np.asarray(v) for v in raw], dtype=np.float32)
        return _normalise(vectors)

    def _faces(self, image: np.ndarray, found: list[_Found]) -> list[Face]:
        vectors = self._describe([self._chip(image, f) for f in found])
        return [Face(f.box, f.score, v) for f, v in zip(found, vectors)]


@dataclass(frozen=True)
class _Found:
    box: Box
    score: float
    rect: tuple[float, float, float, float]  # unclipped, for the landmark predictor


def _rgb(image: np.ndarray) -> np.ndarray:
    """A C-contiguous RGB uint8 (H, W, 3) array, as dlib's bindings require."""
    import numpy as np

    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., :3])


def _grey(image: np.ndarray) -> np.ndarray:
    """Luma (BT.601) of an RGB uint8 image, C-contiguous, as dlib's detector takes it."""
    import numpy as np

    try:
        import cv2
    except ImportError:
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        return np.ascontiguousarray((image[..., :3] @ weights).round().astype(np.uint8))
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))


def _fit(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the long side is <= max_side; the image and the factor back to the original."""
    import numpy as np

    height, width = image.shape[:2]
    ratio = max_side / max(height, width)
    if ratio >= 1:
        return image, 1.0
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    try:
        import cv2  # OpenCV comes with rapidocr: ~1 ms for 960x540 -> 640x360, PIL takes ~7
    except ImportError:
        from PIL import Image

        small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    else:
        small = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(small), width / size[0]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _quality(box: Box, score: float) -> float:
    """Which of several faces is the best view: big and clearly a face."""
    return math.sqrt(_area(box)) * (1.0 + min(max(score, 0.0), 2.0))


def _iou(a: Box, b: Box) -> float:
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    return inter / max(_area(a) + _area(b) - inter, 1)


def _union(first: list[_Found], second: list[_Found]) -> list[_Found]:
    """Detections of two scans of one image; of two boxes on the same face the surer one stays."""
    out = list(first)
    for f in second:
        same = [i for i, g in enumerate(out) if _iou(f.box, g.box) >= 0.4]
        if not same:
            out.append(f)
        elif all(f.score > out[i].score for i in same):
            out = [g for i, g in enumerate(out) if i not in same] + [f]
    return out


# --------------------------------------------------------------------------- tracks


@dataclass
class _Detection:
    time: float
    box: Box
    score: float
    vector: np.ndarray | None = None  # unit; None when not computed (FaceScanner)

    @property
    def quality(self) -> float:
        return _quality(self.box, self.score)


@dataclass
class _Open:
    start: float
    last: float  # time of the latest detection
    box: Box  # latest box
    best: _Detection
    count: int = 1
    total: np.ndarray | None = None  # sum of member vectors
    vectors: int = 0  # how many went into total
    chip: np.ndarray | None = None  # the best detection's aligned face (FaceScanner)
    absent: float | None = None  # first frame looked at without this face since `last`
    end: float = 0.0

    @property
    def vector(self) -> np.ndarray | None:
        return None if self.total is None else _normalise(self.total)

    def add(self, det: _Detection) -> None:
        self.last, self.box, self.count, self.absent = det.time, det.box, self.count + 1, None
        if det.vector is not None:
            self.total = det.vector.copy() if self.total is None else self.total + det.vector
            self.vectors += 1
        if det.quality > self.best.quality:
            self.best = det


class _Tracker:
    """Greedy frame-to-frame association: a detection continues the open track it matches best.

    A pair matches by vector when both have one (cosine >= cutoff, anywhere in the frame: vectors
    beat boxes) and by place otherwise (centres within ~1.5 face sizes, sizes within 1.8x).
    Closed tracks are merged afterwards when one follows the other within `max_gap` and their
    vectors agree (a person seen again after a cut or a look away)."""

    def __init__(self, frame_interval: float, max_gap: float, cutoff: float,
                 describe: Callable[[list[_Open]], None] | None = None):
        self.interval = frame_interval
        self.max_gap = max_gap
        self.cutoff = cutoff
        self.describe = describe  # gives closed tracks without vectors their vector
        self.open: list[_Open] = []
        self.closed: list[_Open] = []

    def frame(self, t: float, dets: list[_Detection], cut: bool = False, max_length: float = math.inf) -> list[_Open]:
        """Take one frame's detections; returns the tracks whose best view is now on this frame."""
        slack = 0.5 * self.interval
        ending = [o for o in self.open if cut or t - o.last > self.max_gap + slack or t - o.start >= max_length]
        for o in ending:
            self._close(o, t)
        pairs = []
        for i, o in enumerate(self.open):
            vector = o.vector
            for j, d in enumerate(dets):
                if vector is not None and d.vector is not None:
                    cos = float(vector @ d.vector)
                    if cos >= self.cutoff:
                        pairs.append((1.0 + cos, i, j))
                elif _near(o.box, d.box):
                    pairs.append((1.0 - _offset(o.box, d.box), i, j))
        pairs.sort(key=lambda p: -p[0])
        used_open: set[int] = set()
        used_det: set[int] = set()
        improved = []
        for _, i, j in pairs:
            if i in used_open or j in used_det:
                continue
            used_open.add(i)
            used_det.add(j)
            before = self.open[i].best
            self.open[i].add(dets[j])
            if self.open[i].best is not before:
                improved.append(self.open[i])
        for i, o in enumerate(self.open):
            if i not in used_open and o.absent is None:
                o.absent = t
        for j, d in enumerate(dets):
            if j not in used_det:
                track = _Open(d.time, d.time, d.box, d, total=None if d.vector is None else d.vector.copy(),
                              vectors=int(d.vector is not None))
                self.open.append(track)
                improved.append(track)
        return improved

    def _close(self, o: _Open, t: float | None) -> None:
        end = o.last + self.interval
        if o.absent is not None:
            end = min(end, o.absent)
        if t is not None:
            end = min(end, t)
        o.end = max(end, o.last)
        self.open.remove(o)
        self.closed.append(o)
        if self.describe is not None and o.total is None:
            self.describe([o])

    def finish(self, until: float | None = None) -> list[FaceTrack]:
        """Close everything; tracks still open end at `until` at the latest (the end of the video)."""
        for o in list(self.open):
            self._close(o, until)
        merged: list[_Open] = []
        for o in sorted(self.closed, key=lambda c: (c.start, c.last)):
            target = self._follows(merged, o)
            if target is None:
                merged.append(o)
                continue
            target.end = max(target.end, o.end)
            target.last = max(target.last, o.last)
            target.count += o.count
            target.vectors += o.vectors
            target.total = target.total + o.total if target.total is not None and o.total is not None else None
            if o.best.quality > target.best.quality:
                target.best, target.chip = o.best, o.chip
        self.closed = []
        return [_to_track(o) for o in merged if o.total is not None]

    def _follows(self, merged: list[_Open], o: _Open) -> _Open | None:
        """The earlier track `o` continues: ended at most max_gap before it started, same person."""
        vector = o.vector
        if vector is None:
            return None
        best, best_cos = None, self.cutoff
        for m in merged:
            mv = m.vector
            if mv is None or m.last >= o.start or o.start - m.end > self.max_gap + 0.5 * self.interval:
                continue
            cos = float(mv @ vector)
            if cos >= best_cos:
                best, best_cos = m, cos
        return best


def _to_track(o: _Open) -> FaceTrack:
    vector = o.vector
    assert vector is not None
    return FaceTrack(o.start, o.end, vector, o.best.box, o.best.time, o.count, o.best.score, max(o.vectors, 1))


def _centre(box: Box) -> tuple[float, float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, math.sqrt(max(_area(box), 1))


def _offset(a: Box, b: Box) -> float:
    """Distance between two boxes' centres in face sizes (0 = same place)."""
    ax, ay, asize = _centre(a)
    bx, by, bsize = _centre(b)
    return math.hypot(ax - bx, ay - by) / ((asize + bsize) / 2)


def _near(a: Box, b: Box) -> bool:
    """Could `b` be the face in `a`, a moment later? (moved ~1.5 face sizes at most, size within 1.8x)"""
    sizes = _centre(a)[2], _centre(b)[2]
    return _offset(a, b) <= 1.5 and max(sizes) <= 1.8 * min(sizes)


def track_faces(detections: Iterable[tuple[float, list[Face]]], frame_interval: float = 1.0,
                max_gap: float | None = None, cutoff: float = SAME_PERSON) -> list[FaceTrack]:
    """Merge per-frame faces into tracks: one per stretch of time a person stays on screen.

    `detections` are (time, faces) in time order; frames without faces may be left out (then a
    track ends one `frame_interval` after its last face). A face continues the track whose mean
    vector it matches (cosine >= cutoff); a track survives gaps up to `max_gap` seconds (default
    3 frame intervals: two missed detections); a person seen again within `max_gap` after a
    different track (a cut, a look away) joins their earlier track. Tracks come sorted by start.

        tracks = track_faces((f.time, model.detect(f.image)) for f in sample_frames(path, fps=1))
    """
    gap = 3.0 * frame_interval if max_gap is None else max_gap
    tracker = _Tracker(frame_interval, gap, cutoff)
    for t, faces in detections:
        tracker.frame(t, [_Detection(t, f.box, f.score, f.vector) for f in faces])
    return tracker.finish()


# --------------------------------------------------------------------------- the indexing scan


@dataclass
class ScanStats:
    """What a FaceScanner did: frames seen and scanned, faces, descriptors, seconds in each step."""

    frames: int = 0
    scanned: int = 0
    faces: int = 0
    descriptors: int = 0
    detect_seconds: float = 0.0
    describe_seconds: float = 0.0  # landmarks, alignment and descriptors

    @property
    def seconds(self) -> float:
        return self.detect_seconds + self.describe_seconds


class FaceScanner:
    """One video's faces, cheaply: detect every `every` seconds (twice that while scans find nobody)
    and at each cut, follow a face by its box within a shot, and compute one descriptor per track,
    from its best view, when it closes.

    scanner = FaceScanner(FaceModel(settings))
    for frame in scanner.tap(sample_frames(path, fps=1)):
        ...                                        # the rest of the frame pass
    tracks = scanner.finish()                      # [FaceTrack(start=9.1, end=31.0, count=12, ...)]

    `add()` returns the boxes found on a frame (empty when none, or when the frame was not scanned),
    so a caller can keep pictures of the frames that tracks may point at (a track's `time`).
    Tracks on screen longer than `max_track` are cut into pieces so that a change of person the
    boxes did not show is caught; the pieces of one person are merged back by their vectors.
    """

    def __init__(self, model: FaceModel, every: float = DEFAULT_EVERY, frame_interval: float = 1.0,
                 max_track: float = MAX_TRACK_SECONDS, cutoff: float = SAME_PERSON):
        if every <= 0 or frame_interval <= 0:
            raise ValueError("every and frame_interval must be positive")
        self.model = model
        self.every = every
        self.frame_interval = frame_interval
        self.max_track = max_track
        self.stats = ScanStats()
        step = max(every, frame_interval)
        self._tracker = _Tracker(step, max(3.0 * frame_interval, 2.0 * step), cutoff, describe=self._describe)
        self._last_scan = -math.inf
        self._last_seen = 0.0
        self._layout: np.ndarray | None = None
        self._cut = False
        self._empty_scans = 0

    @property
    def version(self) -> str:
        return f"{self.model.version}/every{self.every:g}"

    def add(self, t: float, image: np.ndarray) -> list[Box]:
        """Look at one sampled frame (in time order); the face boxes found if it was scanned."""
        self.stats.frames += 1
        self._last_seen = t
        layout = _layout(image)
        if self._layout is not None and _layout_distance(self._layout, layout) > CUT_DISTANCE:
            self._cut = True
        self._layout = layout
        since = t - self._last_scan + 0.5 * self.frame_interval
        every = self.every * (2 if self._empty_scans >= EMPTY_SCANS_TO_SLOW else 1)
        if not (since >= every or (self._cut and since >= min(CUT_SCAN_GAP, self.every))):
            return []
        image = _rgb(image)
        started = time.perf_counter()
        found = self.model._locate(image, self.model.max_side, self.model.upsample)
        self.stats.detect_seconds += time.perf_counter() - started
        self.stats.scanned += 1
        self.stats.faces += len(found)
        self._empty_scans = 0 if found else self._empty_scans + 1
        self._last_scan = t
        cut, self._cut = self._cut, False
        dets = [_Detection(t, f.box, f.score) for f in found]
        improved = self._tracker.frame(t, dets, cut=cut, max_length=self.max_track)
        if improved:
            started = time.perf_counter()
            by_det = {id(d): f for d, f in zip(dets, found)}
            for track in improved:
                if track.best.time == t and id(track.best) in by_det:
                    track.chip = self.model._chip(image, by_det[id(track.best)])
            self.stats.describe_seconds += time.perf_counter() - started
        return [f.box for f in found]

    def tap(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Pass frames through unchanged while scanning them."""
        for frame in frames:
            self.add(frame.time, frame.image)
            yield frame

    def finish(self) -> list[FaceTrack]:
        """The video's face tracks, sorted by start; the scanner is spent afterwards."""
        return self._tracker.finish(self._last_seen + self.frame_interval)

    def _describe(self, tracks: list[_Open]) -> None:
        chips = [o.chip for o in tracks if o.chip is not None]
        started = time.perf_counter()
        vectors = self.model._describe(chips)
        self.stats.describe_seconds += time.perf_counter() - started
        self.stats.descriptors += len(chips)
        for o, v in zip((o for o in tracks if o.chip is not None), vectors):
            o.total = v * o.count  # weighs the piece by its detections when pieces merge
            o.vectors = 1
            o.chip = None


def _layout(image: np.ndarray) -> np.ndarray:
    """16x16 colour layout (0..1) from a 64x64 grid of pixels: a few microseconds at any size."""
    import numpy as np

    height, width = image.shape[:2]
    rows = np.linspace(0, height - 1, 64).astype(np.intp)
    cols = np.linspace(0, width - 1, 64).astype(np.intp)
    grid = np.asarray(image)[rows][:, cols, :3].astype(np.float32) / 255.0
    return grid.reshape(16, 4, 16, 4, -1).mean(axis=(1, 3))


def _layout_distance(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    if a.shape != b.shape:
        return 1.0
    return min(1.0, 4.0 * float(np.abs(a - b).mean()))
