"""What the API accepts and returns (docs/api.md). Absolute server paths never leave the server."""

from __future__ import annotations

from pydantic import BaseModel, Field

from vidseek.records import Moment
from vidseek.settings import LibrarySettings, Settings
from vidseek.store.catalog import JobRecord, LibraryRecord, SegmentRecord, VideoRecord


class LibraryCreate(BaseModel):
    name: str = Field(description="lowercase letters, digits, - and _")
    settings: LibrarySettings = Field(default_factory=LibrarySettings)


class LibraryOut(BaseModel):
    id: int
    name: str
    settings: dict
    videos: int
    hours: float
    created_at: float

    @classmethod
    def of(cls, rec: LibraryRecord, videos: list[VideoRecord], base: Settings) -> LibraryOut:
        """`base`: the server's settings, which the library's own overrides are applied to."""
        done = [v for v in videos if v.status == "done"]
        effective = LibrarySettings.model_validate(rec.settings).apply(base)
        settings = {name: getattr(effective, name) for name in LibrarySettings.model_fields}
        return cls(id=rec.id, name=rec.name, settings=settings, videos=len(done),
                   hours=round(sum(v.duration for v in done) / 3600, 3), created_at=rec.created_at)


class VideoAdd(BaseModel):
    root: str = Field(description="A root name from GET /api/roots")
    path: str = Field(default="", description="File or folder relative to the root; '' is the root itself")


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
    out = {k: state.get(k) for k in ("state", "rows", "note", "language") if state.get(k) is not None}
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
    q: str | None = Field(default=None, description="Text query (Chinese or English)")
    library_id: int | None = None
    video_id: int | None = None
    routes: list[str] | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    added_after: float | None = Field(default=None, description="unix seconds")
    added_before: float | None = Field(default=None, description="unix seconds")
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000)
    min_score: float | None = Field(default=None, ge=0, le=1)
    per_video: int = Field(default=3, ge=1, le=50)


class EvidenceOut(BaseModel):
    route: str
    score: float
    start: float
    end: float
    text: str | None
    match: str | None = None  # text routes: "lexical" (the words), "semantic" (the meaning) or "both"


class MomentOut(BaseModel):
    video_id: int
    library_id: int | None
    name: str
    start: float
    end: float
    score: float
    routes: list[str]
    thumbnail_url: str | None
    media_url: str
    evidence: list[EvidenceOut]

    @classmethod
    def of(cls, m: Moment) -> MomentOut:
        data = m.to_dict()
        thumb = f"/api/videos/{m.video_id}/thumbnails/{m.shot}" if m.shot is not None else None
        return cls(video_id=m.video_id, library_id=m.library_id, name=m.name, start=data["start"],
                   end=data["end"], score=data["score"], routes=data["routes"], thumbnail_url=thumb,
                   media_url=f"/api/videos/{m.video_id}/media", evidence=data["evidence"])


class SearchOut(BaseModel):
    query: str | None
    image: bool
    offset: int
    limit: int
    total: int
    seconds: float
    skipped_routes: dict[str, str]
    text_match: str = "hybrid"  # what the text routes did: hybrid, lexical (words only) or semantic
    notes: list[str] = []  # e.g. why matching by meaning is off, with the fix
    moments: list[MomentOut]
