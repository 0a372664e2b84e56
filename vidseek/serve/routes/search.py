"""Search by text, by example image, or both: the same `Search` the CLI and Python API use."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from vidseek.engine import Tenant
from vidseek.records import ROUTES
from vidseek.serve.deps import CurrentTenant, check_text_length, is_owner
from vidseek.serve.schemas import (
    MAX_ID,
    MAX_OFFSET,
    NOT_BLANK,
    LibraryQuery,
    MomentOut,
    SearchIn,
    SearchJSON,
    SearchOut,
    errors,
)

router = APIRouter(prefix="/search", tags=["search"])

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_CLIP_BYTES = 200 * 1024 * 1024  # a query clip is fingerprinted, then deleted

_ROUTE_LIST = "^(" + "|".join(ROUTES) + ")( *, *(" + "|".join(ROUTES) + "))*$"
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SearchJSON"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "the SearchJSON fields as form fields, plus an `image` file (looks like this), a "
                                   "`face` photo (this person) or a `clip` (where its picture appears: copies, "
                                   "searched on its own); at least one of `q`, `image`, `face`, `clip`",
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP..."},
                        "face": {"type": "string", "format": "binary", "description": "a photo of one person"},
                        "clip": {"type": "string", "format": "binary", "description": "a video clip"},
                        "q": {"type": "string", "pattern": NOT_BLANK},
                        "routes": {"type": "string", "pattern": _ROUTE_LIST, "description": "comma list"},
                        "library_id": {**_INT, "minimum": 1, "maximum": MAX_ID},
                        "video_id": {**_INT, "minimum": 1, "maximum": MAX_ID},
                        "min_duration": {**_NUM, "minimum": 0}, "max_duration": {**_NUM, "minimum": 0},
                        "added_after": _NUM, "added_before": _NUM,
                        "limit": {**_INT, "minimum": 1, "maximum": 100},
                        "offset": {**_INT, "minimum": 0, "maximum": MAX_OFFSET},
                        "min_score": {**_NUM, "minimum": 0, "maximum": 1},
                        "per_video": {**_INT, "minimum": 1, "maximum": 50},
                    },
                    "additionalProperties": False,
                    "anyOf": [{"required": ["q"]}, {"required": ["image"]}, {"required": ["face"]},
                              {"required": ["clip"]}],
                }
            },
        },
    }
}

_FORM_FIELDS = tuple(_BODY_DOC["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"])


def run_search(tenant: Tenant, body: SearchIn, image: bytes | None, face: bytes | None = None,
               clip: Path | None = None, local: bool = False) -> SearchOut:
    """`local`: the data dir's owner asks (the resident search process's token): moments carry paths."""
    try:
        return _run_search(tenant, body, image, face, clip, local)
    finally:
        if clip is not None:
            shutil.rmtree(clip.parent, ignore_errors=True)


def _run_search(tenant: Tenant, body: SearchIn, image: bytes | None, face: bytes | None,
                clip: Path | None, local: bool = False) -> SearchOut:
    search = tenant.search(body.q, image, face, clip).limit(body.limit).offset(body.offset).per_video(body.per_video)
    if body.min_score is not None:
        search.min_score(body.min_score)
    if body.routes:
        search.routes(*body.routes)
    search.where(video_id=body.video_id, library_id=body.library_id, min_duration=body.min_duration,
                 max_duration=body.max_duration, added_after=body.added_after, added_before=body.added_before)
    moments = search.to_list()
    return SearchOut(query=body.q, image=image is not None, face=face is not None, clip=clip is not None,
                     face_box=list(search.face_box) if search.face_box else None,
                     offset=body.offset, limit=body.limit, total=search.total,
                     seconds=round(search.trace.seconds, 4), skipped_routes=search.trace.routes_skipped,
                     text_match=search.trace.text_match, notes=search.trace.notes,
                     min_score=search.cutoff, candidates=search.trace.candidates,
                     empty_index=not moments and not tenant.catalog.done_count(tenant.name),
                     moments=[MomentOut.of(m, local) for m in moments])


async def _read_file(part: object, what: str, limit: int) -> bytes | None:
    if not isinstance(part, UploadFile):
        return None
    data = await part.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the {what} is larger than {limit // (1024 * 1024)} MB")
    if not data:
        raise HTTPException(415, f"the {what} is empty (0 bytes)")
    return data


async def _form_body(request: Request) -> tuple[SearchIn, bytes | None, bytes | None, Path | None]:
    form = await request.form(max_files=3, max_fields=20)
    names = [name for name, _ in form.multi_items()]
    unknown = sorted({n for n in names if n not in _FORM_FIELDS}, key=str)
    repeated = sorted({n for n in names if names.count(n) > 1}, key=str)
    if unknown or repeated:
        problem = f"unknown field(s) {unknown}"[:200] if unknown else f"field(s) {repeated} given more than once"
        raise HTTPException(422, f"invalid request: form: {problem}; the fields are {', '.join(_FORM_FIELDS)}")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}  # "" is a value: q="" is refused
    if "routes" in fields:
        if not re.fullmatch(_ROUTE_LIST, fields["routes"]):
            raise HTTPException(422, f"invalid request: routes: a comma list of {', '.join(ROUTES)}")
        fields["routes"] = list(dict.fromkeys(r.strip() for r in fields["routes"].split(",")))
    body = SearchIn.model_validate(fields)
    image = await _read_file(form.get("image"), "image", MAX_IMAGE_BYTES)
    face = await _read_file(form.get("face"), "face photo", MAX_IMAGE_BYTES)
    clip_data = await _read_file(form.get("clip"), "clip", MAX_CLIP_BYTES)
    clip = None
    if clip_data is not None:
        from vidseek.media.sniff import SNIFF_BYTES, sniff_media

        if sniff_media(clip_data[:SNIFF_BYTES]) is None:
            raise HTTPException(415, "the clip is not a video file vidseek reads (MP4, MKV, WebM, AVI, MOV...)")
        folder = Path(tempfile.mkdtemp(prefix="vidseek-query-"))
        clip = folder / "clip"
        clip.write_bytes(clip_data)
    if body.q is None and image is None and face is None and clip is None:
        raise HTTPException(422, "invalid request: give at least one of q, image, face, clip")
    return body, image, face, clip


@router.post("", openapi_extra=_BODY_DOC, responses=errors(413, 415))
async def search(request: Request, tenant: CurrentTenant) -> SearchOut:
    """JSON `SearchJSON` (`q` required), or a multipart form with the same fields and an `image` file."""
    try:
        face = clip = None
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body, image, face, clip = await _form_body(request)
        else:
            body, image = SearchJSON.model_validate(await request.json()), None
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None  # one 422 sentence format, in the app
    except ValueError:
        raise HTTPException(400, "the body must be JSON (SearchJSON) or a multipart form") from None
    check_text_length(request, "q", body.q)
    return await run_in_threadpool(run_search, tenant, body, image, face, clip, is_owner(request))


@router.get("")
async def search_get(request: Request, tenant: CurrentTenant,
                     q: Annotated[str, Query(min_length=1, pattern=NOT_BLANK, description="the text query")],
                     library_id: LibraryQuery = None,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20,
                     offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
                     min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
                     per_video: Annotated[int, Query(ge=1, le=50)] = 3) -> SearchOut:
    """A quick text query: `GET /api/search?q=red+car`."""
    check_text_length(request, "q", q)
    body = SearchIn(q=q, library_id=library_id, limit=limit, offset=offset, min_score=min_score, per_video=per_video)
    return await run_in_threadpool(run_search, tenant, body, None, None, None, is_owner(request))

