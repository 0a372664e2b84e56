"""Image-text encoder (CLIP, Chinese-CLIP, SigLIP) running on onnxruntime only.

A model is a folder made by `vidseek.analyze.export.export_model`:

    visual.onnx         pixel_values (N, 3, S, S) float32 -> embeddings (N, dim)
    textual.onnx        input_ids (N, L) int64 [+ attention_mask, token_type_ids] -> embeddings (N, dim)
    tokenizer.json      Hugging Face `tokenizers` file
    vidseek_model.json  everything needed to use the two graphs (EncoderConfig below)

Preprocessing and score calibration travel in vidseek_model.json, next to the weights, so they
cannot drift apart. Torch and transformers are not needed here.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from vidseek.analyze.base import Model
from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings

CONFIG_FILE = "vidseek_model.json"
VISUAL_FILE = "visual.onnx"
TEXTUAL_FILE = "textual.onnx"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILES = (CONFIG_FILE, TOKENIZER_FILE, VISUAL_FILE, TEXTUAL_FILE)
FAMILIES = ("clip", "chinese_clip", "siglip")
_FIX_HINT = (
    "run `vidseek models export <id-or-dir> --output DIR` on a machine with the weights "
    "and set VIDSEEK_VISUAL_MODEL=DIR"
)


@dataclass(frozen=True)
class EncoderConfig:
    """How to feed and read one exported image-text model; stored as vidseek_model.json.

    calibration is {"kind": "linear", "low": L, "high": H} (cosine L -> 0, H -> 1, clipped) or
    {"kind": "sigmoid", "scale": S, "bias": B} (SigLIP's own sigmoid(cos * S + B)).

    Usage: `config = EncoderConfig.read(folder); config.write(other_folder)`
    """

    name: str
    family: str
    source: str
    dim: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str  # "shortest": shortest side to image_size then centre crop; "squash": straight to S x S
    resample: str  # "bicubic" | "bilinear"
    max_length: int
    padding: str  # "longest" | "max_length" (SigLIP pools the last position, so it needs fixed length)
    pad_token_id: int
    text_inputs: tuple[str, ...] = ("input_ids", "attention_mask")
    lowercase: bool = False
    quantized: bool = False
    calibration: dict[str, Any] = field(default_factory=lambda: {"kind": "linear", "low": 0.18, "high": 0.32})
    # image-to-image cosines (search by example image) live on another scale than image-to-text
    image_calibration: dict[str, Any] = field(default_factory=lambda: {"kind": "linear", "low": 0.6, "high": 0.9})

    @classmethod
    def read(cls, folder: Path) -> EncoderConfig:
        """Load and validate `folder/vidseek_model.json`; ModelUnavailableError names what is wrong."""
        path = Path(folder) / CONFIG_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["mean"], data["std"] = tuple(data["mean"]), tuple(data["std"])
            data["text_inputs"] = tuple(data.get("text_inputs", ("input_ids", "attention_mask")))
            known = {f.name for f in fields(cls)}  # keys from newer exporters are ignored
            config = cls(**{key: value for key, value in data.items() if key in known})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelUnavailableError(f"{path}: not a readable vidseek model config ({exc}); {_FIX_HINT}") from exc
        config.validate(path)
        return config

    def validate(self, path: Path | str = CONFIG_FILE) -> None:
        """Raise ModelUnavailableError if a field has a value the encoder cannot use."""
        problems = []
        if self.family not in FAMILIES:
            problems.append(f"family {self.family!r} not in {FAMILIES}")
        if self.resize not in ("shortest", "squash") or self.resample not in ("bicubic", "bilinear"):
            problems.append(f"resize/resample {self.resize!r}/{self.resample!r} unknown")
        if self.padding not in ("longest", "max_length") or "input_ids" not in self.text_inputs:
            problems.append(f"padding {self.padding!r} / text_inputs {self.text_inputs} invalid")
        for name, calibration in (("calibration", self.calibration), ("image_calibration", self.image_calibration)):
            wanted = {"linear": ("low", "high"), "sigmoid": ("scale", "bias")}.get(calibration.get("kind"), ("?",))
            if not all(k in calibration for k in wanted):
                problems.append(f"{name} {calibration} needs kind linear(low, high) or sigmoid(scale, bias)")
        if problems:
            raise ModelUnavailableError(f"{path}: {'; '.join(problems)}; {_FIX_HINT}")

    def write(self, folder: Path) -> Path:
        """Write `folder/vidseek_model.json` and return its path."""
        path = Path(folder) / CONFIG_FILE
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def calibrate_cosine(cosine: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Map raw cosine similarities to 0..1 relevance scores that mean the same for every query.

    Usage: `calibrate_cosine(np.array([0.2, 0.3]), {"kind": "linear", "low": 0.18, "high": 0.32})`
    """
    cosine = np.asarray(cosine, dtype=np.float32)
    if calibration["kind"] == "sigmoid":
        logits = cosine * float(calibration["scale"]) + float(calibration["bias"])
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    low, high = float(calibration["low"]), float(calibration["high"])
    return np.clip((cosine - low) / max(high - low, 1e-6), 0.0, 1.0).astype(np.float32)


def preprocess_image(image: np.ndarray, config: EncoderConfig) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> normalised float32 (3, S, S) exactly as the model was trained.

    Usage: `pixels = preprocess_image(frame, config)`
    """
    from PIL import Image

    size = config.image_size
    resample = Image.Resampling.BICUBIC if config.resample == "bicubic" else Image.Resampling.BILINEAR
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    width, height = picture.size
    if config.resize == "squash":
        if (width, height) != (size, size):
            picture = picture.resize((size, size), resample)
    else:
        scale = size / min(width, height)
        new_w, new_h = max(size, int(width * scale)), max(size, int(height * scale))
        if (new_w, new_h) != (width, height):
            picture = picture.resize((new_w, new_h), resample)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        picture = picture.crop((left, top, left + size, top + size))
    pixels = np.asarray(picture, dtype=np.float32) / 255.0
    pixels = (pixels - np.asarray(config.mean, np.float32)) / np.asarray(config.std, np.float32)
    return pixels.transpose(2, 0, 1)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _file_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        digest.update(name.encode())
        with open(folder / name, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


class ImageTextEncoder(Model):
    """Embeds frames and queries into one space; `calibrate` turns cosines into 0..1 scores.

    `name` is a registry name, hub id or folder (resolved on `load()`), or pass `folder` directly.
    Each ONNX session is created the first time its tower is used, so an indexer never holds the
    text tower and a search server never holds the visual one.

    Usage:
        encoder = ImageTextEncoder.from_folder(Path("models/siglip2-base"), settings)
        scores = encoder.calibrate(encoder.encode_images([frame]) @ encoder.encode_texts(["a red car"]).T)
    """

    task = "image-text"
    batch_size = 16

    def __init__(self, name: str, settings: Settings, folder: Path | None = None):
        super().__init__(name, settings)
        self.folder = Path(folder) if folder is not None else None
        self._config: EncoderConfig | None = None
        self._tokenizer: Any = None
        self._sessions: dict[str, Any] = {}
        self._session_lock = threading.Lock()
        self._version: str | None = None

    @classmethod
    def from_folder(cls, folder: Path, settings: Settings) -> ImageTextEncoder:
        """An encoder for an exported model folder (nothing is read until first use)."""
        return cls(str(folder), settings, folder=Path(folder))

    def _load(self) -> None:
        if self.folder is None:
            from vidseek.analyze.registry import resolve_visual_model

            self.folder = resolve_visual_model(self.name, self.settings)
        missing = [name for name in MODEL_FILES if not (self.folder / name).is_file()]
        if missing:
            raise ModelUnavailableError(f"{self.folder}: missing {', '.join(missing)}; {_FIX_HINT}")
        config = EncoderConfig.read(self.folder)
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        tokenizer.no_padding()  # padding is done in numpy below, per the config
        tokenizer.enable_truncation(max_length=config.max_length)
        self._config, self._tokenizer = config, tokenizer

    @property
    def config(self) -> EncoderConfig:
        self.load()
        assert self._config is not None
        return self._config

    @property
    def dim(self) -> int:
        """Embedding width (the vector store's dimension)."""
        return self.config.dim

    @property
    def version(self) -> str:
        """`<model name>-<sha256 of the config, tokenizer and both graphs>`; changes with the weights."""
        if self._version is None:
            config = self.config
            assert self.folder is not None
            self._version = f"{config.name}-{_file_digest(self.folder)[:16]}"
        return self._version

    def _session(self, file_name: str) -> Any:
        with self._session_lock:
            if file_name not in self._sessions:
                self._sessions[file_name] = self._open_session(file_name)
            return self._sessions[file_name]

    def _open_session(self, file_name: str) -> Any:
        import onnxruntime as ort

        assert self.folder is not None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads must not busy-wait: in the server they would steal the cores that
        # concurrent searches and the indexer need. A query (one short text) runs best on 1 thread.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if file_name == TEXTUAL_FILE:
            options.intra_op_num_threads = 1
        elif self.settings.threads:
            options.intra_op_num_threads = self.settings.threads
        path = self.folder / file_name
        try:
            return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for broken graphs
            raise ModelUnavailableError(f"{path}: onnxruntime cannot load it ({exc}); {_FIX_HINT}") from exc

    def encode_images(self, images: list[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """RGB uint8 frames (H, W, 3) -> (N, dim) float32, L2-normalised.

        Usage: `vectors = encoder.encode_images([frame1, frame2])`
        """
        config = self.config
        if not len(images):
            return np.zeros((0, config.dim), np.float32)
        session, step = self._session(VISUAL_FILE), batch_size or self.batch_size
        out = []
        for start in range(0, len(images), step):
            pixels = np.stack([preprocess_image(image, config) for image in images[start : start + step]])
            out.append(session.run(None, {"pixel_values": pixels})[0])
        return _normalise(np.concatenate(out))

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Texts -> the text graph's inputs (padded per the config). Usage: `encoder.tokenize(["a dog"])`"""
        config = self.config
        if config.lowercase:
            texts = [text.lower() for text in texts]
        encodings = self._tokenizer.encode_batch(list(texts))
        length = config.max_length if config.padding == "max_length" else max(len(e.ids) for e in encodings)
        ids = np.full((len(texts), length), config.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return {name: feeds[name] for name in config.text_inputs}

    def encode_texts(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Queries -> (N, dim) float32, L2-normalised. Usage: `encoder.encode_texts(["红色的车"])`"""
        config = self.config
        if not len(texts):
            return np.zeros((0, config.dim), np.float32)
        session, step = self._session(TEXTUAL_FILE), batch_size or self.batch_size
        out = [session.run(None, self.tokenize(texts[i : i + step]))[0] for i in range(0, len(texts), step)]
        return _normalise(np.concatenate(out))

    def calibrate(self, cosine: np.ndarray) -> np.ndarray:
        """Raw cosine (any shape) -> 0..1 relevance, comparable across queries.

        Usage: `scores = encoder.calibrate(image_vectors @ text_vector)`
        """
        return calibrate_cosine(cosine, self.config.calibration)

    def calibrate_image(self, cosine: np.ndarray) -> np.ndarray:
        """Like `calibrate`, for image-to-image cosines (a query by example image)."""
        return calibrate_cosine(cosine, self.config.image_calibration)
