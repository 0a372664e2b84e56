"""Sample upright, downscaled RGB frames from a video at a fixed rate, lazily.

Compressed video must be decoded frame after frame, so decoding sets the speed: it runs on all
cores, skips frames no other frame needs when sampling is sparse, and only the sampled frames are
scaled and converted to RGB.

    for frame in sample_frames("clip.mp4", fps=1.0):
        print(frame.time, frame.image.shape)   # 0.0 (252, 448, 3), 1.0 ...
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidseek.errors import MediaError
from vidseek.media.probe import clockwise_rotation, display_size, open_media, require_decoder, video_stream
from vidseek.records import Frame

_TICK_SLACK = 1e-3  # seconds; timestamps rounded by the container must not miss their tick


def sample_frames(path: str | Path, fps: float = 1.0, max_side: int = 448) -> Iterator[Frame]:
    """Yield the first frame at or after each tick k/fps, scaled so its longer side <= max_side.

    `list(sample_frames("clip.mp4", fps=2))`. Damaged frames are skipped; a video in which nothing
    decodes raises MediaError.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    with open_media(path) as container:
        stream = require_decoder(path, video_stream(container))
        stream.thread_type = "AUTO"  # frame + slice threads: the decode is the bottleneck
        rate = stream.average_rate or stream.guessed_rate
        if rate and fps * 4 <= rate:
            # Sparse sampling: skip frames nothing else refers to (usually B-frames). A tick then gets
            # the next decoded frame, a few hundredths of a second later, for ~20 % less decoding.
            stream.codec_context.skip_frame = "NONREF"
        next_tick = 0.0
        decoded = 0
        for time, frame in _timed_frames(container, stream):
            decoded += 1
            if time + _TICK_SLACK < next_tick:
                continue
            yield Frame(time=time, image=_to_rgb(frame, stream.sample_aspect_ratio, max_side))
            # Skip every tick this frame already covers (gaps in variable-frame-rate video).
            next_tick = (math.floor((time + _TICK_SLACK) * fps) + 1) / fps
        if decoded == 0:
            raise MediaError(path, "truncated or corrupt video (no frame could be decoded)")


def _timed_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[float, av.VideoFrame]]:
    """Good frames with seconds from the start; counts frames where timestamps are missing or go back."""
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    step = float(1 / rate)
    origin = _origin(container, stream)
    last = -math.inf
    for frame in _decoded(container, stream):
        if frame.pts is not None and frame.time_base is not None:
            time = float((frame.pts - origin) * frame.time_base)
        else:
            time = last + step if last > -math.inf else 0.0
        if time <= last:
            time = last + step
        last = time
        yield max(0.0, time), frame


def _origin(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """Timestamp of time zero, in stream units: the container's start, so video and audio line up."""
    if container.start_time is not None and stream.time_base:
        return round(container.start_time / av.time_base / stream.time_base)
    return stream.start_time or 0


def _decoded(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
    """Decode packet by packet so one bad packet costs one frame, not the rest of the video."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:
            packet = None  # the file ends early: flush what the decoder still holds, then stop
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError:
            continue
        for frame in frames:
            if not frame.is_corrupt:
                yield frame
        if packet is None:
            return


def _to_rgb(frame: av.VideoFrame, sar: Fraction | None, max_side: int) -> np.ndarray:
    """Convert one frame to upright RGB; scaling in swscale is far cheaper than after conversion."""
    rotation = clockwise_rotation(frame)
    width, height = display_size(frame.width, frame.height, sar, 0)
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0 or (width, height) != (frame.width, frame.height):
        width, height = _even(width * scale), _even(height * scale)
    image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, k=-rotation // 90))
    return image


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))
