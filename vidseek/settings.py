"""One settings object for the whole program, read from the environment with the VIDSEEK_ prefix.

Pass it down explicitly; nothing deep in the code reads the environment. The variables are read here
by `env_values` rather than by pydantic-settings: every command pays for this import, and that
package with its asyncio import was a third of it (BENCHMARKS.md, no-op re-index).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vidseek.records import DEFAULT_ROUTES, ROUTES

ENV_PREFIX = "VIDSEEK_"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidseek"


def _default_model_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidseek" / "models"


def env_name(field: str) -> str:
    """The variable that sets a field: `env_name("frame_rate") == "VIDSEEK_FRAME_RATE"`."""
    return ENV_PREFIX + field.upper()


def env_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The VIDSEEK_<FIELD> variables that name a Settings field, by field name, as text.

    Names match in any case. The text is validated by the field's type, so "2" is a number, "true" a
    flag, and the list fields split "a,b" in their own validators. Other VIDSEEK_ variables (the
    API key, the server URL: client-side) are not fields and are left out.
    """
    environ = os.environ if environ is None else environ
    fields = Settings.model_fields
    found: dict[str, str] = {}
    for key, value in environ.items():
        if len(key) > len(ENV_PREFIX) and key[: len(ENV_PREFIX)].upper() == ENV_PREFIX:
            name = key[len(ENV_PREFIX):].lower()
            if name in fields:
                found[name] = value
    return found


