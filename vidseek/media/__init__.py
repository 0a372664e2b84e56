"""Media stage: probe files, sample frames, cut them into segments, write thumbnails.

    info = probe(path)
    for segment in detect_segments(sample_frames(path), duration=info.duration):
        save_thumbnail(segment.keyframe, thumbs / f"{segment.index}.jpg")

`vidseek.media.synth` makes test and demo videos; it is not imported here so the indexing path
does not depend on it.
"""

from vidseek.media.frames import sample_frames
from vidseek.media.probe import VIDEO_EXTENSIONS, is_video_candidate, probe
from vidseek.media.segments import detect_segments, frame_distance
from vidseek.media.thumbs import save_thumbnail

__all__ = [
    "VIDEO_EXTENSIONS",
    "detect_segments",
    "frame_distance",
    "is_video_candidate",
    "probe",
    "sample_frames",
    "save_thumbnail",
]
