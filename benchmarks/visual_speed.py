"""How fast the visual route's encoder runs on this CPU: images/s and ms per text query.

Builds random-weight models with the real shapes (no download): a ViT-B/32 CLIP (CLIPConfig
defaults = openai/clip-vit-base-patch32) and, with --siglip, a SigLIP base patch16/224 (the shape
of siglip2-base; 196 patches instead of 49, so about 4x the cost). Each is exported
with the project's exporter (fp32 and int8) and `ImageTextEncoder.encode_images` is timed at batch
16 on 640x360 frames (preprocessing included), `encode_texts` on one query at a time.
Checkpoints and exports are cached in --work.

Usage: python -m benchmarks.visual_speed [--work /tmp/vidseek-visual-speed] [--threads 0] [--siglip]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks._visual import build_random_clip
from vidseek.analyze.clip import CONFIG_FILE, ImageTextEncoder
from vidseek.analyze.export import export_model
from vidseek.settings import Settings

PRECISIONS = (("fp32", False), ("int8", True))
QUERIES = ["a red car on a bridge", "two people talking in a kitchen", "sunset over the sea", "a dog"]


def build_random_siglip(folder: Path) -> Path:
    """A SiglipModel with SigLIP base patch16/224 shapes (SiglipConfig defaults), random weights."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipModel

    words = sorted({word for query in QUERIES for word in query.split()})
    vocab = {token: i for i, token in enumerate(["<pad>", "</s>", "<unk>", *words])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    SiglipModel(SiglipConfig(text_config={"pad_token_id": 0, "eos_token_id": 1})).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    size = {"height": 224, "width": 224}
    preprocessor = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "resample": 2, "size": size}
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


def exported(checkpoint: Path, out: Path, quantize: bool) -> Path:
    """The project's export of `checkpoint`, made once."""
    if not (out / CONFIG_FILE).is_file():
        export_model(checkpoint, out, quantize=quantize)
    return out


def images_per_second(encoder: ImageTextEncoder, count: int, batch: int = 16) -> tuple[float, float]:
    """(images/s of wall time, CPU ms per image) for encode_images on random 640x360 frames.

    The CPU cost is the number to trust on a shared machine: wall time there includes waiting for
    other processes, CPU time does not (idle throughput is roughly cores * 1000 / cpu_ms).
    """
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(360, 640, 3), dtype=np.uint8) for _ in range(count)]
    encoder.encode_images(frames[:batch], batch_size=batch)
    wall, cpu = time.perf_counter(), time.process_time()
    encoder.encode_images(frames, batch_size=batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count / wall, cpu * 1000 / count


def text_latency_ms(encoder: ImageTextEncoder, repeats: int = 10) -> tuple[float, float]:
    """(median wall ms, mean CPU ms) to embed one query (what a search pays), after a warm-up."""
    encoder.encode_texts(QUERIES[:1])
    times = []
    cpu = time.process_time()
    for _ in range(repeats):
        for query in QUERIES:
            start = time.perf_counter()
            encoder.encode_texts([query])
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), (time.process_time() - cpu) * 1000 / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/vidseek-visual-speed"))
    parser.add_argument("--threads", type=int, default=0, help="VIDSEEK_THREADS for onnxruntime; 0 = default")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--siglip", action="store_true", help="also time a SigLIP base patch16/224")
    args = parser.parse_args()
    models = args.work / "models"
    checkpoints = {"ViT-B/32": build_random_clip(models / "clip-vitb32-random")}
    if args.siglip:
        checkpoints["SigLIP-B/16"] = build_random_siglip(models / "siglip-b16-random")
    settings = Settings(threads=args.threads)
    for (model, checkpoint), (label, quantize) in itertools.product(checkpoints.items(), PRECISIONS):
        slug = model.lower().replace("/", "")
        folder = exported(checkpoint, models / f"visual-speed-{slug}-{label}", quantize)
        encoder = ImageTextEncoder.from_folder(folder, settings)
        rate, cpu_ms = images_per_second(encoder, args.images)
        latency, text_cpu = text_latency_ms(encoder)
        # one embedding per segment of up to 10 s: N images/s indexes 10 * N seconds of video per second
        print(
            f"{model} {label}: {rate:.1f} images/s at batch 16 (~{10 * rate:.0f}x realtime at one "
            f"keyframe per 10 s segment; {cpu_ms:.0f} CPU-ms/image), text {latency:.1f} ms/query "
            f"({text_cpu:.1f} CPU-ms)"
        )


if __name__ == "__main__":
    main()
