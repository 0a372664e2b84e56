"""Export a transformers CLIP / Chinese-CLIP / SigLIP checkpoint to the folder `ImageTextEncoder` runs.

Needs torch + transformers (the `export` extra); the result needs only onnxruntime. The legacy
TorchScript exporter (`dynamo=False`) is used: it works with torch 2.2 to 2.13 without onnxscript.
Every export is checked: the ONNX graphs must reproduce the torch embeddings and the saved
tokenizer.json must reproduce the checkpoint's token ids.

Usage:
    export_model("google/siglip2-base-patch16-224", Path("models/siglip2-base"), quantize=True)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vidseek.analyze.clip import (
    FAMILY_CALIBRATION,
    FAMILY_MAX_LENGTH,
    TEXTUAL_FILE,
    TOKENIZER_FILE,
    VISUAL_FILE,
    EncoderConfig,
    ImageTextEncoder,
)
from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings

OPSET = 17
_CANONICAL_TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_VERIFY_TEXTS = ["a photo of a dog", "一只红色的猫在沙发上", "a red circle", "x"]
_FP32_TOLERANCE = 1e-3
INT8_MIN_COSINE = 0.99  # below this on the verification samples, int8 is not worth its speed

Log = Callable[[str], None]


def _features(output: Any) -> Any:
    """transformers 5 returns an output whose pooler_output is the projected embedding; 4.x a tensor."""
    return output if hasattr(output, "shape") else output.pooler_output


def _towers(model: Any, text_inputs: Sequence[str]) -> tuple[Any, Any]:
    """Two nn.Modules that expose get_image_features / get_text_features as plain forward()."""
    import torch

    class VisualTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return _features(self.model.get_image_features(pixel_values=pixel_values))

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return _features(self.model.get_text_features(**dict(zip(text_inputs, inputs, strict=True))))

    return VisualTower().eval(), TextTower().eval()


def _hub_offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once at import; reading it per call lets a caller (or a
    # test) go offline later and fail in milliseconds instead of waiting on network timeouts.
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _read_checkpoint_json(source: str, filename: str) -> dict[str, Any]:
    """A JSON file of a local checkpoint folder or hub repo; {} when the checkpoint has none."""
    local = Path(source)
    if local.is_dir():
        path = local / filename
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = hf_hub_download(source, filename, local_files_only=_hub_offline())
    except EntryNotFoundError:
        return {}
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _model_class(model_type: str, source: str) -> tuple[Any, str]:
    import transformers

    classes = {"clip": ("CLIPModel", "clip"), "chinese_clip": ("ChineseCLIPModel", "chinese_clip")}
    classes["siglip"] = ("SiglipModel", "siglip")  # SigLIP 2 fixed-resolution checkpoints are "siglip"
    if model_type not in classes:
        naflex = "siglip2" in model_type
        hint = " (SigLIP 2 NaFlex takes patch sequences; use a *-patch16-224 checkpoint)" if naflex else ""
        raise ModelUnavailableError(
            f"{source}: model_type {model_type!r} cannot be exported{hint}; supported: {sorted(classes)}"
        )
    class_name, family = classes[model_type]
    return getattr(transformers, class_name), family


def load_checkpoint(source: str | Path) -> tuple[Any, Any, str, dict[str, Any]]:
    """(model in eval mode, fast tokenizer, family, preprocessor config) of a hub id or folder.

    Usage: `model, tokenizer, family, preprocessor = load_checkpoint("openai/clip-vit-base-patch32")`
    """
    from transformers import AutoConfig, AutoTokenizer

    source, offline = str(source), _hub_offline()
    model_type = AutoConfig.from_pretrained(source, local_files_only=offline).model_type
    model_class, family = _model_class(model_type, source)
    # eager attention traces to plain MatMul/Softmax, which every onnxruntime version fuses well
    model = model_class.from_pretrained(source, local_files_only=offline, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ModelUnavailableError(
            f"{source}: tokenizer {type(tokenizer).__name__} has no fast (tokenizers) version to save "
            "as tokenizer.json; install `sentencepiece` and `protobuf` so transformers can convert it"
        )
    return model, tokenizer, family, _read_checkpoint_json(source, "preprocessor_config.json")


def _image_fields(preprocessor: dict[str, Any], family: str, image_size: int) -> dict[str, Any]:
    defaults = (0.5, 0.5, 0.5) if family == "siglip" else (0.48145466, 0.4578275, 0.40821073)
    default_std = (0.5, 0.5, 0.5) if family == "siglip" else (0.26862954, 0.26130258, 0.27577711)
    crop = preprocessor.get("do_center_crop", family == "clip")
    return {
        "image_size": image_size,
        "mean": tuple(float(v) for v in preprocessor.get("image_mean", defaults)),
        "std": tuple(float(v) for v in preprocessor.get("image_std", default_std)),
        # without a centre crop the model still needs S x S, so the frame is squashed (as HF does)
        "resize": "shortest" if crop else "squash",
        "resample": "bilinear" if preprocessor.get("resample", 3) == 2 else "bicubic",
    }


def _text_fields(model: Any, tokenizer: Any, family: str, source: str) -> dict[str, Any]:
    text_config = model.config.text_config
    if family == "siglip":
        # SigLIP pools the last position and was trained on pad-to-64 without a mask; SigLIP 2's
        # Gemma tokenizer (256k vocab) expects lowercased text.
        inputs, padding = ("input_ids",), "max_length"
        lowercase = "siglip2" in source.lower() or text_config.vocab_size >= 250_000
    else:
        names = set(tokenizer.model_input_names)
        inputs = tuple(n for n in _CANONICAL_TEXT_INPUTS if n == "input_ids" or n in names)
        padding, lowercase = "longest", False
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return {
        "max_length": min(FAMILY_MAX_LENGTH[family], text_config.max_position_embeddings),
        "padding": padding,
        "pad_token_id": int(pad_id or 0),
        "text_inputs": inputs,
        "lowercase": lowercase,
    }


def _calibration_field(model: Any, family: str, explicit: dict[str, Any] | None) -> dict[str, Any]:
    if explicit is not None:
        return dict(explicit)
    # SigLIP is trained with a sigmoid loss: sigmoid(cos * scale + bias) is already a probability, so
    # the checkpoint's own scale and bias beat the family's estimated linear map.
    if family == "siglip":
        scale = float(model.logit_scale.exp().item())
        return {"kind": "sigmoid", "scale": scale, "bias": float(model.logit_bias.item())}
    return dict(FAMILY_CALIBRATION[family])


def _embedding_dim(model: Any, family: str) -> int:
    if family == "siglip":  # no shared projection: the text head maps to projection_size (hidden_size)
        text_config = model.config.text_config
        return int(getattr(text_config, "projection_size", None) or text_config.hidden_size)
    return int(model.config.projection_dim)


def build_config(
    model: Any, tokenizer: Any, family: str, preprocessor: dict[str, Any], source: str, name: str
) -> EncoderConfig:
    """The vidseek_model.json contents for a loaded checkpoint (calibration = family default).

    Usage: `config = build_config(*load_checkpoint(src), source=src, name="my-clip")`
    """
    return EncoderConfig(
        name=name,
        family=family,
        source=source,
        dim=_embedding_dim(model, family),
        **_image_fields(preprocessor, family, int(model.config.vision_config.image_size)),
        **_text_fields(model, tokenizer, family, source),
        calibration=_calibration_field(model, family, None),
    )


def _export_graphs(model: Any, tokenizer: Any, config: EncoderConfig, output: Path) -> None:
    import torch

    visual, text = _towers(model, config.text_inputs)
    size = config.image_size
    batch = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every Python-level shape check in transformers; whether the graph
        # generalises to other batch sizes and lengths is checked numerically by verify_export.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            visual, (torch.zeros(2, 3, size, size),), str(output / VISUAL_FILE),
            input_names=["pixel_values"], output_names=["embeddings"],
            dynamic_axes={"pixel_values": batch, "embeddings": batch},
            opset_version=OPSET, dynamo=False,
        )  # fmt: skip
        sample = tokenizer(["a photo", "a photo of a dog"], padding=True, return_tensors="pt")
        feeds = {"token_type_ids": torch.zeros_like(sample["input_ids"]), **sample}
        torch.onnx.export(
            text, tuple(feeds[n] for n in config.text_inputs), str(output / TEXTUAL_FILE),
            input_names=list(config.text_inputs), output_names=["embeddings"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in config.text_inputs}, "embeddings": batch},
            opset_version=OPSET, dynamo=False,
        )  # fmt: skip


def _save_tokenizer(tokenizer: Any, output: Path) -> None:
    backend = tokenizer.backend_tokenizer
    backend.save(str(output / TOKENIZER_FILE))


def quantize_folder(folder: Path) -> None:
    """Replace both graphs with int8 dynamically-quantised ones (weights int8 per output channel,
    activations uint8 per tensor at run time).

    Only MatMul weights are quantised, which is where the time goes. Per-channel scales cost
    nothing measurable and keep CLIP's outlier channels accurate. Weights use 7 bits (reduce_range)
    because the u8 x s8 kernels of CPUs without VNNI can overflow with 8, and an exported folder
    should give the same vectors on any x86 host (cost: min cosine 0.9999 -> 0.9997).
    Left in fp32: convolutions (onnxruntime's CPU ConvInteger has no int8-weight kernel; the patch
    embedding is a small share of the time) and embedding tables (Gather would get one scale per
    table, too coarse for 256k-token vocabularies, and saves memory but no time).
    Usage: `quantize_folder(Path("models/clip"))`
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for name in (VISUAL_FILE, TEXTUAL_FILE):
        path = folder / name
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            quantized = Path(tmp) / name
            quantize_dynamic(
                path, quantized, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                per_channel=True, reduce_range=True,
            )  # fmt: skip
            os.replace(quantized, path)


