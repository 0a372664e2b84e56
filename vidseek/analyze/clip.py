"""Image-text encoder (CLIP, Chinese-CLIP, SigLIP families) running on onnxruntime only.

An encoder runs two ONNX graphs with a Hugging Face `tokenizers` file and an `EncoderConfig`
(preprocessing, tokenisation, score calibration); the caller hands them over as a `ModelFiles`.
Where the files come from (vidseek's own export, an Immich or transformers.js repo on the hub) is
the business of vidseek.analyze.layouts and vidseek.analyze.registry, which this module never imports.

vidseek's own folder layout (made by `vidseek.analyze.export.export_model`):

    visual.onnx         pixel_values (N, 3, S, S) float32 -> embeddings (N, dim)
    textual.onnx        input_ids (N, L) int64 [+ attention_mask, token_type_ids] -> embeddings (N, dim)
    tokenizer.json      Hugging Face `tokenizers` file
    vidseek_model.json  EncoderConfig below

The graphs themselves say how they are fed, so published exports work as they are: inputs are
matched by name to token ids, attention mask and token type ids (`input_names` maps other names),
integer widths follow the graph (Immich's take int32), and a graph exported for one image or one
fixed-length text at a time (Immich's are) is fed exactly that. Torch and transformers are not needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.analyze.base import Model
from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings
from vidseek.text import has_cjk

if TYPE_CHECKING:  # NumPy loads on the first encode, not on import (a no-op re-index never needs it)
    import numpy as np

CONFIG_FILE = "vidseek_model.json"
VISUAL_FILE = "visual.onnx"
TEXTUAL_FILE = "textual.onnx"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILES = (CONFIG_FILE, TOKENIZER_FILE, VISUAL_FILE, TEXTUAL_FILE)
DIGEST_CACHE = ".vidseek-digest.json"  # ModelFiles.cached_digest: the digest against the files' stats
FAMILIES = ("clip", "chinese_clip", "siglip")
TEXT_ROLES = ("input_ids", "attention_mask", "token_type_ids")
_FIX_HINT = (
    "run `vidseek models export <id-or-dir> --output DIR` on a machine with the weights "
    "and set VIDSEEK_VISUAL_MODEL=DIR"
)

# A linear map per family for exports that carry no calibration of their own (cosine low -> 0,
# high -> 1). None is measured on this machine (no real weights reach it): override them with a
# vidseek_model.json next to the model files once checked on your own frames.
# clip: openai ViT-B/32 gives ~0.25-0.35 for a good caption and ~0.12-0.20 for an unrelated one.
# chinese_clip: an estimate from the same logit scale (100).
# siglip: read off sigmoid(cos * 117 - 12.9), roughly the learnt scale and bias of SigLIP base
#   checkpoints as recalled (not checked here): probability ~0.01 at cos 0.07, ~0.2 at 0.10 (score
#   0.3) and ~0.95 at 0.135. The SigLIP 2 and NLLB-SigLIP ONNX exports publish no scale or bias.
FAMILY_CALIBRATION: dict[str, dict[str, Any]] = {
    "clip": {"kind": "linear", "low": 0.18, "high": 0.32},
    "chinese_clip": {"kind": "linear", "low": 0.20, "high": 0.40},
    "siglip": {"kind": "linear", "low": 0.07, "high": 0.17},
}
# Text lengths the models were trained with (Chinese-CLIP's BERT allows 512 but was trained on 52).
FAMILY_MAX_LENGTH = {"clip": 77, "chinese_clip": 52, "siglip": 64}
_PUNCTUATION = str.maketrans("", "", string.punctuation)


@dataclass(frozen=True)
class EncoderConfig:
    """How to feed and read one image-text model; stored as vidseek_model.json.

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
    pad_token: str | None = None  # looked up in tokenizer.json when set; wins over pad_token_id
    canonicalize: bool = False  # open_clip's clean="canonicalize": no ASCII punctuation, lower case
    # NLLB text towers expect a FLORES-200 language code before the text: {"zh": ..., "default": ...}
    language_tokens: dict[str, str] = field(default_factory=dict)
    input_names: dict[str, str] = field(default_factory=dict)  # graph input name -> one of TEXT_ROLES
    image_output: str | None = None  # graph output to read; None: the embedding-shaped one
    text_output: str | None = None

    @classmethod
    def read(cls, folder: Path) -> EncoderConfig:
        """Load and validate `folder/vidseek_model.json`; ModelUnavailableError names what is wrong."""
        path = Path(folder) / CONFIG_FILE
        try:
            config = cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelUnavailableError(f"{path}: not a readable vidseek model config ({exc}); {_FIX_HINT}") from exc
        config.validate(path)
        return config

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        """A config from JSON-shaped data; keys from newer exporters are ignored. Not validated."""
        data = dict(data)
        data["mean"], data["std"] = tuple(data["mean"]), tuple(data["std"])
        data["text_inputs"] = tuple(data.get("text_inputs", ("input_ids", "attention_mask")))
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def validate(self, path: Path | str = CONFIG_FILE, fix: str = _FIX_HINT) -> None:
        """Raise ModelUnavailableError (ending in `fix`) if a field has a value the encoder cannot use."""
        problems = []
        if self.family not in FAMILIES:
            problems.append(f"family {self.family!r} not in {FAMILIES}")
        if self.resize not in ("shortest", "squash") or self.resample not in ("bicubic", "bilinear"):
            problems.append(f"resize/resample {self.resize!r}/{self.resample!r} unknown")
        if self.padding not in ("longest", "max_length") or "input_ids" not in self.text_inputs:
            problems.append(f"padding {self.padding!r} / text_inputs {self.text_inputs} invalid")
        if not set(self.input_names.values()) <= set(TEXT_ROLES):
            problems.append(f"input_names {self.input_names} must map graph inputs to {TEXT_ROLES}")
        if self.language_tokens and "default" not in self.language_tokens:
            problems.append(f"language_tokens {self.language_tokens} needs a 'default' entry")
        for name, calibration in (("calibration", self.calibration), ("image_calibration", self.image_calibration)):
            wanted = {"linear": ("low", "high"), "sigmoid": ("scale", "bias")}.get(calibration.get("kind"), ("?",))
            if not all(k in calibration for k in wanted):
                problems.append(f"{name} {calibration} needs kind linear(low, high) or sigmoid(scale, bias)")
        if problems:
            raise ModelUnavailableError(f"{path}: {'; '.join(problems)}; {fix}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    def write(self, folder: Path) -> Path:
        """Write `folder/vidseek_model.json` and return its path."""
        path = Path(folder) / CONFIG_FILE
        path.write_text(self.to_json(), encoding="utf-8")
        return path


@dataclass(frozen=True)
class ModelFiles:
    """One image-text model on disk: its two graphs, its tokenizer and how to use them.

    `config_file` is the vidseek_model.json the config was read from, if any (it is hashed into the
    encoder's version as written); `layout` names where the folder came from.
    Usage: `files = ModelFiles.from_export(Path("models/clip"))`
    """

    folder: Path
    config: EncoderConfig
    visual: Path
    textual: Path
    tokenizer: Path
    layout: str = "vidseek"
    config_file: Path | None = None

    @classmethod
    def from_export(cls, folder: Path) -> ModelFiles:
        """vidseek's own layout (MODEL_FILES in one folder); ModelUnavailableError names what is missing."""
        folder = Path(folder)
        missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
        if missing:
            raise ModelUnavailableError(f"{folder}: missing {', '.join(missing)}; {_FIX_HINT}")
        return cls(folder, EncoderConfig.read(folder), folder / VISUAL_FILE, folder / TEXTUAL_FILE,
                   folder / TOKENIZER_FILE, "vidseek", folder / CONFIG_FILE)  # fmt: skip

    def missing(self) -> list[Path]:
        return [path for path in (self.visual, self.textual, self.tokenizer) if not path.is_file()]

    def cached_digest(self) -> str:
        """`digest()`, remembered in the folder (DIGEST_CACHE) against the files' sizes and mtimes:
        reading hundreds of MB of graphs on every run is what a no-op re-index must not do. A folder
        that cannot be written just hashes each time."""
        paths = [p for p in (self.config_file, self.tokenizer, self.visual, self.textual) if p is not None]
        try:
            stamp = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]
        except OSError:
            return self.digest()
        if not self.config_file:
            stamp.append(["config", hashlib.sha256(self.config.to_json().encode()).hexdigest()])
        cache = self.folder / DIGEST_CACHE
        try:
            saved = json.loads(cache.read_text())
            if saved.get("stamp") == stamp and isinstance(saved.get("digest"), str):
                return saved["digest"]
        except (OSError, ValueError, AttributeError):
            pass
        digest = self.digest()
        try:
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"stamp": stamp, "digest": digest}))
            os.replace(tmp, cache)
        except OSError:
            pass
        return digest

    def digest(self) -> str:
        """sha256 of the config, tokenizer and both graphs (for vidseek folders: of MODEL_FILES as written)."""
        digest = hashlib.sha256()
        config = self.config_file.read_bytes() if self.config_file else self.config.to_json().encode()
        digest.update(CONFIG_FILE.encode())
        digest.update(config)
        for name, path in ((TOKENIZER_FILE, self.tokenizer), (VISUAL_FILE, self.visual), (TEXTUAL_FILE, self.textual)):
            digest.update(name.encode())
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(chunk)
        return digest.hexdigest()


