"""Typed records that flow down the pipeline: media -> analyze -> index -> store -> search.

Every stage is a generator that yields these plain dataclasses, so the pipeline reads as a chain
and nothing is materialised before the caller iterates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Route names are part of the store schema and the public API; keep them short and stable.
VISUAL = "visual"
SPEECH = "speech"
OCR = "ocr"
TITLE = "title"
CAPTION = "caption"  # a vision-language model's description of each shot's keyframe
FACE = "face"  # faces on screen, grouped into people: searched with a photo or a person's name
DNA = "dna"  # perceptual fingerprints of the picture: searched with a clip, finds copies and re-uploads
ROUTES: tuple[str, ...] = (VISUAL, SPEECH, OCR, TITLE, CAPTION, FACE, DNA)
TEXT_ROUTES: tuple[str, ...] = (SPEECH, OCR, TITLE, CAPTION)
# What a sentence is matched against (faces answer a photo or a named person, fingerprints a clip).
QUERY_ROUTES: tuple[str, ...] = (VISUAL, *TEXT_ROUTES)
# Off unless asked for (VIDSEEK_ROUTES, a library's routes, `vidseek captions run`): each keyframe costs a VLM call.
OPTIONAL_ROUTES: tuple[str, ...] = (CAPTION,)
DEFAULT_ROUTES: tuple[str, ...] = tuple(r for r in ROUTES if r not in OPTIONAL_ROUTES)


@dataclass(frozen=True)
class VideoInfo:
    """What `media.probe` learns about a file before any decoding."""

    path: Path
    duration: float  # seconds
    width: int = 0  # after rotation is applied
    height: int = 0
    fps: float = 0.0  # average frame rate; may be 0 for variable/unknown
    rotation: int = 0  # degrees clockwise from the display matrix
    has_video: bool = True
    has_audio: bool = False
    video_codec: str | None = None
    audio_codec: str | None = None


@dataclass
class Frame:
    """One sampled frame: RGB uint8 array (H, W, 3), rotation already applied."""

    time: float
    image: np.ndarray


@dataclass
class Segment:
    """A run of similar consecutive frames (a shot, cut to at most `max_segment_seconds`)."""

    index: int
    start: float
    end: float
    keyframe: np.ndarray  # RGB uint8, the most representative frame
    keyframe_time: float


@dataclass
class TextSpan:
    """Text tied to a time range: a transcript sentence, an on-screen text line, or a title."""

    route: str  # SPEECH | OCR | TITLE | CAPTION
    start: float
    end: float
    text: str
    language: str | None = None
    confidence: float = 1.0


@dataclass
class Evidence:
    """Why a moment matched: one per route hit that was merged into it."""

    route: str
    score: float  # calibrated, 0..1
    start: float
    end: float
    text: str | None = None  # transcript sentence / OCR line / title / caption; None for visual
    match: str | None = None  # text routes: "lexical" (the words), "semantic" (the meaning) or "both"
    box: tuple[float, float, float, float] | None = None  # face: x0, y0, x1, y1 as fractions of the frame
    thumbnail: str | None = None  # face: the frame the box is on (with the box drawn)
    face_id: int | None = None  # face: the face track (its pictures are served by id)

    def describe(self) -> str:
        how = f" ({self.match})" if self.match else ""
        if self.text:
            return f"{self.route} {self.score:.2f}{how}: {self.text}"
        return f"{self.route} {self.score:.2f}{how}"


@dataclass
class Moment:
    """One search result: a time range inside one video, with the evidence that matched."""

    video_id: int
    path: str
    start: float
    end: float
    score: float  # fused, 0..1, comparable across queries
    evidence: list[Evidence] = field(default_factory=list)
    thumbnail: str | None = None
    library_id: int | None = None
    shot: int | None = None  # index of the shot whose keyframe is the thumbnail
    library: str | None = None  # the library's name: one file indexed in two libraries is two videos

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def routes(self) -> list[str]:
        return sorted({e.route for e in self.evidence})

    def to_dict(self) -> dict:
        return {
            "video_id": self.video_id,
            "library_id": self.library_id,
            "library": self.library,
            "path": self.path,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "score": round(self.score, 4),
            "routes": self.routes,
            "thumbnail": self.thumbnail,
            "evidence": [
                {
                    "route": e.route,
                    "score": round(e.score, 4),
                    "start": round(e.start, 2),
                    "end": round(e.end, 2),
                    "text": e.text,
                    "match": e.match,
                    **({"box": [round(b, 4) for b in e.box], "face_id": e.face_id} if e.box else {}),
                }
                for e in self.evidence
            ],
        }
