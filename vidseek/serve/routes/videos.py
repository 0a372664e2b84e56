"""One video: details with shots, delete, the media file (HTTP Range), thumbnails, clip export."""

from __future__ import annotations

import mimetypes
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from vidseek.media.clip import export_clip
from vidseek.serve.deps import CurrentTenant, RunnerDep
from vidseek.serve.schemas import VideoOut

router = APIRouter(prefix="/videos", tags=["videos"])

_CACHE = "private, max-age=3600"  # per-tenant content: browsers may keep it, shared caches may not


@router.get("/{video_id}")
def get_video(video_id: int, tenant: CurrentTenant) -> VideoOut:
    video = tenant.video(video_id)
    return VideoOut.of(video, tenant.catalog.segments_for([video.id])[video.id])


@router.delete("/{video_id}", status_code=204)
def delete_video(video_id: int, tenant: CurrentTenant, runner: RunnerDep) -> Response:
    video = tenant.video(video_id)
    for job in tenant.catalog.jobs(tenant.name, video.library_id):
        if job.active and job.path == video.path:
            runner.cancel(job, wait=60)  # it must stop writing first
    tenant.delete_video(video.id)
    return Response(status_code=204)


def _media_type(path: Path) -> str:
    guessed = mimetypes.guess_type(path.name)[0]
    return guessed if guessed and guessed.split("/")[0] in ("video", "audio") else "application/octet-stream"


@router.get("/{video_id}/media")
def media(video_id: int, tenant: CurrentTenant) -> FileResponse:
    """The video file itself; Range requests get 206 so a browser can seek."""
    path = Path(tenant.video(video_id).path)
    if not path.is_file():
        raise HTTPException(410, f"the file of video {video_id} is no longer on the server")
    return FileResponse(path, media_type=_media_type(path), headers={"Cache-Control": _CACHE})


@router.get("/{video_id}/thumbnails/{idx}")
def thumbnail(video_id: int, idx: int, tenant: CurrentTenant) -> FileResponse:
    video = tenant.video(video_id)
    shots = tenant.catalog.shots_for([video])[video.id]  # cached: a result page asks for many thumbnails
    pos = next((i for i, shot_idx in enumerate(shots.idx) if shot_idx == idx), None)
    path = shots.thumbnail(pos) if pos is not None else None
    if path is None or not Path(path).is_file():
        raise HTTPException(404, f"video {video_id} has no thumbnail {idx}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": _CACHE})


@router.get("/{video_id}/clip")
async def clip(video_id: int, start: float, end: float, tenant: CurrentTenant) -> FileResponse:
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
