"""Hub text models through the registry: a tiny ONNX sentence encoder (built here with onnx, no torch)
served by a local hub over HTTP, downloaded through huggingface_hub, then used by the semantic route."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vidseek
from vidseek.errors import ModelUnavailableError
from vidseek.media.synth import Scene, make_video
from vidseek.settings import Settings

try:
    import hubserver
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import hubserver

onnx = pytest.importorskip("onnx", reason="the tiny text encoder is written with the onnx package")

# words that share a vector mean the same to the tiny model: it is a bag of word vectors, mean-pooled
SYNONYMS = [("boat", "ship", "船"), ("red", "crimson", "红色"), ("harbour", "port", "港口"), ("bread", "loaf", "面包")]
DIM = 16


def _tiny_encoder(folder: Path) -> Path:
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1}
    rng = np.random.default_rng(0)
    table = [np.zeros(DIM), rng.standard_normal(DIM) * 0.1]
    for group in SYNONYMS:
        vector = rng.standard_normal(DIM)
        for word in group:
            vocab[word] = len(vocab)
            table.append(vector)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir(parents=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    weights = numpy_helper.from_array(np.asarray(table, dtype=np.float32), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"])], "tiny-text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "l"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["n", "l"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["n", "l", DIM])], [weights])
    (folder / "onnx").mkdir()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(folder / "onnx" / "model.onnx"))
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    folder = _tiny_encoder(tmp_path_factory.mktemp("tiny-text") / "repo")
    with hubserver.HubServer({"test-org/tiny-text": folder}) as server:
        yield server


def test_a_hub_onnx_text_model_is_downloaded_and_used(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    clips = tmp_path / "clips"
    make_video(clips / "boat.mp4", [Scene(3, (220, 220, 220), text="red boat")], size=(320, 240))
    make_video(clips / "bread.mp4", [Scene(3, (220, 220, 220), text="bread")], size=(320, 240))
    settings = {"text_model": "test-org/tiny-text", "model_dir": tmp_path / "models", "routes": "ocr",
                "visual_model": str(tmp_path / "none")}
    with vidseek.open(tmp_path / "data", **settings) as engine:
        assert engine.index([clips]).ok
        embedder = engine.analyzers.embedder()
        assert embedder.dim == DIM and "onnx" in embedder.version
        assert engine.store.text_name == f"vidseek_text_{DIM}"  # the store takes the model's width
        assert any(path.endswith("onnx/model.onnx") for _, path in hub.requests)
        found = engine.search("crimson ship").match("semantic").min_score(0).to_list()
        assert found[0].name == "boat.mp4"  # synonyms only: no word of the query is on screen
        assert engine.status()["semantic"]["embedded"] == 2
    assert (tmp_path / "models" / "hub" / "test-org--tiny-text" / "onnx" / "model.onnx").is_file()


def test_an_unreachable_text_model_names_the_fix_and_words_still_match(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    clips = tmp_path / "clips"
    make_video(clips / "sign.mp4", [Scene(3, (220, 220, 220), text="Harbour Bakery")], size=(320, 240))
    settings = {"text_model": "test-org/not-downloaded", "model_dir": tmp_path / "models", "routes": "ocr",
                "visual_model": str(tmp_path / "none")}
    with vidseek.open(tmp_path / "data", **settings) as engine:
        report = engine.index([clips])
        assert report.ok and "semantic" in report.unavailable
        assert "VIDSEEK_TEXT_MODEL" in report.unavailable["semantic"]
        search = engine.search("harbour bakery")
        assert search.to_list()[0].name == "sign.mp4" and search.trace.text_match == "lexical"
        assert any("not downloaded" in n and "hub" in n for n in search.trace.notes)


def test_a_folder_without_the_graph_is_refused_with_what_it_needs(tmp_path):
    from vidseek.analyze.registry import load_text_model

    (tmp_path / "empty").mkdir()
    embedder = load_text_model(Settings(text_model=str(tmp_path / "empty"), model_dir=tmp_path))
    with pytest.raises(ModelUnavailableError, match=r"missing model.onnx, tokenizer.json. Fix: point VIDSEEK_TEXT"):
        embedder.load()