def calibrate_cosine(cosine: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Map raw cosine similarities to 0..1 relevance scores that mean the same for every query.

    Usage: `calibrate_cosine(np.array([0.2, 0.3]), {"kind": "linear", "low": 0.18, "high": 0.32})`
    """
    import numpy as np

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
    import numpy as np
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


def clean_text(text: str, config: EncoderConfig) -> str:
    """A query as the text tower was trained to read it (case, punctuation, language code)."""
    if config.canonicalize:
        text = " ".join(text.translate(_PUNCTUATION).lower().split())
    elif config.lowercase:
        text = text.lower()
    if config.language_tokens:
        code = config.language_tokens.get("zh") if has_cjk(text) else None
        text = (code or config.language_tokens["default"]) + text  # NLLB: the code, then the text
    return text


def _normalise(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class _Graph:
    """An open ONNX session and what its signature asks for."""

    session: Any
    inputs: dict[str, tuple[str, Any]]  # graph input name -> (role, numpy dtype)
    output: str
    batch: int | None  # the graph was exported for exactly this many rows
    length: int | None  # ... and (text) exactly this many tokens


_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int32)": "int32",
           "tensor(int64)": "int64"}  # ONNX input type -> NumPy dtype name
_OUTPUT_NAMES = {"visual": ("image_embeds", "embeddings", "embedding", "pooler_output"),
                 "textual": ("text_embeds", "embeddings", "embedding", "pooler_output")}  # fmt: skip


def _fixed(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _pick_output(session: Any, wanted: str | None, tower: str, path: Path) -> str:
    """The embedding output: the configured name, a well-known one, else the first 2-D output.

    transformers.js SigLIP graphs list last_hidden_state (3-D) before pooler_output.
    """
    outputs = {out.name: out for out in session.get_outputs()}
    for name in (wanted, *_OUTPUT_NAMES[tower]):
        if name in outputs:
            return name
    flat = [out.name for out in outputs.values() if len(out.shape or ()) == 2]
    if wanted is None and flat:
        return flat[0]
    raise ModelUnavailableError(
        f"{path}: no embedding output {wanted or 'of shape (N, dim)'} among {sorted(outputs)}; set "
        f"{'image_output' if tower == 'visual' else 'text_output'} in a {CONFIG_FILE} next to the model files"
    )


def _inspect(session: Any, config: EncoderConfig, tower: str, path: Path) -> _Graph:
    import numpy as np

    inputs: dict[str, tuple[str, Any]] = {}
    for graph_input in session.get_inputs():
        role = "pixel_values" if tower == "visual" else config.input_names.get(graph_input.name, graph_input.name)
        dtype = np.dtype(_DTYPES[graph_input.type]).type if graph_input.type in _DTYPES else None
        # pixels are fed normalised (a graph taking raw uint8 would get garbage), tokens as integers
        floats = dtype in (np.float32, np.float16)
        feedable = floats if tower == "visual" else dtype is not None and not floats and role in TEXT_ROLES
        if not feedable:
            raise ModelUnavailableError(
                f"{path}: input {graph_input.name!r} ({graph_input.type}) is not something vidseek can feed "
                f"(pixels, or one of {TEXT_ROLES}); map it in {CONFIG_FILE} \"input_names\" next to the model files"
            )
        inputs[graph_input.name] = (role, dtype)
    roles = [role for role, _ in inputs.values()]
    if (tower == "visual" and len(roles) != 1) or (tower == "textual" and "input_ids" not in roles):
        raise ModelUnavailableError(f"{path}: unexpected {tower} inputs {sorted(inputs)}; {_FIX_HINT}")
    shape = list(session.get_inputs()[0].shape or [None, None])
    output = _pick_output(session, config.image_output if tower == "visual" else config.text_output, tower, path)
    width = next(_fixed((out.shape or [None])[-1]) for out in session.get_outputs() if out.name == output)
    if width is not None and width != config.dim:
        raise ModelUnavailableError(
            f"{path}: output {output!r} is {width}-d but the config says dim {config.dim} (an unprojected "
            f"output?); set {'image_output' if tower == 'visual' else 'text_output'} or dim in {CONFIG_FILE}"
        )
    length = _fixed(shape[1]) if tower == "textual" and len(shape) > 1 else None
    if length is not None and (length != config.max_length or config.padding != "max_length"):
        raise ModelUnavailableError(
            f"{path} takes texts of exactly {length} tokens but the config pads to "
            f"{config.padding} (max_length {config.max_length}); set \"padding\": \"max_length\", "
            f"\"max_length\": {length} in a {CONFIG_FILE} next to the model files"
        )
    return _Graph(session, inputs, output, _fixed(shape[0]) if shape else None, length)


class ImageTextEncoder(Model):
    """Embeds frames and queries into one space; `calibrate` turns cosines into 0..1 scores.

    `model` is the model's files, an exported folder, or a callable that finds the files on
    `load()` (the registry passes one, so nothing is resolved or downloaded before first use).
    Each ONNX session is created the first time its tower is used, so an indexer never holds the
    text tower and a search server never holds the visual one.

    Usage:
        encoder = ImageTextEncoder.from_folder(Path("models/clip-b32"), settings)
        scores = encoder.calibrate(encoder.encode_images([frame]) @ encoder.encode_texts(["a red car"]).T)
    """

    task = "image-text"
    batch_size = 16
    version_without_load = True

    def __init__(
        self, name: str, settings: Settings, model: ModelFiles | Path | Callable[[], ModelFiles] | None = None
    ):
        super().__init__(name, settings)
        self._source = model
        self.files: ModelFiles | None = model if isinstance(model, ModelFiles) else None
        self._tokenizer: Any = None
        self._pad_id = 0
        self._graphs: dict[str, _Graph] = {}
        self._graph_lock = threading.Lock()
        self._version: str | None = None

    @classmethod
    def from_folder(cls, folder: Path, settings: Settings) -> ImageTextEncoder:
        """An encoder for a vidseek export folder (nothing is read until first use)."""
        return cls(str(folder), settings, Path(folder))

    def _resolve(self) -> ModelFiles:
        if isinstance(self._source, ModelFiles):
            return self._source
        if isinstance(self._source, Path):
            return ModelFiles.from_export(self._source)
        if callable(self._source):
            return self._source()
        raise ModelUnavailableError(f"visual model {self.name}: no model files given; set VIDSEEK_VISUAL_MODEL")

    def _load(self) -> None:
        files = self.files or self._resolve()
        missing = files.missing()
        if missing:
            names = ", ".join(str(path.relative_to(files.folder)) for path in missing)
            raise ModelUnavailableError(f"{files.folder}: missing {names}; {_FIX_HINT}")
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(files.tokenizer))
        except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
            raise ModelUnavailableError(f"{files.tokenizer}: not a tokenizers file ({exc}); {_FIX_HINT}") from exc
        tokenizer.no_padding()  # padding is done in numpy below, per the config and the graph
        tokenizer.enable_truncation(max_length=files.config.max_length)
        pad_id = files.config.pad_token_id
        if files.config.pad_token is not None:
            pad_id = tokenizer.token_to_id(files.config.pad_token)
            if pad_id is None:
                raise ModelUnavailableError(
                    f"{files.tokenizer}: pad token {files.config.pad_token!r} is not in the vocabulary; {_FIX_HINT}"
                )
        self.files, self._tokenizer, self._pad_id = files, tokenizer, int(pad_id)

    @property
    def config(self) -> EncoderConfig:
        self.load()
        assert self.files is not None
        return self.files.config

    @property
    def folder(self) -> Path:
        """The folder the model was loaded from."""
        self.load()
        assert self.files is not None
        return self.files.folder

    @property
    def dim(self) -> int:
        """Embedding width (the vector store's dimension)."""
        return self.config.dim

    @property
    def version(self) -> str:
        """`<model name>-<sha256 of the config, tokenizer and both graphs>`; changes with the weights.
        Known without loading (the digest is remembered in the folder against the files' stats)."""
        if self._version is None:
            files = self.files = self.files or self._resolve()
            missing = files.missing()
            if missing:
                names = ", ".join(str(path.relative_to(files.folder)) for path in missing)
                raise ModelUnavailableError(f"{files.folder}: missing {names}; {_FIX_HINT}")
            self._version = f"{files.config.name}-{files.cached_digest()[:16]}"
        return self._version

    def _graph(self, tower: str) -> _Graph:
        with self._graph_lock:
            if tower not in self._graphs:
                self._graphs[tower] = self._open_graph(tower)
            return self._graphs[tower]

    def _open_graph(self, tower: str) -> _Graph:
        import onnxruntime as ort

        files = self.files
        assert files is not None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads must not busy-wait: in the server they would steal the cores that
        # concurrent searches and the indexer need. A query (one short text) runs best on 1 thread.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if tower == "textual":
            options.intra_op_num_threads = 1
        elif self.settings.threads:
            options.intra_op_num_threads = self.settings.threads
        path = files.visual if tower == "visual" else files.textual
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for broken graphs
            raise ModelUnavailableError(f"{path}: onnxruntime cannot load it ({exc}); {_FIX_HINT}") from exc
        return _inspect(session, files.config, tower, path)

    def _run(self, graph: _Graph, feeds: dict[str, np.ndarray], rows: int, step: int) -> np.ndarray:
        """Run in chunks of `step` rows (of exactly `graph.batch` when the graph is exported for it)."""
        import numpy as np

        step = graph.batch or step
        out = []
        for start in range(0, rows, step):
            chunk = {name: value[start : start + step] for name, value in feeds.items()}
            out.append(graph.session.run([graph.output], chunk)[0])
        return np.concatenate(out).astype(np.float32)

    def embed_pixels(self, pixels: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Preprocessed pixels (N, 3, S, S) -> the visual graph's raw (N, dim) output."""
        import numpy as np

        graph = self._graph("visual")
        name, (_, dtype) = next(iter(graph.inputs.items()))
        return self._run(graph, {name: np.asarray(pixels, dtype)}, len(pixels), batch_size or self.batch_size)

    def embed_tokens(self, tokens: dict[str, np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """`tokenize` output (by role) -> the text graph's raw (N, dim) output."""
        import numpy as np

        graph = self._graph("textual")
        feeds = {name: np.asarray(tokens[role], dtype) for name, (role, dtype) in graph.inputs.items()}
        return self._run(graph, feeds, len(tokens["input_ids"]), batch_size or self.batch_size)

    def encode_images(self, images: list[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """RGB uint8 frames (H, W, 3) -> (N, dim) float32, L2-normalised.

        Usage: `vectors = encoder.encode_images([frame1, frame2])`
        """
        import numpy as np

        config = self.config
        if not len(images):
            return np.zeros((0, config.dim), np.float32)
        step, out = batch_size or self.batch_size, []
        for start in range(0, len(images), step):  # preprocess per chunk: a long list of frames stays small
            pixels = np.stack([preprocess_image(image, config) for image in images[start : start + step]])
            out.append(self.embed_pixels(pixels, step))
        return _normalise(np.concatenate(out))

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Texts -> int64 input_ids, attention_mask, token_type_ids padded per the config.

        Usage: `encoder.tokenize(["a dog"])["input_ids"]`
        """
        import numpy as np

        config = self.config
        encodings = self._tokenizer.encode_batch([clean_text(text, config) for text in texts])
        length = config.max_length if config.padding == "max_length" else max(len(e.ids) for e in encodings)
        ids = np.full((len(texts), length), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def encode_texts(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Queries -> (N, dim) float32, L2-normalised. Usage: `encoder.encode_texts(["红色的车"])`"""
        import numpy as np

        config = self.config
        if not len(texts):
            return np.zeros((0, config.dim), np.float32)
        step = batch_size or self.batch_size
        out = [self.embed_tokens(self.tokenize(texts[i : i + step]), step) for i in range(0, len(texts), step)]
        return _normalise(np.concatenate(out))

    def calibrate(self, cosine: np.ndarray) -> np.ndarray:
        """Raw cosine (any shape) -> 0..1 relevance, comparable across queries.

        Usage: `scores = encoder.calibrate(image_vectors @ text_vector)`
        """
        return calibrate_cosine(cosine, self.config.calibration)

    def calibrate_image(self, cosine: np.ndarray) -> np.ndarray:
        """Like `calibrate`, for image-to-image cosines (a query by example image)."""
        return calibrate_cosine(cosine, self.config.image_calibration)
