"""The visual route's model layer: export -> ONNX folder -> ImageTextEncoder, registry and errors.

The tiny CLIP (tests/tinyclip.py, fixtures in conftest.py) is trained in the session, exported by
the real exporter and loaded by the real loader, so retrieval quality is checked end to end.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vidseek.analyze.clip import (
    CONFIG_FILE,
    DIGEST_CACHE,
    VISUAL_FILE,
    EncoderConfig,
    ImageTextEncoder,
    calibrate_cosine,
)
from vidseek.analyze.registry import VISUAL_MODELS, load_visual_model, resolve_visual_model
from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings

try:
    import tinyclip
except ModuleNotFoundError:  # tests/ became a package
    from tests import tinyclip

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from vidseek.analyze.export import export_model, fit_linear_calibration  # noqa: E402  (needs torch)


@pytest.fixture(scope="module")
def tiny_clip_int8_dir(tiny_clip_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-clip-int8") / "tiny-clip-int8"
    pairs = tinyclip.calibration_pairs()
    return export_model(tiny_clip_checkpoint, out, quantize=True, name="tiny-clip", calibration_pairs=pairs)


@pytest.fixture(params=["fp32", "int8"])
def encoder(request: pytest.FixtureRequest, tiny_clip_dir: Path) -> ImageTextEncoder:
    folder = tiny_clip_dir if request.param == "fp32" else request.getfixturevalue("tiny_clip_int8_dir")
    return ImageTextEncoder.from_folder(folder, Settings(threads=1))


def _fresh_scores(encoder: ImageTextEncoder) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of 5 fresh pictures per class (not seen in training) against the 12 captions."""
    images, labels = tinyclip.sample_images(per_class=5, seed=20240601)
    return encoder.encode_images(images) @ encoder.encode_texts(tinyclip.CAPTIONS).T, labels


def test_each_caption_ranks_its_picture_first(encoder: ImageTextEncoder) -> None:
    cosine, labels = _fresh_scores(encoder)
    for group in range(5):  # each group holds one fresh picture of every class
        rows = slice(group * 12, (group + 1) * 12)
        best = labels[rows][cosine[rows].argmax(axis=0)]
        assert list(best) == list(range(12)), f"captions ranked other pictures first: {best}"


def test_calibrated_scores_separate_right_and_wrong(encoder: ImageTextEncoder) -> None:
    cosine, labels = _fresh_scores(encoder)
    scores = encoder.calibrate(cosine)
    colour = np.array([c for c, _ in tinyclip.CLASSES])
    shape = np.array([s for _, s in tinyclip.CLASSES])
    right = labels[:, None] == np.arange(12)[None, :]
    wrong_both = (colour[labels][:, None] != colour[None, :]) & (shape[labels][:, None] != shape[None, :])
    assert scores[right].min() >= 0.5
    assert scores[wrong_both].max() <= 0.3
    assert scores.dtype == np.float32 and 0.0 <= scores.min() and scores.max() <= 1.0


def test_embeddings_are_normalised_and_batch_independent(tiny_clip_dir: Path) -> None:
    encoder = ImageTextEncoder.from_folder(tiny_clip_dir, Settings())
    images, _ = tinyclip.sample_images(per_class=2, seed=5)
    images[0] = np.zeros((90, 160, 3), np.uint8)  # a non-square frame is resized and centre-cropped
    one_by_one = encoder.encode_images(images, batch_size=1)
    batched = encoder.encode_images(images, batch_size=16)
    assert batched.shape == (24, encoder.dim) == (24, 64) and batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)
    texts = encoder.encode_texts(["a red circle", "A RED CIRCLE", "a blue square square square", ""])
    np.testing.assert_allclose(texts[0], texts[1], atol=1e-6)  # the tokenizer lowercases
    assert encoder.encode_images([]).shape == encoder.encode_texts([]).shape == (0, 64)


def test_config_travels_with_the_weights(tiny_clip_dir: Path, tiny_clip_int8_dir: Path) -> None:
    fp32, int8 = EncoderConfig.read(tiny_clip_dir), EncoderConfig.read(tiny_clip_int8_dir)
    assert (fp32.family, fp32.image_size, fp32.resize, fp32.dim) == ("clip", 64, "shortest", 64)
    assert fp32.mean == pytest.approx(tinyclip.MEAN) and fp32.text_inputs == ("input_ids", "attention_mask")
    assert fp32.calibration["kind"] == "linear" and fp32.calibration["low"] < fp32.calibration["high"]
    assert (fp32.quantized, int8.quantized) == (False, True)
    assert (tiny_clip_int8_dir / "visual.onnx").stat().st_size < (tiny_clip_dir / "visual.onnx").stat().st_size


