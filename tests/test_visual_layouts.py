"""Published ONNX layouts (Immich, transformers.js) served by a local hub, loaded without torch.

The tiny CLIP (tests/tinyclip.py) is exported into each layout with that layout's own config
files (tests/tinylayouts.py) and served by a local HTTP server that answers the hub's URL scheme
(tests/hubserver.py). HF_ENDPOINT points huggingface_hub at it, so every download goes through
the real snapshot_download; torch and transformers are blocked while the model is resolved,
downloaded, loaded and searched.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import vidseek
from vidseek.analyze import layouts
from vidseek.analyze.clip import EncoderConfig, ImageTextEncoder, clean_text
from vidseek.analyze.registry import VISUAL_MODELS, download_folder, load_visual_model, resolve_visual_model
from vidseek.errors import ModelUnavailableError
from vidseek.media.synth import Scene, Shape, make_video
from vidseek.settings import Settings

try:
    import hubserver
    import tinyclip
    import tinylayouts
except ModuleNotFoundError:  # tests/ became a package
    from tests import hubserver, tinyclip, tinylayouts

pytest.importorskip("torch", reason="the tiny layouts are exported from the tiny CLIP with torch")

IMMICH, TJS, MCLIP = "test-immich/tiny-clip__shapes", "test-xenova/tiny-clip", "test-immich/tiny-mclip"
REPOS = {"immich": IMMICH, "transformers.js": TJS}
# what each layout's download may fetch: the decoy ArmNN / RKNN builds and the other precision never
WANTED = {
    IMMICH: {"config.json", "vidseek_model.json", "visual/model.onnx", "visual/preprocess_cfg.json",
             "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json"},
    TJS: {"config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
          "vidseek_model.json", "onnx/vision_model_quantized.onnx", "onnx/text_model_quantized.onnx"},
}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_calibration(tiny_clip_dir: Path) -> dict:
    config = EncoderConfig.read(tiny_clip_dir)
    return {"calibration": config.calibration, "image_calibration": config.image_calibration}


@pytest.fixture(scope="session")
def repo_folders(tiny_clip_checkpoint: Path, tiny_calibration: dict, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub-repos")
    return {
        IMMICH: tinylayouts.export_immich(tiny_clip_checkpoint, root / "immich", tiny_calibration),
        TJS: tinylayouts.export_transformers_js(tiny_clip_checkpoint, root / "tjs", tiny_calibration),
        MCLIP: tinylayouts.export_immich(tiny_clip_checkpoint, root / "mclip", tiny_calibration, mclip=True),
    }


@pytest.fixture(scope="module")
def hub_server(repo_folders: dict[str, Path]) -> Iterator[hubserver.HubServer]:
    with hubserver.HubServer(repo_folders) as server:
        yield server


@pytest.fixture
def online(hub_server: hubserver.HubServer, monkeypatch: pytest.MonkeyPatch) -> hubserver.HubServer:
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub_server.requests.clear()
    return hub_server


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import torch` / `import transformers` fail from here on, as on a runtime-only install."""
    for name in ("torch", "transformers"):
        monkeypatch.setitem(sys.modules, name, None)


def _red_circle_video(folder: Path) -> tuple[Path, Path]:
    grey = (128, 128, 128)
    shapes = make_video(folder / "clip_a.mp4", [
        Scene(4, grey, shape=Shape("square", (30, 170, 40), 0.6, (0.5, 0.5))),
        Scene(4, grey, shape=Shape("circle", (220, 30, 30), 0.6, (0.5, 0.5))),
        Scene(4, grey, shape=Shape("triangle", (30, 60, 220), 0.6, (0.5, 0.5))),
    ])  # fmt: skip
    other = make_video(folder / "clip_b.mp4", [Scene(6, grey, shape=Shape("square", (235, 215, 30), 0.6, (0.5, 0.5)))])
    return shapes, other


