"""Media stage: probe files, sample frames, cut them into segments, write thumbnails.

    from vidseek.media.probe import probe
    from vidseek.media import detect_segments, sample_frames, save_thumbnail

    info = probe(path)
    for segment in detect_segments(sample_frames(path), duration=info.duration):
        save_thumbnail(segment.keyframe, thumbs / f"{segment.index}.jpg")

Nothing is imported here until it is used, so that a light module (`media.sniff`, which walks a
folder) does not load PyAV, NumPy and Pillow. `probe` is the name of its module too, so import the
function from `vidseek.media.probe`. `vidseek.media.synth` makes test and demo videos; the indexing
path never imports it.
"""

from importlib import import_module
from typing import Any

# name -> the module that defines it, imported on first use
_WHERE = {"sample_frames": "frames", "VIDEO_EXTENSIONS": "sniff", "is_video_candidate": "sniff",
          "detect_segments": "segments", "frame_distance": "segments", "save_thumbnail": "thumbs"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"vidseek.media.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'vidseek.media' has no attribute {name!r}")


__all__ = sorted(_WHERE)