def test_version_names_the_model_and_follows_the_weights(tiny_clip_dir: Path, tiny_clip_int8_dir: Path) -> None:
    fp32 = ImageTextEncoder.from_folder(tiny_clip_dir, Settings())
    int8 = ImageTextEncoder.from_folder(tiny_clip_int8_dir, Settings())
    assert fp32.version.startswith("tiny-clip-") and fp32.version != int8.version
    assert fp32.version == ImageTextEncoder.from_folder(tiny_clip_dir, Settings()).version


def test_broken_folder_says_which_file(tiny_clip_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_clip_dir, broken)
    (broken / "textual.onnx").unlink()
    with pytest.raises(ModelUnavailableError, match=r"missing textual\.onnx.*VIDSEEK_VISUAL_MODEL"):
        ImageTextEncoder.from_folder(broken, Settings()).load()
    shutil.copy(tiny_clip_dir / "textual.onnx", broken / "textual.onnx")
    config = json.loads((broken / CONFIG_FILE).read_text())
    (broken / CONFIG_FILE).write_text(json.dumps({**config, "family": "dalle"}))
    with pytest.raises(ModelUnavailableError, match=r"vidseek_model\.json: family 'dalle'"):
        ImageTextEncoder.from_folder(broken, Settings()).load()


def test_calibration_maps() -> None:
    linear = calibrate_cosine(np.array([0.1, 0.18, 0.25, 0.32, 0.5]), {"kind": "linear", "low": 0.18, "high": 0.32})
    np.testing.assert_allclose(linear, [0, 0, 0.5, 1, 1], atol=1e-6)
    sigmoid = calibrate_cosine(np.array([0.0, 0.1]), {"kind": "sigmoid", "scale": 10.0, "bias": -1.0})
    np.testing.assert_allclose(sigmoid, [1 / (1 + np.e), 0.5], atol=1e-6)
    cosine = np.array([[0.9, 0.1], [0.2, 0.8]])
    fitted = fit_linear_calibration(cosine, np.eye(2, dtype=bool))
    assert fitted["kind"] == "linear" and fitted["low"] < fitted["high"]
    with pytest.raises(ValueError, match="do not score above"):
        fit_linear_calibration(cosine, ~np.eye(2, dtype=bool))


# registry -------------------------------------------------------------------------------------
def test_unknown_registry_name_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="valid names are chinese-clip-base, clip-vit-b32, clip-xlmr-b32, "
                                                    "nllb-siglip-base, siglip2-base, siglip2-base-export"):  # fmt: skip
        resolve_visual_model("siglip3-huge", Settings(model_dir=tmp_path))
    assert VISUAL_MODELS["siglip2-base"].hub_id == "immich-app/ViT-B-16-SigLIP2__webli"
    assert VISUAL_MODELS[Settings().visual_model].layout == "immich"  # the default needs no torch


@pytest.mark.parametrize("name", ["siglip2-base-export", "/no/such/model/dir"])
def test_unreachable_model_says_how_to_fix(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_visual_model(Settings(visual_model=name, model_dir=tmp_path))  # lazy: no error yet
    with pytest.raises(ModelUnavailableError) as caught:
        encoder.load()
    message = str(caught.value)
    assert name in message and "vidseek models export" in message and "VIDSEEK_VISUAL_MODEL=DIR" in message
    if not name.startswith("/"):
        assert "Hugging Face hub unreachable" in message


def test_resolves_exported_cached_and_checkpoint_folders(
    tiny_clip_dir: Path, tiny_clip_checkpoint: Path, tmp_path: Path
) -> None:
    settings = Settings(model_dir=tmp_path / "cache")
    assert resolve_visual_model(str(tiny_clip_dir), settings).folder == tiny_clip_dir
    exported = resolve_visual_model(str(tiny_clip_checkpoint), settings).folder  # exported on the fly, cached
    assert exported.parent == settings.model_dir and (exported / CONFIG_FILE).is_file()
    assert resolve_visual_model(str(tiny_clip_checkpoint), settings).folder == exported
    encoder = load_visual_model(Settings(visual_model=str(tiny_clip_checkpoint), model_dir=settings.model_dir))
    assert encoder.encode_texts(["a red circle"]).shape == (1, 64)


# other families, with tiny random weights (the real checkpoints need the hub) -----------------
def _word_tokenizer(words: list[str], template: str, specials: list[str], **tokens: object):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*specials, *words])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=str(tokens["unk_token"])))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    used = [t for t in specials if t in template]
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(t, vocab[t]) for t in used])
    return PreTrainedTokenizerFast(tokenizer_object=tok, **tokens)


