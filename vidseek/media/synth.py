"""Make our own test and demo media: coloured scenes with text and shapes, speech from espeak-ng.

Tests, the README quickstart and benchmarks use these instead of third-party footage, so every
fixture is reproducible and free to redistribute.

    wav = speak("The red boat leaves at nine.", tmp / "boat.wav")
    make_video(tmp / "boat.mp4", [Scene(4, (20, 60, 160), text="Harbour")], audio=[AudioClip(0.5, wav)])
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
SAMPLE_RATE = 16000  # what speech recognisers want; also keeps the files small
_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
_NOISE_BANK = 8  # noise fields per scene, picked at random for each frame
_AUDIO_CODECS = {".wav": "pcm_s16le", ".m4a": "aac", ".mp3": "libmp3lame", ".flac": "flac"}


@dataclass(frozen=True)
class Shape:
    """A filled shape: kind is "circle", "square" or "triangle"; size and center are fractions."""

    kind: str
    color: RGB
    size: float = 0.4  # of the shorter side
    center: tuple[float, float] = (0.5, 0.6)  # of width, height


@dataclass(frozen=True)
class Scene:
    """A still shot of `duration` seconds, optionally with a caption, a shape and per-frame noise."""

    duration: float
    background: RGB = (0, 0, 0)
    text: str | None = None
    shape: Shape | None = None
    noise: float = 0.0  # standard deviation as a fraction of full scale, e.g. 0.03


@dataclass(frozen=True)
class AudioClip:
    """A sound file placed on the timeline at `start` seconds."""

    start: float
    wav: Path
    gain: float = 1.0


def speak(text: str, path: str | Path, voice: str = "en", speed: int = 150) -> Path:
    """Synthesize speech to a WAV file with espeak-ng: `speak("你好", "hi.wav", voice="cmn")`."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise RuntimeError("espeak-ng is not installed; install it (apt-get install espeak-ng) to make speech")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [program, "-v", voice, "-s", str(speed), "-w", str(path), text]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.exists():
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {done.stderr.strip()}")
    return path


