"""What the API accepts and returns (docs/api.md). Absolute server paths never leave the server."""

from __future__ import annotations

import typing
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from vidseek.records import ROUTES, Moment
from vidseek.settings import LibrarySettings, RouteName, Settings
from vidseek.store.catalog import NAME_PATTERN, JobRecord, LibraryRecord, SegmentRecord, VideoRecord

# The largest integer every JSON parser (and JavaScript) holds exactly, well inside SQLite's 2**63 - 1:
# a bigger id names nothing and must not reach the catalog.
MAX_ID = 2**53 - 1
MAX_OFFSET = 9_900  # offset + limit (at most 100) stays within the 10,000 results a search may page through


def _unicode(text: str) -> str:
    """Refuse lone UTF-16 surrogates (JSON's "\\ud800"): no store, log or tokenizer can encode them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone UTF-16 surrogate; send valid Unicode text") from None
    return text


class StrictJSON(BaseModel):
    """A JSON request body: strict types ("5" is not a number, true not an id), except that 5.0 is
    an integer, as JSON Schema says."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: object) -> object:
        if isinstance(data, dict):
            ints = {name for name, f in cls.model_fields.items() if int in _types(f.annotation)}
            data = {k: int(v) if k in ints and isinstance(v, float) and v.is_integer() and abs(v) <= MAX_ID else v
                    for k, v in data.items()}
        return data


def _types(annotation: object) -> tuple:
    return typing.get_args(annotation) or (annotation,)


# "Not only spaces", as Python's str.strip() sees spaces (the engine strips queries). Spelled out
# because `\\S` differs between regex dialects (JSON Schema's ECMA-262, Rust, Python) on U+0085.
NOT_BLANK = r"[^\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
Text = Annotated[str, AfterValidator(_unicode)]
LibraryPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a library id")]
VideoPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a video id")]
JobPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a job id")]
LibraryQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this library")]


class ErrorOut(BaseModel):
    """Every error: one sentence, never a server path or a traceback."""

    detail: str


def errors(*codes: int) -> dict[int | str, dict]:
    """`responses=` for a route that may answer these error codes (the app adds the ones all routes share)."""
    return {code: {"model": ErrorOut, "description": REASONS.get(code, "error")} for code in codes}


REASONS = {
    400: "the request is well formed but cannot be done (the sentence says why)",
    401: "missing or invalid API key",
    403: "a browser's cross-site request (its Origin is not this server or an allowed host)",
    404: "no such resource for this tenant",
    409: "conflicts with what exists (e.g. a library name in use)",
    410: "the video's file is no longer on the server",
    413: "larger than a configured limit",
    415: "not a video or audio file this server indexes",
    416: "the byte range is outside the file",
    421: "the Host header names a host this server does not answer to (VIDSEEK_ALLOWED_HOSTS)",
    422: "a field is missing, of the wrong type or out of bounds",
    429: "too many requests for this key; retry after `Retry-After` seconds",
    503: "the vector store is not available",
}


class LibraryCreate(StrictJSON):
    name: str = Field(description="lowercase letters, digits, - and _", pattern=NAME_PATTERN)
    settings: LibrarySettings = Field(default_factory=LibrarySettings)


class LibraryOut(BaseModel):
    id: int
    name: str
    settings: dict  # in effect: the server's, with the library's own applied
    overrides: dict = {}  # the library's own settings only ({} = the server's)
    videos: int
    hours: float
    created_at: float

    @classmethod
    def of(cls, rec: LibraryRecord, videos: list[VideoRecord], base: Settings) -> LibraryOut:
        """`base`: the server's settings, which the library's own overrides are applied to."""
        done = [v for v in videos if v.status == "done"]
        effective = LibrarySettings.model_validate(rec.settings).apply(base)
        settings = {name: getattr(effective, name) for name in LibrarySettings.model_fields}
        return cls(id=rec.id, name=rec.name, settings=settings, overrides=rec.settings, videos=len(done),
                   hours=round(sum(v.duration for v in done) / 3600, 3), created_at=rec.created_at)


class VideoAdd(StrictJSON):
    root: Text = Field(description="A root name from GET /api/roots", max_length=255)
    path: Text = Field(default="", description="File or folder relative to the root; '' is the root itself",
                       max_length=4096)


class SegmentOut(BaseModel):
    idx: int
    start: float
    end: float
    thumbnail_url: str | None


class VideoOut(BaseModel):
    id: int
    library_id: int
    name: str
    source: str | None
    duration: float
    status: str
    error: str | None
    routes: dict
    added_at: float
    indexed_at: float | None
    media_url: str
    segments: list[SegmentOut] | None = None

    @classmethod
    def of(cls, v: VideoRecord, segments: list[SegmentRecord] | None = None) -> VideoOut:
        routes = {r: _route_out(s) for r, s in v.routes.items()}
        segs = None
        if segments is not None:
            segs = [SegmentOut(idx=s.idx, start=s.start, end=s.end,
                               thumbnail_url=f"/api/videos/{v.id}/thumbnails/{s.idx}" if s.thumbnail else None)
                    for s in segments]
        return cls(id=v.id, library_id=v.library_id, name=v.name, source=v.source, duration=round(v.duration, 2),
                   status=v.status, error=v.error, routes=routes, added_at=v.added_at, indexed_at=v.indexed_at,
                   media_url=f"/api/videos/{v.id}/media", segments=segs)


