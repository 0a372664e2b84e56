"""The static overlay of a video: what stays fixed on screen while the picture moves.

Averaging many frames blurs moving content but keeps fixed overlays (watermarks, channel logos,
burned-in titles) sharp, as in watermark-removal work that estimates the watermark from many
images. Contrast stretching and an unsharp mask then make faint, semi-transparent text readable
by OCR, which usually fails on any single frame of a busy shot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from vidseek.media.frames import sample_frames
from vidseek.records import Frame

MIN_FRAMES = 8  # fewer frames do not blur the moving content enough
TARGET_FRAMES = 40  # a denser pass for short videos collects about this many


class MeanImage:
    """Running mean of frames of one size (frames of another size, after a resolution change, are skipped)."""

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self.count = 0

    def add(self, image: np.ndarray) -> None:
        if self._sum is None:
            self._sum = image.astype(np.float32)
        elif image.shape == self._sum.shape:
            self._sum += image
        else:
            return
        self.count += 1

    def tap(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Pass frames through unchanged while adding them to the mean."""
        for frame in frames:
            self.add(frame.image)
            yield frame

    def overlay(self) -> np.ndarray | None:
        """The enhanced mean image, ready for OCR; None if too few frames were seen."""
        if self._sum is None or self.count < MIN_FRAMES:
            return None
        return enhance(self._sum / self.count)


def enhance(mean: np.ndarray) -> np.ndarray:
    """Stretch contrast (1st-99th percentile) and sharpen, so faint fixed text stands out."""
    lo, hi = np.percentile(mean, (1, 99))
    stretched = np.clip((mean - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(stretched).filter(ImageFilter.UnsharpMask(radius=3, percent=300)))


def dense_overlay(path: str | Path, duration: float, max_side: int) -> np.ndarray | None:
    """A separate, denser pass for short videos, whose 1 fps frames are too few to average."""
    if duration <= 0:
        return None
    mean = MeanImage()
    fps = min(8.0, max(1.0, TARGET_FRAMES / duration))
    for frame in sample_frames(path, fps=fps, max_side=max_side):
        mean.add(frame.image)
    return mean.overlay()
