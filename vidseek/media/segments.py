"""Group sampled frames into segments (shots, cut to a maximum length), lazily.

A cheap signature per frame (colour histogram + tiny colour picture) is enough to see hard cuts
and objects that change in place; each segment keeps the frame closest to its average look as the keyframe.

    for seg in detect_segments(sample_frames("clip.mp4"), max_seconds=10):
        print(seg.index, seg.start, seg.end, seg.keyframe_time)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vidseek.records import Frame, Segment

_HUE_BINS, _SAT_BINS, _VAL_BINS = 8, 4, 4
_TINY = 16  # side of the colour picture that catches layout changes with the same colours
_LAYOUT_GAIN = 4.0  # a mean channel change of 1/4 of full scale counts as completely different


@dataclass
class _Signed:
    frame: Frame
    histogram: np.ndarray  # normalised joint HSV histogram
    tiny: np.ndarray  # _TINY x _TINY x 3 RGB, 0..1 (RGB, not grey: green->red at equal brightness is a change)


def detect_segments(
    frames: Iterable[Frame],
    max_seconds: float = 10.0,
    threshold: float = 0.22,
    frame_interval: float = 1.0,
    duration: float | None = None,
) -> Iterator[Segment]:
    """Split a frame stream into segments that tile [0, end) without gaps.

    `detect_segments(sample_frames(path, fps=1), frame_interval=1.0, duration=info.duration)`.
    A new segment starts where consecutive frames differ by more than `threshold` (0..1) or the
    current one would pass `max_seconds`. The last segment ends one `frame_interval` after its
    last frame, clipped to `duration` when given.
    """
    current: list[_Signed] = []
    start = 0.0
    index = 0
    for frame in frames:
        signed = _sign(frame)
        if current and _starts_new(current, signed, start, max_seconds, threshold):
            yield _segment(index, start, frame.time, current)
            index += 1
            start, current = frame.time, []
        current.append(signed)
    if current:
        end = current[-1].frame.time + frame_interval
        if duration is not None:
            end = max(min(end, duration), current[-1].frame.time)
        yield _segment(index, start, end, current)


def frame_distance(a: Frame, b: Frame) -> float:
    """How different two frames look, 0 (same) to 1: `frame_distance(f1, f2) > 0.22` means a cut."""
    return _distance(_sign(a), _sign(b))


def _starts_new(current: list[_Signed], signed: _Signed, start: float, max_seconds: float, threshold: float) -> bool:
    if signed.frame.time - start >= max_seconds:
        return True
    return _distance(current[-1], signed) > threshold


def _sign(frame: Frame) -> _Signed:
    small = Image.fromarray(frame.image).resize((64, 64), Image.Resampling.BILINEAR, reducing_gap=2.0)
    hsv = np.asarray(small.convert("HSV"), dtype=np.uint16)
    # Quantise each channel and count joint bins: colour layout-free, robust to noise.
    h = hsv[..., 0] * _HUE_BINS // 256
    s = hsv[..., 1] * _SAT_BINS // 256
    v = hsv[..., 2] * _VAL_BINS // 256
    bins = (h * _SAT_BINS + s) * _VAL_BINS + v
    histogram = np.bincount(bins.ravel(), minlength=_HUE_BINS * _SAT_BINS * _VAL_BINS).astype(np.float32)
    histogram /= histogram.sum()
    rgb = np.asarray(small.convert("RGB"), dtype=np.float32) / 255.0
    tiny = rgb.reshape(_TINY, 64 // _TINY, _TINY, 64 // _TINY, 3).mean(axis=(1, 3))
    return _Signed(frame, histogram, tiny)


def _distance(a: _Signed, b: _Signed) -> float:
    colour = 0.5 * float(np.abs(a.histogram - b.histogram).sum())  # total variation, 0..1
    layout = min(1.0, _LAYOUT_GAIN * float(np.abs(a.tiny - b.tiny).mean()))
    return 0.5 * colour + 0.5 * layout


def _segment(index: int, start: float, end: float, members: list[_Signed]) -> Segment:
    """Keyframe = the member nearest the segment's mean signature: typical, not a transition frame."""
    mean_hist = np.mean([m.histogram for m in members], axis=0)
    mean_tiny = np.mean([m.tiny for m in members], axis=0)
    mean = _Signed(members[0].frame, mean_hist, mean_tiny)
    middle = (len(members) - 1) / 2
    # Ties (a still shot) go to the middle frame rather than the first.
    order = sorted(range(len(members)), key=lambda i: (round(_distance(members[i], mean), 3), abs(i - middle)))
    best = members[order[0]]
    return Segment(index=index, start=start, end=end, keyframe=best.frame.image, keyframe_time=best.frame.time)
