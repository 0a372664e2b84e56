"""The Milvus store's index setting on a real Milvus Lite file: switched in place, refused where Lite can't."""

from __future__ import annotations

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