def make_video(
    path: str | Path,
    scenes: list[Scene],
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    audio: list[AudioClip] | None = None,
    codec: str = "libx264",
    rotation: int = 0,
    faststart: bool = False,
    seed: int = 0,
    watermark: str | None = None,
    watermark_opacity: float = 0.2,
) -> Path:
    """Render scenes (and optional audio clips) to a video: `make_video("a.mp4", [Scene(3, (255, 0, 0))])`.

    `rotation` stores a display matrix asking players to turn the picture clockwise by that many
    degrees, like a phone held upright. `faststart` puts the mp4 index first, as web videos do.
    Odd sizes need a codec other than libx264 4:2:0 (e.g. mpeg4). `watermark` blends faint white
    text, fixed across the whole video, over every frame (like a stock-footage mark).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = sum(scene.duration for scene in scenes)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        video = _add_video_stream(container, codec, size, fps, rotation)
        sound = _add_audio_stream(container, "aac") if audio is not None else None
        samples = _mix(audio or [], duration)
        written = 0
        frames = _render(scenes, size, fps, seed)
        if watermark:
            frames = _watermarked(frames, watermark, watermark_opacity, size)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
            if sound is not None:  # interleave audio up to the current video time
                upto = min(len(samples), (index + 1) * SAMPLE_RATE // fps)
                container.mux(_encode_audio(sound, samples[written:upto], written))
                written = upto
        container.mux(video.encode())
        if sound is not None:
            container.mux(_encode_audio(sound, samples[written:], written))
            container.mux(sound.encode())
    return path


def make_audio(
    path: str | Path, duration: float, audio: list[AudioClip] | None = None, tone_hz: float | None = None
) -> Path:
    """Write audio only (.wav .m4a .mp3 .flac), clips and/or a tone: `make_audio("a.m4a", 3, tone_hz=440)`."""
    path = Path(path)
    codec = _AUDIO_CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"cannot write audio as {path.suffix!r}; use one of {sorted(_AUDIO_CODECS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = _mix(audio or [], duration)
    if tone_hz:
        t = np.arange(len(samples), dtype=np.float32) / SAMPLE_RATE
        samples += 0.3 * np.sin(2 * np.pi * tone_hz * t, dtype=np.float32)
    with av.open(str(path), "w") as container:
        stream = _add_audio_stream(container, codec)
        container.mux(_encode_audio(stream, samples, 0))
        container.mux(stream.encode())
    return path


def make_sample_library(folder: str | Path) -> list[Path]:
    """Three short videos for the quickstart (English speech, Chinese text+speech, shapes).

    `make_sample_library("samples")` needs espeak-ng for the narration.
    """
    folder = Path(folder)
    voices = folder / ".speech"
    harbour_wav = speak(
        "Welcome to the harbour. The red boat leaves at nine in the morning. "
        "Later, a storm arrives and the fishermen return home.",
        voices / "harbour.wav",
    )
    zh_wav = speak("欢迎使用视频搜索引擎。今天我们去公园看熊猫。", voices / "welcome.wav", voice="cmn")
    harbour = make_video(
        folder / "harbour_tour.mp4",
        [
            Scene(5, (30, 90, 170), text="Harbour Tour", shape=Shape("triangle", (220, 40, 40), 0.3, (0.5, 0.7))),
            Scene(5, (200, 200, 210), text="Departure 9:00 AM"),
            Scene(6, (40, 40, 50), text="Storm warning", noise=0.03),
        ],
        audio=[AudioClip(0.5, harbour_wav)],
    )
    welcome = make_video(
        folder / "welcome_zh.mp4",
        [
            Scene(6, (250, 245, 230), text="欢迎使用视频搜索引擎"),
            Scene(6, (30, 120, 60), text="大熊猫 Panda", shape=Shape("circle", (255, 255, 255), 0.3, (0.5, 0.7))),
        ],
        audio=[AudioClip(0.5, zh_wav)],
    )
    shapes = make_video(
        folder / "shapes.mp4",
        [
            Scene(4, (255, 255, 255), shape=Shape("circle", (220, 30, 30))),
            Scene(4, (0, 0, 0), shape=Shape("square", (30, 200, 60))),
            Scene(4, (20, 40, 160), shape=Shape("triangle", (250, 220, 0))),
        ],
    )
    shutil.rmtree(voices, ignore_errors=True)
    return [harbour, welcome, shapes]


def make_bad_inputs(folder: str | Path) -> dict[str, Path]:
    """Broken files for error-path tests, keyed by what is wrong: `make_bad_inputs(tmp)["empty"]`.

    Keys: empty, text, truncated (moov at the end, cut at 40 %), truncated_faststart (moov first),
    unsupported_codec (an AVI whose codec tag FFmpeg has no decoder for).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    text = folder / "notes.mp4"
    text.write_text("These are meeting notes, not a video.\n" * 20, encoding="utf-8")
    scenes = [Scene(1.5, (200, 30, 30), noise=0.1), Scene(1.5, (30, 30, 200), noise=0.1)]
    good = make_video(folder / "good.mp4", scenes, size=(320, 240))
    truncated = _cut(good, folder / "truncated.mp4", 0.4)
    faststart = make_video(folder / "good_faststart.mp4", scenes, size=(320, 240), faststart=True)
    truncated_faststart = _cut(faststart, folder / "truncated_faststart.mp4", 0.4)
    avi = make_video(folder / "unsupported.avi", scenes, size=(320, 240), codec="mpeg4")
    # FMP4 is the tag FFmpeg writes for its mpeg4 encoder; ZQ42 is a made-up codec nobody decodes.
    avi.write_bytes(avi.read_bytes().replace(b"FMP4", b"ZQ42"))
    for temp in (good, faststart):
        temp.unlink()
    return {
        "empty": empty,
        "text": text,
        "truncated": truncated,
        "truncated_faststart": truncated_faststart,
        "unsupported_codec": avi,
    }


def find_font() -> str | None:
    """A font file that can draw Chinese as well as Latin text, or None for PIL's built-in font."""
    return _find_font()


@functools.lru_cache(maxsize=1)
def _find_font() -> str | None:
    fc_list = shutil.which("fc-list")
    if fc_list:
        found = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True, check=False)
        files = sorted(line.split(":")[0].strip() for line in found.stdout.splitlines() if line.strip())
        if files:
            return files[0]
    return next((p for p in _FONT_PATHS if Path(p).exists()), None)


def _render(scenes: list[Scene], size: tuple[int, int], fps: int, seed: int) -> Iterator[np.ndarray]:
    """Yield RGB frames; each scene is drawn once and only the noise changes from frame to frame."""
    rng = np.random.default_rng(seed)
    elapsed = 0.0
    emitted = 0
    for scene in scenes:
        base = _draw_scene(scene, size)
        wide = base.astype(np.int16)
        bank = _noise_bank(rng, base.shape, scene.noise)
        elapsed += scene.duration
        while emitted < round(elapsed * fps):
            emitted += 1
            if bank is None:
                yield base
            else:
                yield np.clip(wide + bank[rng.integers(len(bank))], 0, 255).astype(np.uint8)


