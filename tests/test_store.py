"""The Milvus store's index setting on a real Milvus Lite file: switched in place, refused where Lite can't;
and binary text codes with an exact re-rank (VIDSEEK_TEXT_COMPRESSION), on real sentence vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidseek.errors import StoreError
from vidseek.settings import Settings
from vidseek.store.milvus import MilvusStore


def _kinds(store: MilvusStore) -> tuple[str, str, str]:
    return tuple(store.client.describe_index(name, field)["index_type"] for name, field in (
        (store.text_name, "dense"), (store.visual_name, "vector"), (store.faces_name, "vector")))


def test_the_vector_index_follows_the_setting_and_keeps_the_rows(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    def store(**settings) -> MilvusStore:
        s = MilvusStore(Settings(data_dir=tmp_path, **settings), text_dim=8)
        s.ensure_visual(8)
        s.ensure_faces(8)
        return s

    s = store()
    assert _kinds(s) == ("AUTOINDEX", "AUTOINDEX", "FLAT")  # Lite's faces are exact by default
    s.insert_visual([{"tenant": "default", "library_id": 1, "video_id": i, "start": 0.0, "end": 1.0,
                      "vector": vectors[i]} for i in range(60)])
    s.wait_indexed()
    want = [h.video_id for h in s.search_visual(vectors[7], 5, "default")]
    assert want[0] == 7
    s.close()

    s = store(milvus_index="ivf_flat", milvus_index_params={"nlist": 4}, milvus_search_params={"nprobe": 4})
    assert _kinds(s) == ("IVF_FLAT",) * 3
    assert [h.video_id for h in s.search_visual(vectors[7], 5, "default")] == want  # nprobe = nlist: exact
    s.close()
    s = store()
    assert _kinds(s) == ("AUTOINDEX", "AUTOINDEX", "FLAT")
    assert s.count()["visual"] == 60
    s.close()


def test_an_index_lite_cannot_build_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(StoreError, match=r"VIDSEEK_MILVUS_INDEX=HNSW needs a Milvus server \(VIDSEEK_MILVUS_URI\)"):
        MilvusStore(Settings(data_dir=tmp_path, milvus_index="hnsw"), text_dim=8)
    assert not (tmp_path / "milvus.db").exists()  # refused before anything was opened


# compressed text vectors: binary codes, exact re-rank --------------------------------------------
LABELLED = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "text_retrieval.jsonl"


@pytest.fixture(scope="module")
def labelled_vectors():
    """The labelled bilingual set's 100 passages and 190 queries, embedded by the shipped text model:
    real vectors (random ones say nothing about what sign bits keep)."""
    from vidseek.analyze.registry import load_text_model

    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    passages = [r["text"] for r in rows if r["kind"] == "passage"]
    queries = [r["text"] for r in rows if r["kind"] == "query"]
    model = load_text_model(Settings())
    model.load()
    return passages, model.encode_passages(passages), np.stack([model.encode_query(q) for q in queries]), model.tag


def _store(tmp_path, **kw) -> MilvusStore:
    return MilvusStore(Settings(data_dir=tmp_path, **kw), text_dim=896)


def _answers(store: MilvusStore, queries: np.ndarray) -> list[list[tuple[str, float]]]:
    return [[(h.text, h.raw) for h in store.search_text_dense(q, 10, "default")] for q in queries]


def test_binary_codes_rerank_to_the_float_answers_and_switching_keeps_every_row(tmp_path, labelled_vectors):
    passages, vectors, queries, tag = labelled_vectors
    s = _store(tmp_path)
    s.insert_text([{"tenant": "default", "library_id": 1, "video_id": i + 1, "route": "speech", "start": 0.0,
                    "end": 1.0, "text": t, "dense": v, "ev": tag} for i, (t, v) in enumerate(zip(passages, vectors))])
    s.insert_text([{"tenant": "default", "library_id": 1, "video_id": 999, "route": "ocr", "start": 0.0,
                    "end": 1.0, "text": "not embedded yet"}])
    s.wait_indexed()
    exact = _answers(s, queries)
    s.close()
    want = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    assert [[t for t, _ in a] for a in exact] == [[passages[i] for i in row] for row in want]

    # binary, re-ranking every row: the same answers, scored by the same inner products
    s = _store(tmp_path, text_compression="binary", text_rerank_depth=101)
    assert s.text_name == "vidseek_text_896_bin" and s._text_collections() == ["vidseek_text_896_bin"]
    assert s.count()["text"] == 101
    assert {r["ev"] for r in s.text_rows(999)} == {""} and {r["ev"] for r in s.text_rows(1)} == {tag}  # kept
    got = _answers(s, queries)
    assert [[t for t, _ in a] for a in got] == [[t for t, _ in a] for a in exact]
    np.testing.assert_allclose([[r for _, r in a] for a in got], [[r for _, r in a] for a in exact], atol=1e-5)
    s.close()

    # a shallow first stage: Hamming distance picks 20 of the 101, re-ranked exactly
    s = _store(tmp_path, text_compression="binary", text_rerank_depth=20)
    shallow = _answers(s, queries)
    for a in shallow:
        assert [r for _, r in a] == sorted((r for _, r in a), reverse=True)
    recall = np.mean([len({t for t, _ in a} & {t for t, _ in b}) / 10 for a, b in zip(shallow, exact)])
    assert 0.8 <= recall < 1.0, recall  # 20 % of the rows re-ranked keep most of the true top 10
    first = np.mean([a[0][0] == b[0][0] for a, b in zip(shallow, exact)])
    assert first >= 0.95, first
    s.insert_text([{"tenant": "default", "library_id": 1, "video_id": 1000, "route": "speech", "start": 0.0,
                    "end": 1.0, "text": "a new row", "dense": vectors[0], "ev": tag}])  # written with its code
    s.wait_indexed()
    top = s.search_text_dense(vectors[0], 2, "default")
    assert {h.text for h in top} == {"a new row", passages[0]} and top[0].raw == pytest.approx(1.0, abs=1e-4)
    s.delete_video(1000)
    s.close()

    # and back to plain float32: every row, vectors kept
    s = _store(tmp_path)
    assert s._text_collections() == ["vidseek_text_896"] and s.count()["text"] == 101
    assert {r["ev"] for r in s.text_rows(1)} == {tag}
    assert [[t for t, _ in a] for a in _answers(s, queries)] == [[t for t, _ in a] for a in exact]
    s.close()


def test_a_bad_compression_setting_is_named(monkeypatch):
    from vidseek.cli.common import load_settings
    from vidseek.errors import VidseekError

    monkeypatch.setenv("VIDSEEK_TEXT_COMPRESSION", "int8")
    monkeypatch.setenv("VIDSEEK_TEXT_RERANK_DEPTH", "5")
    with pytest.raises(VidseekError) as caught:
        load_settings(None)
    assert "VIDSEEK_TEXT_COMPRESSION='int8'" in str(caught.value) and "'none' or 'binary'" in str(caught.value)
    assert "VIDSEEK_TEXT_RERANK_DEPTH='5'" in str(caught.value)
