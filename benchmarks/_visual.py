"""The visual model the benchmark indexes with: a given folder, or a random-weight ViT-B/32 CLIP.

Random weights make meaningless vectors but cost exactly what a real ViT-B/32 costs, which is
all a speed benchmark needs, and need no download. The checkpoint goes through the project's own
export (`vidseek.analyze.export.export_model(..., quantize=True)`) so the ONNX int8 path that
users run is the one measured. Both steps are cached in the work dir.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import time
from pathlib import Path

import numpy as np

from benchmarks import _corpus as corpus

MAX_TEXT = 77


def missing_modules(*names: str) -> list[str]:
    """Which of the given modules cannot be imported (checked without importing them)."""
    out = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                out.append(name)
        except ModuleNotFoundError:
            out.append(name)
    return out


def build_random_clip(folder: Path) -> Path:
    """Save a transformers CLIPModel with the ViT-B/32 shape (CLIPConfig defaults), random weights."""
    if (folder / "config.json").exists() and (folder / "tokenizer.json").exists():
        return folder
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from tests.tinyclip import word_tokenizer

    words = sorted({w.lower() for w in corpus.NOUNS + corpus.ADJECTIVES + corpus.VERBS + corpus.CHINESE})
    tokenizer = word_tokenizer(words, MAX_TEXT)
    # CLIPConfig() is ViT-B/32: vision 768 wide x 12 layers, patch 32, 224 px; text 512 x 12; 512-d out.
    # The text vocabulary keeps CLIP's 49408 rows so the model is full size; our ids use the first few.
    config = CLIPConfig(text_config={"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3})
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    CLIPImageProcessor().save_pretrained(tmp)  # CLIP defaults: resize 224, centre crop, CLIP mean/std
    tmp.rename(folder)
    return folder


def export(checkpoint: Path, out: Path) -> Path:
    """Run the project's exporter (int8) once; returns the folder VIDSEEK_VISUAL_MODEL points at."""
    if out.exists() and any(out.iterdir()):
        return out
    from vidseek.analyze.export import export_model

    tmp = out.with_name(out.name + ".tmp")
    params = inspect.signature(export_model).parameters
    kwargs = {"quantize": True} if "quantize" in params else {}
    export_model(checkpoint, tmp, **kwargs)
    tmp.rename(out)
    return out


def random_vitb32(work: Path, log=print) -> tuple[Path | None, str]:
    """(exported folder or None, note). None when the project's export code is not there yet."""
    gone = missing_modules("vidseek.analyze.export", "vidseek.analyze.registry", "vidseek.analyze.clip")
    if gone:
        return None, f"visual model layer not present ({', '.join(gone)} missing)"
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    out = models / "clip-vitb32-random-int8"
    if out.exists() and any(out.iterdir()):
        return out, "random-weight ViT-B/32 CLIP, int8 ONNX (cached)"
    t0 = time.perf_counter()
    log("building a random-weight ViT-B/32 CLIP and exporting it int8 (once; cached) ...")
    checkpoint = build_random_clip(models / "clip-vitb32-random")
    export(checkpoint, out)
    return out, f"random-weight ViT-B/32 CLIP, int8 ONNX (built in {time.perf_counter() - t0:.0f} s)"


class StubTextEncoder:
    """Stands in for the visual model at query time when none can be loaded: a deterministic
    random unit vector per query text, so the rest of the visual search path is still measured."""

    version = "bench-stub"

    def __init__(self, dim: int = 512):
        self.dim = dim

    def load(self) -> None:
        pass

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)

    def calibrate(self, raws: list[float]) -> list[float]:
        return [float(np.clip((r - 0.1) / 0.3, 0.0, 1.0)) for r in raws]
