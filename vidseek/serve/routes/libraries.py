"""Libraries, the server folders a tenant may index from, and adding videos (by path or upload)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from vidseek.engine import Tenant
from vidseek.index.scan import scan
from vidseek.media.probe import is_video_candidate
from vidseek.serve.deps import CurrentTenant, EngineDep, RunnerDep
from vidseek.serve.safety import UploadRejected, resolve_under_root, save_upload
from vidseek.serve.schemas import (
    JobOut,
    JobsOut,
    LibraryCreate,
    LibraryOut,
    LibraryPath,
    VideoAdd,
    VideoOut,
    errors,
)

router = APIRouter(tags=["libraries"])

_UPLOAD_CHUNK = 1 << 20


def _out(tenant: Tenant, library_id: int) -> LibraryOut:
    rec = tenant.catalog.library(tenant.name, library_id)
    return LibraryOut.of(rec, tenant.videos(library_id), tenant.engine.settings)


@router.get("/libraries")
def list_libraries(tenant: CurrentTenant) -> list[LibraryOut]:
    videos = tenant.videos()
    base = tenant.engine.settings
    return [LibraryOut.of(lib, [v for v in videos if v.library_id == lib.id], base) for lib in tenant.libraries()]


@router.post("/libraries", status_code=201, responses=errors(409))
def create_library(body: LibraryCreate, tenant: CurrentTenant) -> LibraryOut:
    rec = tenant.create_library(body.name, body.settings)
    return LibraryOut.of(rec, [], tenant.engine.settings)


@router.get("/libraries/{library_id}", responses=errors(404))
def get_library(library_id: LibraryPath, tenant: CurrentTenant) -> LibraryOut:
    return _out(tenant, library_id)


@router.delete("/libraries/{library_id}", status_code=204, responses=errors(404))
def delete_library(library_id: LibraryPath, tenant: CurrentTenant, runner: RunnerDep) -> Response:
    for job in tenant.catalog.jobs(tenant.name, library_id):
        if job.active:
            runner.cancel(job, wait=60)  # it must stop writing first
    tenant.delete_library(library_id)
    return Response(status_code=204)


@router.get("/libraries/{library_id}/videos", responses=errors(404))
def list_videos(library_id: LibraryPath, tenant: CurrentTenant) -> list[VideoOut]:
    tenant.library(library_id)  # 404 for another tenant's library
    return [VideoOut.of(v) for v in tenant.videos(library_id)]


# server folders ---------------------------------------------------------------------------
def roots_of(tenant: Tenant, default: list[pathlib.Path]) -> dict[str, pathlib.Path]:
    """The folders this tenant may index from, by name (the folder's own name, made unique)."""
    paths = [pathlib.Path(p) for p in tenant.catalog.tenant_roots(tenant.name)] or default
    out: dict[str, pathlib.Path] = {}
    for path in paths:
        name, n = path.name or "root", 2
        while name in out:
            name, n = f"{path.name}-{n}", n + 1
        out[name] = path
    return out


def _root(tenant: Tenant, engine, name: str) -> pathlib.Path:
    roots = roots_of(tenant, engine.settings.media_roots)
    if name not in roots:
        raise HTTPException(404, f"no server folder named {name!r}; see GET /api/roots")
    return roots[name]


@router.get("/roots")
def list_roots(tenant: CurrentTenant, engine: EngineDep) -> list[dict]:
    return [{"name": name} for name in roots_of(tenant, engine.settings.media_roots)]


@router.get("/roots/{root}/entries", responses=errors(404))
def browse(root: Annotated[str, Path(max_length=255)], tenant: CurrentTenant, engine: EngineDep,
           path: Annotated[str, Query(max_length=4096)] = "") -> dict:
    """Sub-folders and video files of one folder under a root (hidden entries are not listed)."""
    base = _root(tenant, engine, root)
    folder = resolve_under_root(base, path)
    if not folder.is_dir():
        raise HTTPException(400, f"{root}/{path} is not a folder")
    try:
        children = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    except OSError:
        raise HTTPException(404, f"{root}/{path} cannot be listed (no permission, or it just went away)") from None
    dirs, files = [], []
    for entry in children:
        if entry.name.startswith("."):
            continue
        try:
            real = entry.resolve(strict=True)
        except (OSError, RuntimeError):  # gone, no permission, a symlink loop (RuntimeError before 3.13)
            continue
        if not real.is_relative_to(base.resolve()):
            continue  # a symlink leading out of the root is not shown (and refused if asked for)
        if real.is_dir():
            dirs.append(entry.name)
        elif is_video_candidate(entry):
            try:
                files.append({"name": entry.name, "size": real.stat().st_size})
            except OSError:
                continue
    rel = folder.relative_to(base.resolve()).as_posix()
    return {"root": root, "path": "" if rel == "." else rel, "dirs": dirs, "files": files}


@router.post("/libraries/{library_id}/videos", status_code=202, responses=errors(404))
def add_videos(library_id: LibraryPath, body: VideoAdd, tenant: CurrentTenant, engine: EngineDep,
               runner: RunnerDep) -> JobsOut:
    """Queue a server file, or every video under a server folder, for indexing."""
    handle = tenant.library(library_id)
    base = _root(tenant, engine, body.root).resolve()
    target = resolve_under_root(base, body.path)
    files, problems = scan([target], skip=engine.settings.data_dir)
    files = [f for f in files if f.resolve().is_relative_to(base)]  # never follow links out of the root
    if not files:
        detail = problems[0].problem if problems else "no video files there"
        raise HTTPException(400, f"{body.root}/{body.path}: {detail}")
    jobs = [engine.catalog.add_job(handle.record, str(f), f"{body.root}/{f.relative_to(base).as_posix()}")
            for f in files]
    runner.wake()
    return JobsOut(jobs=[JobOut.of(j) for j in jobs])


# uploads ----------------------------------------------------------------------------------
def _chunks(upload: UploadFile) -> Iterator[bytes]:
    while chunk := upload.file.read(_UPLOAD_CHUNK):
        yield chunk


_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["files"],
            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                     "minItems": 1, "maxItems": 100,
                                     "description": "video or audio files (sniffed: the bytes decide, not the name)"}},
        }}},
    }
}


@router.post("/libraries/{library_id}/uploads", status_code=202, responses=errors(404, 409, 413, 415),
             openapi_extra=_UPLOAD_DOC)
async def upload_videos(library_id: LibraryPath, request: Request, tenant: CurrentTenant, engine: EngineDep,
                        runner: RunnerDep) -> JobsOut:
    """Upload one or more files (multipart field `files`); each becomes an indexing job."""
    handle = tenant.library(library_id)
    limit = engine.settings.max_upload_mb * 1024 * 1024
    form = await request.form(max_files=100, max_fields=20)
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not uploads:
        raise HTTPException(400, "no files: send them as multipart form field 'files'")
    folder = engine.settings.data_dir / "uploads" / tenant.name / str(library_id)
    jobs, rejected = [], []
    for upload in uploads:
        try:
            path = await run_in_threadpool(save_upload, _chunks(upload), folder, upload.filename or "", limit)
        except UploadRejected as exc:
            rejected.append({"name": upload.filename, "status": exc.status, "detail": str(exc)})
            continue
        finally:
            await upload.close()
        jobs.append(engine.catalog.add_job(handle.record, str(path), f"upload/{path.name}"))
    if not jobs:
        first = rejected[0]
        raise HTTPException(first["status"], first["detail"])
    runner.wake()
    return JobsOut(jobs=[JobOut.of(j) for j in jobs], rejected=rejected)
