"""Media stage on generated clips: probing, bad inputs, frame sampling, segments, thumbnails, synth."""

from __future__ import annotations

import importlib
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidseek.errors import MediaError
from vidseek.media import detect_segments, frame_distance, is_video_candidate, sample_frames, synth
from vidseek.media.probe import probe
from vidseek.media.synth import AudioClip, Scene, Shape, make_audio, make_bad_inputs, make_video
from vidseek.media.thumbs import save_thumbnail
from vidseek.records import Frame

RED, BLUE = (200, 30, 30), (30, 30, 200)
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def tone(media: Path) -> Path:
    return make_audio(media / "tone.wav", 1.0, tone_hz=440)


@pytest.fixture(scope="module")
def cut_video(media: Path, tone: Path) -> Path:
    """8 s: 4 s of noisy red, a hard cut, 4 s of noisy blue; a tone at 2 s."""
    scenes = [Scene(4, RED, text="first", noise=0.03), Scene(4, BLUE, shape=Shape("circle", RED), noise=0.03)]
    return make_video(media / "cut.mp4", scenes, size=(320, 180), audio=[AudioClip(2.0, tone)])


@pytest.fixture(scope="module")
def bad(media: Path) -> dict[str, Path]:
    return make_bad_inputs(media / "bad")


# probe -----------------------------------------------------------------------------------------


def test_probe_good_video(cut_video: Path) -> None:
    info = probe(cut_video)
    assert info.duration == pytest.approx(8.0, abs=0.1)
    assert (info.width, info.height, info.rotation) == (320, 180, 0)
    assert info.fps == pytest.approx(25)
    assert info.has_video and info.has_audio
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


@pytest.mark.parametrize("suffix", [".wav", ".m4a"])
def test_probe_audio_only(media: Path, suffix: str) -> None:
    info = probe(make_audio(media / f"speech{suffix}", 3.0, tone_hz=300))
    assert not info.has_video and info.has_audio
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert (info.width, info.height) == (0, 0)


def test_probe_rotated_video_reports_upright_size(media: Path) -> None:
    # A bright dot on the left of a landscape picture is at the top once turned 90 degrees clockwise.
    scene = Scene(1, (0, 0, 0), shape=Shape("circle", (255, 255, 255), 0.5, (0.2, 0.5)))
    path = make_video(media / "phone.mp4", [scene], size=(320, 240), rotation=90)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (90, 240, 320)
    image = next(sample_frames(path)).image
    assert image.shape == (320, 240, 3)
    assert image[:160].mean() > image[160:].mean() + 20


def test_probe_and_sample_odd_size(media: Path) -> None:
    # libx264 4:2:0 needs even sizes; MPEG-4 part 2 accepts odd ones, as old camera files do.
    path = make_video(media / "odd.avi", [Scene(2, RED)], size=(321, 241), codec="mpeg4")
    info = probe(path)
    assert (info.width, info.height, info.video_codec) == (321, 241, "mpeg4")
    frames = list(sample_frames(path))
    assert len(frames) == 2 and frames[0].image.shape == (241, 321, 3)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty", r"empty file \(0 bytes\)"),
        ("text", r"not a media file"),
        ("truncated", r"truncated or corrupt"),
        ("truncated_faststart", r"truncated or corrupt"),
        ("unsupported_codec", r"unsupported video codec ZQ42"),
    ],
)
def test_probe_bad_inputs(bad: dict[str, Path], name: str, message: str) -> None:
    with pytest.raises(MediaError, match=message) as caught:
        probe(bad[name])
    assert caught.value.path == str(bad[name])


def with_title(source: Path, target: Path, title: bytes) -> Path:
    """`source` remuxed with a container title of these raw bytes (UTF-8 or not), streams copied."""
    placeholder = b"Q" * len(title)
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        dst.metadata["title"] = placeholder.decode()
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        for packet in src.demux(*[src.streams[i] for i in streams]):
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    data = target.read_bytes()
    assert data.count(placeholder) == 1
    target.write_bytes(data.replace(placeholder, title))
    return target


