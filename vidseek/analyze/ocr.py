"""On-screen text: RapidOCR (PP-OCRv4 mobile, ONNX Runtime) on segment keyframes, merged across segments.

Only each segment's keyframe is read, so the cost is one OCR call per shot, not per frame. Text
that stays on screen over consecutive segments (titles, captions, watermarks) becomes one span.
The models ship inside the rapidocr wheel and are loaded from there by path, so OCR never
reaches for a model hub.

    reader = TextReader("rapidocr-ppocrv4", Settings())
    for span in read_segments(segments, reader):
        print(span.start, span.end, span.text)
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.analyze.base import Model
from vidseek.errors import ModelUnavailableError
from vidseek.records import OCR, Segment, TextSpan
from vidseek.settings import Settings
from vidseek.text import display_text, normalize

if TYPE_CHECKING:  # NumPy loads when audio or images are read, not on import (a no-op re-index)
    import numpy as np
    from rapidocr import RapidOCR

Box = tuple[tuple[float, float], ...]  # four (x, y) corners, clockwise from top-left
_MEANINGFUL_RE = re.compile(r"[^\W_]", re.UNICODE)  # letters, digits, CJK
_DIGITS_RE = re.compile(r"\d+")
MIN_MEANINGFUL_CHARS = 2
SAME_LINE_RATIO = 0.85
# Keyframes are shrunk so their long side is at most this before detection. PP-OCR reads text
# down to ~10 px high; 960 keeps 1080p subtitles (~45 px -> 24 px) and most small print readable
# while detection cost stays near that of a 640x360 frame (~0.1 s on one core).
DEFAULT_MAX_SIDE = 960
# The models rapidocr 3.8 ships in its wheel (rapidocr/models/; renamed from *_infer to *_mobile
# within 3.8), the same files rapidocr-onnxruntime 1.4 had. Every one is named, the unused angle
# classifier too: RapidOCR otherwise resolves a name of its own, and 3.8.0 then downloads a
# classifier it ships under another name, which fails offline.
# rapidocr 3.9+ bundles PP-OCRv6 small instead: measured here, it reads a little better (the small
# eval corpus's OCR queries R@1 0.79 -> 0.81) but costs 2.5x the time per frame.
MODELS = {
    "Det": ("ch_PP-OCRv4_det_mobile.onnx", "ch_PP-OCRv4_det_infer.onnx"),
    "Rec": ("ch_PP-OCRv4_rec_mobile.onnx", "ch_PP-OCRv4_rec_infer.onnx"),
    "Cls": ("ch_ppocr_mobile_v2.0_cls_mobile.onnx", "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
}


@dataclass(frozen=True)
class OcrLine:
    """One detected line of text: normalised text, recogniser confidence, corners in image pixels."""

    text: str
    confidence: float
    box: Box
    raw: str = ""  # as recognised, before normalisation (keeps case and Traditional characters)

    @property
    def shown(self) -> str:
        """The reading as evidence shows it: its case kept, Chinese in Simplified characters."""
        return display_text(self.raw) if self.raw else self.text


def _no_idle_spinning() -> None:
    """Make RapidOCR's onnxruntime sessions sleep between runs instead of busy-waiting.

    RapidOCR builds its SessionOptions itself; without this its idle threads spin on the cores
    that searches (in the server) and frame decoding need. Wraps its options builder once."""
    try:
        from rapidocr.inference_engine.onnxruntime import OrtInferSession
    except ImportError:  # another RapidOCR layout: keep its defaults
        return
    build = OrtInferSession._init_sess_opts
    if getattr(build, "vidseek_no_spin", False):
        return

    def no_spin(config: dict) -> Any:
        options = build(config)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    no_spin.vidseek_no_spin = True  # type: ignore[attr-defined]
    OrtInferSession._init_sess_opts = staticmethod(no_spin)


@cache
def _rapidocr_version() -> str:
    """Read once a process: package metadata costs ~0.3 ms, per file of a 10k-file no-op re-index."""
    try:
        return metadata.version("rapidocr")
    except metadata.PackageNotFoundError:
        return "missing"


class TextReader(Model):
    """RapidOCR behind the vidseek `Model` interface: RGB image in, normalised `OcrLine`s out.

    reader = TextReader("rapidocr-ppocrv4", settings)
    lines = reader.read(rgb_uint8_image)   # [OcrLine(text='vidseek search engine', ...)]
    """

    version_without_load = True

    task = "ocr"

    def __init__(self, name: str, settings: Settings, max_side: int = DEFAULT_MAX_SIDE):
        super().__init__(name, settings)
        self.max_side = max_side
        self._engine: RapidOCR | None = None

    @property
    def version(self) -> str:
        return f"{self.name}:{_rapidocr_version()}:side{self.max_side}"

    def _load(self) -> None:
        try:
            import rapidocr
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise ModelUnavailableError(
                f"OCR needs rapidocr (`pip install 'rapidocr>=3.8,<3.9'`), or leave 'ocr' out of VIDSEEK_ROUTES: {exc}"
            ) from exc
        folder = Path(rapidocr.__file__).parent / "models"
        paths = {f"{task}.model_path": str(_bundled(folder, names)) for task, names in MODELS.items()}
        threads = min(self.settings.threads or os.cpu_count() or 1, os.cpu_count() or 1)
        _no_idle_spinning()
        self._engine = RapidOCR(
            params={
                "Global.text_score": self.settings.ocr_min_confidence,
                "Global.use_cls": False,  # video text is upright; the 180-degree classifier only costs time
                # RapidOCR prints a warning for every frame without text to its own console handler.
                "Global.log_level": "error",
                **paths,
                # "max": never upscale before detection. The default ("min" 736) blows a 640x360
                # keyframe up 2x: 4-5x slower, and it merges English words ("vidseeksearchengine").
                "Det.limit_type": "max",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Text lines of an RGB uint8 image (H, W, 3), top to bottom, low-confidence/noise removed."""
        import numpy as np

        self.load()
        assert self._engine is not None
        small, scale = _fit(image, self.max_side)
        bgr = np.ascontiguousarray(small[..., ::-1])  # PP-OCR was trained on OpenCV (BGR) images
        lines = (_to_line(box, text, score, scale) for box, text, score in _found(self._engine(bgr)))
        return [line for line in lines if self._keep(line)]

    def _keep(self, line: OcrLine) -> bool:
        return (
            line.confidence >= self.settings.ocr_min_confidence
            and len(_MEANINGFUL_RE.findall(line.text)) >= MIN_MEANINGFUL_CHARS
        )


