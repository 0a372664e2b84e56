"""End to end: generated videos -> real decoding, Whisper base, RapidOCR, Milvus Lite -> search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vidseek
from tests.tinyclip import draw_shape
from vidseek.errors import DataDirLockedError, QueryError
from vidseek.media.synth import AudioClip, Scene, Shape, make_video, speak


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """Three videos with known content: English speech, Chinese on-screen text, shapes."""
    root = tmp_path_factory.mktemp("corpus")
    lib = root / "videos"
    wav = speak("The lighthouse keeper repairs the old lamp every winter.", root / "talk.wav")
    make_video(lib / "lighthouse_talk.mp4",
               [Scene(4, (20, 30, 60)), Scene(6, (60, 60, 60), text="Coastal Stories")],
               audio=[AudioClip(3.0, wav)])
    make_video(lib / "notice.mp4",
               [Scene(4, (0, 0, 0)), Scene(5, (250, 245, 230), text="欢迎使用视频搜索引擎"), Scene(4, (0, 0, 0))])
    make_video(lib / "sub" / "shapes.mp4",
               [Scene(4, (255, 255, 255)), Scene(4, (255, 255, 255), shape=Shape("circle", (220, 30, 30))),
                Scene(4, (0, 0, 0), shape=Shape("square", (30, 200, 60)))])
    return lib


@pytest.fixture(scope="session")
def indexed(corpus, tmp_path_factory):
    """The corpus indexed once (without a visual model) into a fresh data dir."""
    data = tmp_path_factory.mktemp("data")
    settings = dict(visual_model=str(data / "no-such-model"))
    with vidseek.open(data, **settings) as lib:
        report = lib.index([corpus])
    return data, settings, report


def test_index_reports_every_file_and_the_missing_visual_model(indexed):
    _, _, report = indexed
    assert report.count("indexed") == 3 and report.ok
    assert "VIDSEEK_VISUAL_MODEL" in report.unavailable["visual"]


def test_spoken_english_is_found_at_the_right_moment(indexed):
    data, settings, _ = indexed
    with vidseek.open(data, **settings) as lib:
        moments = lib.search("lighthouse keeper repairs the lamp").limit(3).to_list()
    top = moments[0]
    assert top.path.endswith("lighthouse_talk.mp4")
    assert "speech" in top.routes
    assert top.start <= 4.0 and top.end >= 5.0 and top.start >= 0.0  # speech starts at 3 s
    speech = next(e for e in top.evidence if e.route == "speech")
    assert "lighthouse" in speech.text


def test_chinese_on_screen_text_is_found_by_a_chinese_query(indexed):
    data, settings, _ = indexed
    with vidseek.open(data, **settings) as lib:
        moments = lib.search("视频搜索 引擎").to_list()
        traditional = lib.search("視頻搜索引擎").to_list()
    top = moments[0]
    assert top.path.endswith("notice.mp4")
    assert "ocr" in top.routes
    assert top.start < 9.0 and top.end > 4.0  # the text is on screen from 4 s to 9 s
    assert top.start >= 3.0 and top.end <= 10.0
    assert traditional and traditional[0].path.endswith("notice.mp4")


def test_unrelated_query_returns_no_match(indexed):
    data, settings, _ = indexed
    with vidseek.open(data, **settings) as lib:
        assert lib.search("quantum zebra orchestra").to_list() == []
        assert lib.search("quantum zebra orchestra").min_score(0.0).to_list() == []


def test_filters_and_route_choice(indexed, corpus):
    data, settings, _ = indexed
    with vidseek.open(data, **settings) as lib:
        only_sub = lib.search("shapes").where(path_prefix=str(corpus / "sub")).to_list()
        assert only_sub and all("/sub/" in m.path for m in only_sub)
        assert lib.search("lighthouse keeper").routes("ocr").to_list() == []
        assert lib.search("lighthouse keeper").where(max_duration=1.0).to_list() == []
        with pytest.raises(QueryError, match="unknown route"):
            lib.search("x").routes("smell")
        with pytest.raises(QueryError, match="empty"):
            lib.search("   ")


def test_status_reports_coverage_and_models(indexed):
    data, settings, _ = indexed
    with vidseek.open(data, **settings) as lib:
        st = lib.status()
    assert st["videos"] == 3 and st["segments"] > 3
    assert st["routes"]["speech"] == {"done": 3}
    assert st["routes"]["visual"] == {"unavailable": 3}
    assert "Milvus Lite" in st["store"]


def test_second_process_gets_a_clear_lock_message(indexed):
    data, settings, _ = indexed
    with vidseek.open(data, **settings):
        with pytest.raises(DataDirLockedError, match="in use by another vidseek process"):
            vidseek.open(data, **settings)


def test_incremental_changed_and_removed(corpus, tmp_path):
    work = tmp_path / "videos"
    work.mkdir()
    a = make_video(work / "a.mp4", [Scene(3, (200, 0, 0), text="First Version")])
    make_video(work / "b.mp4", [Scene(3, (0, 0, 200), text="Other Clip")])
    settings = dict(visual_model=str(tmp_path / "none"), routes="ocr,title")
    with vidseek.open(tmp_path / "data", **settings) as lib:
        first = lib.index([work])
        rows = lib.store.count()
        second = lib.index([work])
        assert first.count("indexed") == 2
        assert second.count("skipped") == 2 and second.count("indexed") == 0
        assert lib.store.count() == rows

        make_video(a, [Scene(3, (0, 160, 0), text="Second Edition")])
        third = lib.index([work])
        assert third.count("indexed") == 1 and third.count("skipped") == 1
        assert lib.search("second edition").to_list()[0].path == str(a)
        stale = [e.text for m in lib.search("first version").min_score(0).to_list() for e in m.evidence]
        assert not any("first version" in (t or "") for t in stale)  # the old version's rows are gone

        vid = next(v.id for v in lib.videos() if v.path == str(a))
        lib.remove(a)
        assert lib.store.count(vid) == {"text": 0, "visual": 0, "faces": 0, "dna": 0}
        assert not (lib.settings.data_dir / "thumbnails" / str(vid)).exists()
        assert lib.catalog.get(vid, "default") is None


def test_description_is_searchable_with_the_title_route(tmp_path):
    work = tmp_path / "v"
    clip = make_video(work / "clip0001.mp4", [Scene(2, (90, 90, 90))])
    with vidseek.open(tmp_path / "data", visual_model=str(tmp_path / "none"), routes="title") as lib:
        lib.index([work])
        assert lib.search("grandmother birthday party").to_list() == []
        lib.describe(clip, "Grandmother's 90th birthday party in the garden")
        top = lib.search("grandmother birthday party").to_list()[0]
        assert top.path == str(clip) and top.routes == ["title"]
        assert lib.store.count(lib.videos()[0].id)["text"] == 1


def test_fusion_prefers_video_over_audio_only_on_equal_scores_and_keeps_moments_tight():
    from vidseek.search.fuse import ScoredHit, fuse
    from vidseek.store.catalog import SegmentRecord
    from vidseek.store.shots import Shots

    segs = {1: Shots(1, []), 2: Shots(2, [SegmentRecord(2, i, i * 5.0, i * 5.0 + 5, None) for i in range(4)])}
    hits = [ScoredHit(1, "speech", 0, 10, 1.0, "same words"), ScoredHit(2, "speech", 6, 9, 1.0, "same words"),
            ScoredHit(2, "ocr", 0, 20, 0.5, "watermark"), ScoredHit(2, "title", 0, 20, 0.4, "title")]
    moments = fuse(hits, {1: "/a/audio.flac", 2: "/b/video.mp4"}, segs.get)
    assert [m.path for m in moments] == ["/b/video.mp4", "/a/audio.flac"]
    top = moments[0]
    assert (top.start, top.end) == (6.0, 9.0)  # the spoken range itself: not snapped, not widened by whole-video hits
    assert top.routes == ["ocr", "speech", "title"] and top.score == 1.0


def test_visual_route_end_to_end_with_a_tiny_trained_clip(tiny_clip_dir, tmp_path):
    """Real model trained on shapes, exported by our export code, loaded by our loader: no fake encoder."""
    grey = (128, 128, 128)
    work = tmp_path / "v"
    shapes = make_video(work / "clip_a.mp4", [
        Scene(4, grey, shape=Shape("square", (30, 170, 40), 0.6, (0.5, 0.5))),
        Scene(4, grey, shape=Shape("circle", (220, 30, 30), 0.6, (0.5, 0.5))),
        Scene(4, grey, shape=Shape("triangle", (30, 60, 220), 0.6, (0.5, 0.5))),
    ])
    make_video(work / "clip_b.mp4", [Scene(6, grey, shape=Shape("square", (235, 215, 30), 0.6, (0.5, 0.5)))])
    with vidseek.open(tmp_path / "data", visual_model=str(tiny_clip_dir), routes="visual") as lib:
        report = lib.index([work])
        assert report.ok and not report.unavailable
        assert lib.status()["routes"]["visual"] == {"done": 2}
        red = lib.search("a red circle").limit(3).to_list()
        yellow = lib.search("a yellow square").limit(3).to_list()
        # search by example image: a fresh drawing, not a frame of the video
        picture = draw_shape("red", "circle", np.random.default_rng(5))
        by_image = lib.search(image=picture).limit(3).to_list()
        both = lib.search("a red circle", image=picture).limit(3).to_list()
        yellow_image = lib.search(image=draw_shape("yellow", "square", np.random.default_rng(6))).to_list()
    for found in (by_image, both):
        assert found[0].path == str(shapes) and found[0].routes == ["visual"]
        assert found[0].start < 8.0 and found[0].end > 4.0 and found[0].start >= 3.0 and found[0].end <= 9.0
    assert both[0].score >= max(by_image[0].score, red[0].score)  # two agreeing queries add up
    assert yellow_image[0].path.endswith("clip_b.mp4")
    top = red[0]
    assert top.path == str(shapes) and top.routes == ["visual"]
    assert top.start < 8.0 and top.end > 4.0, (top.start, top.end)  # the red circle is on screen 4-8 s
    assert top.start >= 3.0 and top.end <= 9.0
    assert all(not (m.path == str(shapes) and m.start < 4.0 and m.end <= 4.0) for m in red)
    assert yellow[0].path.endswith("clip_b.mp4")


def test_faint_static_watermark_is_read_from_the_mean_frame(tmp_path):
    """No single shot shows readable text; averaging the frames (media/overlay.py) does."""
    from vidseek.analyze.ocr import TextReader
    from vidseek.media.frames import sample_frames
    from vidseek.settings import Settings

    colours = [(200, 40, 40), (40, 160, 60), (40, 60, 200), (220, 200, 30), (150, 50, 150), (30, 150, 150)]
    scenes = [Scene(1.0, colours[i % 6], shape=Shape(("circle", "square", "triangle")[i % 3], colours[(i + 2) % 6],
                                                     0.5, (0.3 + 0.07 * (i % 6), 0.5)), noise=0.15)
              for i in range(10)]
    work = tmp_path / "v"
    marked = make_video(work / "clip1.mp4", scenes, watermark="STOCKMARK", watermark_opacity=0.12)
    make_video(work / "clip2.mp4", scenes)
    reader = TextReader("rapidocr-ppocrv4", Settings())
    assert not any(reader.read(f.image) for f in sample_frames(marked, fps=1.0, max_side=960))
    with vidseek.open(tmp_path / "data", visual_model=str(tmp_path / "none"), routes="ocr") as lib:
        lib.index([work])
        moments = lib.search("stockmark").to_list()
    assert [m.path for m in moments] == [str(marked)]
    ocr = moments[0].evidence[0]
    assert ocr.route == "ocr" and ocr.text == "STOCKMARK"  # found in lower case, shown as on screen
    assert ocr.start == 0.0 and ocr.end == pytest.approx(10.0, abs=0.2)  # on screen the whole time


def test_tenants_and_libraries_are_isolated_in_the_store_and_keep_their_own_settings(tmp_path):
    clip = make_video(tmp_path / "v" / "harbour.mp4", [Scene(3, (240, 240, 240), text="HARBOUR")])
    with vidseek.open(tmp_path / "data", visual_model=str(tmp_path / "none")) as engine:
        alice, bob = engine.tenant("alice"), engine.tenant("bob")
        fast = alice.create_library("fast", {"routes": ["title"]})
        full = alice.create_library("full", {"routes": ["ocr", "title"], "frame_rate": 2})
        alice.library(fast.id).index([clip])
        alice.library("full").index([clip])
        bob.library("mine", create=True).index([clip])
        assert {v.library_id: set(v.routes) for v in alice.videos()} == {fast.id: {"title"},
                                                                         full.id: {"ocr", "title"}}
        assert alice.library(full.id).settings.frame_rate == 2 and engine.settings.frame_rate == 1
        # the same file is three videos; each tenant's search sees only its own rows (the store filters)
        mine = {v.id for v in alice.videos()}
        assert {m.video_id for m in alice.search("harbour").to_list()} == mine
        assert {m.video_id for m in bob.search("harbour").to_list()} == {v.id for v in bob.videos()}
        hits = engine.store.search_text("harbour", 50, "bob")
        assert hits and {h.video_id for h in hits}.isdisjoint(mine)
        assert [m.video_id for m in alice.search("harbour").where(library_id=fast.id).to_list()] == \
            [v.id for v in alice.videos(fast.id)]
        assert alice.search("harbour").routes("ocr").where(library_id=fast.id).to_list() == []
        with pytest.raises(vidseek.VidseekError, match="invalid tenant name"):
            engine.store.search_text("harbour", 5, 'bob" or tenant != "x')
        with pytest.raises(vidseek.VidseekError, match="not found"):
            bob.video(next(iter(mine)))
        alice.delete_library(fast.id)
        assert engine.store.count(tenant="alice")["text"] == 2  # full: 1 ocr + 1 title row
        assert engine.store.count(tenant="bob")["text"] == 2


def test_shots_snap_find_and_cache_by_index_version():
    from vidseek.store.catalog import SegmentRecord
    from vidseek.store.shots import ShotCache, Shots

    records = [SegmentRecord(7, i, i * 4.0, i * 4.0 + 4, f"/t/7/{i:05d}.jpg") for i in (2, 0, 1)]  # any order
    shots = Shots(7, records)
    assert (shots.first_start, shots.last_end, len(shots)) == (0.0, 12.0, 3)
    assert shots.snap(5.0, 6.0) == (4.0, 8.0) and shots.snap(3.0, 5.0) == (0.0, 8.0)
    assert shots.snap(3.7, 9.0) == (3.7, 12.0)  # grazing the first shot by 0.3 s does not pull it in
    assert shots.snap(3.7, 8.2) == (3.7, 8.2) and shots.snap(3.9, 4.1) == (3.9, 8.0)
    assert shots.at(9.0) == 2 and shots.thumbnail(shots.at(9.0)) == "/t/7/00002.jpg"
    assert shots.at(99.0) == 2  # past the end: the last shot
    odd = Shots(8, [SegmentRecord(8, 0, 0, 2, "/x/a.jpg"), SegmentRecord(8, 1, 2, 4, None)])
    assert odd.thumbnail(0) == "/x/a.jpg" and odd.thumbnail(1) is None
    assert Shots(9, []).at(1.0) is None and Shots(9, []).snap(1, 2) == (1, 2)

    cache = ShotCache(max_shots=4)
    cache.put(shots, 100.0)
    assert cache.get(7, 100.0) is shots and cache.get(7, 101.0) is None  # re-indexed: stale
    cache.put(odd, 5.0)  # 3 + 2 shots > 4: the least recently used goes
    assert cache.get(7, 100.0) is None and cache.get(8, 5.0) is odd


def test_a_misspelt_word_is_retried_by_trigrams_only_when_no_recalled_row_spells_it(indexed):
    data, settings, _ = indexed
    with vidseek.open(data, **settings) as lib:
        slip = lib.search("lighthuose keeper").routes("speech")
        assert slip.to_list()[0].path.endswith("lighthouse_talk.mp4")
        assert "text_fuzzy" in slip.trace.candidates  # "lighthuose" is in no row: trigrams found "lighthouse"
        # both words are in the library as typed (speech and a title), just not together: nothing is misspelt
        apart = lib.search("keeper shapes")
        apart.to_list()
        assert "text_words" in apart.trace.candidates and "text_fuzzy" not in apart.trace.candidates
        exact = lib.search("keeper lamp")
        assert exact.to_list() and "text_fuzzy" not in exact.trace.candidates


def _speech_rows(engine) -> list[tuple[str, float, float]]:
    return sorted((r["text"], round(r["start"], 2), round(r["end"], 2))
                  for v in engine.videos() for r in engine.store.text_rows(v.id) if r["route"] == "speech")


def _threads_that_transcribe(monkeypatch) -> list[str]:
    """Names of the threads SpeechRecognizer.transcribe is called on, from now on in this test."""
    import threading

    from vidseek.analyze.asr import SpeechRecognizer

    names: list[str] = []
    original = SpeechRecognizer.transcribe

    def transcribe(self, *args, **kwargs):
        names.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SpeechRecognizer, "transcribe", transcribe)
    return names


def test_speech_recognised_during_the_frame_pass_stores_what_a_serial_run_does(corpus, tmp_path, monkeypatch):
    """VIDSEEK_INDEX_OVERLAP (default on) runs Whisper in a thread while the frames are analysed:
    the stored speech rows, their language and the route states are those of one route after another."""
    clip = corpus / "lighthouse_talk.mp4"
    runs = {}
    threads = _threads_that_transcribe(monkeypatch)
    for overlap in (True, False):
        with vidseek.open(tmp_path / str(overlap), visual_model=str(tmp_path / "none"), index_overlap=overlap,
                          routes=["speech", "ocr", "title"]) as engine:
            report = engine.index([clip])
            assert report.count("indexed") == 1 and report.ok, report
            (video,) = engine.videos()
            runs[overlap] = (_speech_rows(engine), video.routes["speech"]["language"],
                             {r: s["state"] for r, s in video.routes.items()})
    assert threads == ["vidseek-speech", "MainThread"], "overlap on: the speech thread; off: the caller's"
    assert runs[True] == runs[False]
    rows, language, states = runs[True]
    assert language == "en" and any("lighthouse" in text.lower() for text, _, _ in rows)
    assert states == {"speech": "done", "ocr": "done", "title": "done"}


def test_a_failing_frame_pass_stops_the_speech_thread_and_stores_nothing(corpus, tmp_path, monkeypatch):
    import threading

    from vidseek.index.pipeline import VideoIndexer

    threads = _threads_that_transcribe(monkeypatch)
    during: list[list[str]] = []

    def broken(self, *args, **kwargs):
        during.append([t.name for t in threading.enumerate()])  # recognition has started beside this
        raise RuntimeError("frame pass broke")

    monkeypatch.setattr(VideoIndexer, "_frames_routes", broken)
    with vidseek.open(tmp_path / "data", visual_model=str(tmp_path / "none"), routes=["speech", "ocr"]) as engine:
        report = engine.index([corpus / "lighthouse_talk.mp4"])
        assert report.count("failed") == 1 and "frame pass broke" in report.results[0].error
        assert during and "vidseek-speech" in during[0] and threads == ["vidseek-speech"]
        assert not [t for t in threading.enumerate() if t.name == "vidseek-speech"]
        assert engine.store.count()["text"] == 0
        assert [v.status for v in engine.videos()] != ["done"]