def verify_export(model: Any, tokenizer: Any, folder: Path) -> dict[str, float]:
    """Compare the ONNX folder with the torch model on random pixels and sample texts.

    Returns max |difference| of the normalised embeddings per tower and the lowest cosine between
    the two; raises if the saved tokenizer gives other ids than the checkpoint's tokenizer.
    Usage: `report = verify_export(model, tokenizer, Path("models/clip"))`
    """
    import torch

    encoder = ImageTextEncoder.from_folder(folder, Settings())
    config = encoder.config
    _check_token_ids(tokenizer, encoder, config)
    visual, text = _towers(model, config.text_inputs)
    pixels = np.random.default_rng(0).normal(size=(3, 3, config.image_size, config.image_size))
    feeds = encoder.tokenize(_VERIFY_TEXTS)
    with torch.no_grad():
        want_image = visual(torch.from_numpy(pixels.astype(np.float32))).numpy()
        want_text = text(*(torch.from_numpy(feeds[n]) for n in config.text_inputs)).numpy()
    got_image = encoder.embed_pixels(pixels.astype(np.float32))
    got_text = encoder.embed_tokens(feeds)
    single = encoder.embed_tokens({n: v[:1] for n, v in feeds.items()})
    if got_image.shape[1] != config.dim or got_text.shape[1] != config.dim:
        raise ModelUnavailableError(f"{folder}: embeddings are {got_image.shape[1]}-d, config says {config.dim}")
    got_text = np.concatenate([single, got_text[1:]])  # batch of one traced shapes too
    report = {}
    for tower, want, got in (("visual", want_image, got_image), ("text", want_text, got_text)):
        want, got = _unit(want), _unit(got)
        report[f"{tower}_max_abs_diff"] = float(np.abs(want - got).max())
        report[f"{tower}_min_cosine"] = float((want * got).sum(axis=1).min())
    return report


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _check_token_ids(tokenizer: Any, encoder: ImageTextEncoder, config: EncoderConfig) -> None:
    texts = [t.lower() for t in _VERIFY_TEXTS] if config.lowercase else _VERIFY_TEXTS
    padding = "max_length" if config.padding == "max_length" else "longest"
    want = tokenizer(texts, padding=padding, max_length=config.max_length, truncation=True)["input_ids"]
    got = encoder.tokenize(_VERIFY_TEXTS)["input_ids"]
    for row, ids in enumerate(want):  # padding included: the pad id matters for SigLIP
        if got[row].tolist() != list(ids):
            raise ModelUnavailableError(
                f"exported tokenizer.json disagrees with the checkpoint tokenizer on {texts[row]!r}: "
                f"{got[row].tolist()} != {list(ids)}"
            )


