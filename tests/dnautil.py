"""Build transformed copies of real clips with PyAV, for the video-DNA tests (tests/test_dna.py).

    make_copy(src, tmp / "copy.mp4", Edit(start=2.4, duration=5.5, mirror=True))
    make_compilation([(a, 1.0, 4.0), (b, 2.0, 4.0)], tmp / "mix.mp4")

Decodes the source, keeps [start, start + duration), converts the frame rate by repeating or
dropping frames (the time axis stays the same), transforms each picture with numpy/PIL and
encodes H.264 again. No audio: the fingerprints only look at the picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidseek.media.synth import find_font


@dataclass(frozen=True)
class Edit:
    """What a re-uploader did to the clip. Crop fractions are of the source width/height."""

    start: float = 0.0  # seconds into the source where the copy begins
    duration: float | None = None  # seconds kept; None = to the end
    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # left, top, right, bottom
    size: tuple[int, int] | None = None  # output width, height (even); None = the cropped size, made even
    brightness: float = 0.0  # added to every channel, fraction of full scale
    contrast: float = 1.0  # around mid-grey
    mirror: bool = False
    fps: float | None = None  # output frame rate; None = the source's
    text: str | None = None  # a caption drawn on every frame, drifting slowly like a ticker
    logo: bool = False  # a static opaque badge in the top-right corner
    watermark: str | None = None  # big static half-transparent text across the middle (a stock-footage mark)
    crf: int = 28


def make_copy(src: str | Path, dst: str | Path, edit: Edit) -> Path:
    """Write the edited copy of `src` to `dst` (an .mp4) and return `dst`."""
    end = edit.start + edit.duration if edit.duration is not None else None
    frames, rate = _decode(Path(src), edit.start, end)
    out_fps = edit.fps or rate
    ticks = _ticks(frames, rate, edit.start, end, out_fps)
    images = (_transform(image, edit, k / out_fps) for k, image in enumerate(ticks))
    return _encode(images, Path(dst), out_fps, edit.crf)


def make_compilation(
    parts: list[tuple[str | Path, float, float]], dst: str | Path, size: tuple[int, int] = (480, 270), fps: float = 25
) -> Path:
    """Concatenate (source, start, duration) parts, each scaled to `size`, into one video."""

    def images() -> Iterator[np.ndarray]:
        for src, start, duration in parts:
            frames, rate = _decode(Path(src), start, start + duration)
            for image in _ticks(frames, rate, start, start + duration, fps):
                yield np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))

    return _encode(images(), Path(dst), fps, 23)


def _decode(path: Path, start: float, end: float | None) -> tuple[list[tuple[float, np.ndarray]], float]:
    """Frames from the last one at or before `start` to the first one at or after `end`, with times."""
    frames: list[tuple[float, np.ndarray]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 25)
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        for frame in container.decode(stream):
            time = float(frame.pts * frame.time_base) - origin if frame.pts is not None else len(frames) / rate
            time = max(0.0, time)
            if time < start - 1.0:  # well before the range (decode order is not display order)
                continue
            frames.append((time, frame.to_ndarray(format="rgb24")))
            if end is not None and time > end + 1.0:
                break
    frames.sort(key=lambda item: item[0])
    return frames, rate


def _ticks(
    frames: list[tuple[float, np.ndarray]], rate: float, start: float, end: float | None, fps: float
) -> Iterator[np.ndarray]:
    """The source picture on screen at each output tick start + k / fps."""
    times = np.array([t for t, _ in frames])
    last = times[-1] + 1.0 / rate
    stop = min(end, last) if end is not None else last
    k = 0
    while start + k / fps < stop - 1e-6:
        tick = start + k / fps
        pick = max(0, int(np.searchsorted(times, tick + 1e-6, side="right")) - 1)
        yield frames[pick][1]
        k += 1


def _encode(images: Iterator[np.ndarray], dst: Path, fps: float, crf: int) -> Path:
    with av.open(str(dst), "w") as container:
        stream = None
        for index, image in enumerate(images):
            if stream is None:
                stream = container.add_stream("libx264", rate=round(fps))
                stream.width, stream.height = image.shape[1], image.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "ultrafast", "crf": str(crf)}
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        if stream is not None:
            container.mux(stream.encode())
    return dst


def _transform(image: np.ndarray, edit: Edit, elapsed: float) -> np.ndarray:
    h, w = image.shape[:2]
    left, top, right, bottom = edit.crop
    x0, y0 = round(w * left), round(h * top)
    x1, y1 = w - round(w * right), h - round(h * bottom)
    image = image[y0:y1, x0:x1]
    if edit.mirror:
        image = image[:, ::-1]
    size = edit.size or (2 * (image.shape[1] // 2), 2 * (image.shape[0] // 2))
    picture = Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.Resampling.BICUBIC)
    if edit.brightness or edit.contrast != 1.0:
        values = np.asarray(picture, dtype=np.float32)
        values = (values - 127.5) * edit.contrast + 127.5 + 255.0 * edit.brightness
        picture = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    if edit.watermark:
        picture = _watermark(picture, edit.watermark)
    if edit.text or edit.logo:
        draw = ImageDraw.Draw(picture)
        width, height = picture.size
        if edit.text:
            font = _font(max(12, height // 12))
            x = width * 0.05 + (elapsed * width * 0.02) % (width * 0.2)
            draw.text(
                (x, height * 0.78), edit.text, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0)
            )
        if edit.logo:
            side = max(16, height // 6)
            box = (width - side - width // 30, height // 30, width - width // 30, height // 30 + side)
            draw.ellipse(box, fill=(230, 40, 40), outline=(255, 255, 255), width=max(2, side // 10))
    return np.asarray(picture)


def _watermark(picture: Image.Image, text: str) -> Image.Image:
    width, height = picture.size
    layer = Image.new("L", picture.size, 0)
    draw = ImageDraw.Draw(layer)
    font = _font(max(12, height // 5))
    box = draw.textbbox((0, 0), text, font=font)
    x, y = (width - (box[2] - box[0])) / 2, (height - (box[3] - box[1])) / 2
    draw.text((x, y), text, fill=255, font=font, stroke_width=max(1, height // 90), stroke_fill=160)
    draw.rectangle((width * 0.1, height * 0.2, width * 0.9, height * 0.8), outline=200, width=max(2, height // 60))
    white = Image.new("RGB", picture.size, (255, 255, 255))
    return Image.composite(white, picture, layer.point(lambda v: int(v * 0.45)))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    path = find_font()
    if path is None:
        return ImageFont.load_default()
    return ImageFont.truetype(path, size)


def frame_at(path: str | Path, t: float) -> np.ndarray:
    """The first frame at or after t seconds, full size, decoded here (not by the sampler)."""
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            if frame.time is not None and frame.time >= t:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {t} s in {Path(path).name}")
