"""Speech recognition on generated speech: offline Whisper base assembly, transcripts, filters, errors."""

from __future__ import annotations

import difflib
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.transcribe import Segment as WhisperSegment

from vidseek.analyze import asr
from vidseek.analyze.asr import (
    MANIFEST_NAME,
    SpeechRecognizer,
    ensure_whisper_base,
    read_manifest,
    resolve_model_path,
    verify_whisper_base,
)
from vidseek.errors import MediaError, ModelUnavailableError
from vidseek.media.probe import OPEN_OPTIONS
from vidseek.media.synth import AudioClip, Scene, make_audio, make_video, speak
from vidseek.settings import Settings
from vidseek.text import display_text, normalize

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
SR = asr.SAMPLE_RATE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def recognizer(model_dir: Path) -> SpeechRecognizer:
    r = SpeechRecognizer(Settings(model_dir=model_dir, threads=0))
    r.load()
    return r


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    return speak(SENTENCE, tmp_path_factory.mktemp("speech") / "fox.wav")


def word_overlap(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize(reference).split(), set(normalize(hypothesis).replace(",", " ").split())
    ref = [w.strip(".,!?") for w in ref]
    hyp = {w.strip(".,!?") for w in hyp}
    return sum(w in hyp for w in ref) / len(ref)


def char_accuracy(reference: str, hypothesis: str) -> float:
    """Fraction of reference characters matched in order (1 - a lenient character error rate)."""
    blocks = difflib.SequenceMatcher(None, reference, hypothesis, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(reference)


def fake_segment(text: str, start: float = 0.0, end: float = 2.0, **kw: float) -> WhisperSegment:
    fields = dict(avg_logprob=-0.3, compression_ratio=1.2, no_speech_prob=0.05) | kw
    return WhisperSegment(0, 0, start, end, text, [], words=None, temperature=0.0, **fields)


# --------------------------------------------------------------------------- offline model


def test_whisper_base_is_assembled_once_and_repaired(model_dir: Path) -> None:
    folder = ensure_whisper_base(model_dir)
    parts = [asr._package_data(p) / f"model.bin.part{i}" for i, p in enumerate(asr._PART_PACKAGES, 1)]
    assert (folder / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    assert {"config.json", "tokenizer.json", "vocabulary.txt", MANIFEST_NAME} <= {p.name for p in folder.iterdir()}
    assert verify_whisper_base(folder)

    stamp = (folder / "model.bin").stat().st_mtime_ns
    t = time.perf_counter()
    assert ensure_whisper_base(model_dir) == folder
    assert time.perf_counter() - t < 0.05  # no re-hash of 145 MB
    assert (folder / "model.bin").stat().st_mtime_ns == stamp

    with open(folder / "model.bin", "r+b") as f:  # a truncated copy is rebuilt
        f.truncate(1000)
    ensure_whisper_base(model_dir)
    manifest = read_manifest(folder)
    assert manifest is not None
    assert (folder / "model.bin").stat().st_size == manifest["files"]["model.bin"]["size"]
    assert verify_whisper_base(folder)
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_version_names_model_and_hash(recognizer: SpeechRecognizer, model_dir: Path) -> None:
    sha = read_manifest(model_dir / asr.WHISPER_BASE_DIR)["files"]["model.bin"]["sha256"]
    assert recognizer.version == f"whisper:base@{sha[:12]}"


def test_local_folder_is_used_as_is(recognizer: SpeechRecognizer, tmp_path: Path) -> None:
    assert resolve_model_path(str(recognizer.path), tmp_path) == recognizer.path
    with pytest.raises(ModelUnavailableError, match="without model.bin"):
        resolve_model_path(str(tmp_path), tmp_path)


def test_unknown_name_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"VIDSEEK_ASR_MODEL='huge-v9'.*large-v3"):
        SpeechRecognizer(Settings(model_dir=tmp_path, asr_model="huge-v9")).load()


def test_download_failure_says_how_to_use_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import faster_whisper.utils

    def offline(*args: object, **kwargs: object) -> str:
        raise OSError("Name or service not known")

    monkeypatch.setattr(faster_whisper.utils, "download_model", offline)
    with pytest.raises(ModelUnavailableError, match=r"(?s)'small' \(VIDSEEK_ASR_MODEL\).*VIDSEEK_ASR_MODEL=DIR"):
        SpeechRecognizer(Settings(model_dir=tmp_path, asr_model="small")).load()


def test_base_falls_back_to_the_hub_without_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import faster_whisper.utils

    def missing(package: str) -> Path:
        raise asr.PackagedModelMissing(f"{package} is not installed")

    calls: list[str] = []
    monkeypatch.setattr(asr, "_package_data", missing)
    monkeypatch.setattr(faster_whisper.utils, "download_model", lambda name, **kw: calls.append(name) or "/hub/x")
    assert resolve_model_path("base", tmp_path) == Path("/hub/x") and calls == ["base"]


# --------------------------------------------------------------------------- segments -> spans


def test_traditional_output_is_normalised() -> None:
    pieces = list(asr._pieces([fake_segment("歡迎使用視頻搜索引擎")], duration=5))
    assert [p.text for p in pieces] == ["欢迎使用视频搜索引擎"]


def test_hallucinations_are_dropped() -> None:
    segments = [
        fake_segment("   "),
        fake_segment("...", start=2, end=3),
        fake_segment("Thank you.", start=3, end=4, no_speech_prob=0.8, avg_logprob=-1.2),
        fake_segment("字幕由Amara.org社区提供", start=4, end=5),
        fake_segment("請請請請請請請請請請請請請", start=5, end=6, compression_ratio=4.0),
        fake_segment("random words", start=6, end=7, avg_logprob=-2.2),
        fake_segment("beyond the end", start=11, end=12),
        fake_segment("Real speech.", start=8, end=9.5),
    ]
    assert [(p.text, p.end) for p in asr._pieces(segments, duration=9.0)] == [("Real speech.", 9.0)]


def test_segments_regroup_into_sentences() -> None:
    pieces = asr._pieces(
        [
            fake_segment("Ask not what your country can do for you,", 0.0, 4.0),
            fake_segment("ask what you can do for your country. Then leave.", 4.0, 8.0),
            fake_segment("Then leave.", 8.0, 9.0),  # a repetition loop collapses into one span
            fake_segment("我们去公园", 12.0, 13.0),
            fake_segment("看熊猫", 13.2, 14.0),
            fake_segment("It costs 3.5 dollars at vidseek.io.", 20.0, 22.0),
            fake_segment("你好！再见。", 22.0, 23.0),
        ],
        duration=30,
    )
    got = [(s.text, round(s.start, 1), round(s.end, 1)) for s in asr._sentences(pieces)]
    assert got[0] == ("Ask not what your country can do for you, ask what you can do for your country.", 0.0, 7.1)
    assert got[1] == ("Then leave.", 7.1, 9.0)
    assert got[2] == ("我们去公园看熊猫", 12.0, 14.0)
    assert [t for t, *_ in got[3:]] == ["It costs 3.5 dollars at vidseek.io.", "你好!", "再见。"]


# --------------------------------------------------------------------------- decoding audio

SHARED_SPEECH = Path(__file__).resolve().parents[2] / "shared" / "media" / "speech"


def stereo_tone(path: Path, rate: int, seconds: float = 2.0, hz: float = 440.0) -> Path:
    """Stereo at `rate` (PCM for .wav, else AAC): a tone on the left channel, silence on the right."""
    import av

    t = np.arange(int(rate * seconds)) / rate
    left = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(np.stack([left, np.zeros_like(left)]), format="fltp", layout="stereo")
    frame.rate = rate
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le" if path.suffix == ".wav" else "aac", rate=rate)
        stream.layout = "stereo"
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def audio_files(tmp: Path) -> list[Path]:
    """44.1 kHz stereo WAV, 48 kHz stereo AAC, 16 kHz mono AAC in an MP4 with video, and the real clips."""
    files = [stereo_tone(tmp / "tone44.wav", 44_100), stereo_tone(tmp / "tone48.m4a", 48_000)]
    files.append(make_video(tmp / "tone.mp4", [Scene(3.0, (20, 40, 80))], size=(160, 90),
                            audio=[AudioClip(0.5, make_audio(tmp / "tone16.wav", 2.0, tone_hz=440))]))
    return files + sorted(p for p in SHARED_SPEECH.glob("*") if p.suffix in {".flac", ".mp4", ".wav"})


@pytest.mark.skipif(not OPEN_OPTIONS, reason="PyAV >= 19: faster-whisper's decode_audio passes metadata_errors, "
                                             "which it rejects, so there is nothing to compare with")
def test_audio_is_decoded_exactly_as_faster_whisper_does(tmp_path: Path) -> None:
    from faster_whisper import decode_audio

    for path in audio_files(tmp_path):
        ours = asr.load_audio(path)
        assert ours.dtype == np.float32 and ours.ndim == 1 and ours.size > SR, path
        np.testing.assert_array_equal(ours, decode_audio(str(path), sampling_rate=SR), err_msg=str(path))


@pytest.mark.parametrize("name, rate", [("a.wav", 44_100), ("a.m4a", 48_000)])
def test_audio_decoding_resamples_to_16k_mono(tmp_path: Path, name: str, rate: int) -> None:
    samples = asr.load_audio(stereo_tone(tmp_path / name, rate, hz=1000))
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size == pytest.approx(2.0 * SR, abs=SR * 0.05)
    spectrum = np.abs(np.fft.rfft(samples[SR // 4 : SR // 4 + SR]))  # one second: 1 Hz bins
    assert abs(int(np.argmax(spectrum)) - 1000) <= 2  # still a 1 kHz tone at the new rate
    assert 0.1 < np.abs(samples).max() < 0.35  # the left channel's 0.3, not clipped or lost in the mix


def test_audio_decoding_errors_name_the_file(tmp_path: Path) -> None:
    mute = make_video(tmp_path / "mute.mp4", [Scene(1.0, (0, 0, 0))], size=(160, 90))
    assert asr.load_audio(mute).size == 0
    text = tmp_path / "notes.mp3"
    text.write_text("not audio")
    with pytest.raises(MediaError, match="notes.mp3.*cannot decode audio"):
        asr.load_audio(text)


# --------------------------------------------------------------------------- real recognition


@needs_espeak
def test_english_speech_in_a_video(recognizer: SpeechRecognizer, speech_wav: Path, tmp_path: Path) -> None:
    speech = len(asr.load_audio(speech_wav)) / SR
    video = make_video(tmp_path / "fox.mp4", [Scene(speech + 2.5, (20, 40, 80))], audio=[AudioClip(1.0, speech_wav)])
    transcript = recognizer.transcribe(video)
    spans = list(transcript)
    assert spans, "no speech recognised"
    text = " ".join(s.text for s in spans)
    assert word_overlap(SENTENCE, text) >= 0.7, text
    assert transcript.language == "en" and transcript.language_probability > 0.5
    assert all(s.route == "speech" and s.language == "en" and 0 < s.confidence <= 1 for s in spans)
    assert 0.5 <= spans[0].start and spans[-1].end <= transcript.duration + 1e-6
    assert spans[-1].end >= 1.0 + speech - 1.5
    assert text == display_text(text) and text != normalize(text), "evidence keeps the speaker's case"


def test_silence_and_noise_yield_nothing(recognizer: SpeechRecognizer) -> None:
    rng = np.random.default_rng(0)
    assert list(recognizer.transcribe(np.zeros(5 * SR, dtype=np.float32))) == []
    assert list(recognizer.transcribe(rng.normal(0, 0.01, 5 * SR).astype(np.float32))) == []
    empty = recognizer.transcribe(np.zeros(0, dtype=np.float32))
    assert list(empty) == [] and empty.language is None


def test_video_without_audio_yields_nothing(recognizer: SpeechRecognizer, tmp_path: Path) -> None:
    video = make_video(tmp_path / "mute.mp4", [Scene(1.0, (0, 0, 0))], size=(160, 90))
    transcript = recognizer.transcribe(video)
    assert list(transcript) == [] and transcript.duration == 0


def test_transcribe_is_lazy(recognizer: SpeechRecognizer, tmp_path: Path) -> None:
    missing = tmp_path / "not-there.mp4"
    transcript = recognizer.transcribe(missing)  # nothing is opened until iteration
    with pytest.raises(Exception, match="not-there"):
        next(transcript)


@needs_espeak
@pytest.mark.slow
def test_espeak_mandarin_is_barely_intelligible(recognizer: SpeechRecognizer, tmp_path: Path) -> None:
    """Measurement, not a quality bar: espeak-ng's Debian cmn dictionary lacks most characters."""
    reference = "欢迎使用视频搜索引擎"
    wav = speak(reference, tmp_path / "zh.wav", voice="cmn")
    zh = SpeechRecognizer(Settings(model_dir=recognizer.settings.model_dir, asr_language="zh"))
    zh._model, zh._loaded = recognizer._model, True  # share the loaded weights
    spans = list(zh.transcribe(asr.load_audio(wav)))
    text = "".join(s.text for s in spans)
    print(f"espeak cmn -> whisper base: {text!r}, char accuracy {char_accuracy(reference, text):.0%}")
    assert all(s.text == display_text(s.text) for s in spans)

