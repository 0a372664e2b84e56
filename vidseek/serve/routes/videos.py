"""One video: details with shots, delete, the media file (HTTP Range), thumbnails, clip export."""

from __future__ import annotations

import contextlib
import mimetypes
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi import Path as Path_
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from vidseek.errors import NotFoundError
from vidseek.media.clip import CLIP_MAX_SECONDS, export_clip
from vidseek.serve.deps import CurrentTenant, RunnerDep
from vidseek.serve.schemas import MAX_ID, VideoOut, VideoPath, errors

router = APIRouter(prefix="/videos", tags=["videos"])

_CACHE = "private, max-age=3600"  # per-tenant content: browsers may keep it, shared caches may not
_RANGE_SPEC = re.compile(r"^(\d+)-(\d*)$|^-(\d+)$")
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_MEDIA_DOC = {200: {"description": "the whole file", "content": {"video/*": _BINARY, "audio/*": _BINARY,
                                                                    "application/octet-stream": _BINARY}},
              206: {"description": "the requested byte range (`Range: bytes=...`)",
                    "content": {"video/*": _BINARY, "audio/*": _BINARY, "application/octet-stream": _BINARY,
                                "multipart/byteranges": _BINARY}}}


@router.get("/{video_id}", responses=errors(404))
def get_video(video_id: VideoPath, tenant: CurrentTenant) -> VideoOut:
    video = tenant.video(video_id)
    return VideoOut.of(video, tenant.catalog.segments_for([video.id])[video.id])


@router.delete("/{video_id}", status_code=204, responses=errors(404))
def delete_video(video_id: VideoPath, tenant: CurrentTenant, runner: RunnerDep) -> Response:
    video = tenant.video(video_id)
    stopped = []
    for job in tenant.catalog.jobs(tenant.name, video.library_id):
        if job.active and job.path == video.path:
            runner.cancel(job, wait=60)  # it must stop writing first
            stopped.append(job.id)
    with contextlib.suppress(NotFoundError):  # a cancelled new file is removed by its job already
        tenant.delete_video(video.id)
    for job_id in stopped:  # it may have finished meanwhile: what it made is gone, and the job says so
        tenant.catalog.update_job(job_id, state="cancelled", video_id=None, finished_at=time.time(),
                                  error="cancelled: the video was deleted while it was being indexed")
    return Response(status_code=204)


def _media_type(path: Path) -> str:
    guessed = mimetypes.guess_type(path.name)[0]
    return guessed if guessed and guessed.split("/")[0] in ("video", "audio") else "application/octet-stream"


class MediaFile(FileResponse):
    """A FileResponse that ignores a Range header it cannot honour as written (RFC 9110 §14.2: an
    invalid range such as `bytes=5-2`, or another unit, gets the whole file with 200, not a 400).
    A valid range past the end still gets 416."""

    async def __call__(self, scope, receive, send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k != b"range" or valid_range(v.decode("latin-1"))]
        await super().__call__({**scope, "headers": headers}, receive, send)


def valid_range(value: str) -> bool:
    """`bytes=0-99`, `bytes=100-`, `bytes=-500` and comma lists of them, each first <= last."""
    unit, _, specs = value.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return False
    for spec in specs.split(","):
        m = _RANGE_SPEC.match(spec.strip())
        if m is None or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            return False
    return True


@router.get("/{video_id}/media", response_class=MediaFile, responses={**_MEDIA_DOC, **errors(404, 410, 416)})
def media(video_id: VideoPath, tenant: CurrentTenant) -> MediaFile:
    """The video file itself; Range requests get 206 so a browser can seek."""
    path = Path(tenant.video(video_id).path)
    if not path.is_file():
        raise HTTPException(410, f"the file of video {video_id} is no longer on the server")
    return MediaFile(path, media_type=_media_type(path), headers={"Cache-Control": _CACHE})


@router.get("/{video_id}/thumbnails/{idx}", response_class=FileResponse, responses={
    200: {"description": "a JPEG", "content": {"image/jpeg": _BINARY}}, **errors(404)})
def thumbnail(video_id: VideoPath, idx: Annotated[int, Path_(ge=0, le=MAX_ID)], tenant: CurrentTenant) -> FileResponse:
    video = tenant.video(video_id)
    shots = tenant.catalog.shots_for([video])[video.id]  # cached: a result page asks for many thumbnails
    pos = next((i for i, shot_idx in enumerate(shots.idx) if shot_idx == idx), None)
    path = shots.thumbnail(pos) if pos is not None else None
    if path is None or not Path(path).is_file():
        raise HTTPException(404, f"video {video_id} has no thumbnail {idx}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": _CACHE})


@router.get("/{video_id}/clip", response_class=FileResponse, responses={
    200: {"description": "an mp4", "content": {"video/mp4": _BINARY}}, **errors(404)})
async def clip(video_id: VideoPath, start: Annotated[float, Query(ge=0, le=1e7, description="seconds")],
               end: Annotated[float, Query(gt=0, le=1e7, description=f"seconds; end - start <= {CLIP_MAX_SECONDS}")],
               tenant: CurrentTenant) -> FileResponse:
    """[start, end] cut out by stream copy (it starts at the keyframe at or before `start`)."""
    video = tenant.video(video_id)
    folder = Path(tempfile.mkdtemp(prefix="vidseek-clip-"))
    try:
        out = await run_in_threadpool(export_clip, Path(video.path), start, end, folder / "clip.mp4")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    name = f"{Path(video.path).stem}_{start:.0f}-{end:.0f}.mp4"
    return FileResponse(out, media_type="video/mp4", filename=name,
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