def test_tags_that_are_not_utf8_do_not_fail_a_file(cut_video: Path, tmp_path: Path) -> None:
    """Old tools write titles in GBK or Latin-1; PyAV < 19 refuses them unless told to ignore errors."""
    from vidseek.analyze.asr import load_audio

    gbk = with_title(cut_video, tmp_path / "gbk.mkv", "测试 café".encode("gbk"))
    info = probe(gbk)
    assert info.duration == pytest.approx(8.0, abs=0.1) and info.has_video and info.has_audio
    assert abs(len(list(sample_frames(gbk, fps=1.0))) - len(list(sample_frames(cut_video, fps=1.0)))) <= 1
    assert load_audio(gbk).size == pytest.approx(8 * 16_000, rel=0.02)


@pytest.mark.parametrize("version, expected", [("18.1.0", {"metadata_errors": "ignore"}), ("19.0.2", {}),
                                                ("12.3.0", {"metadata_errors": "ignore"}), ("20.0.0.dev0", {})])
def test_open_options_follow_the_pyav_version(monkeypatch: pytest.MonkeyPatch, version: str, expected: dict) -> None:
    probe_module = importlib.import_module("vidseek.media.probe")  # vidseek.media.probe is also the function
    monkeypatch.setattr(av, "__version__", version)
    assert probe_module._open_options() == expected


def test_probe_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="directory"):
        probe(tmp_path)


def test_probe_rejects_file_without_audio_or_video(tmp_path: Path) -> None:
    path = tmp_path / "captions.mkv"  # a SubRip subtitle file: FFmpeg would open it, the sniffing rule does not
    path.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello there\n\n", encoding="utf-8")
    with pytest.raises(MediaError, match=r"not a media file \(it is text"):
        probe(path)


def test_is_video_candidate() -> None:
    assert is_video_candidate("a/B.MP4") and is_video_candidate("talk.m4a")
    assert not is_video_candidate("notes.txt") and not is_video_candidate("clip")


# frames ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [1.0, 2.0])
def test_sample_frames_rate_and_times(cut_video: Path, fps: float) -> None:
    frames = list(sample_frames(cut_video, fps=fps, max_side=160))
    assert abs(len(frames) - 8 * fps) <= 1
    times = [f.time for f in frames]
    assert times == sorted(times) and times[0] == pytest.approx(0.0, abs=0.05)
    assert all(abs(t - k / fps) < 0.1 for k, t in enumerate(times))
    assert frames[0].image.shape == (90, 160, 3) and frames[0].image.dtype == np.uint8


def test_sample_frames_is_lazy(cut_video: Path) -> None:
    first = next(iter(sample_frames(cut_video)))
    assert first.image[..., 0].mean() > first.image[..., 2].mean()  # red scene first


def test_sample_frames_survives_cut_file(bad: dict[str, Path]) -> None:
    # The index is intact but the data stops: keep what decodes instead of failing the whole file.
    frames = list(sample_frames(bad["truncated_faststart"]))
    assert 1 <= len(frames) < 3


