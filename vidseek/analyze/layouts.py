"""Folder layouts of ready-made ONNX image-text models, each read into the `ModelFiles` the encoder runs.

    vidseek          visual.onnx, textual.onnx, tokenizer.json, vidseek_model.json (`vidseek models export`)
    immich           config.json (open_clip model config), visual/model.onnx + preprocess_cfg.json,
                     textual/model.onnx + tokenizer files (the immich-app/* repos on the hub)
    transformers.js  onnx/vision_model{variant}.onnx, onnx/text_model{variant}.onnx, config.json,
                     preprocessor_config.json, tokenizer.json (Xenova/*, onnx-community/* repos)

A layout is recognised from the files present, says which files a download needs (`patterns`),
and builds the `EncoderConfig` from the layout's own config files. A vidseek_model.json next to an
Immich or transformers.js model overrides any field of it (typically a measured calibration).

Usage:
    layout = detect(file_names)                       # or LAYOUTS["immich"]
    files = read_folder(Path("~/models/clip").expanduser())
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from vidseek.analyze.clip import (
    CONFIG_FILE,
    FAMILY_CALIBRATION,
    FAMILY_MAX_LENGTH,
    MODEL_FILES,
    EncoderConfig,
    ModelFiles,
)
from vidseek.errors import ModelUnavailableError

_OVERRIDE_FIX = f"set the field in a {CONFIG_FILE} next to the model files (any EncoderConfig field)"
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelUnavailableError(f"{path}: expected a JSON object")
    return data


def _optional_json(path: Path) -> dict[str, Any]:
    return _json(path) if path.is_file() else {}


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _pad_token(folder: Path) -> str | None:
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        data = _optional_json(folder / name)
        token = _token_text(data.get("pad_token")) or _token_text(data.get("eos_token"))
        if token:
            return token
    return None


def _override(config: EncoderConfig, folder: Path) -> tuple[EncoderConfig, Path | None]:
    """Apply a vidseek_model.json next to the files (any subset of EncoderConfig fields)."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return config, None
    data = _json(path)
    base = json.loads(config.to_json())
    try:
        config = EncoderConfig.from_dict({**base, **data})
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelUnavailableError(f"{path}: cannot apply it to the model's own config ({exc})") from exc
    return config, path


class Layout:
    """How one kind of published folder is laid out. Subclasses fill in the class attributes."""

    name = ""
    required: tuple[str, ...] = ()  # files that identify the layout (relative, '/'-separated)

    def matches(self, files: Collection[str]) -> bool:
        return all(name in files for name in self.required)

    def choose_variant(self, files: Collection[str], wanted: str | None) -> str | None:
        """The precision variant to use among `files` (only transformers.js repos have several)."""
        if wanted:
            raise ModelUnavailableError(f"the {self.name} layout has no precision variants (asked for {wanted!r})")
        return None

    def patterns(self, variant: str | None) -> tuple[list[str], list[str]]:
        """(allow_patterns, ignore_patterns) for a hub download of this layout."""
        return [*self.required, CONFIG_FILE], []

    def read(self, folder: Path, name: str, source: str, variant: str | None = None) -> ModelFiles:
        raise NotImplementedError


class VidseekLayout(Layout):
    name = "vidseek"
    required = MODEL_FILES

    def read(self, folder: Path, name: str, source: str, variant: str | None = None) -> ModelFiles:
        self.choose_variant((), variant)
        return ModelFiles.from_export(folder)


class ImmichLayout(Layout):
    """immich-app/<open_clip name>__<pretrained> and the M-CLIP repos, as Immich's ML service reads them."""

    name = "immich"
    required = ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx",
                "textual/tokenizer.json")  # fmt: skip

    def patterns(self, variant: str | None) -> tuple[list[str], list[str]]:
        # Whole towers: graphs over 2 GB keep their weights in extra files next to model.onnx.
        # The ArmNN / RKNN builds for other accelerators are as large as the ONNX ones, and unused.
        allow = ["config.json", CONFIG_FILE, "visual/*", "textual/*"]
        return allow, ["*.armnn", "*.rknn", "*/rknpu/*", "*/fp16/*"]

    def read(self, folder: Path, name: str, source: str, variant: str | None = None) -> ModelFiles:
        self.choose_variant((), variant)
        model = _json(folder / "config.json")
        preprocess = _json(folder / "visual" / "preprocess_cfg.json")
        text_cfg = model.get("text_cfg") or {}
        # open_clip trains SigLIP-style models (SigLIP, SigLIP 2, NLLB-SigLIP) with a learnt logit
        # bias; its config says so with init_logit_bias. Only the init value is there, not the trained one.
        family = "siglip" if "init_logit_bias" in model else "clip"
        size = preprocess.get("size", (model.get("vision_cfg") or {}).get("image_size", 224))
        tokenizer_name = str(text_cfg.get("hf_tokenizer_name", ""))
        clean = (text_cfg.get("tokenizer_kwargs") or {}).get("clean")
        config = EncoderConfig(
            name=name, family=family, source=source, dim=int(model["embed_dim"]),
            image_size=int(size[0] if isinstance(size, list) else size),
            mean=tuple(preprocess.get("mean", _OPENAI_MEAN)), std=tuple(preprocess.get("std", _OPENAI_STD)),
            resize=preprocess.get("resize_mode", "shortest"), resample=preprocess.get("interpolation", "bicubic"),
            # Immich pads every query to the context length (its graphs are exported for exactly that)
            max_length=int(text_cfg.get("context_length", 77)), padding="max_length", pad_token_id=0,
            pad_token=_pad_token(folder / "textual") or "<pad>",
            text_inputs=("input_ids", "attention_mask"),
            input_names={"text": "input_ids"},  # open_clip graphs take one int32 "text"; M-CLIP input_ids + mask
            canonicalize=clean == "canonicalize",
            language_tokens={"zh": "zho_Hans", "default": "eng_Latn"} if "nllb" in tokenizer_name.lower() else {},
            calibration=dict(FAMILY_CALIBRATION[family]),
        )  # fmt: skip
        config, override = _override(config, folder)
        config.validate(override or folder / "config.json", _OVERRIDE_FIX)
        return ModelFiles(folder, config, folder / "visual" / "model.onnx", folder / "textual" / "model.onnx",
                          folder / "textual" / "tokenizer.json", self.name, override)  # fmt: skip


