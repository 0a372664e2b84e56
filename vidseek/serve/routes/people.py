"""People (face clusters: list, name, merge, split), face pictures, and copies (video DNA)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException
from fastapi import Path as Path_
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, field_validator

from vidseek.serve.deps import CurrentTenant
from vidseek.serve.schemas import MAX_ID, LibraryQuery, StrictJSON, errors
from vidseek.store.faces import FaceRecord, PersonRecord

router = APIRouter(tags=["people"])

PersonPath = Annotated[int, Path_(ge=1, le=MAX_ID, description="a person's id")]
FacePath = Annotated[int, Path_(ge=1, le=MAX_ID, description="a face track's id")]
_JPEG = {200: {"description": "a JPEG", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}}


class FaceOut(BaseModel):
    id: int
    video_id: int
    person_id: int | None
    start: float
    end: float
    box: list[float]  # x0, y0, x1, y1 as fractions of the frame
    thumbnail_url: str  # the frame with the face boxed
    crop_url: str  # the face alone

    @classmethod
    def of(cls, f: FaceRecord) -> FaceOut:
        return cls(id=f.id, video_id=f.video_id, person_id=f.person_id, start=round(f.start, 2),
                   end=round(f.end, 2), box=[round(b, 4) for b in f.box], thumbnail_url=f"/api/faces/{f.id}/thumbnail",
                   crop_url=f"/api/faces/{f.id}/crop")


class PersonOut(BaseModel):
    id: int
    name: str | None
    faces: int  # moments (face tracks) they appear in
    videos: int
    cover: FaceOut | None
    moments: list[FaceOut] | None = None  # GET /people/{id} only

    @classmethod
    def of(cls, p: PersonRecord, moments: list[FaceRecord] | None = None) -> PersonOut:
        return cls(id=p.id, name=p.name, faces=p.faces, videos=p.videos,
                   cover=FaceOut.of(p.cover) if p.cover else None,
                   moments=[FaceOut.of(f) for f in moments] if moments is not None else None)


class PersonPatch(StrictJSON):
    name: str | None = Field(max_length=100, description='the name; null or "" forgets it')


class MergeIn(StrictJSON):
    people: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=100,
                                                                 description="people who are the same person")

    @field_validator("people", mode="before")
    @classmethod
    def _integral_floats(cls, value: object) -> object:
        """7.0 is an integer, as JSON Schema says (StrictJSON does this for plain fields, not lists)."""
        if isinstance(value, list):
            return [int(v) if isinstance(v, float) and v.is_integer() and abs(v) <= MAX_ID else v for v in value]
        return value


class CopyOut(BaseModel):
    video_id: int
    library_id: int | None
    name: str
    score: float
    start: float  # the range in that video
    end: float
    query_start: float  # the range in this video (or the query clip)
    query_end: float
    mirrored: bool


class CopiesOut(BaseModel):
    copies: list[CopyOut]


class SharedOut(BaseModel):
    a: int
    b: int
    a_start: float
    a_end: float
    b_start: float
    b_end: float
    score: float
    mirrored: bool


class GroupVideoOut(BaseModel):
    video_id: int
    name: str


class GroupOut(BaseModel):
    videos: list[GroupVideoOut]
    shared: list[SharedOut]


class DuplicatesOut(BaseModel):
    groups: list[GroupOut]


@router.get("/people")
def list_people(tenant: CurrentTenant) -> list[PersonOut]:
    """The people found in this tenant's videos, most seen first."""
    return [PersonOut.of(p) for p in tenant.people()]


@router.get("/people/{person_id}", responses=errors(404))
def get_person(person_id: PersonPath, tenant: CurrentTenant) -> PersonOut:
    """One person with every moment they are on screen."""
    person = tenant.person(person_id)
    return PersonOut.of(person, tenant.catalog.faces(tenant.name, person_id=person_id))


@router.patch("/people/{person_id}", responses=errors(404))
def name_person(person_id: PersonPath, body: PersonPatch, tenant: CurrentTenant) -> PersonOut:
    """Name someone; a search that mentions the name then finds them by face."""
    return PersonOut.of(tenant.name_person(person_id, body.name))


@router.post("/people/{person_id}/merge", responses=errors(404))
def merge_people(person_id: PersonPath, body: MergeIn, tenant: CurrentTenant) -> PersonOut:
    """Fold other people into this one (the same person, kept apart by the clustering)."""
    return PersonOut.of(tenant.merge_people(person_id, body.people))


@router.post("/people/{person_id}/split", responses=errors(404))
def split_person(person_id: PersonPath, tenant: CurrentTenant) -> list[PersonOut]:
    """Split one person in two (two people's faces mixed up); returns both."""
    return [PersonOut.of(p) for p in tenant.split_person(person_id)]


def _picture(tenant, face_id: int, kind: Literal["thumbnail", "crop"]) -> FileResponse:
    face = tenant.face(face_id)
    path = face.thumbnail if kind == "thumbnail" else face.crop
    if not path or not Path(path).is_file():
        raise HTTPException(404, f"face {face_id} has no {kind}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/faces/{face_id}/thumbnail", response_class=FileResponse, responses={**_JPEG, **errors(404)})
def face_thumbnail(face_id: FacePath, tenant: CurrentTenant) -> FileResponse:
    """The frame a face was best seen on, with its box drawn."""
    return _picture(tenant, face_id, "thumbnail")


@router.get("/faces/{face_id}/crop", response_class=FileResponse, responses={**_JPEG, **errors(404)})
def face_crop(face_id: FacePath, tenant: CurrentTenant) -> FileResponse:
    """The face alone."""
    return _picture(tenant, face_id, "crop")


@router.get("/videos/{video_id}/copies", tags=["videos"], responses=errors(404))
async def copies(video_id: Annotated[int, Path_(ge=1, le=MAX_ID)], tenant: CurrentTenant) -> CopiesOut:
    """Other videos that share this one's picture, each with the aligned ranges."""
    found = await run_in_threadpool(tenant.copies_of, video_id)
    return CopiesOut(copies=[CopyOut(name=Path(c.path).name, **{k: v for k, v in c.to_dict().items() if k != "path"})
                             for c in found])


@router.get("/duplicates", responses=errors(404))
async def duplicates(tenant: CurrentTenant, library_id: LibraryQuery = None) -> DuplicatesOut:
    """Groups of near-identical videos and the segments they share, largest first."""
    groups = await run_in_threadpool(tenant.duplicates, library_id)
    out = []
    for g in groups:
        data = g.to_dict()
        out.append(GroupOut(videos=[GroupVideoOut(video_id=v["video_id"], name=Path(v["path"]).name)
                                    for v in data["videos"]], shared=[SharedOut(**s) for s in data["shared"]]))
    return DuplicatesOut(groups=out)