@pytest.mark.parametrize("layout", sorted(REPOS))
def test_red_circle_is_found_through_each_published_layout(
    layout: str, online: hubserver.HubServer, no_torch: None, tmp_path: Path
) -> None:
    repo = REPOS[layout]
    shapes, _ = _red_circle_video(tmp_path / "v")
    settings = dict(visual_model=repo, model_dir=tmp_path / "models", routes="visual")
    with vidseek.open(tmp_path / "data", **settings) as lib:
        report = lib.index([tmp_path / "v"])
        assert report.ok and not report.unavailable, report.unavailable
        red = lib.search("a red circle").limit(3).to_list()
        cutoff = lib.settings.min_score
    top = red[0]
    assert top.path == str(shapes) and top.routes == ["visual"]
    assert top.score > cutoff == 0.3, top.score  # a calibrated score above the search cutoff
    assert top.start < 8.0 and top.end > 4.0 and top.start >= 3.0 and top.end <= 9.0  # on screen 4-8 s
    assert online.downloaded() == WANTED[repo]
    assert "torch" not in str(sys.modules.get("torch"))  # still blocked: nothing got around it


def test_layout_configs_come_from_the_layouts_own_files(online: hubserver.HubServer, tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path / "models")
    immich, tjs = (resolve_visual_model(repo, settings) for repo in (IMMICH, TJS))
    assert (immich.layout, tjs.layout) == ("immich", "transformers.js")
    assert immich.config.padding == "max_length" and immich.config.max_length == tinyclip.MAX_TEXT_LENGTH
    assert immich.config.input_names == {"text": "input_ids"} and immich.config.pad_token == "<pad>"
    assert (immich.config.family, immich.config.dim, immich.config.image_size) == ("clip", 64, 64)
    assert immich.config.mean == pytest.approx(tinyclip.MEAN) and immich.config.resize == "shortest"
    assert tjs.config.padding == "longest" and tjs.config.quantized and tjs.visual.name == "vision_model_quantized.onnx"
    assert immich.config.calibration == tjs.config.calibration != layouts.FAMILY_CALIBRATION["clip"]  # overridden
    # both towers are the same tiny CLIP: fed their own way, they agree
    a, b = (ImageTextEncoder(repo, settings, files) for repo, files in ((IMMICH, immich), (TJS, tjs)))
    images, _ = tinyclip.sample_images(per_class=1, seed=11)
    assert (a.encode_images(images) * b.encode_images(images)).sum(axis=1).min() > 0.95  # tjs is int8
    texts = ["a red circle", "a yellow triangle", "a green square"]
    assert (a.encode_texts(texts) * b.encode_texts(texts)).sum(axis=1).min() > 0.95
    # M-CLIP's text graph takes int32 input_ids + attention_mask: fed from its signature, not its name
    mclip = ImageTextEncoder(MCLIP, settings, resolve_visual_model(MCLIP, settings))
    np.testing.assert_allclose(mclip.encode_texts(texts), a.encode_texts(texts), atol=1e-5)


def test_a_precision_variant_is_downloaded_alone(online: hubserver.HubServer, tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path / "models")
    files = resolve_visual_model(f"{TJS}:fp32", settings)
    assert files.visual.name == "vision_model.onnx" and not files.config.quantized
    got = online.downloaded()
    assert {"onnx/vision_model.onnx", "onnx/text_model.onnx"} <= got
    assert not {p for p in got if "quantized" in p}
    with pytest.raises(ModelUnavailableError, match="unknown transformers.js variant 'q9'"):
        layouts.LAYOUTS["transformers.js"].choose_variant((), "q9")


