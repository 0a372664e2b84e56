"""On-screen text: RapidOCR on PIL-rendered frames, filtering, and merging lines across segments."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from vidseek.analyze.ocr import OcrLine, TextReader, read_segments, same_line
from vidseek.media.synth import find_font
from vidseek.records import Segment
from vidseek.settings import Settings

ENGLISH, CHINESE = "vidseek search engine", "欢迎使用视频搜索引擎"


@pytest.fixture(scope="module")
def reader() -> TextReader:
    r = TextReader("rapidocr-ppocrv4", Settings(threads=0))
    r.load()
    return r


def render(
    lines: Sequence[tuple[str, tuple[int, int]]],
    size: tuple[int, int] = (640, 360),
    px: int = 28,
    background: tuple[int, int, int] = (30, 50, 90),
) -> np.ndarray:
    """An RGB frame with each text drawn in white at its (x, y)."""
    font_path = find_font()
    if font_path is None:
        pytest.skip("no CJK font installed (fonts-wqy-microhei)")
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(font_path, px)
    for text, xy in lines:
        draw.text(xy, text, font=font, fill=(250, 250, 250))
    return np.asarray(image)


def char_overlap(reference: str, hypothesis: str) -> float:
    blocks = difflib.SequenceMatcher(None, reference, hypothesis, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(reference)


def best_match(reference: str, lines: list[OcrLine]) -> float:
    return max((char_overlap(reference, line.text) for line in lines), default=0.0)


# --------------------------------------------------------------------------- reading one image


def test_reads_english_and_chinese_lines(reader: TextReader) -> None:
    lines = reader.read(render([(ENGLISH.title(), (30, 60)), (CHINESE, (30, 220))]))
    assert best_match(ENGLISH, lines) >= 0.8, lines
    assert best_match(CHINESE, lines) >= 0.8, lines
    assert lines[0].raw == "Vidseek Search Engine" and lines[0].text == ENGLISH  # normalised, raw kept
    assert lines[0].box[0][1] < lines[1].box[0][1]  # top to bottom
    assert all(reader.settings.ocr_min_confidence <= line.confidence <= 1 for line in lines)


def test_spans_keep_the_case_of_what_is_on_screen(reader: TextReader) -> None:
    """Tracking compares normalised lines; the span (the evidence) shows the best reading as read."""
    frames = [render([(ENGLISH.title(), (30, 60))]), render([(ENGLISH.upper(), (30, 60))])]
    spans = list(read_segments((segment(i, frame, 4.0) for i, frame in enumerate(frames)), reader))
    assert [(s.start, s.end) for s in spans] == [(0.0, 8.0)], spans
    assert spans[0].text in (ENGLISH.title(), ENGLISH.upper()), spans


def test_traditional_text_is_normalised(reader: TextReader) -> None:
    [line] = reader.read(render([("視頻搜索引擎", (40, 150))]))
    assert line.text == "视频搜索引擎"  # the recogniser itself often answers half-Simplified


def test_large_frames_are_shrunk_and_boxes_map_back(reader: TextReader) -> None:
    lines = reader.read(render([(ENGLISH, (600, 500))], size=(1920, 1080), px=64))
    assert best_match(ENGLISH, lines) >= 0.8, lines
    xs = [x for x, _ in lines[0].box]
    ys = [y for _, y in lines[0].box]
    assert 570 <= min(xs) <= 630 and 480 <= min(ys) <= 530  # original-image pixels, not 960-wide ones
    assert max(xs) > 1000


def test_blank_frame_and_noise_are_empty(reader: TextReader) -> None:
    assert reader.read(np.zeros((360, 640, 3), np.uint8)) == []
    assert reader.read(render([("x", (300, 150)), ("-- .", (300, 250))])) == []


def test_grayscale_and_rgba_frames_are_accepted(reader: TextReader) -> None:
    rgb = render([(ENGLISH, (30, 150))])
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert best_match(ENGLISH, reader.read(rgb.mean(axis=2).astype(np.uint8))) >= 0.8
    assert best_match(ENGLISH, reader.read(rgba)) >= 0.8


def test_models_come_from_the_wheel_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """RapidOCR downloads any model file it does not find under the name it expects; vidseek names
    the files the wheel ships, so loading and reading never reach for the network."""
    import socket

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"OCR tried to reach the network: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    fresh = TextReader("rapidocr-ppocrv4", Settings(threads=1))
    fresh.load()
    assert best_match(ENGLISH, fresh.read(render([(ENGLISH, (30, 150))]))) >= 0.8
    assert fresh.version.startswith("rapidocr-ppocrv4:3.")


# --------------------------------------------------------------------------- across segments


class ScriptedReader:
    """Stands in for TextReader: returns the lines scripted for each keyframe (keyed by its value)."""

    def __init__(self, script: dict[int, list[str]]):
        self.script = script

    def read(self, image: np.ndarray) -> list[OcrLine]:
        return [OcrLine(text, 0.9, ((0, 0),) * 4) for text in self.script[int(image[0, 0, 0])]]


def segment(index: int, image: np.ndarray | None = None, length: float = 5.0) -> Segment:
    if image is None:
        image = np.full((4, 4, 3), index, np.uint8)
    return Segment(index, index * length, (index + 1) * length, image, index * length)


def test_same_line_is_fuzzy() -> None:
    assert same_line("vidseek search engine", "vidseek search engme")
    assert same_line("欢迎使用视频搜索引擎", "欢迎使用视频搜素引擎")
    assert not same_line("vidseek search engine", "vidseek video engine")
    assert not same_line("开始", "结束")
    assert not same_line("scene 1", "scene 2") and not same_line("score 10:2", "score 10:3")


def test_line_kept_on_screen_becomes_one_span() -> None:
    reader = ScriptedReader(
        {
            0: ["vidseek search engine", "chapter one"],
            1: ["vidseek search engme"],  # a misread does not break the run
            2: ["vidseek search engine", "chapter two"],
            3: [],
            4: ["vidseek search engine"],
        }
    )
    spans = list(read_segments((segment(i) for i in range(5)), reader))
    got = [(s.text, s.start, s.end) for s in spans]
    assert got == [
        ("chapter one", 0.0, 5.0),
        ("vidseek search engine", 0.0, 15.0),
        ("chapter two", 10.0, 15.0),
        ("vidseek search engine", 20.0, 25.0),
    ]
    assert all(s.route == "ocr" and s.confidence == 0.9 for s in spans)


def test_gap_between_segments_breaks_a_run() -> None:
    reader = ScriptedReader({0: ["title card"], 2: ["title card"]})
    spans = list(read_segments([segment(0), segment(2)], reader))
    assert [(s.start, s.end) for s in spans] == [(0.0, 5.0), (10.0, 15.0)]


def test_spans_stream_before_the_last_segment() -> None:
    reader = ScriptedReader({0: ["opening title"], 1: ["credits"]})

    def segments():
        yield segment(0)
        yield segment(1)
        raise AssertionError("read past the first finished span")

    assert next(read_segments(segments(), reader)).text == "opening title"


def test_real_ocr_merges_a_caption_over_three_segments(reader: TextReader) -> None:
    colors = [(30, 50, 90), (90, 30, 30), (20, 80, 40)]
    frames = [render([(CHINESE, (40, 280)), (f"scene {i + 1}", (40, 40))], background=c) for i, c in enumerate(colors)]
    spans = list(read_segments((segment(i, frame, 4.0) for i, frame in enumerate(frames)), reader))
    captions = [s for s in spans if char_overlap(CHINESE, s.text) >= 0.8]
    assert [(s.start, s.end) for s in captions] == [(0.0, 12.0)], spans
    assert len([s for s in spans if s.text.startswith("scene")]) == 3