def _bundled(models: Path, names: tuple[str, ...]) -> Path:
    """The first of `names` in rapidocr's models folder, or an error saying which version to install."""
    for name in names:
        if (models / name).is_file():
            return models / name
    raise ModelUnavailableError(
        f"rapidocr {metadata.version('rapidocr')} does not ship {names[0]} in {models}; install the version "
        "vidseek is built for (`pip install 'rapidocr>=3.8,<3.9'`), or leave 'ocr' out of VIDSEEK_ROUTES."
    )


def _fit(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the long side is <= max_side; return the image and the factor back to the original."""
    import numpy as np

    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    height, width = image.shape[:2]
    ratio = max_side / max(height, width)
    if ratio >= 1:
        return image, 1.0
    import cv2  # OpenCV comes with rapidocr

    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), 1 / ratio


def _found(result: Any) -> list[tuple[Any, str, float]]:
    """(corners, text, score) per line. RapidOCR answers with a detection-only result (boxes, no
    texts) when nothing could be recognised, and with an empty one when nothing was detected."""
    boxes, texts, scores = (getattr(result, name, None) for name in ("boxes", "txts", "scores"))
    if boxes is None or texts is None or scores is None:
        return []
    return list(zip(boxes, texts, scores))


def _to_line(corners: Any, raw: str, score: float, scale: float) -> OcrLine:
    box = tuple((round(float(x) * scale, 1), round(float(y) * scale, 1)) for x, y in corners)
    return OcrLine(normalize(str(raw)), float(score), box, str(raw))


# --------------------------------------------------------------------------- across segments


@dataclass
class _Track:
    """A line seen on consecutive keyframes; its best reading wins."""

    text: str  # normalised: what tracking compares
    confidence: float
    start: float
    end: float
    shown: str = ""  # the same reading as evidence shows it (case kept)

    def to_span(self) -> TextSpan:
        return TextSpan(OCR, self.start, self.end, self.shown or self.text, None, self.confidence)


def same_line(a: str, b: str) -> bool:
    """Fuzzy equality of two normalised lines (OCR misreads a character or two between frames).

    Numbers must agree exactly: "scene 1" and "scene 2", or a changing score or clock, are
    different lines even though they differ by one character.
    """
    if a == b:
        return True
    if _DIGITS_RE.findall(a) != _DIGITS_RE.findall(b):
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= SAME_LINE_RATIO


def read_segments(segments: Iterable[Segment], reader: TextReader) -> Iterator[TextSpan]:
    """OCR each segment's keyframe; one `TextSpan` per line per stretch of consecutive segments.

    A line is yielded as soon as a segment without it arrives, so spans stream while decoding.
    Lines are kept apart (not joined per frame): a watermark, a title and a changing caption
    then each get their own time range, and search evidence quotes just the matching line.

        spans = list(read_segments(segments, TextReader("rapidocr-ppocrv4", settings)))
    """
    tracks: list[_Track] = []
    previous: Segment | None = None
    for segment in segments:
        if previous is not None and segment.index != previous.index + 1:
            yield from _flush(tracks)  # a gap: text cannot be assumed to have stayed on screen
        lines = reader.read(segment.keyframe)
        ended = _advance(tracks, lines, segment)
        yield from (t.to_span() for t in ended)
        previous = segment
    yield from _flush(tracks)


def read_overlay(image: np.ndarray, reader: TextReader, spans: list[TextSpan], duration: float) -> list[TextSpan]:
    """OCR a video's static overlay image (see `media.overlay`); lines span the whole video.

    Lines already read on some keyframe are not repeated: they have a real time range, whereas
    text that shows only part of the time can still survive in the mean image.
    """
    covered = [normalize(s.text) for s in spans]
    out = []
    for line in reader.read(image):
        if not any(same_line(line.text, t) for t in covered):
            out.append(TextSpan(OCR, 0.0, duration, line.shown, None, line.confidence))
            covered.append(line.text)
    return out


def _advance(tracks: list[_Track], lines: list[OcrLine], segment: Segment) -> list[_Track]:
    """Extend tracks whose line is still on screen, start new ones; return (and drop) the ended."""
    seen: list[_Track] = []
    for line in lines:
        track = next((t for t in tracks if same_line(t.text, line.text)), None)
        if track is None:
            track = _Track(line.text, line.confidence, segment.start, segment.end, line.shown)
            tracks.append(track)
        else:
            track.end = max(track.end, segment.end)
            if line.confidence > track.confidence:
                track.text, track.confidence, track.shown = line.text, line.confidence, line.shown
        seen.append(track)
    ended = [t for t in tracks if all(t is not s for s in seen)]
    tracks[:] = [t for t in tracks if any(t is s for s in seen)]
    return ended


def _flush(tracks: list[_Track]) -> Iterator[TextSpan]:
    ended = sorted(tracks, key=lambda t: t.start)
    tracks.clear()
    yield from (t.to_span() for t in ended)
