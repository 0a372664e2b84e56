"""How fast the visual route's encoder runs on this CPU: images/s and ms per text query.

Builds a random-weight ViT-B/32 CLIP (CLIPConfig defaults: same shapes and cost as
openai/clip-vit-base-patch32, no download), exports it with the project's exporter (fp32 and int8),
and times `ImageTextEncoder.encode_images` at batch 16 on 640x360 frames (preprocessing included)
and `encode_texts` on one query at a time. Checkpoints and exports are cached in --work.

Usage: python -m benchmarks.visual_speed [--work /tmp/vidseek-visual-speed] [--threads 0] [--images 64]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks._visual import build_random_clip
from vidseek.analyze.clip import CONFIG_FILE, ImageTextEncoder
from vidseek.analyze.export import export_model
from vidseek.settings import Settings

QUERIES = ["a red car on a bridge", "two people talking in a kitchen", "sunset over the sea", "a dog"]


def exported(checkpoint: Path, out: Path, quantize: bool) -> Path:
    """The project's export of `checkpoint`, made once."""
    if not (out / CONFIG_FILE).is_file():
        export_model(checkpoint, out, quantize=quantize)
    return out


def images_per_second(encoder: ImageTextEncoder, count: int, batch: int = 16) -> float:
    """Throughput of encode_images on random 640x360 frames, after one warm-up batch."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(360, 640, 3), dtype=np.uint8) for _ in range(count)]
    encoder.encode_images(frames[:batch], batch_size=batch)
    start = time.perf_counter()
    encoder.encode_images(frames, batch_size=batch)
    return count / (time.perf_counter() - start)


def text_latency_ms(encoder: ImageTextEncoder, repeats: int = 10) -> float:
    """Median milliseconds to embed one query (what a search pays), after a warm-up."""
    encoder.encode_texts(QUERIES[:1])
    times = []
    for _ in range(repeats):
        for query in QUERIES:
            start = time.perf_counter()
            encoder.encode_texts([query])
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/vidseek-visual-speed"))
    parser.add_argument("--threads", type=int, default=0, help="VIDSEEK_THREADS for onnxruntime; 0 = default")
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args()
    models = args.work / "models"
    checkpoint = build_random_clip(models / "clip-vitb32-random")
    settings = Settings(threads=args.threads)
    for label, quantize in (("fp32", False), ("int8", True)):
        folder = exported(checkpoint, models / f"visual-speed-vitb32-{label}", quantize)
        encoder = ImageTextEncoder.from_folder(folder, settings)
        rate = images_per_second(encoder, args.images)
        latency = text_latency_ms(encoder)
        # one embedding per segment of up to 10 s: N images/s indexes 10 * N seconds of video per second
        print(
            f"ViT-B/32 {label}: {rate:.1f} images/s at batch 16 (~{10 * rate:.0f}x realtime at one "
            f"keyframe per 10 s segment), text {latency:.1f} ms/query"
        )


if __name__ == "__main__":
    main()