def fit_linear_calibration(cosine: np.ndarray, match: np.ndarray) -> dict[str, Any]:
    """A linear calibration from example pairs: 95th percentile of non-matching cosines -> 0,
    median of matching cosines -> 1. `cosine` and boolean `match` have the same shape.

    Usage: `fit_linear_calibration(image_vecs @ text_vecs.T, labels[:, None] == np.arange(n))`
    """
    cosine, match = np.asarray(cosine, np.float64), np.asarray(match, bool)
    low, high = float(np.percentile(cosine[~match], 95)), float(np.median(cosine[match]))
    if not high > low:
        raise ValueError(f"matching pairs (median {high:.3f}) do not score above non-matching ({low:.3f})")
    return {"kind": "linear", "low": round(low, 4), "high": round(high, 4)}


def _calibrate_from_pairs(folder: Path, pairs: tuple[Sequence[np.ndarray], Sequence[str]]) -> dict[str, Any]:
    """Fit both scales: image-to-caption (text queries) and image-to-image of the same caption
    (queries by example image), the diagonal left out."""
    images, captions = pairs
    encoder = ImageTextEncoder.from_folder(folder, Settings())
    unique = sorted(set(captions))
    vectors = encoder.encode_images(list(images))
    cosine = vectors @ encoder.encode_texts(unique).T
    match = np.asarray(captions)[:, None] == np.asarray(unique)[None, :]
    same = np.asarray(captions)[:, None] == np.asarray(captions)[None, :]
    off_diagonal = ~np.eye(len(captions), dtype=bool)
    pair_cos = (vectors @ vectors.T)[off_diagonal]
    return {"calibration": fit_linear_calibration(cosine, match),
            "image_calibration": fit_linear_calibration(pair_cos, same[off_diagonal])}