def test_sample_frames_variable_frame_rate(tmp_path: Path) -> None:
    # 25 fps for 2 s, nothing until 5 s, then 2 s more: ticks 2-4 all fall to the frame at 5 s.
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for ms in [*range(0, 2000, 40), *range(5000, 7000, 40)]:
            frame = av.VideoFrame.from_ndarray(np.full((96, 160, 3), ms // 40, np.uint8), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    times = [f.time for f in sample_frames(path)]
    assert times == pytest.approx([0.0, 1.0, 5.0, 6.0], abs=0.1)


def test_raw_stream_without_timestamps(cut_video: Path, tmp_path: Path) -> None:
    # A raw H.264 stream has no container timestamps: count frames at the nominal rate instead.
    path = tmp_path / "raw.h264"
    with av.open(str(cut_video)) as source, av.open(str(path), "w", format="h264") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    assert probe(path).duration == pytest.approx(8.0, abs=0.1)
    assert [f.time for f in sample_frames(path)] == pytest.approx([float(t) for t in range(8)], abs=0.1)


def test_sample_frames_skips_damaged_packets(cut_video: Path, tmp_path: Path) -> None:
    data = bytearray(cut_video.read_bytes())
    rng = np.random.default_rng(0)
    for offset in range(len(data) // 3, len(data) * 2 // 3, len(data) // 12):
        data[offset : offset + 1000] = rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    frames = list(sample_frames(damaged))
    assert 6 <= len(frames) <= 8


@pytest.mark.parametrize("name", ["text", "unsupported_codec", "empty"])
def test_sample_frames_bad_inputs(bad: dict[str, Path], name: str) -> None:
    with pytest.raises(MediaError):
        list(sample_frames(bad[name]))


def test_sample_frames_audio_only(tone: Path) -> None:
    with pytest.raises(MediaError, match="no video stream"):
        list(sample_frames(tone))


# segments --------------------------------------------------------------------------------------


def _assert_tiles(segments: list, end: float) -> None:
    assert segments[0].start == 0.0 and segments[-1].end == pytest.approx(end)
    assert all(a.end == b.start for a, b in zip(segments, segments[1:], strict=False))
    assert [s.index for s in segments] == list(range(len(segments)))


def test_segments_split_at_hard_cut(cut_video: Path) -> None:
    segments = list(detect_segments(sample_frames(cut_video), duration=8.0))
    assert len(segments) == 2
    assert segments[1].start == pytest.approx(4.0, abs=1.0)
    _assert_tiles(segments, 8.0)
    assert segments[0].start <= segments[0].keyframe_time < segments[0].end
    assert segments[1].keyframe[..., 2].mean() > segments[1].keyframe[..., 0].mean()  # blue


def test_segments_cap_length_and_ignore_noise() -> None:
    rng = np.random.default_rng(1)
    base = np.full((90, 160, 3), (90, 140, 60), dtype=np.float32)
    frames = [Frame(float(t), np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)) for t in range(12)]
    assert frame_distance(frames[0], frames[1]) < 0.1
    segments = list(detect_segments(frames, max_seconds=5.0))
    assert [(s.start, s.end) for s in segments] == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.0)]
    assert segments[0].keyframe_time == 2.0  # middle of a still shot


def test_segments_last_end_clipped_and_empty_input() -> None:
    frames = [Frame(0.0, np.zeros((8, 8, 3), np.uint8)), Frame(1.0, np.zeros((8, 8, 3), np.uint8))]
    segments = list(detect_segments(frames, frame_interval=1.0, duration=1.4))
    _assert_tiles(segments, 1.4)
    assert list(detect_segments([])) == []


# thumbnails ------------------------------------------------------------------------------------


def test_save_thumbnail(tmp_path: Path) -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    image[:, :320] = RED
    path = save_thumbnail(image, tmp_path / "thumbs" / "7" / "0.jpg", size=320)
    with Image.open(path) as saved:
        assert saved.format == "JPEG" and saved.size == (320, 180)
    assert [p.name for p in path.parent.iterdir()] == ["0.jpg"]  # no temp file left behind
    small = save_thumbnail(np.zeros((50, 40, 3), np.uint8), tmp_path / "small.jpg")
    with Image.open(small) as saved:
        assert saved.size == (40, 50)  # never enlarged


# synth -----------------------------------------------------------------------------------------


@needs_espeak
def test_speech_is_mixed_into_the_video(tmp_path: Path) -> None:
    wav = synth.speak("The red boat leaves at nine.", tmp_path / "boat.wav")
    path = make_video(tmp_path / "talk.mp4", [Scene(4, BLUE, text="欢迎")], size=(160, 90), audio=[AudioClip(1.0, wav)])
    with av.open(str(path)) as container:
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    rate = 16000
    assert np.abs(samples[: rate // 2]).max() < 0.01  # silence before the clip starts
    assert np.sqrt(np.mean(samples[rate : 2 * rate] ** 2)) > 0.02  # speech after 1 s


def test_speak_names_missing_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="espeak-ng is not installed"):
        synth.speak("hello", tmp_path / "x.wav")


@needs_espeak
def test_sample_library(tmp_path: Path) -> None:
    paths = synth.make_sample_library(tmp_path)
    infos = [probe(p) for p in paths]
    assert len(paths) == 3 and all(i.duration <= 20 for i in infos)
    assert [i.has_audio for i in infos] == [True, True, False]
