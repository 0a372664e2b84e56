"""Search by text, by example image, or both: the same `Search` the CLI and Python API use."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from vidseek.engine import Tenant
from vidseek.serve.deps import CurrentTenant
from vidseek.serve.schemas import MomentOut, SearchIn, SearchOut

router = APIRouter(prefix="/search", tags=["search"])

MAX_IMAGE_BYTES = 20 * 1024 * 1024

_BODY_DOC = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SearchIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "q": {"type": "string"},
                        "routes": {"type": "string", "description": "comma list"},
                    },
                    "description": "the SearchIn fields as form fields, plus an `image` file",
                }
            },
        }
    }
}


def run_search(tenant: Tenant, body: SearchIn, image: bytes | None) -> SearchOut:
    search = tenant.search(body.q, image).limit(body.limit).offset(body.offset).per_video(body.per_video)
    if body.min_score is not None:
        search.min_score(body.min_score)
    if body.routes:
        search.routes(*body.routes)
    search.where(video_id=body.video_id, library_id=body.library_id, min_duration=body.min_duration,
                 max_duration=body.max_duration, added_after=body.added_after, added_before=body.added_before)
    moments = search.to_list()
    return SearchOut(query=body.q, image=image is not None, offset=body.offset, limit=body.limit, total=search.total,
                     seconds=round(search.trace.seconds, 4), skipped_routes=search.trace.routes_skipped,
                     text_match=search.trace.text_match, notes=search.trace.notes,
                     moments=[MomentOut.of(m) for m in moments])


async def _form_body(request: Request) -> tuple[SearchIn, bytes | None]:
    form = await request.form(max_files=1, max_fields=20)
    fields = {k: v for k, v in form.items() if isinstance(v, str) and v.strip() != ""}
    if "routes" in fields:
        fields["routes"] = [r.strip() for r in fields["routes"].split(",") if r.strip()]
    body = SearchIn.model_validate(fields)
    image = form.get("image")
    data = None
    if isinstance(image, UploadFile):
        data = await image.read(MAX_IMAGE_BYTES + 1)
        if len(data) > MAX_IMAGE_BYTES:
            raise HTTPException(413, f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
        data = data or None
    return body, data


@router.post("", openapi_extra=_BODY_DOC)
async def search(request: Request, tenant: CurrentTenant) -> SearchOut:
    """JSON `SearchIn`, or a multipart form with the same fields and an `image` file."""
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body, image = await _form_body(request)
        else:
            body, image = SearchIn.model_validate(await request.json()), None
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None  # one 422 sentence format, in the app
    except ValueError:
        raise HTTPException(400, "the body must be JSON (SearchIn) or a multipart form") from None
    return await run_in_threadpool(run_search, tenant, body, image)


@router.get("")
async def search_get(tenant: CurrentTenant, q: str, library_id: int | None = None,
                     limit: int = Query(20, ge=1, le=100), offset: int = Query(0, ge=0),
                     min_score: float | None = Query(None, ge=0, le=1)) -> SearchOut:
    """A quick text query: `GET /api/search?q=red+car`."""
    body = SearchIn(q=q, library_id=library_id, limit=limit, offset=offset, min_score=min_score)
    return await run_in_threadpool(run_search, tenant, body, None)