def _with_calibration(folder: Path, calibration: dict[str, Any]) -> EncoderConfig:
    updated = replace(EncoderConfig.read(folder), **calibration)
    updated.validate()
    updated.write(folder)
    return updated


def export_model(
    source: str | Path,
    output: Path,
    quantize: bool = False,
    *,
    name: str | None = None,
    calibration: dict[str, Any] | None = None,
    calibration_pairs: tuple[Sequence[np.ndarray], Sequence[str]] | None = None,
    log: Log = print,
) -> Path:
    """Convert a transformers checkpoint (hub id or folder) into an onnxruntime model folder.

    calibration: explicit {"kind": "linear", "low", "high"} (or sigmoid) instead of the family default.
    calibration_pairs: (images, captions) with image i matching caption i: fit low/high from them.
    Prints the fp32 (and int8) max |ONNX - torch| difference. Returns `output`.
    Usage: `export_model("openai/clip-vit-base-patch32", Path("models/clip-b32"), quantize=True)`
    """
    _require_export_dependencies(str(source))
    model, tokenizer, family, preprocessor = load_checkpoint(source)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    config = build_config(model, tokenizer, family, preprocessor, str(source), name or _default_name(source))
    if calibration is not None:
        config = replace(config, calibration=dict(calibration))
    config.validate()
    _export_graphs(model, tokenizer, config, output)
    _save_tokenizer(tokenizer, output)
    config.write(output)
    _report(log, "fp32", verify_export(model, tokenizer, output), strict=True)
    if quantize:
        config = _quantize_checked(model, tokenizer, config, output, log)
    if calibration_pairs is not None:
        fitted = _with_calibration(output, _calibrate_from_pairs(output, calibration_pairs))
        log(f"calibration fitted from {len(calibration_pairs[1])} pairs: {fitted.calibration}, "
            f"image-to-image {fitted.image_calibration}")
    return output


def _quantize_checked(model: Any, tokenizer: Any, config: EncoderConfig, output: Path, log: Log) -> EncoderConfig:
    """Quantise, and put the fp32 graphs back if int8 drifts too far from torch on the samples."""
    with tempfile.TemporaryDirectory(dir=output) as backup:
        for name in (VISUAL_FILE, TEXTUAL_FILE):
            shutil.copy2(output / name, Path(backup) / name)
        quantize_folder(output)
        quantized = replace(config, quantized=True)
        quantized.write(output)
        report = verify_export(model, tokenizer, output)
        _report(log, "int8", report, strict=False)
        worst = min(report["visual_min_cosine"], report["text_min_cosine"])
        if worst >= INT8_MIN_COSINE:
            return quantized
        log(f"int8 embeddings drift from torch (min cosine {worst:.4f} < {INT8_MIN_COSINE}); keeping fp32")
        for name in (VISUAL_FILE, TEXTUAL_FILE):
            os.replace(Path(backup) / name, output / name)
    config.write(output)
    return config


def _report(log: Log, label: str, report: dict[str, float], strict: bool) -> None:
    log(
        f"{label} ONNX vs torch: visual max|diff| {report['visual_max_abs_diff']:.2e} "
        f"(min cos {report['visual_min_cosine']:.4f}), text max|diff| {report['text_max_abs_diff']:.2e} "
        f"(min cos {report['text_min_cosine']:.4f})"
    )
    worst = max(report["visual_max_abs_diff"], report["text_max_abs_diff"])
    if strict and not worst < _FP32_TOLERANCE:  # also catches NaN
        raise ModelUnavailableError(f"ONNX export does not match torch (max |diff| {worst:.2e})")


def _default_name(source: str | Path) -> str:
    text = str(source).rstrip("/")
    return Path(text).name if Path(text).is_dir() else text.split("/")[-1]


def _require_export_dependencies(source: str) -> None:
    import importlib.util

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelUnavailableError(
            f"cannot export {source}: {' and '.join(missing)} not installed for export "
            "(pip install 'vidseek[export]', CPU torch is enough)"
        )


def export_to_cache(source: str, target: Path, quantize: bool = False, name: str | None = None) -> Path:
    """Export into a temporary sibling of `target`, then move it into place in one rename, so an
    interrupted export never leaves a half-written model that later looks complete.

    Usage: `export_to_cache("openai/clip-vit-base-patch32", settings.model_dir / "clip-vit-b32")`
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        export_model(source, staging, quantize=quantize, name=name)
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / "vidseek_model.json").is_file():  # someone else finished first otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