def _watermarked(frames: Iterator[np.ndarray], text: str, opacity: float, size: tuple[int, int]
                 ) -> Iterator[np.ndarray]:
    mask = Image.new("L", size, 0)
    width, height = size
    font_path = _find_font()
    font_size = max(10, height // 7)
    font = ImageFont.truetype(font_path, font_size) if font_path else ImageFont.load_default(font_size)
    ImageDraw.Draw(mask).text((width / 2, height * 0.55), text, font=font, fill=255, anchor="mm")
    alpha = (np.asarray(mask, dtype=np.float32) / 255.0 * opacity)[..., None]
    for frame in frames:
        yield (frame * (1.0 - alpha) + 255.0 * alpha).astype(np.uint8)


def _noise_bank(rng: np.random.Generator, shape: tuple[int, ...], noise: float) -> np.ndarray | None:
    """A few Gaussian noise fields; fresh noise per frame would cost more than encoding the frame."""
    if noise <= 0:
        return None
    return (rng.standard_normal((_NOISE_BANK, *shape), dtype=np.float32) * (noise * 255)).astype(np.int16)


def _draw_scene(scene: Scene, size: tuple[int, int]) -> np.ndarray:
    image = Image.new("RGB", size, scene.background)
    draw = ImageDraw.Draw(image)
    if scene.shape is not None:
        _draw_shape(draw, scene.shape, size)
    if scene.text:
        # Captions sit above a shape, or in the middle of an empty frame.
        _draw_text(draw, scene.text, scene.background, size, 0.2 if scene.shape else 0.5)
    return np.asarray(image)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, size: tuple[int, int]) -> None:
    width, height = size
    r = shape.size * min(width, height) / 2
    cx, cy = shape.center[0] * width, shape.center[1] * height
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape.kind == "circle":
        draw.ellipse(box, fill=shape.color)
    elif shape.kind == "square":
        draw.rectangle(box, fill=shape.color)
    elif shape.kind == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=shape.color)
    else:
        raise ValueError(f"unknown shape {shape.kind!r}; use circle, square or triangle")


def _draw_text(draw: ImageDraw.ImageDraw, text: str, background: RGB, size: tuple[int, int], top: float) -> None:
    width, height = size
    font_path = _find_font()
    font_size = max(10, height // 9)
    font = ImageFont.truetype(font_path, font_size) if font_path else ImageFont.load_default(font_size)
    lines = _wrap(draw, text, font, width * 0.9)
    # Dark text on light backgrounds and the reverse keeps captions readable for OCR.
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    color = (20, 20, 20) if luminance > 128 else (245, 245, 245)
    draw.multiline_text((width / 2, height * top), "\n".join(lines), font=font, fill=color, anchor="mm", align="center")


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, max_width: float) -> list[str]:
    """Greedy line breaking: between words for spaced scripts, between characters for Chinese."""
    spaced = " " in text
    tokens = text.split(" ") if spaced else list(text)
    joiner = " " if spaced else ""
    lines: list[str] = []
    for token in tokens:
        candidate = f"{lines[-1]}{joiner}{token}" if lines else token
        if lines and draw.textlength(candidate, font=font) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(token)
    return lines


def _add_video_stream(
    container: av.container.OutputContainer, codec: str, size: tuple[int, int], fps: int, rotation: int
) -> av.video.stream.VideoStream:
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"preset": "ultrafast"}  # fixtures should be quick to build, not small
    if rotation:
        stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
    return stream


def _add_audio_stream(container: av.container.OutputContainer, codec: str) -> av.audio.stream.AudioStream:
    stream = container.add_stream(codec, rate=SAMPLE_RATE)
    stream.layout = "mono"
    return stream


def _encode_audio(stream: av.audio.stream.AudioStream, samples: np.ndarray, offset: int) -> list[av.Packet]:
    if len(samples) == 0:
        return []
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="fltp", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = offset
    return stream.encode(frame)


def _mix(clips: list[AudioClip], duration: float) -> np.ndarray:
    """One 16 kHz mono float track: silence with each clip added at its start time."""
    track = np.zeros(int(round(duration * SAMPLE_RATE)), dtype=np.float32)
    for clip in clips:
        samples = _read_mono(clip.wav) * clip.gain
        start = int(round(clip.start * SAMPLE_RATE))
        piece = samples[: max(0, len(track) - start)]
        track[start : start + len(piece)] += piece
    return np.clip(track, -1.0, 1.0)


def _read_mono(path: Path) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _cut(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target