def test_downloaded_copy_is_used_without_any_network_call(
    repo_folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    settings = Settings(model_dir=tmp_path / "models")
    server = hubserver.HubServer({IMMICH: repo_folders[IMMICH]}).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        first = resolve_visual_model(IMMICH, settings)
        server.requests.clear()
        again = resolve_visual_model(IMMICH, settings)
        assert server.requests == [] and again.folder == first.folder  # the copy is complete: no call
    finally:
        server.stop()
    for offline in ("0", "1"):  # hub gone, then HF_HUB_OFFLINE too
        monkeypatch.setenv("HF_HUB_OFFLINE", offline)
        encoder = load_visual_model(Settings(model_dir=settings.model_dir, visual_model=IMMICH))
        picture = tinyclip.draw_shape("red", "circle", np.random.default_rng(1))
        scores = encoder.calibrate(encoder.encode_images([picture]) @ encoder.encode_texts(tinyclip.CAPTIONS).T)[0]
        assert tinyclip.CAPTIONS[int(scores.argmax())] == "a red circle" and scores.max() > 0.3
    # the downloaded folder copied to another machine works where it lands
    copied = shutil.copytree(first.folder, tmp_path / "elsewhere" / "my-model")
    assert resolve_visual_model(str(copied), Settings(model_dir=tmp_path / "empty")).layout == "immich"


def test_a_file_missing_from_the_hub_repo_names_the_fix(
    repo_folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = shutil.copytree(repo_folders[IMMICH], tmp_path / "broken")
    (broken / "textual" / "model.onnx").unlink()
    registry_repo = VISUAL_MODELS["siglip2-base"].hub_id  # served here too: a registry name, same download path
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with hubserver.HubServer({"test-immich/broken": broken, registry_repo: broken}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        settings = Settings(model_dir=tmp_path / "models", visual_model="test-immich/broken")
        with pytest.raises(ModelUnavailableError, match=r"test-immich/broken on http\S+ has files of the immich "
                                                        r"layout but lacks textual/model\.onnx.*Fix: check the repo "
                                                        r"name.*VIDSEEK_VISUAL_MODEL=DIR"):  # fmt: skip
            load_visual_model(settings).load()
        with pytest.raises(ModelUnavailableError, match=r"siglip2-base \(immich-app/ViT-B-16-SigLIP2__webli\).*does "
                                                        r"not have what the immich layout needs.*missing textual/"
                                                        r"model\.onnx.*Fix: .*VIDSEEK_VISUAL_MODEL=DIR"):  # fmt: skip
            resolve_visual_model("siglip2-base", settings)
        with pytest.raises(ModelUnavailableError, match=r"has no repo test-immich/nothing-here.*HF_TOKEN"):
            resolve_visual_model("test-immich/nothing-here", settings)
    # the repo gets fixed upstream: the next run completes the partial copy, fetching only what it lacks
    with hubserver.HubServer({registry_repo: repo_folders[IMMICH]}) as fixed:
        monkeypatch.setenv("HF_ENDPOINT", fixed.url)
        assert resolve_visual_model("siglip2-base", settings).textual.is_file()
        assert fixed.downloaded() == {"textual/model.onnx"}


@pytest.mark.parametrize("name", ["siglip2-base", "clip-vit-b32", "someone/not-a-real-clip"])
def test_offline_without_a_copy_fails_fast_and_says_how_to_fix(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    encoder = load_visual_model(Settings(visual_model=name, model_dir=tmp_path))  # lazy: no error yet
    with pytest.raises(ModelUnavailableError, match=r"HF_HUB_OFFLINE is set .* no complete copy\. Fix: connect .*"
                                                    r"VIDSEEK_VISUAL_MODEL=DIR"):  # fmt: skip
        encoder.load()
    assert time.monotonic() - start < 5.0


def test_unreachable_hub_is_noticed_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=r"hub unreachable at http://127\.0\.0\.1:9 .*Fix: connect"):
        resolve_visual_model("clip-vit-b32", Settings(model_dir=tmp_path))
    assert time.monotonic() - start < 5.0


def test_models_list_shows_what_each_name_is_and_what_is_downloaded(
    repo_folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from vidseek.cli import app

    settings = Settings(model_dir=tmp_path / "models")
    shutil.copytree(repo_folders[IMMICH], download_folder(VISUAL_MODELS["clip-xlmr-b32"], settings))
    shutil.copytree(repo_folders[TJS], download_folder(VISUAL_MODELS["clip-vit-b32"], settings))
    monkeypatch.setenv("VIDSEEK_MODEL_DIR", str(settings.model_dir))
    monkeypatch.delenv("VIDSEEK_VISUAL_MODEL", raising=False)
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert set(VISUAL_MODELS) <= set(lines)
    for name in ("clip-xlmr-b32", "clip-vit-b32"):
        assert re.search(r"; downloaded \d+ MB in /", lines[name]), lines[name]
    assert "immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k [immich;" in lines["clip-xlmr-b32"]
    assert "Xenova/clip-vit-base-patch32 [transformers.js;" in lines["clip-vit-b32"]
    assert "(default)" in lines["clip-xlmr-b32"] and "not downloaded" in lines["siglip2-base"]
    assert "needs torch" in lines["siglip2-base-export"] and "needs torch" in lines["chinese-clip-base"]


# layout readers on their own: config files only ------------------------------------------------
def _immich_folder(root: Path, model: dict, tokenizer_config: dict | None = None) -> Path:
    for name in ("visual/model.onnx", "textual/model.onnx", "textual/tokenizer.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")  # never opened by the reader
    (root / "config.json").write_text(json.dumps(model))
    preprocess = {"size": [224, 224], "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear",
                  "resize_mode": "squash"}  # fmt: skip
    (root / "visual" / "preprocess_cfg.json").write_text(json.dumps(preprocess))
    (root / "textual" / "tokenizer_config.json").write_text(json.dumps(tokenizer_config or {"pad_token": "<pad>"}))
    return root


def test_immich_siglip2_and_nllb_configs(tmp_path: Path) -> None:
    siglip2 = {"embed_dim": 768, "init_logit_bias": -10, "vision_cfg": {"image_size": 224},
               "text_cfg": {"context_length": 64, "tokenizer_kwargs": {"clean": "canonicalize"}}}  # fmt: skip
    config = layouts.read_folder(_immich_folder(tmp_path / "s", siglip2)).config
    assert (config.family, config.max_length, config.canonicalize, config.resize) == ("siglip", 64, True, "squash")
    assert config.calibration == layouts.FAMILY_CALIBRATION["siglip"] and config.language_tokens == {}
    assert clean_text("A Red, Circle!", config) == "a red circle"
    nllb = {"embed_dim": 768, "init_logit_bias": -10, "vision_cfg": {"image_size": 384},
            "text_cfg": {"hf_tokenizer_name": "facebook/nllb-200-distilled-600M"}}  # fmt: skip
    config = layouts.read_folder(_immich_folder(tmp_path / "n", nllb, {"pad_token": {"content": "<pad>"}})).config
    assert config.max_length == 77 and config.pad_token == "<pad>"
    assert clean_text("一只猫", config) == "zho_Hans一只猫" and clean_text("a cat", config) == "eng_Latna cat"
    (tmp_path / "n" / "vidseek_model.json").write_text(json.dumps({"resize": "longest"}))
    with pytest.raises(ModelUnavailableError, match=r"vidseek_model\.json: resize/resample 'longest'.*next to the"):
        layouts.read_folder(tmp_path / "n")


def test_a_joint_transformers_js_graph_is_refused_with_the_way_out(tmp_path: Path) -> None:
    folder = tmp_path / "xenova-chinese-clip"
    for name in ("config.json", "preprocessor_config.json", "tokenizer.json", "onnx/model_quantized.onnx"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    with pytest.raises(ModelUnavailableError, match=r"transformers\.js needs onnx/vision_model\.onnx.*only a joint "
                                                    r"onnx/model\*\.onnx: export its checkpoint"):  # fmt: skip
        layouts.read_folder(folder)


def test_a_folder_of_no_known_layout_says_what_each_needs(tmp_path: Path) -> None:
    (tmp_path / "m" / "visual").mkdir(parents=True)
    (tmp_path / "m" / "visual" / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelUnavailableError, match=r"not a complete model.*immich needs config\.json.*"
                                                    r"transformers\.js needs.*VIDSEEK_VISUAL_MODEL=DIR"):  # fmt: skip
        resolve_visual_model(str(tmp_path / "m"), Settings(model_dir=tmp_path / "cache"))
