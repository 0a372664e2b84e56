"""Faces and copies end to end, on real clips: index -> people -> search by face / by name / by clip ->
duplicates, through the Python API, the CLI and the REST API. The copies are made here with PyAV."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

import vidseek
from tests.dnautil import Edit, frame_at, make_copy
from tests.serverutil import Server, cli
from vidseek.errors import MediaError, QueryError

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
DANCE = MEDIA / "demo" / "askanything_jesse_dance.mp4"
CHARADES = MEDIA / "demo" / "univtg_charades.mp4"
BIRTHDAY = MEDIA / "demo" / "videollama_birthday.mp4"  # a man's face
OTHERS = [BIRTHDAY, MEDIA / "demo" / "videollama_boat.mp4", MEDIA / "msrvtt" / "video9770.mp4"]
ROUTES = "title,face,dna"

pytestmark = pytest.mark.skipif(not DANCE.is_file(), reason="../shared/media is not beside the checkout")




def _face_photo(path: Path, t: float) -> bytes:
    """A face cropped from a frame the 1 fps sampler does not pick, enlarged and JPEG re-compressed."""
    from vidseek.analyze.faces import FaceModel

    image = frame_at(path, t)
    faces = FaceModel().detect_photo(image)
    assert faces, f"no face at {t} s in {path.name}"
    x0, y0, x1, y1 = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).box
    w, h = x1 - x0, y1 - y0
    crop = image[max(0, y0 - h // 2) : y1 + h // 2, max(0, x0 - w // 2) : x1 + w // 2]
    picture = Image.fromarray(crop).resize((crop.shape[1] * 3 // 2, crop.shape[0] * 3 // 2))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=70)
    return out.getvalue()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    media = root / "media"
    media.mkdir()
    for src in [DANCE, CHARADES, *OTHERS]:
        if src.is_file():
            shutil.copy(src, media / src.name)  # into tmp only: the index keys files by path
    make_copy(DANCE, media / "reupload.mp4", Edit(start=2.4, duration=5.5, mirror=True, crf=30))
    data = root / "data"
    with vidseek.open(data, routes=ROUTES) as engine:
        report = engine.index([media])
    assert report.ok, report.failed
    return data, media, report


@pytest.fixture
def engine(library):
    with vidseek.open(library[0], routes=ROUTES) as opened:
        yield opened


def test_faces_are_tracked_and_grouped_into_people(engine):
    people = engine.tenant().people()
    assert people, "no person found in clips with faces"
    for p in people:
        assert p.faces >= 1 and p.videos >= 1 and p.cover is not None and Path(p.cover.crop).is_file()
    status = engine.status()
    assert status["faces"] >= len(people)
    assert status["routes"]["face"].get("done") == len(engine.videos())


def test_a_face_photo_finds_its_clip_first_with_the_box(engine):
    moments = engine.search(face=_face_photo(CHARADES, 12.5)).limit(5).to_list()
    assert moments and Path(moments[0].path).name == "univtg_charades.mp4"
    best = moments[0].evidence[0]
    assert best.route == "face" and best.box is not None and all(0 <= b <= 1 for b in best.box)
    assert moments[0].thumbnail and Path(moments[0].thumbnail).is_file()
    assert not any(Path(m.path).name in ("videollama_boat.mp4", "videollama_birthday.mp4") for m in moments)
    man = engine.search(face=_face_photo(BIRTHDAY, 5.5)).limit(5).to_list()
    assert man and Path(man[0].path).name == "videollama_birthday.mp4"
    assert not any(Path(m.path).name == "univtg_charades.mp4" for m in man)


def test_a_photo_without_a_face_is_refused_clearly(engine):
    gray = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(gray, "JPEG")
    with pytest.raises(QueryError, match="no face found"):
        engine.search(face=gray.getvalue()).to_list()


def test_a_named_person_is_found_by_a_sentence(engine):
    tenant = engine.tenant()
    woman = next(p for p in tenant.people()
                 if any(Path(engine.tenant().video(f.video_id).path).name == "univtg_charades.mp4"
                        for f in tenant.catalog.faces(tenant.name, person_id=p.id)))
    tenant.name_person(woman.id, "Mia")
    moments = engine.search("Mia in the kitchen").limit(5).to_list()
    assert moments and Path(moments[0].path).name == "univtg_charades.mp4"
    assert any(e.route == "face" and e.text == "Mia" for e in moments[0].evidence)
    tenant.name_person(woman.id, None)
    assert not any(e.route == "face" for m in engine.search("Mia in the kitchen").to_list() for e in m.evidence)


def test_a_trimmed_mirrored_reupload_is_noted_and_found(library, engine):
    _, media, report = library
    by_name = {Path(r.path).name: r for r in report.results}
    note = by_name["reupload.mp4"].routes["dna"].get("note") or ""
    original = by_name["askanything_jesse_dance.mp4"].routes["dna"].get("note") or ""
    assert "askanything_jesse_dance.mp4" in note or "reupload.mp4" in original
    moments = engine.search(clip=media / "reupload.mp4").to_list()
    names = [Path(m.path).name for m in moments]
    assert "askanything_jesse_dance.mp4" in names[:2]
    hit = moments[names.index("askanything_jesse_dance.mp4")]
    assert abs(hit.start - 2.4) <= 1.0 and abs(hit.end - 7.9) <= 1.0


@pytest.mark.parametrize("source, edit, truth", [
    (CHARADES, Edit(crop=(0.075, 0.075, 0.075, 0.075), size=(320, 180), brightness=0.12), (0.0, 30.7)),
    (MEDIA / "msrvtt" / "video9770.mp4", Edit(start=3.4, duration=6.0, mirror=True), (3.4, 9.4)),
    (BIRTHDAY, Edit(fps=15, text="reposted by someone else"), (0.0, 16.7)),
], ids=["cropped-scaled-brightened", "trimmed-mirrored", "other-fps-with-text"])
def test_a_query_clip_finds_its_original_first_with_the_range(engine, tmp_path, source, edit, truth):
    query = make_copy(source, tmp_path / "query.mp4", edit)
    moments = engine.search(clip=query).limit(3).to_list()
    assert moments and Path(moments[0].path).name == source.name, [Path(m.path).name for m in moments]
    assert abs(moments[0].start - truth[0]) <= 1.0 and abs(moments[0].end - truth[1]) <= 1.0
    assert moments[0].evidence[0].route == "dna" and ("mirrored" in moments[0].evidence[0].text) == edit.mirror


def test_duplicates_group_the_copy_with_its_original_and_nothing_else(engine):
    groups = engine.tenant().duplicates()
    assert len(groups) == 1
    assert sorted(Path(p).name for p in groups[0].paths.values()) == ["askanything_jesse_dance.mp4", "reupload.mp4"]


def test_a_clip_that_cannot_be_decoded_is_a_clear_error(engine, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 5000)
    with pytest.raises(MediaError) as info:
        engine.search(clip=bad).to_list()
    assert "bad.mp4" in str(info.value)


def test_cli_people_and_duplicates(library, tmp_path):
    data = library[0]
    done = cli("people", "-d", str(data), "--json")
    assert done.returncode == 0, done.stderr
    people = json.loads(done.stdout)
    assert people and all(p["faces"] >= 1 for p in people)
    done = cli("people", "name", str(people[0]["id"]), "Alice", "-d", str(data))
    assert done.returncode == 0 and "Alice" in done.stdout, done.stderr
    done = cli("duplicates", "-d", str(data), "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["groups"]) == 1
    photo = tmp_path / "face.jpg"
    photo.write_bytes(_face_photo(CHARADES, 12.5))
    done = cli("search", "--face", str(photo), "-d", str(data), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["moments"][0]["evidence"][0]["route"] == "face"
    done = cli("search", "--face", str(tmp_path / "missing.jpg"), "-d", str(data))
    assert done.returncode == 2 and "no such file" in done.stderr
    done = cli("status", "-d", str(data), "--videos", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.rstrip().endswith(".mp4")]
    assert len(rows) == 6 and all(len(line.split(".mp4")[0].rsplit("  ", 1)[0]) <= 40 for line in rows)
    assert "v s o t c f d" in done.stdout and "copy" in done.stdout  # the re-upload is noted


def test_rest_api_people_faces_and_copies(library, tmp_path):
    data, media, _ = library
    with Server(data, {"VIDSEEK_ROUTES": ROUTES}) as server:  # no key yet: loopback needs none
        http = server.client()
        people = http.get("/api/people").json()
        assert people and people[0]["cover"]["crop_url"]
        assert http.get(people[0]["cover"]["crop_url"]).headers["content-type"] == "image/jpeg"
        named = http.patch(f"/api/people/{people[0]['id']}", json={"name": "Bo"}).json()
        assert named["name"] == "Bo"
        found = http.post("/api/search", files={"face": ("f.jpg", _face_photo(CHARADES, 12.5))}).json()
        assert found["face"] and found["moments"][0]["thumbnail_url"].startswith("/api/")
        assert http.get(found["moments"][0]["thumbnail_url"]).status_code == 200
        gray = io.BytesIO()
        Image.new("RGB", (64, 64)).save(gray, "PNG")
        refused = http.post("/api/search", files={"face": ("g.png", gray.getvalue())})
        assert refused.status_code == 400 and "no face" in refused.json()["detail"]
        copy = (media / "reupload.mp4").read_bytes()
        found = http.post("/api/search", files={"clip": ("c.mp4", copy)}).json()
        assert found["clip"] and found["moments"][0]["name"] in ("askanything_jesse_dance.mp4", "reupload.mp4")
        notclip = http.post("/api/search", files={"clip": ("c.mp4", b"hello world" * 100)})
        assert notclip.status_code == 415
        groups = http.get("/api/duplicates").json()["groups"]
        assert len(groups) == 1
        vid = groups[0]["videos"][0]["video_id"]
        copies = http.get(f"/api/videos/{vid}/copies").json()["copies"]
        assert [c["video_id"] for c in copies] == [groups[0]["videos"][1]["video_id"]]


def test_without_the_face_models_the_other_routes_go_on(tmp_path, monkeypatch):
    import importlib.util

    from vidseek.errors import ModelUnavailableError

    photo = _face_photo(BIRTHDAY, 5.5)  # made while the models are still there
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "face_recognition_models" else real(name, *a))
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(BIRTHDAY, media / BIRTHDAY.name)
    with vidseek.open(tmp_path / "data", routes=ROUTES) as engine:
        report = engine.index([media])
        assert report.ok, report.failed
        routes = report.results[0].routes
        assert routes["face"]["state"] == "unavailable" and 'pip install "vidseek[faces]"' in routes["face"]["note"]
        assert routes["dna"]["state"] == "done" and routes["title"]["state"] == "done"
        assert "face" in report.unavailable
        with pytest.raises(ModelUnavailableError, match="vidseek\\[faces\\]"):
            engine.search(face=photo).to_list()
