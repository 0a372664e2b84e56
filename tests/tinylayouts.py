"""The tiny CLIP (tests/tinyclip.py) exported into the two layouts published on the hub.

Each writes what the real exporters write, so the loader sees a real repo of that kind:

- Immich (immich_model_exporter, open_clip models): visual/model.onnx takes "image" float32 of
  exactly (1, 3, S, S) and returns a normalised "embedding"; textual/model.onnx takes "text" int32
  of exactly (1, context_length); config.json is the open_clip model config; visual/preprocess_cfg.json
  carries mean, std, size, interpolation and resize_mode; textual/ has the tokenizer files. The
  ArmNN / RKNN files other accelerators use sit beside them, as on the hub.
- transformers.js (Xenova's convert.py --split_modalities): onnx/vision_model.onnx ("pixel_values" ->
  "image_embeds", "last_hidden_state") and onnx/text_model.onnx ("input_ids", "attention_mask" ->
  "text_embeds", ...), dynamic batch and length, plus *_quantized.onnx (onnxruntime dynamic int8,
  per channel, reduced range, as its quantize.py does), and the checkpoint's config.json,
  preprocessor_config.json and tokenizer files at the root.

Both get a vidseek_model.json holding only the tiny model's fitted calibration: published repos
carry no calibration, and a family's default map does not fit a model trained on 12 captions.

Usage: `export_immich(checkpoint, out, calibration)`; `export_transformers_js(checkpoint, out, calibration)`
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

try:
    import tinyclip
except ModuleNotFoundError:  # tests/ became a package
    from tests import tinyclip

OPSET = 17


def _load(checkpoint: Path) -> tuple[Any, Any]:
    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(checkpoint, attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(checkpoint)


def _tower_base() -> type:
    import torch

    class Tower(torch.nn.Module):
        """The model as a submodule, so the tracer sees its weights as parameters, not constants."""

        def __init__(self, model: Any):
            super().__init__()
            self.model = model.eval()

    return Tower


def _features(output: Any) -> Any:
    return output if hasattr(output, "shape") else output.pooler_output


def _export(module: Any, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes or None, opset_version=OPSET, dynamo=False)  # fmt: skip


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def export_immich(checkpoint: Path, out: Path, calibration: dict[str, Any], mclip: bool = False) -> Path:
    """An immich-app/<name> repo folder for the tiny CLIP; `mclip`: the text tower takes int32
    input_ids + attention_mask, as Immich's M-CLIP exports do. Usage: `export_immich(ckpt, dir, cal)`"""
    import torch
    import torch.nn.functional as F

    model, tokenizer = _load(checkpoint)
    _Tower = _tower_base()

    class Visual(_Tower):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return F.normalize(_features(self.model.get_image_features(pixel_values=image)), dim=-1)

    class Textual(_Tower):
        def forward(self, text: torch.Tensor) -> torch.Tensor:  # open_clip: one int32 input, no mask
            return F.normalize(_features(self.model.get_text_features(input_ids=text.long())), dim=-1)

    class MClipTextual(_Tower):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            features = self.model.get_text_features(input_ids=input_ids.long(), attention_mask=attention_mask.long())
            return F.normalize(_features(features), dim=-1)

    size, length = tinyclip.IMAGE_SIZE, tinyclip.MAX_TEXT_LENGTH
    _export(Visual(model), (torch.zeros(1, 3, size, size),), out / "visual" / "model.onnx",
            ["image"], ["embedding"], {})  # fmt: skip
    ones = torch.ones(1, length, dtype=torch.int32)
    if mclip:
        _export(MClipTextual(model), (ones, ones), out / "textual" / "model.onnx", ["input_ids", "attention_mask"],
                ["embedding"], {})  # fmt: skip
    else:
        _export(Textual(model), (ones,), out / "textual" / "model.onnx", ["text"], ["embedding"], {})
    _write_json(out / "config.json", {
        "embed_dim": 64,
        "vision_cfg": {"image_size": size, "layers": 2, "width": 64, "patch_size": tinyclip.PATCH_SIZE},
        "text_cfg": {"context_length": length, "vocab_size": len(tokenizer), "width": 64, "heads": 4, "layers": 2},
    })  # fmt: skip
    _write_json(out / "visual" / "preprocess_cfg.json", {
        "size": [size, size], "mode": "RGB", "mean": list(tinyclip.MEAN), "std": list(tinyclip.STD),
        "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0,
    })  # fmt: skip
    tokenizer.save_pretrained(out / "textual")
    for decoy in ("visual/model.armnn", "textual/fp16/model.armnn", "visual/rknpu/rk3588/model.rknn"):
        (out / decoy).parent.mkdir(parents=True, exist_ok=True)
        (out / decoy).write_bytes(b"\0" * 4096)  # other accelerators' builds: must not be downloaded
    (out / "README.md").write_text("---\ntags:\n - immich\n - clip\n---\n# tiny CLIP for tests\n")
    _write_json(out / "vidseek_model.json", calibration)
    return out


def export_transformers_js(checkpoint: Path, out: Path, calibration: dict[str, Any]) -> Path:
    """A Xenova/<name> repo folder (fp32 + _quantized graphs). Usage: `export_transformers_js(ckpt, dir, cal)`"""
    import torch

    model, tokenizer = _load(checkpoint)
    _Tower = _tower_base()

    class Vision(_Tower):  # CLIPVisionModelWithProjection's outputs, in its order
        def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.model.vision_model(pixel_values=pixel_values).last_hidden_state
            return _features(self.model.get_image_features(pixel_values=pixel_values)), hidden

    class Text(_Tower):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            masks = {"input_ids": input_ids, "attention_mask": attention_mask}
            hidden = self.model.text_model(**masks).last_hidden_state
            return _features(self.model.get_text_features(**masks)), hidden

    size = tinyclip.IMAGE_SIZE
    onnx = out / "onnx"
    _export(Vision(model), (torch.zeros(2, 3, size, size),), onnx / "vision_model.onnx", ["pixel_values"],
            ["image_embeds", "last_hidden_state"], {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"},
                                                    "last_hidden_state": {0: "batch"}})  # fmt: skip
    sample = tokenizer(["a red circle", "a blue square square"], padding=True, return_tensors="pt")
    _export(Text(model), (sample["input_ids"], sample["attention_mask"]), onnx / "text_model.onnx",
            ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"],
            {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
             "text_embeds": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "tokens"}})  # fmt: skip
    _quantize(onnx / "vision_model.onnx", onnx / "vision_model_quantized.onnx", has_conv=True)
    _quantize(onnx / "text_model.onnx", onnx / "text_model_quantized.onnx", has_conv=False)
    for name in ("config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json"):  # fmt: skip
        if (checkpoint / name).is_file():
            shutil.copy(checkpoint / name, out / name)
    _write_json(out / "quantize_config.json", {"modes": ["q8"], "per_channel": True, "reduce_range": True})
    (out / "README.md").write_text("---\nlibrary_name: transformers.js\n---\n# tiny CLIP for tests\n")
    _write_json(out / "vidseek_model.json", calibration)
    return out


def _quantize(source: Path, target: Path, has_conv: bool) -> None:
    """transformers.js q8: uint8 weights where a Conv is present (onnxruntime-web lacks int8 ConvInteger)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight = QuantType.QUInt8 if has_conv else QuantType.QInt8
    quantize_dynamic(source, target, weight_type=weight, per_channel=True, reduce_range=True,
                     extra_options={"MatMulConstBOnly": True})  # fmt: skip