TINY_LAYERS = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
WORDS = ["a", "photo", "of", "dog", "red", "circle", "cat"]


def test_siglip_family_exports(tmp_path: Path) -> None:
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(0)
    tokenizer = _word_tokenizer(WORDS, "$A </s>", ["<pad>", "</s>", "<unk>"], pad_token="<pad>", eos_token="</s>",
                                unk_token="<unk>")  # fmt: skip
    config = SiglipConfig(
        text_config={**TINY_LAYERS, "vocab_size": 10, "max_position_embeddings": 64, "pad_token_id": 0},
        vision_config={**TINY_LAYERS, "image_size": 32, "patch_size": 16},
    )
    checkpoint = tmp_path / "tiny-siglip2"
    SiglipModel(config).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    preprocessor = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "resample": 2, "size": {"height": 32, "width": 32}}
    (checkpoint / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    out = export_model(checkpoint, tmp_path / "onnx", quantize=True)  # raises if ONNX != torch
    exported = EncoderConfig.read(out)
    assert (exported.family, exported.padding, exported.max_length, exported.text_inputs) == (
        "siglip", "max_length", 64, ("input_ids",)
    )  # fmt: skip
    assert exported.lowercase and exported.resize == "squash" and exported.resample == "bilinear"
    assert exported.calibration["kind"] == "sigmoid" and exported.dim == 32
    encoder = ImageTextEncoder.from_folder(out, Settings())
    assert encoder.tokenize(["A Dog"])["input_ids"].shape == (1, 64)
    score = encoder.calibrate(encoder.encode_images([np.zeros((40, 50, 3), np.uint8)]) @ encoder.encode_texts(["a"]).T)
    assert 0.0 < float(score[0, 0]) < 1.0


def test_chinese_clip_family_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import ChineseCLIPConfig, ChineseCLIPModel

    torch.manual_seed(0)
    tokenizer = _word_tokenizer(WORDS + ["猫"], "[CLS] $A [SEP]", ["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
                                pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                                model_input_names=["input_ids", "token_type_ids", "attention_mask"])  # fmt: skip
    config = ChineseCLIPConfig(
        text_config={**TINY_LAYERS, "vocab_size": 12, "max_position_embeddings": 64},
        vision_config={**TINY_LAYERS, "image_size": 32, "patch_size": 16},
        projection_dim=16,
    )
    checkpoint = tmp_path / "tiny-chinese-clip"
    ChineseCLIPModel(config).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    preprocessor = {"do_center_crop": False, "resample": 3, "size": {"height": 32, "width": 32}}
    (checkpoint / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    out = export_model(checkpoint, tmp_path / "onnx")
    exported = EncoderConfig.read(out)
    assert (exported.family, exported.max_length, exported.resize, exported.dim) == ("chinese_clip", 52, "squash", 16)
    assert exported.text_inputs == ("input_ids", "attention_mask", "token_type_ids")
    assert exported.calibration == {"kind": "linear", "low": 0.2, "high": 0.4}
    assert ImageTextEncoder.from_folder(out, Settings()).encode_texts(["一只猫", "a cat"]).shape == (2, 16)
    monkeypatch.setattr("vidseek.analyze.export.INT8_MIN_COSINE", 1.01)  # int8 can never pass
    kept = export_model(checkpoint, tmp_path / "kept-fp32", quantize=True)
    assert not EncoderConfig.read(kept).quantized
    onnx = pytest.importorskip("onnx")
    assert "MatMulInteger" not in {node.op_type for node in onnx.load(kept / "visual.onnx").graph.node}


def test_version_needs_no_load_and_hashes_the_graphs_once(tiny_clip_dir, tmp_path):
    """A no-op re-index asks every route's version: the graphs are hashed once, then remembered
    against their sizes and mtimes; a changed graph is a new version."""
    folder = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, folder)
    first = ImageTextEncoder.from_folder(folder, Settings())
    version = first.version
    assert not first.loaded and (folder / DIGEST_CACHE).is_file()
    assert version == f"{first.files.config.name}-{first.files.digest()[:16]}"
    again = ImageTextEncoder.from_folder(folder, Settings())
    assert again.version == version
    with open(folder / VISUAL_FILE, "ab") as graph:
        graph.write(b"\0")
    assert ImageTextEncoder.from_folder(folder, Settings()).version != version