class Settings(BaseModel):
    """All knobs. Every field can be set as VIDSEEK_<FIELD_NAME> (e.g. VIDSEEK_VISUAL_MODEL).

    Keyword arguments win over the environment: `Settings(data_dir=tmp)` with VIDSEEK_* for the rest.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**env_values(), **values})

    data_dir: Path = Field(default_factory=_default_data_dir, description="Catalog, thumbnails, Milvus Lite")
    model_dir: Path = Field(default_factory=_default_model_dir, description="Cache for downloaded/assembled models")
    milvus_uri: str | None = Field(
        default=None, description="Milvus server/cluster URI; unset = Milvus Lite file in the data dir"
    )
    milvus_token: str | None = None
    collection_prefix: str = "vidseek"
    milvus_index: str = Field(
        default="AUTOINDEX", description="Index of the float vector fields (text meaning, visual, faces): on a "
        "Milvus server e.g. HNSW, HNSW_SQ, IVF_SQ8, IVF_PQ, DISKANN; Milvus Lite builds FLAT, IVF_FLAT and AUTOINDEX "
        "only. A collection made with another index is re-indexed in place when it is opened")
    milvus_index_params: dict[str, Any] = Field(
        default_factory=dict, description='Build parameters of that index as JSON, e.g. {"M": 16, '
        '"efConstruction": 200} (HNSW) or {"nlist": 1024} (IVF_*)')
    milvus_search_params: dict[str, Any] = Field(
        default_factory=dict, description='Search parameters as JSON, e.g. {"ef": 128} (HNSW) or {"nprobe": 32} '
        "(IVF_*); unset = the index's defaults")
    text_compression: Literal["none", "binary"] = Field(
        default="none", description="How the text collection searches meaning: none = exact float32 search; "
        "binary = a sign-bit code per row (112 B at 896-d, BIN_FLAT/HAMMING) finds VIDSEEK_TEXT_RERANK_DEPTH "
        "rows, re-ranked exactly by their float vectors (recall@10 0.997 at 200, BENCHMARKS.md). Changing it "
        "copies the text rows into a collection of the other kind once, vectors kept")
    text_rerank_depth: int = Field(
        default=200, ge=10, le=16384, description="With VIDSEEK_TEXT_COMPRESSION=binary: rows the binary stage "
        "hands to the exact re-rank per query (at least the search's own limit)")
    catalog_url: str | None = Field(
        default=None, description="postgresql://USER:PASSWORD@HOST:PORT/DB: a catalog (and job queue) several "
        "servers share; unset = catalog.sqlite in the data dir")
    job_lease_seconds: float = Field(
        default=60.0, ge=2, le=3600, description="With a shared catalog: a running job whose server has sent no "
        "heartbeat for this long is taken over by another server")
    ray_address: str | None = Field(
        default=None, description="Index on this Ray cluster (HOST:PORT, ray://HOST:PORT, auto), or 'local' to "
        "start Ray on this machine; unset = index in this process. Needs `pip install \"vidseek[cluster]\"`")
    ray_workers: int | None = Field(
        default=None, ge=1, description="Analysis workers on the Ray cluster; unset = as many as its CPUs hold "
        "at VIDSEEK_RAY_WORKER_CPUS each")
    ray_worker_cpus: float = Field(
        default=1.0, gt=0, le=256, description="CPUs each Ray worker reserves (and its models' threads when "
        "VIDSEEK_THREADS is 0)")

    # media
    frame_rate: float = Field(default=1.0, gt=0, le=30, description="Frames sampled per second")
    frame_max_side: int = Field(default=960, ge=224, description="Sampled frames are shrunk to this long side")
    max_segment_seconds: float = Field(default=10.0, gt=0)
    shot_threshold: float = Field(default=0.22, gt=0, lt=2, description="Frame distance that starts a new shot")
    thumbnail_size: int = 320
    face_model: str = Field(default="dlib-resnet-v1", description="Face model by name (the face route), or 'off'")
    face_max_side: int = Field(
        default=640, ge=160, le=4096,
        description="Frames are shrunk to this long side to look for faces: 640 finds faces from about a ninth "
                    "of the frame's long side in ~35 ms a frame; 960 finds smaller ones at ~2.4x the cost",
    )

    # models
    visual_model: str = Field(
        default="clip-xlmr-b32",
        description="Registry name (`vidseek models list`), Hugging Face id, or a model folder",
    )
    text_model: str = Field(
        default="e5-small-q4+use-m3",
        description="Text embedder for semantic matching of speech, on-screen text, titles and captions: a "
        "registry name (`vidseek models list`), members joined with '+', a Hugging Face ONNX repo, a folder, or off",
    )
    asr_model: str = Field(default="base", description="Whisper size name, or a CTranslate2 model folder")
    asr_language: str | None = Field(default=None, description="Force a language (e.g. zh, en); unset = detect")
    asr_batch_size: int = Field(
        default=8, ge=0, le=64,
        description="Speech windows decoded together (faster-whisper's batched pipeline: about 1.7x faster on 2 "
        "cores; BENCHMARKS.md); 0 or 1 = one window at a time")
    index_overlap: bool = Field(
        default=True, description="Recognise speech in a thread while the frames are decoded and analysed "
        "(visual, OCR, faces, dna); false = the speech route after the frames, one at a time")
    ocr_min_confidence: float = 0.6
    threads: int = Field(default=0, ge=0, description="CPU threads for model runtimes; 0 = all cores")

    # VIDSEEK_ROUTES=speech,title is split by _split_routes (a JSON list works too).
    # The default leaves out the optional routes (caption: one VLM call per shot); add them by name.
    routes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROUTES),
        description="Routes to index and search, e.g. visual,speech,ocr,title,caption",
    )

    # server
    media_roots: list[Path] = Field(
        default_factory=list, description="Server folders tenants may index from (comma list); uploads always work"
    )
    resident_idle: float = Field(
        default=900.0, ge=0,
        description="`vidseek search` keeps the store and models open in a resident process for this many idle "
        "seconds (sub-second searches); 0 = none, each search opens the data dir itself",
    )
    max_upload_mb: int = Field(default=4096, gt=0, description="Largest accepted upload, in MiB")
    max_query_chars: int = Field(default=1000, ge=1, le=100_000,
                                 description="Longest search text or question, in characters")
    rate_limit: float = Field(default=20.0, ge=0, description="Requests per second per API key (or per client "
                              "address without one), sustained; 0 = no limit")
    rate_burst: int = Field(default=200, ge=1, description="Requests a key may send at once before the rate "
                            "limit applies")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names the server answers to besides its bind address and "
        "loopback (comma list), e.g. search.example.org behind a reverse proxy; '*' = any (not on loopback)")
    cookie_secure: bool = Field(default=False, description="Mark the web session cookie Secure even when the "
                                "request did not arrive over https (a TLS proxy without forwarded headers)")

    # search
    min_score: float = Field(default=0.3, ge=0, le=1, description="Moments scoring below this are dropped")
    recall_k: int = Field(default=200, gt=0, description="Candidates fetched per route before fusion")
    text_match: Literal["hybrid", "lexical", "semantic"] = Field(
        default="hybrid", description="How text routes match: words and meaning (hybrid), words only, meaning only"
    )

    # answers
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible chat endpoint, e.g. http://localhost:11434/v1 (Ollama); "
        "unset = no LLM, answers are extractive",
    )
    llm_model: str = Field(default="qwen2.5:7b-instruct", description="Chat model name as the endpoint knows it")
    llm_api_key: str | None = Field(default=None, description="Sent as `Authorization: Bearer`; unset = none")
    llm_timeout: float = Field(
        default=60.0, gt=0, description="Seconds the LLM may stay silent (connect: at most 10 s of it)"
    )
    llm_retries: int = Field(default=3, ge=0, description="Retries on connect errors, timeouts, 429 and 5xx")
    llm_max_context_tokens: int = Field(default=6000, gt=0, description="Token budget for the evidence in a prompt")
    llm_temperature: float = Field(default=0.0, ge=0, le=2, description="Sampling temperature sent with every "
                                   "LLM request; 0 = the same question gets the same answer")
    llm_plan: Literal["auto", "always", "never"] = Field(
        default="auto", description="When to ask the LLM to plan the searches: always, never (the rules plan), or "
        "auto (not for a short one-step question the rules read fully)")
    vlm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint of a vision model for the captions route; unset = off"
    )
    vlm_model: str = Field(default="qwen2.5vl:3b", description="Vision chat model name as the endpoint knows it")
    vlm_api_key: str | None = Field(default=None, description="Key for the vision endpoint; unset = llm_api_key")

    @field_validator("data_dir", "model_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return Path(value).expanduser().resolve()

    @field_validator("milvus_index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,31}", value):
            raise ValueError("an index type name such as AUTOINDEX, FLAT, IVF_FLAT, HNSW or IVF_SQ8")
        return value

    @field_validator("text_compression", mode="before")
    @classmethod
    def _compression_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("milvus_index_params", "milvus_search_params", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc.msg}); give an object such as {{\"ef\": 64}}") from None
        return value

    @field_validator("catalog_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        from vidseek.store.sql import is_postgres_url

        if value is not None and not value.strip():
            return None
        if value is not None and not is_postgres_url(value):
            raise ValueError("not a postgresql://USER:PASSWORD@HOST:PORT/DB URL (unset it for the SQLite catalog "
                             "in the data dir)")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v.strip().lower() for v in value.split(",") if v.strip()]
        return value

    @field_validator("media_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("media_roots")
    @classmethod
    def _absolute_roots(cls, value: list[Path]) -> list[Path]:
        return [Path(v).expanduser().resolve() for v in value]

    @field_validator("routes", mode="before")
    @classmethod
    def _split_routes(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("routes")
    @classmethod
    def _known_routes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"no routes: give at least one of {list(ROUTES)}")
        unknown = [r for r in value if r not in ROUTES]
        if unknown:
            raise ValueError(f"unknown route(s) {unknown}; valid routes are {list(ROUTES)}")
        return value

    @property
    def milvus_target(self) -> str:
        """Where pymilvus connects: the server URI, or the Lite file inside the data dir."""
        return self.milvus_uri or str(self.data_dir / "milvus.db")


RouteName = Literal[ROUTES]  # type: ignore[valid-type]


class LibrarySettings(BaseModel):
    """Index settings one library may override (the Alibaba seed's "several search libraries")."""

    model_config = ConfigDict(extra="forbid", strict=True)

    frame_rate: float | None = Field(default=None, gt=0, le=30)
    routes: list[RouteName] | None = Field(default=None, min_length=1, max_length=len(ROUTES),
                                           description="at least one route; unset = the server's")
    max_segment_seconds: float | None = Field(default=None, gt=0, le=3600)
    shot_threshold: float | None = Field(default=None, gt=0, lt=2)

    @field_validator("routes")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(Settings._known_routes(value))) if value is not None else None

    def apply(self, base: Settings) -> Settings:
        """`base` with this library's overrides: `LibrarySettings(frame_rate=2).apply(settings)`."""
        return base.model_copy(update=self.model_dump(exclude_none=True))
