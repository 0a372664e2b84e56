"""Faces on real clips: detection, photo matching, tracks, the cheap indexing scan, and people.

The clips are in ../shared/media beside the checkout (never copied into the repo): a woman in
univtg_charades (73 px faces, 480x270), a man in videollama_birthday, a woman in
videollama_silence_girl and a man dancing in askanything_jesse_dance (~55 px faces on the 960-wide
frames, found only with upsample=1); videollama_boat has nobody in it.
"""

from __future__ import annotations

import importlib.util
import io
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.dnautil import frame_at
from vidseek.analyze import faces as faces_module
from vidseek.analyze.faces import (
    INSTALL_HINT,
    MODEL_PACKAGE,
    SAME_PERSON,
    Face,
    FaceModel,
    FaceScanner,
    FaceTrack,
    similarity_score,
    track_faces,
)
from vidseek.errors import ModelUnavailableError
from vidseek.index import people
from vidseek.media.frames import sample_frames
from vidseek.records import Frame

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CHARADES = MEDIA / "demo" / "univtg_charades.mp4"
BIRTHDAY = MEDIA / "demo" / "videollama_birthday.mp4"
SILENCE = MEDIA / "demo" / "videollama_silence_girl.mp4"
DANCE = MEDIA / "demo" / "askanything_jesse_dance.mp4"
BOAT = MEDIA / "demo" / "videollama_boat.mp4"
PEOPLE = (CHARADES, BIRTHDAY, SILENCE, DANCE)
# seconds of each clip looked at (each face costs ~0.12 s to describe), and how many of those 1 fps
# frames must show a face: measured 19 of 31, 12 of 12, 8 of 8, 9 of 10
SECONDS = {CHARADES: 31, BIRTHDAY: 12, SILENCE: 8, DANCE: 10, BOAT: 7}
MIN_FRAMES_WITH_FACES = {CHARADES: 16, BIRTHDAY: 11, SILENCE: 7, DANCE: 7}

Detections = list[tuple[float, list[Face]]]


def _need_media() -> None:
    missing = [p.name for p in (*PEOPLE, BOAT) if not p.is_file()]
    if missing:
        pytest.skip(f"../shared/media is not beside the checkout ({', '.join(missing)} missing)")


@pytest.fixture(scope="module")
def model() -> FaceModel:
    pytest.importorskip("dlib", reason="faces need dlib-bin (pip install 'vidseek[faces]')")
    _need_media()
    m = FaceModel()
    m.load()
    return m


@pytest.fixture(scope="module")
def frames(model: FaceModel) -> dict[Path, list[Frame]]:
    """1 fps frames, long side <= 960, as the indexing pipeline samples them."""
    return {p: list(islice(sample_frames(p, fps=1.0, max_side=960), SECONDS[p])) for p in (*PEOPLE, BOAT)}


@pytest.fixture(scope="module")
def detections(model: FaceModel, frames: dict[Path, list[Frame]]) -> dict[Path, Detections]:
    """Every sampled frame's faces; the dancer's small faces need the detector's upsampling."""
    small = FaceModel(upsample=1)
    return {p: [(f.time, (small if p == DANCE else model).detect(f.image)) for f in fs] for p, fs in frames.items()}


@pytest.fixture(scope="module")
def tracks(detections: dict[Path, Detections]) -> dict[Path, list[FaceTrack]]:
    return {p: track_faces(d) for p, d in detections.items()}


def _vectors(dets: Detections) -> np.ndarray:
    return np.stack([f.vector for _, fs in dets for f in fs])