# transformers.js file suffix per dtype (its quantize.py); q8 is written as "_quantized".
TJS_VARIANTS = {"fp32": "", "fp16": "_fp16", "quantized": "_quantized", "int8": "_int8", "uint8": "_uint8",
                "q4": "_q4", "q4f16": "_q4f16", "bnb4": "_bnb4"}  # fmt: skip
# CPU preference when none is asked for: 8-bit first (about 3.5x faster than fp32 on a ViT-B/16
# here, measured with our own int8 exports); fp16 last, onnxruntime's CPU kernels convert it back.
_CPU_ORDER = ("quantized", "int8", "uint8", "fp32", "q4", "bnb4", "fp16", "q4f16")
_TJS_CLASS = {"clip": "clip", "chinese_clip": "chinese_clip", "siglip": "siglip"}


class TransformersJsLayout(Layout):
    """Xenova/* and onnx-community/* repos: split vision/text ONNX graphs under onnx/, HF configs at the root."""

    name = "transformers.js"
    required = ("config.json", "preprocessor_config.json", "tokenizer.json")

    def _graphs(self, variant: str) -> tuple[str, str]:
        suffix = TJS_VARIANTS[variant]
        return f"onnx/vision_model{suffix}.onnx", f"onnx/text_model{suffix}.onnx"

    def variants(self, files: Collection[str]) -> list[str]:
        return [v for v in _CPU_ORDER if all(path in files for path in self._graphs(v))]

    def matches(self, files: Collection[str]) -> bool:
        return super().matches(files) and bool(self.variants(files))

    def choose_variant(self, files: Collection[str], wanted: str | None) -> str | None:
        if wanted and wanted not in TJS_VARIANTS:
            raise ModelUnavailableError(f"unknown transformers.js variant {wanted!r}; one of {', '.join(TJS_VARIANTS)}")
        present = self.variants(files)
        if wanted:
            if files and wanted not in present:
                raise ModelUnavailableError(f"no {wanted} graphs here; present: {', '.join(present) or 'none'}")
            return wanted
        if not present:
            return "quantized"  # nothing listed yet (a registry entry before download)
        return present[0]

    def patterns(self, variant: str | None) -> tuple[list[str], list[str]]:
        vision, text = self._graphs(variant or "quantized")
        # "*.onnx*" also takes the .onnx_data file that graphs over 2 GB keep their weights in
        allow = [*self.required, "tokenizer_config.json", "special_tokens_map.json", CONFIG_FILE,
                 f"{vision}*", f"{text}*"]  # fmt: skip
        return allow, []

    def read(self, folder: Path, name: str, source: str, variant: str | None = None) -> ModelFiles:
        variant = self.choose_variant(list_files(folder), variant)
        vision, text = self._graphs(variant or "quantized")
        model, preprocess = _json(folder / "config.json"), _json(folder / "preprocessor_config.json")
        family = _TJS_CLASS.get(str(model.get("model_type")))
        if family is None:
            raise ModelUnavailableError(
                f"{folder / 'config.json'}: model_type {model.get('model_type')!r} is not an image-text "
                f"model vidseek knows ({', '.join(_TJS_CLASS)})"
            )
        text_cfg = model.get("text_config") or {}
        config = EncoderConfig(
            name=name, family=family, source=source, dim=_tjs_dim(model, family),
            **_tjs_image_fields(preprocess, model, family),
            max_length=min(FAMILY_MAX_LENGTH[family], int(text_cfg.get("max_position_embeddings", 512))),
            # SigLIP pools the last position and was trained on pad-to-64 without a mask
            padding="max_length" if family == "siglip" else "longest", pad_token_id=0,
            pad_token=_pad_token(folder) or "<pad>",
            text_inputs=("input_ids",) if family == "siglip" else ("input_ids", "attention_mask"),
            quantized=variant not in ("fp32", "fp16"), calibration=dict(FAMILY_CALIBRATION[family]),
        )  # fmt: skip
        config, override = _override(config, folder)
        config.validate(override or folder / "config.json", _OVERRIDE_FIX)
        return ModelFiles(folder, config, folder / vision, folder / text, folder / "tokenizer.json",
                          self.name, override)  # fmt: skip