def _route_out(state: dict) -> dict:
    out = {k: state.get(k) for k in ("state", "rows", "note", "language", "copies") if state.get(k) is not None}
    if out.get("state") == "unavailable":  # the reason names server paths and settings: for the admin only
        out["note"] = "model not available on this server (its admin sees why in `vidseek status`)"
    return out


class JobOut(BaseModel):
    id: int
    library_id: int
    video_id: int | None
    name: str
    source: str | None
    state: str
    stage: str | None
    percent: float
    stages: dict[str, float] | None = Field(default=None, description="percent per stage while running")
    eta_seconds: float | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        data = {k: getattr(job, k) for k in cls.model_fields}
        return cls(**data)


class JobsOut(BaseModel):
    jobs: list[JobOut]
    rejected: list[dict] = Field(default_factory=list, description="files refused, each {name, detail}")


class SearchIn(BaseModel):
    """A search. In JSON `q` is required; a multipart form may send an `image` instead of, or with, it."""

    q: Text | None = Field(default=None, description="Text query (Chinese or English); at most "
                           "VIDSEEK_MAX_QUERY_CHARS characters, not only spaces", pattern=NOT_BLANK)
    library_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    video_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    routes: list[RouteName] | None = Field(default=None, max_length=len(ROUTES), description="search only these")
    min_duration: float | None = Field(default=None, ge=0, description="seconds")
    max_duration: float | None = Field(default=None, ge=0, description="seconds")
    added_after: float | None = Field(default=None, description="unix seconds")
    added_before: float | None = Field(default=None, description="unix seconds")
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    min_score: float | None = Field(default=None, ge=0, le=1)
    per_video: int = Field(default=3, ge=1, le=50)


class SearchJSON(StrictJSON, SearchIn):  # SearchIn itself is lax: the multipart form sends numbers as text

    q: Text = Field(description="Text query (Chinese or English); at most VIDSEEK_MAX_QUERY_CHARS characters, "
                    "not only spaces", pattern=NOT_BLANK)


class EvidenceOut(BaseModel):
    route: str
    score: float
    start: float
    end: float
    text: str | None
    match: str | None = None  # text routes: "lexical" (the words), "semantic" (the meaning) or "both"
    box: list[float] | None = None  # face: x0, y0, x1, y1 as fractions of the frame
    face_id: int | None = None  # face: the track (/api/faces/{id}/thumbnail, /crop)


class MomentOut(BaseModel):
    video_id: int
    library_id: int | None
    library: str | None = None  # its name
    name: str
    start: float
    end: float
    score: float
    routes: list[str]
    thumbnail_url: str | None
    media_url: str
    evidence: list[EvidenceOut]
    # Only for the data dir's owner (the CLI's resident search process): the file and thumbnail as
    # paths on this machine, as a local search prints them. Never for API keys or web sessions.
    path: str | None = None
    thumbnail: str | None = None

    @classmethod
    def of(cls, m: Moment, local: bool = False) -> MomentOut:
        data = m.to_dict()
        thumb = f"/api/videos/{m.video_id}/thumbnails/{m.shot}" if m.shot is not None else None
        face = next((e for e in m.evidence if e.face_id is not None and e.thumbnail == m.thumbnail), None)
        if thumb is None and face is not None:
            thumb = f"/api/faces/{face.face_id}/thumbnail"
        return cls(video_id=m.video_id, library_id=m.library_id, library=m.library, name=m.name, start=data["start"],
                   end=data["end"], score=data["score"], routes=data["routes"], thumbnail_url=thumb,
                   media_url=f"/api/videos/{m.video_id}/media", evidence=data["evidence"],
                   path=m.path if local else None, thumbnail=m.thumbnail if local else None)


class SearchOut(BaseModel):
    query: str | None
    image: bool
    face: bool = False
    clip: bool = False
    face_box: list[int] | None = None  # the face searched for, in the photo's pixels (x0, y0, x1, y1)
    offset: int
    limit: int
    total: int
    seconds: float
    skipped_routes: dict[str, str]
    text_match: str = "hybrid"  # what the text routes did: hybrid, lexical (words only) or semantic
    notes: list[str] = []  # e.g. why matching by meaning is off, with the fix
    min_score: float | None = None  # the cutoff applied (the calibrated default unless one was given)
    candidates: dict[str, int] = {}  # rows each route brought before fusion
    empty_index: bool = False  # nothing of this tenant is indexed yet
    moments: list[MomentOut]