def _photo(image: np.ndarray, box: tuple[int, int, int, int], grow: float = 1.5, quality: int = 70) -> np.ndarray:
    """The face with half its size around it, enlarged and re-compressed as a JPEG, decoded again."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    crop = image[max(0, y0 - h // 2) : y1 + h // 2, max(0, x0 - w // 2) : x1 + w // 2]
    size = (round(crop.shape[1] * grow), round(crop.shape[0] * grow))
    out = io.BytesIO()
    Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB"))


def _best_per_clip(vector: np.ndarray, tracks: dict[Path, list[FaceTrack]]) -> dict[Path, float]:
    return {p: max(float(t.vector @ vector) for t in ts) for p, ts in tracks.items() if ts}


# --------------------------------------------------------------------------- detection


def test_faces_are_found_in_sampled_frames_with_boxes_in_range(frames, detections) -> None:
    for path, minimum in MIN_FRAMES_WITH_FACES.items():
        seen = [(t, fs) for t, fs in detections[path] if fs]
        assert len(seen) >= minimum, (path.name, len(seen))
        height, width = frames[path][0].image.shape[:2]
        for _, fs in seen:
            for f in fs:
                x0, y0, x1, y1 = f.box
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (path.name, f.box)
                assert 40 <= x1 - x0 <= height and 40 <= y1 - y0 <= height, (path.name, f.box)
                assert f.vector.dtype == np.float32 and f.vector.shape == (128,)
                assert abs(float(np.linalg.norm(f.vector)) - 1.0) < 1e-4
    assert all(not fs for _, fs in detections[BOAT]), "a face in a clip with nobody in it"


def test_boxes_map_back_to_the_frame_given(model, frames) -> None:
    """A 480x270 frame enlarged 2x is shrunk to 640 for detection; its box must come back doubled."""
    frame = next(f for f in frames[CHARADES] if f.time >= 15)
    small = model.detect(frame.image)
    big_image = np.asarray(Image.fromarray(frame.image).resize((frame.image.shape[1] * 2, frame.image.shape[0] * 2)))
    big = model.detect(big_image)
    assert len(small) == 1 and len(big) == 1
    halved = tuple(v / 2 for v in big[0].box)
    x0, y0, x1, y1 = small[0].box
    inter = max(0, min(x1, halved[2]) - max(x0, halved[0])) * max(0, min(y1, halved[3]) - max(y0, halved[1]))
    union = (x1 - x0) * (y1 - y0) + (halved[2] - halved[0]) * (halved[3] - halved[1]) - inter
    assert inter / union >= 0.6, (small[0].box, big[0].box)
    assert float(small[0].vector @ big[0].vector) >= 0.95


@pytest.mark.parametrize("path, t", [(CHARADES, 12.5), (BIRTHDAY, 5.5), (DANCE, 4.5)],
                         ids=lambda v: v.stem if isinstance(v, Path) else str(v))
def test_a_photo_from_a_frame_not_sampled_matches_its_clip_only(model, frames, tracks, path, t) -> None:
    assert all(abs(f.time - t) > 0.3 for f in frames[path]), "the sampler picked this frame"
    image = frame_at(path, t)
    found = model.detect_photo(image)
    assert found, f"no face at {t} s in {path.name}"
    photo = _photo(image, found[0].box)
    faces = model.detect_photo(photo)
    assert len(faces) == 1, [f.box for f in faces]
    best = _best_per_clip(faces[0].vector, tracks)
    assert max(best, key=best.get) == path, best
    assert best[path] >= SAME_PERSON and similarity_score(best[path]) > 0.9, best
    for other, cos in best.items():
        if other != path:
            assert cos < SAME_PERSON and similarity_score(cos) < 0.5, (other.name, cos)


def test_a_photo_without_a_face_gives_none_and_one_with_two_gives_two(model, tracks) -> None:
    assert model.detect_photo(frame_at(BOAT, 3.0)) == []
    pieces = []
    for path, t in ((CHARADES, 20.5), (BIRTHDAY, 9.5)):
        image = frame_at(path, t)
        crop = _photo(image, model.detect_photo(image)[0].box, grow=1.0, quality=90)
        height = 240
        pieces.append(np.asarray(Image.fromarray(crop).resize((round(crop.shape[1] * height / crop.shape[0]), height))))
    gap = np.full((240, 60, 3), 128, np.uint8)
    both = np.concatenate([pieces[0], gap, pieces[1]], axis=1)
    faces = sorted(model.detect_photo(both), key=lambda f: f.box[0])
    assert len(faces) == 2, [f.box for f in faces]
    assert faces[0].box[2] <= pieces[0].shape[1] < faces[1].box[0]
    for face, path in zip(faces, (CHARADES, BIRTHDAY)):
        best = _best_per_clip(face.vector, tracks)
        assert max(best, key=best.get) == path and best[path] >= SAME_PERSON, best


# --------------------------------------------------------------------------- tracks


def test_track_faces_merges_one_person_on_screen_into_one_track(detections) -> None:
    dets = detections[CHARADES]
    seen = [(t, fs) for t, fs in dets if fs]
    [track] = track_faces(dets)
    assert track.start == pytest.approx(seen[0][0]) and track.end == pytest.approx(seen[-1][0] + 1.0)
    assert track.count == sum(len(fs) for _, fs in seen) == track.vectors
    assert any(t == track.time and f.box == track.box for t, fs in seen for f in fs)
    mean = _vectors(dets).mean(axis=0)
    assert float(track.vector @ (mean / np.linalg.norm(mean))) > 0.9999


def _faces(path_dets: Detections, n: int) -> list[Face]:
    return [fs[0] for _, fs in path_dets if fs][:n]


def test_track_faces_splits_at_a_change_of_person_and_bridges_short_gaps(detections) -> None:
    woman, man = _faces(detections[CHARADES], 6), _faces(detections[BIRTHDAY], 6)
    place = woman[0].box
    # the man takes the woman's place at t=6: same box, other vector
    swap = [(float(i), [woman[i]]) for i in range(6)]
    swap += [(6.0 + i, [Face(place, m.score, m.vector)]) for i, m in enumerate(man)]
    first, second = track_faces(swap)
    assert (first.start, first.end, first.count) == (0.0, 6.0, 6)
    assert (second.start, second.end, second.count) == (6.0, 12.0, 6)
    assert float(first.vector @ second.vector) < SAME_PERSON
    # a 3 s gap is bridged (default max_gap: 3 frame intervals), a 5 s one is not
    assert len(track_faces([(t, [woman[i]]) for i, t in enumerate((0.0, 1.0, 2.0, 5.0, 6.0))])) == 1
    parts = track_faces([(t, [woman[i]]) for i, t in enumerate((0.0, 1.0, 2.0, 7.0, 8.0))])
    assert [(p.start, p.end) for p in parts] == [(0.0, 3.0), (7.0, 9.0)]
    # the woman, then the man in her place, then the woman again after a 3 s gap: she is one moment
    mixed = [(0.0, [woman[0]]), (1.0, [woman[1]]), (2.0, [woman[2]]), (3.0, [Face(place, man[0].score, man[0].vector)]),
             (4.0, [Face(place, man[1].score, man[1].vector)]), (6.0, [woman[3]]), (7.0, [woman[4]]), (8.0, [woman[5]])]
    her, him = track_faces(mixed)
    assert (her.start, her.end, her.count) == (0.0, 9.0, 6)
    assert (him.start, him.end, him.count) == (3.0, 5.0, 2)


def test_the_scan_describes_once_per_track_and_agrees_with_full_tracking(model, frames, tracks) -> None:
    scanner = FaceScanner(model, every=2.0)
    for frame in scanner.tap(frames[CHARADES]):
        assert frame.image is not None
    [track] = scanner.finish()
    [full] = tracks[CHARADES]
    assert track.start <= full.start + 1.1 and track.end >= full.end - 1.1, (track, full)
    assert float(track.vector @ full.vector) >= 0.95
    stats = scanner.stats
    assert stats.frames == len(frames[CHARADES]) and stats.scanned <= len(frames[CHARADES]) * 2 // 3
    assert 1 <= stats.descriptors <= 2 < stats.faces
    assert scanner.version == "dlib-resnet-v1/hog/5pt/640/every2"


# --------------------------------------------------------------------------- people


def test_people_cluster_apart_and_grow_incrementally(detections, tracks) -> None:
    per_clip = {p: _vectors(detections[p]) for p in PEOPLE}
    vectors = np.concatenate(list(per_clip.values()))
    owner = np.concatenate([[i] * len(v) for i, v in enumerate(per_clip.values())])
    labels = people.cluster(vectors)
    majority = [np.bincount(labels[owner == i]).argmax() for i in range(len(PEOPLE))]
    assert len(set(majority)) == len(PEOPLE), majority
    for i, label in enumerate(majority):
        assert np.mean(labels[owner == i] == label) >= 0.9
        assert np.all(owner[labels == label] == i), "one group holds two people"

    # incremental: half of two people first, then their other halves and a third person
    woman, man, girl = per_clip[CHARADES], per_clip[BIRTHDAY], per_clip[SILENCE]
    first = people.assign(np.concatenate([woman[:9], man[:8]]), np.zeros((0, 128), np.float32), np.zeros(0, np.int64))
    assert len(first.centroids) == 2 and len(set(first.labels[:9])) == 1 and len(set(first.labels[9:])) == 1
    she, he = int(first.labels[0]), int(first.labels[9])
    assert she != he and first.counts[she] == 9 and first.counts[he] == 8
    second = people.assign(np.concatenate([woman[9:], man[8:], girl]), first.centroids, first.counts)
    assert np.all(second.labels[: len(woman) - 9] == she)
    assert np.all(second.labels[len(woman) - 9 : len(woman) - 9 + len(man) - 8] == he)
    assert np.all(second.labels[-len(girl) :] == 2) and len(second.centroids) == 3
    assert second.counts[she] == len(woman) and second.counts[he] == len(man) and second.counts[2] == len(girl)
    assert np.allclose(np.linalg.norm(second.centroids, axis=1), 1.0, atol=1e-5)
    assert float(second.similarity.min()) >= SAME_PERSON

    # a track's mean vector must come closer than a single face: the dancer's mean of 9 small faces
    # reaches the woman's centroid at ~0.925, above the single-face cutoff
    [dancer] = tracks[DANCE]
    assert dancer.vectors >= 7
    alone = people.assign(dancer.vector, second.centroids, second.counts, members=np.array([dancer.vectors]))
    assert alone.labels.tolist() == [3] and len(alone.centroids) == 4
    strict = people.cutoffs(3, SAME_PERSON, np.array([1, 4, 100]))
    assert strict.tolist() == pytest.approx([0.92, 0.936, 0.9488], abs=1e-4)


def test_merge_and_split_people(detections) -> None:
    woman, man = _vectors(detections[CHARADES]), _vectors(detections[BIRTHDAY])
    a, b = people.centroid_of(woman), people.centroid_of(man)
    assert float(a @ b) < SAME_PERSON
    merged, count = people.merge(a, len(woman), b, len(man))
    assert count == len(woman) + len(man)
    assert float(merged @ people.centroid_of(np.concatenate([woman, man]))) > 0.999
    assert float(merged @ a) > float(merged @ b) > float(a @ b)  # the larger side weighs more
    joined = people.assign(np.concatenate([woman[:3], man[:3]]), merged[None], np.array([count]))
    assert joined.labels.tolist() == [0] * 6, joined.similarity

    halves = people.split(np.concatenate([woman, man]))
    assert halves.tolist() == [0] * len(woman) + [1] * len(man)  # 0 is the larger half
    assert people.split(np.repeat(woman[:1], 4, axis=0)).tolist() == [0, 0, 0, 0]


def test_people_work_in_tiles_and_chunks(detections, monkeypatch) -> None:
    vectors = np.concatenate([_vectors(detections[p]) for p in PEOPLE])
    centroids = people.normalise(vectors[::5])
    index, best = people.nearest(vectors, centroids)
    whole = vectors @ centroids.T
    assert np.array_equal(index, whole.argmax(axis=1)) and np.allclose(best, whole.max(axis=1), atol=1e-6)
    expected = people.cluster(vectors)
    monkeypatch.setattr(people, "TILE", 24)
    monkeypatch.setattr(people, "ROWS", 4)
    monkeypatch.setattr(people, "COLUMNS", 6)
    monkeypatch.setattr(people, "CHUNK", 7)
    tiled_index, tiled_best = people.nearest(vectors, centroids)
    assert np.array_equal(tiled_index, index) and np.allclose(tiled_best, best, atol=1e-6)
    labels = people.cluster(vectors)
    # the same partition up to a few stragglers (chunks change which vectors lead)
    agree = np.mean([(labels[i] == labels[j]) == (expected[i] == expected[j])
                     for i in range(len(labels)) for j in range(i)])
    assert agree >= 0.97


# --------------------------------------------------------------------------- scores, versions, install


def test_similarity_score_is_calibrated_on_the_cutoff() -> None:
    assert similarity_score(SAME_PERSON) == pytest.approx(0.5)
    assert similarity_score(0.97) > 0.99 and similarity_score(0.84) < 0.01  # typical same / different pairs
    grid = [similarity_score(c) for c in np.linspace(0.8, 1.0, 21)]
    assert grid == sorted(grid) and 0.0 <= grid[0] and grid[-1] <= 1.0


def test_version_names_the_settings() -> None:
    versions = {FaceModel().version, FaceModel(max_side=960).version, FaceModel(upsample=1).version}
    assert FaceModel().version == "dlib-resnet-v1/hog/5pt/640" and len(versions) == 3
    assert FaceModel.dim == 128 and FaceModel.name == "dlib-resnet-v1"


def test_missing_models_name_the_fix(monkeypatch, tmp_path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == MODEL_PACKAGE else real(name, *a))
    with pytest.raises(ModelUnavailableError, match=r'pip install "vidseek\[faces\]"'):
        FaceModel().load()
    monkeypatch.undo()
    pytest.importorskip("dlib")
    monkeypatch.setattr(faces_module, "model_folder", lambda: tmp_path)
    with pytest.raises(ModelUnavailableError) as caught:
        FaceModel().load()
    assert "shape_predictor_5_face_landmarks.dat" in str(caught.value) and INSTALL_HINT in str(caught.value)


def test_the_68_point_model_is_never_loaded(monkeypatch) -> None:
    dlib = pytest.importorskip("dlib")
    loaded: list[str] = []
    real = dlib.shape_predictor
    monkeypatch.setattr(dlib, "shape_predictor", lambda path: loaded.append(Path(path).name) or real(path))
    FaceModel().load()
    assert loaded == ["shape_predictor_5_face_landmarks.dat"]