def _tjs_dim(model: dict[str, Any], family: str) -> int:
    if family == "siglip":  # no shared projection: the text head maps to the text width
        text_cfg = model.get("text_config") or {}
        return int(text_cfg.get("projection_size") or text_cfg.get("hidden_size", 768))
    return int(model.get("projection_dim", 512))


def _tjs_image_fields(preprocess: dict[str, Any], model: dict[str, Any], family: str) -> dict[str, Any]:
    size = preprocess.get("crop_size") or preprocess.get("size") or {}
    if isinstance(size, dict):
        size = size.get("height") or size.get("shortest_edge")
    image_size = int(size or (model.get("vision_config") or {}).get("image_size", 224))
    default_mean, default_std = ((0.5,) * 3, (0.5,) * 3) if family == "siglip" else (_OPENAI_MEAN, _OPENAI_STD)
    return {
        "image_size": image_size,
        "mean": tuple(float(v) for v in preprocess.get("image_mean", default_mean)),
        "std": tuple(float(v) for v in preprocess.get("image_std", default_std)),
        # without a centre crop the processor still hands the model S x S, so the frame is squashed
        "resize": "shortest" if preprocess.get("do_center_crop", family == "clip") else "squash",
        "resample": "bilinear" if preprocess.get("resample", 3) == 2 else "bicubic",
    }


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (VidseekLayout(), ImmichLayout(),
                                                                  TransformersJsLayout())}  # fmt: skip


def list_files(folder: Path) -> set[str]:
    """Relative '/'-separated paths of the files under `folder`, two levels deep, hidden ones left out
    (huggingface_hub keeps its download bookkeeping in .cache/)."""
    found: set[str] = set()
    for root, dirs, names in os.walk(folder):
        rel = Path(root).relative_to(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".")] if len(rel.parts) < 2 else []
        found.update((rel / name).as_posix() for name in names if not name.startswith("."))
    return found


def detect(files: Collection[str]) -> Layout | None:
    """The layout these relative file paths form, or None. Usage: `detect({"visual/model.onnx", ...})`"""
    return next((layout for layout in LAYOUTS.values() if layout.matches(files)), None)


def missing_files(layout: Layout, files: Collection[str]) -> list[str]:
    """What `layout` still needs among `files` (relative paths)."""
    needed = [name for name in layout.required if name not in files]
    if isinstance(layout, TransformersJsLayout) and not layout.variants(files):
        # Some repos (Xenova/chinese-clip-vit-base-patch16) ship one joint graph: each tower would
        # need a dummy input for the other on every call, so vidseek reads split graphs only.
        joint = " (this one has only a joint onnx/model*.onnx: export its checkpoint instead)" if any(
            f.startswith("onnx/model") and f.endswith(".onnx") for f in files) else ""  # fmt: skip
        needed.append(f"onnx/vision_model.onnx + onnx/text_model.onnx (or a _quantized pair){joint}")
    return needed


def closest(files: Collection[str]) -> Layout:
    """The layout that `files` come nearest to (fewest required files missing)."""
    return min(LAYOUTS.values(), key=lambda layout: len(missing_files(layout, files)))


def describe_missing(files: Collection[str]) -> str:
    """What each layout would still need among `files`, for a message about a folder that is none of them."""
    return "; ".join(f"{layout.name} needs {', '.join(missing_files(layout, files))}" for layout in LAYOUTS.values())


def read_folder(folder: Path, name: str | None = None, source: str | None = None,
                variant: str | None = None, layout: Layout | None = None) -> ModelFiles:  # fmt: skip
    """The model in `folder`, whichever layout it has (or `layout`); ModelUnavailableError says what is missing.

    Usage: `files = read_folder(Path("models/immich-app--ViT-B-32__openai"), name="clip-vit-b32")`
    """
    folder = Path(folder)
    files = list_files(folder)
    layout = layout or detect(files)
    if layout is None:
        raise ModelUnavailableError(f"{folder} is not a model folder vidseek reads ({describe_missing(files)})")
    missing = missing_files(layout, files)
    if missing:
        raise ModelUnavailableError(f"{folder}: missing {', '.join(missing)} (files of the {layout.name} layout)")
    model = layout.read(folder, name or folder.name, source or str(folder), variant)
    absent = model.missing()
    if absent:
        raise ModelUnavailableError(f"{folder}: missing {', '.join(str(p.relative_to(folder)) for p in absent)}")
    return model
