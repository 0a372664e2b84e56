"""The long benchmark video: continuous English narration, captions every ~20 s, scene changes.

Built once with `vidseek.media.synth` and cached in the work dir under a name that encodes the
recipe, so changing the recipe (RECIPE) or the length makes a new file.
"""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path

import numpy as np

from benchmarks import _corpus as corpus

RECIPE = "v1"
CAPTION_SECONDS = 20.0


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _scenes(rng: np.random.Generator, total: float):
    from vidseek.media.synth import Scene, Shape

    scenes, captions = [], []
    t, block = 0.0, 0
    patterns = ([10, 10], [6, 8, 6], [4, 6, 10], [20], [5, 5, 5, 5], [12, 8])
    while t < total - 1e-6:
        zh = block % 3 == 2
        pool = corpus.CAPTIONS_ZH if zh else corpus.CAPTIONS_EN
        caption = pool[int(rng.integers(len(pool)))]
        if not zh and rng.random() < 0.3:
            caption = f"{caption} {corpus.CAPTIONS_ZH[int(rng.integers(len(corpus.CAPTIONS_ZH)))]}"
        captions.append({"start": t, "text": caption})
        for length in patterns[int(rng.integers(len(patterns)))]:
            length = min(float(length), total - t)
            if length <= 0:
                break
            background = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = None
            if rng.random() < 0.7:
                shape = Shape(
                    corpus.SHAPES[int(rng.integers(3))],
                    tuple(int(c) for c in rng.integers(0, 256, 3)),
                    float(rng.uniform(0.2, 0.5)),
                    (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.55, 0.75))),
                )
            noise = 0.015 if rng.random() < 0.2 else 0.0
            scenes.append(Scene(length, background, text=caption, shape=shape, noise=noise))
            t += length
        block += 1
    return scenes, captions


def _narration(rng: np.random.Generator, total: float, voices: Path):
    """Sentences placed back to back (0.3-0.8 s apart) with a 3-5 s silence every 4-6 sentences."""
    from vidseek.media.synth import AudioClip, speak

    clips, lines = [], []
    t = 1.0
    until_pause = int(rng.integers(4, 7))
    i = 0
    while True:
        text = corpus.narration(rng)
        wav = speak(text, voices / f"{i:04d}.wav", speed=int(rng.integers(140, 175)))
        length = _wav_seconds(wav)
        if t + length > total - 1.0:
            wav.unlink()
            break
        clips.append(AudioClip(t, wav))
        lines.append({"start": round(t, 2), "end": round(t + length, 2), "text": text})
        t += length + float(rng.uniform(0.3, 0.8))
        i += 1
        until_pause -= 1
        if until_pause == 0:
            t += float(rng.uniform(3.0, 5.0))
            until_pause = int(rng.integers(4, 7))
    return clips, lines


def bench_video(work: Path, minutes: float, seed: int = 7, log=print) -> tuple[Path, dict]:
    """The cached video and its manifest (captions, narration, build seconds)."""
    from vidseek.media.synth import make_video

    name = f"bench-{RECIPE}-{minutes:g}min-s{seed}"
    folder = work / "video"
    video, manifest_path = folder / f"{name}.mp4", folder / f"{name}.json"
    if video.exists() and manifest_path.exists():
        return video, json.loads(manifest_path.read_text())
    total = minutes * 60.0
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    log(f"building {video} ({minutes:g} min, 640x360, espeak-ng narration) ...")
    voices = folder / f".{name}-voices"
    clips, lines = _narration(rng, total, voices)
    scenes, captions = _scenes(rng, total)
    tmp = video.with_suffix(".tmp.mp4")
    make_video(tmp, scenes, size=(640, 360), fps=25, audio=clips, seed=seed)
    tmp.rename(video)
    for clip in clips:
        clip.wav.unlink(missing_ok=True)
    voices.rmdir()
    speech = sum(line["end"] - line["start"] for line in lines)
    manifest = {
        "recipe": RECIPE, "seconds": total, "seed": seed, "scenes": len(scenes), "captions": captions,
        "narration": lines, "speech_seconds": round(speech, 1), "build_seconds": round(time.perf_counter() - t0, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return video, manifest
